"""`forgetbench leaderboard add | fit | plot | predictors | render`."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from forgetbench.cli import console as c
from forgetbench.cli import options as o
from forgetbench.cli.app import board_app
from forgetbench.core.config import DEFAULTS

if TYPE_CHECKING:
    from forgetbench.leaderboard.law import Law
    from forgetbench.stats.law import Fit

FILE = (o.Opt("file", Annotated[Path, typer.Argument(help="Leaderboard CSV.", metavar="FILE", show_default=False)]),)
BASE = (o.Opt("base", Annotated[Optional[str], typer.Option(help="Only rows of this base (spec or fingerprint).")], None),)
ADD = (
    o.Opt(
        "reports",
        Annotated[
            list[Path],
            typer.Argument(help="Run folders written by `score` (or their report.json).", metavar="RUN...", show_default=False),
        ],
    ),
    o.Opt("to", Annotated[Path, typer.Option("--to", help="Leaderboard CSV to create or update.", show_default=False)]),
    o.Opt("label", Annotated[Optional[str], typer.Option(help="Label for these rows (e.g. the training method).")], None),
    o.Opt(
        "allow_suite_change", Annotated[bool, typer.Option(help="Accept rows whose suite hash differs from the file's.")], False
    ),
    o.Opt(
        "ckpt_name",
        Annotated[Optional[str], typer.Option(help="Published name for the checkpoint instead of its local path (one report).")],
        None,
    ),
)
FIT = (
    o.Opt(
        "weighted",
        Annotated[bool, typer.Option(help="Weight each checkpoint by 1/se² of its F (se from its 95% CI).")],
        False,
    ),
    o.Opt(
        "seed",
        Annotated[int, typer.Option(help="Seed of the bootstrap interval of the headline law's R².", min=0)],
        DEFAULTS.seed,
    ),
    o.Opt(
        "predictor",
        Annotated[
            str,
            typer.Option(
                help="Fit against this predictor's column instead of the forward KL (a name from `leaderboard predictors`: "
                "tv_new, js_old, weight_frobenius, ...).",
                metavar="NAME",
            ),
        ],
        "kl_forward_new",
    ),
)
PLOT_OUT = (
    o.Opt(
        "out", Annotated[Path, typer.Option(help="Output path without suffix: writes OUT.png and OUT.svg.", show_default=False)]
    ),
)
PREDICTORS = (
    o.Opt(
        "out",
        Annotated[
            Optional[Path],
            typer.Option(
                help="Output path without suffix: writes OUT.csv, OUT.md, OUT.png and OUT.svg \\[default: FILE's name + -predictors].",
                show_default=False,
            ),
        ],
        None,
    ),
    o.Opt("seed", Annotated[int, typer.Option(help="Seed of the bootstrap intervals.", min=0)], DEFAULTS.seed),
    o.Opt("draws", Annotated[int, typer.Option(help="Bootstrap resamples per predictor.", min=100, max=100000)], 1000),
)
RENDER = (
    o.Opt(
        "out", Annotated[Path, typer.Option(help="Output path without suffix: writes OUT.md and OUT.html.", show_default=False)]
    ),
    o.Opt("sort", Annotated[str, typer.Option(help="Column to sort by.")], "forgetting"),
    o.Opt("descending", Annotated[bool, typer.Option(help="Largest first.")], False),
)


@o.command(board_app, "add", ADD)
def board_add(a: SimpleNamespace) -> None:
    """Upsert rows (keyed by base, checkpoint, suite hash, new-task hash) atomically under a lock."""
    from forgetbench.leaderboard.table import add

    result = add(a.reports, a.to, a.allow_suite_change, a.label, a.ckpt_name)
    c.console(stderr=True).print(f"{a.to}: {result.added} added, {result.updated} updated, {result.total} rows")


def _term(coefficient: float) -> str:
    """`+ 0.0151` or `− 6.2e-06`: the sign as an operator, three significant digits."""
    return f"{'−' if coefficient < 0 else '+'} {abs(coefficient):.3g}"


def _x(law: Law) -> str:
    """The fitted predictor as the formulas name it: `KL` for the forward KL, else its catalog name."""
    from forgetbench.leaderboard.law import HEADLINE

    return "KL" if law.predictor == HEADLINE else law.predictor


def _loo(f: Fit, x: str = "KL") -> str:
    """The leave-one-out R², or why there is none (each point must be predicted from a fit to the others)."""
    from forgetbench.stats.law import MIN_DISTINCT

    if f.loo_r2 == f.loo_r2:
        return f"leave-one-out R² {f.loo_r2:.3f}"
    if f.n <= MIN_DISTINCT[f.kind]:
        return f"leave-one-out R² n/a (needs at least {MIN_DISTINCT[f.kind] + 1} checkpoints)"
    return f"leave-one-out R² n/a (needs {MIN_DISTINCT[f.kind]} distinct values of {x} without any one checkpoint)"


def _formula(f: Fit, x: str = "KL") -> str:
    if f.kind == "isotonic":
        return f"non-decreasing step fit over {len(f.knots)} distinct values of {x}"
    powers = ("", f"·{x}", f"·{x}²")
    return f"F = {f.coefficients[0]:.3f} " + " ".join(f"{_term(c)}{powers[i]}" for i, c in enumerate(f.coefficients) if i)


def _print_law(law: Law) -> None:
    from rich.markup import escape

    from forgetbench.core.predictors import BY_NAME

    out, x = c.console(), _x(law)
    weighting = ", weighted by 1/se² of F" if law.weighted else ""
    against = "" if x == "KL" else f", F against {x} ({BY_NAME[x].unit}: {BY_NAME[x].what})"
    out.print(f"{law.source}: n = {law.n} checkpoints (one suite, {len(law.base_fingerprints)} base(s)){weighting}{against}")
    for f in law.fits:
        mark = "   ← headline (best leave-one-out R²)" if f.kind == law.headline else ""
        out.print(f"{f.kind:<10} {_formula(f, x)}   R² {f.r2:.3f}   {_loo(f, x)}{mark}")
    ci = law.r2_interval
    if ci is not None and not ci.used:
        out.print(f"{ci.kind} R² {ci.r2:.3f}, no bootstrap interval: no resample of {ci.draws} had 3 distinct values of {x}")
    elif ci is not None:
        out.print(
            f"{ci.kind} R² {ci.r2:.3f}, {ci.level:.0%} bootstrap interval over checkpoints [{ci.low:.3f}, {ci.high:.3f}] "
            f"({ci.used} of {ci.draws} resamples used, seed {law.seed})"
        )
    out.print(f"Spearman ρ(F, {x}) {law.spearman.rho:.3f} (p = {law.spearman.p_value:.2g})")
    if x == "KL":
        out.print("(RL's Razor reports R² 0.71 for its quadratic across LLM fine-tunes; checkpoints of one base share")
        out.print(" its item outcomes, so leave-one-out and the bootstrap, which treat them as independent, are optimistic)")
    else:
        out.print("(checkpoints of one base share its item outcomes, so leave-one-out and the bootstrap, which treat them")
        out.print(" as independent, are optimistic)")
    if law.warning:
        c.console(stderr=True).print(f"[yellow]warning:[/yellow] {law.warning}")
    for row in law.left_out:
        c.console(stderr=True).print(f"[yellow]warning:[/yellow] not fitted: {escape(row)}", soft_wrap=True)


@o.command(board_app, "fit", FILE, BASE, FIT, o.JSON)
def board_fit(a: SimpleNamespace) -> None:
    """Fit forgetting against KL (or another predictor column, --predictor): linear, the paper's quadratic and
    a monotone (isotonic) law; the headline is the one with the best leave-one-out R²."""
    from dataclasses import asdict

    from forgetbench.leaderboard.law import law_for

    _, law = law_for(a.file, a.base, a.weighted, a.seed, a.predictor)
    if a.as_json:
        return c.print_json(asdict(law))
    _print_law(law)


@o.command(board_app, "plot", FILE, PLOT_OUT, BASE)
def board_plot(a: SimpleNamespace) -> None:
    """Scatter of forgetting vs KL with error bars and both fitted laws (PNG and SVG)."""
    from forgetbench.leaderboard.law import law_for
    from forgetbench.leaderboard.plot import plot

    frame, law = law_for(a.file, a.base)
    c.console(stderr=True).print("wrote " + ", ".join(str(p) for p in plot(frame, law, a.out)))


@o.command(board_app, "predictors", FILE, BASE, PREDICTORS, o.JSON)
def board_predictors(a: SimpleNamespace) -> None:
    """Rank every predictor the board has (KL, TV, JS, ... on new-task and prior-suite prompts, weight change)
    by how well it predicts forgetting: the leave-one-out R² of its best law with a bootstrap interval,
    Spearman's ρ, n; writes the table and a grid plot of F against each predictor."""
    from dataclasses import asdict

    from forgetbench.leaderboard.law import base_fingerprint
    from forgetbench.leaderboard.predictors import markdown, ranking, write
    from forgetbench.leaderboard.table import read

    frame = read(a.file)
    base = base_fingerprint(frame, a.file, a.base)
    out = a.out if a.out is not None else a.file.with_name(a.file.stem + "-predictors")
    result = ranking(frame, str(a.file), base, a.seed, a.draws)
    files = write(frame, result, out, base)
    if a.as_json:
        return c.print_json(asdict(result))
    c.console().print(markdown(result), markup=False, highlight=False, soft_wrap=True)
    c.console(stderr=True).print("wrote " + ", ".join(str(p) for p in files))


@o.command(board_app, "render", FILE, RENDER)
def board_render(a: SimpleNamespace) -> None:
    """Markdown and HTML tables of a leaderboard, sorted by a chosen column."""
    from forgetbench.core.fs import check_output_path, write_output
    from forgetbench.leaderboard.render import render
    from forgetbench.leaderboard.table import read

    for suffix in (".md", ".html"):
        check_output_path(a.out.with_suffix(suffix), "--out")
    md, page = render(read(a.file), a.sort, a.descending, f"forgetbench leaderboard: {a.file.name}")
    write_output(a.out.with_suffix(".md"), md.encode(), "--out")
    write_output(a.out.with_suffix(".html"), page.encode(), "--out")
    c.console(stderr=True).print(f"wrote {a.out.with_suffix('.md')} and {a.out.with_suffix('.html')}")
