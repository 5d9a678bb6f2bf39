"""`forgetbench suites`, `forgetbench models list | pull`: what there is to run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated

import typer

from forgetbench.cli import console as c
from forgetbench.cli import options as o
from forgetbench.cli.app import app, models_app

COUNTS = (
    o.Opt("counts", Annotated[bool, typer.Option(help="Load each task's data to count its items (offline data only).")], True),
)
NAME = (o.Opt("name", Annotated[str, typer.Argument(help="Embedded model short name.", metavar="NAME", show_default=False)]),)


@o.command(app, "suites", COUNTS, o.JSON, panel=o.LOOK)
def suites_cmd(a: SimpleNamespace) -> None:
    """List suites, their tasks and item counts."""
    c.quiet_libraries()
    from dataclasses import asdict

    from forgetbench.cli.render import data_table, suites_table
    from forgetbench.prior.catalog import data_report, describe_suites

    infos, data = describe_suites(counts=a.counts), data_report()
    if a.as_json:
        return c.print_json({"suites": [i.to_dict() for i in infos], "data": [asdict(d) for d in data]})
    out = c.console()
    out.print(suites_table(infos))
    for info in infos:
        out.print(f"[bold]{info.name}[/bold]: {info.description}")
    out.print(data_table(data))


STALE = (o.Opt("stale", Annotated[bool, typer.Option(help="Also remove store namespaces of earlier versions.")], True),)


@o.command(app, "clean", STALE, o.STORE, panel=o.LOOK)
def clean_cmd(a: SimpleNamespace) -> None:
    """Remove what killed runs and older versions left in $FORGETBENCH_HOME (live builds are kept)."""
    from forgetbench.pipeline.clean import clean

    done = clean(o.store_of(a), a.stale)
    for path in (*done.temporaries, *done.stale_namespaces):
        c.console(stderr=True).print(f"removed {path}")
    c.console().print(
        f"removed {len(done.temporaries)} abandoned temporaries and {len(done.stale_namespaces)} stale "
        f"store namespaces, {done.freed_bytes / 2**20:.1f} MiB freed"
    )


@o.command(models_app, "list", o.JSON)
def models_list(a: SimpleNamespace) -> None:
    """Show the embedded models (materialised or not) and the models derived from them (conversions, the demo checkpoint)."""
    from forgetbench.cli.render import models_table
    from forgetbench.models import embedded

    rows = [
        {"name": m.name, "kind": "embedded", "present": embedded.is_present(m.name), "path": str(embedded.folder(m.name)),
         "description": m.description, "license": m.license, "install": embedded.install_hint(m)}
        for m in embedded.MODELS.values()
    ] + [
        {"name": name, "kind": "derived", "present": True, "path": str(path), "description": what, "license": None, "install": None}
        for name, path, what in embedded.derived()
    ]  # fmt: skip
    c.print_json(rows) if a.as_json else c.console().print(models_table(rows))


@o.command(models_app, "pull", NAME)
def models_pull(a: SimpleNamespace) -> None:
    """Materialise an embedded model into an HF folder (once; later calls return at once)."""
    c.quiet_libraries()
    from forgetbench.core.errors import ModelSpecError
    from forgetbench.models import embedded
    from forgetbench.models.fingerprint import fingerprint

    if a.name not in embedded.MODELS:
        raise ModelSpecError(f"unknown embedded model {a.name!r}; known: {', '.join(embedded.MODELS)}")
    with c.console(stderr=True).status(f"materialising {a.name} (once: converting GGUF to an fp32 folder)"):
        path = embedded.ensure(a.name)
        fp = fingerprint(path)
    c.console().print(f"{a.name}: {path} (fingerprint {fp.short})")
