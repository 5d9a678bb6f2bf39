"""Run folders, owned in one place: `RunFolder` knows a folder's layout (`layout`: the only module that
spells its file names), its kind, and reads and writes every file of it. It sits below every reader
(gate, leaderboard, report, pipeline) and imports only core, so a consumer of saved results never reaches
up to the pipeline that wrote them."""

from forgetbench.runs.folder import (
    REPORT_KINDS,
    SWEEP_VERSION,
    Kind,
    RunFolder,
    SealedKL,
    SealedScore,
    load_kl,
    load_report,
    seal_kl,
    seal_score,
)

__all__ = [
    "REPORT_KINDS",
    "SWEEP_VERSION",
    "Kind",
    "RunFolder",
    "SealedKL",
    "SealedScore",
    "load_kl",
    "load_report",
    "seal_kl",
    "seal_score",
]
