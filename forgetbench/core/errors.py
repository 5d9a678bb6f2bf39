"""One exception hierarchy for forgetbench.

Every error a user can cause or meet derives from `ForgetbenchError` and carries the process exit
code documented in `docs/architecture.md` (0 ok, 1 gate failed, 2 usage or input, 3 runtime, 130
interrupted). The CLI prints `str(error)` as one line and exits with `error.exit_code`;
nothing else in the package decides exit codes.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_RUNTIME = 3
EXIT_INTERRUPTED = 130


class ForgetbenchError(Exception):
    """Base class. `exit_code` is what the CLI exits with."""

    exit_code: int = EXIT_RUNTIME


class UserInputError(ForgetbenchError):
    """Bad usage, configuration or input: the user can fix it (exit 2)."""

    exit_code = EXIT_USAGE


class ModelSpecError(UserInputError):
    """A model spec that does not resolve to a usable model (missing path, unknown name, not a
    model folder, corrupt or truncated weights)."""


class SuiteError(UserInputError):
    """An unknown suite or task, or a suite whose tasks lm-eval did not register."""


class DataError(UserInputError):
    """Benchmark data that is missing or cannot be read."""


class StoreError(UserInputError):
    """The results store cannot be used (not writable, not a directory)."""


class ResultFileError(DataError):
    """A saved result file (report.json, kl.json, a store entry) that cannot be read back: missing,
    malformed, of an unknown schema version, with an unknown or a missing field, or not matching the
    rows it summarises."""


class BackendUnavailable(UserInputError):
    """The requested backend is not installed here (the message says how to install it)."""


class BackendError(ForgetbenchError):
    """A model backend failed at run time (exit 3)."""

    exit_code = EXIT_RUNTIME


class WriteError(ForgetbenchError):
    """A result file could not be written (a full disk, a quota, a folder made read-only mid-run): exit 3,
    naming the file; the run folder it was going into is left as it was before the write began."""

    exit_code = EXIT_RUNTIME


class Interrupted(ForgetbenchError):
    """The user interrupted the run (Ctrl-C); exit 130. Finished store entries are kept."""

    exit_code = EXIT_INTERRUPTED
