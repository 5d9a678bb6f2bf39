"""Error rates, power and coverage of forgetbench's statistics at the sizes users run, by simulation.

    .venv/bin/python benchmarks/gate_calibration.py [--runs 1000] [--discordance 0.15]

Sizes are read from `tasks/` (the offline-lite suite). Items are paired 0/1 outcomes: `discordance` is
the share of items that flip when nothing is lost (half each way); a true drop δ loses another δ/100.
Per-prompt KL is lognormal with mean at the limit. Prints the README's calibration and coverage tables.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from forgetbench.gate.policy import GatePolicy, load_policy
from forgetbench.gate.power import exact_coverage, outcome_rates, paired_items, simulated_inputs
from forgetbench.prior.catalog import suite_sizes
from forgetbench.stats.bootstrap import mean_test
from forgetbench.stats.paired import forgetting

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "policy.toml"


def rates(policy: GatePolicy, runs: int, seed: int, drops: dict, sizes: dict, discordance: float, kl=None) -> dict:
    rng = np.random.default_rng(seed)
    gen = (simulated_inputs(drops, sizes, discordance, rng, kl=None if kl is None else kl(rng)) for _ in range(runs))
    return outcome_rates(policy, gen)


def calibration(args, lite: dict[str, int]) -> None:
    default = replace(load_policy(EXAMPLE), max_kl=None, n_boot=1000)
    strict = replace(default, on_inconclusive="fail")
    limits = {t: default.task_drop.get(t, default.max_task_drop) for t in lite}
    print(f"## gate calibration: examples/policy.toml at offline-lite sizes {list(lite.values())}, discordance "
          f"{args.discordance}, {args.runs} runs per cell, α {default.alpha}")  # fmt: skip
    print("| scenario | policy | P(pass) | P(inconclusive) | P(fail) | exit 1 |")
    print("|---|---|---|---|---|---|")

    def row(name: str, policy: GatePolicy, r: dict) -> None:
        print(
            f"| {name} | {policy.on_inconclusive} | {r['pass']:.3f} | {r['inconclusive']:.3f} | {r['fail']:.3f} | {r['exit_fail']:.3f} |"
        )

    row("no drop (tasks + aggregate)", default, rates(default, args.runs, 1, {}, lite, args.discordance))
    at_limit = {t: float(m) for t, m in limits.items() if m is not None}
    row("every task at its limit", strict, rates(strict, args.runs, 2, at_limit, lite, args.discordance))
    for n in (20, 40, 60):
        p = GatePolicy(max_task_drop=5.0, on_inconclusive="fail")
        row(f"one {n}-item task at limit 5, every flip a loss", p, rates(p, args.runs, 3 + n, {"t": 5.0}, {"t": n}, 0.0))
    first = next(iter(lite))
    for mult in (2, 4):
        drop = {first: mult * float(limits[first] or 0)}
        row(f"{first} drops {mult}× its limit", default, rates(default, args.runs, 10 + mult, drop, lite, args.discordance))
        both = {t: mult * m for t, m in at_limit.items()}
        row(f"every task drops {mult}× its limit", default, rates(default, args.runs, 20 + mult, both, lite, args.discordance))
    limit = 50.0
    for sigma in (0.5, 1.0, 1.5):
        p = GatePolicy(max_kl=limit, on_inconclusive="fail", n_boot=1000)
        for mult, name in ((1, "at"), (2, "2× (power)")):
            mu = math.log(mult * limit) - sigma**2 / 2
            r = rates(p, args.runs, int(100 * sigma) + mult, {}, {}, 0.0, kl=lambda g, mu=mu, s=sigma: g.lognormal(mu, s, 32))
            row(f"KL {name} the limit, 32 prompts, lognormal σ {sigma}", p, r)


def coverage(args) -> None:
    rng = np.random.default_rng(0)
    print(f"\n## coverage of the 95% intervals ({args.runs} runs per cell; the task interval exactly)")
    print("| interval | regime | coverage |")
    print("|---|---|---|")
    for n in (20, 40, 60):
        for lost, won in ((0.05, 0.0), (0.10, 0.05)):
            print(f"| task Δ (Tango score) | n {n}, {lost:.0%} lost / {won:.0%} won | {exact_coverage(n, lost, won):.3f} |")
    sizes = (40, 40, 60, 60, 60, 60, 20)
    for lost, won in ((0.05, 0.0), (0.10, 0.05)):
        hits = 0
        for _ in range(args.runs):
            pairs = [paired_items(n, 100 * (lost - won), 2 * won, rng) for n in sizes]
            low, high = forgetting(pairs).interval(0.95)
            hits += low <= lost - won <= high
        print(f"| F over 7 tasks (stratified Agresti–Min) | {lost:.0%} lost / {won:.0%} won each | {hits / args.runs:.3f} |")
    for sigma in (0.5, 1.0, 1.5, 2.0):
        hits, truth = 0, math.exp(sigma**2 / 2)
        for _ in range(args.runs):
            low, high = mean_test(rng.lognormal(0, sigma, 32), np.arange(32), rng, 1000).interval(0.95)
            hits += low <= truth <= high
        print(f"| KL (studentized bootstrap ∪ lognormal) | 32 prompts, lognormal σ {sigma} | {hits / args.runs:.3f} |")


def null_verdicts(args) -> None:
    """How often "significant drops on …" would be said with no true drop (exact McNemar, Holm)."""
    from forgetbench.stats.multiple import holm
    from forgetbench.stats.paired import task_drop

    rng, named = np.random.default_rng(9), 0
    for _ in range(args.runs):
        drops = [task_drop(*paired_items(n, 0.0, args.discordance, rng)) for n in (40, 40, 60, 60, 60, 60, 20)]
        adjusted = holm([d.p_zero() for d in drops])
        named += any(p <= 0.05 and d.estimate > 0 for d, p in zip(drops, adjusted))
    print(f"\nnull verdicts: 'significant drops on' said in {named / args.runs:.3f} of {args.runs} runs "
          f"(7 lite tasks, {args.discordance:.0%} flips half each way)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--discordance", type=float, default=0.15)
    args = ap.parse_args()
    calibration(args, suite_sizes("offline-lite"))
    coverage(args)
    null_verdicts(args)


if __name__ == "__main__":
    main()
