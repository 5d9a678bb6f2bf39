"""Error rates, power and coverage of forgetbench's statistics at the sizes users run, by simulation.

    .venv/bin/python benchmarks/gate_calibration.py [--runs 1000] [--discordance 0.15] [--only SECTION ...]

Sizes are read from `tasks/` (the offline-lite suite). Items are paired 0/1 outcomes: `discordance` is
the share of items that flip when nothing is lost (half each way); a true drop δ loses another δ/100 —
the data model MDEs are stated under (`stats.sizing`). Per-prompt KL is lognormal with mean at the
limit. Prints the README's tables: the MDE's power (exact, and simulated through `gate.decide.decide`),
the fail rate with the true drop at the limit (exact), F's one-sided bounds, the gate's calibration,
coverage and null verdicts.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from forgetbench.gate.policy import GatePolicy, load_policy
from forgetbench.gate.power import exact_coverage, fail_rate, outcome_rates, paired_items, simulated_inputs
from forgetbench.prior.catalog import suite_sizes
from forgetbench.stats.bootstrap import mean_test
from forgetbench.stats.paired import GradedDrop, forgetting, tango_parts, task_drop
from forgetbench.stats.sizing import AggregateSizing, BinarySizing, GradedSizing, binary_power, sizing_of

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "policy.toml"


def rates(policy: GatePolicy, runs: int, seed: int, drops: dict, sizes: dict, discordance: float, kl=None) -> dict:
    rng = np.random.default_rng(seed)
    gen = (simulated_inputs(drops, sizes, discordance, rng, kl=None if kl is None else kl(rng)) for _ in range(runs))
    return outcome_rates(policy, gen)


def calibration(args, lite: dict[str, int]) -> None:
    default = replace(load_policy(EXAMPLE), max_kl=None, n_boot=1000)
    strict = replace(default, on_inconclusive="fail")
    limits = {t: default.task_drop.get(t, default.max_task_drop) for t in lite}
    print(f"\n## gate calibration: examples/policy.toml at offline-lite sizes {list(lite.values())}, discordance "
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
            print(
                f"| task Δ (Tango score, continuity-corrected) | n {n}, {lost:.0%} lost / {won:.0%} won | {exact_coverage(n, lost, won):.3f} |"
            )
    sizes = (40, 40, 60, 60, 60, 60, 20)
    for lost, won in ((0.05, 0.0), (0.10, 0.05)):
        hits = 0
        for _ in range(args.runs):
            pairs = [paired_items(n, 100 * (lost - won), 2 * won, rng) for n in sizes]
            low, high = forgetting(pairs).interval(0.95)
            hits += low <= lost - won <= high
        print(f"| F over 7 tasks (stratified score) | {lost:.0%} lost / {won:.0%} won each | {hits / args.runs:.3f} |")
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


def mde_power(args, lite: dict[str, int]) -> None:
    """The MDE a rule states, and the power it really has there: exact, and the fail rate of `decide`."""
    print("## power at the stated MDE (target 0.80; data model: background flips d split evenly, a drop δ loses another δ)")
    print(f"{args.runs} runs per simulated cell; one rule, limit 5 points (F: 2 points), α as shown")
    print(
        "| rule | items | d | α | stated MDE (points) | exact power | gate fail rate at the MDE | power at the MDE `gate` states at no drop: median [10 %, 90 %] |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for alpha in (0.05, 0.005):
        for n in (20, 60, 200):
            for d in (0.02, 0.10, 0.30):
                mde = BinarySizing(n, d).mde(0.05, alpha)
                if mde is None:
                    print(f"| task (0/1) | {n} | {d:g} | {alpha:g} | none | – | – | – |")
                    continue
                exact = binary_power(n, d, mde, 0.05, alpha, "beyond")
                policy = GatePolicy(max_task_drop=5.0, alpha=alpha)
                sim = fail_rate(policy, {"t": 100 * mde}, {"t": n}, d, args.runs, seed=n)
                rng, stated = np.random.default_rng(n + 1), []
                for _ in range(min(args.runs, 300)):
                    found = sizing_of(task_drop(*paired_items(n, 0.0, d, rng))).mde(0.05, alpha)
                    stated.append(0.0 if found is None else binary_power(n, d, found, 0.05, alpha, "beyond"))
                q = np.quantile(stated, [0.5, 0.1, 0.9])
                print(f"| task (0/1) | {n} | {d:g} | {alpha:g} | {100 * mde:.1f} | {exact:.3f} | {sim:.3f} | "
                      f"{q[0]:.2f} [{q[1]:.2f}, {q[2]:.2f}] |")  # fmt: skip
    for n in (20, 60, 200):
        sizing = GradedSizing(n, 0.3)
        mde = sizing.mde(0.05, 0.05) or math.nan
        rng = np.random.default_rng(n)
        runs = 10 * args.runs  # cheap: ten times the runs
        hits = sum(GradedDrop(tuple(rng.normal(mde, 0.3, n))).p_beyond(0.05) <= 0.05 for _ in range(runs))
        print(f"| task (graded, normal, sd 0.3) | {n} | – | 0.05 | {100 * mde:.1f} | {sizing.power(mde, 0.05, 0.05, 'beyond'):.3f} "
              f"| {hits / runs:.3f} ({runs} runs) | – |")  # fmt: skip
    sizes = tuple(lite.values())
    for d in (0.02, 0.10, 0.30):
        mde = AggregateSizing(tuple(BinarySizing(n, d) for n in sizes)).mde(0.02, 0.05) or math.nan
        policy = GatePolicy(max_aggregate_drop=2.0)
        sim = fail_rate(policy, dict.fromkeys(lite, 100 * mde), lite, d, args.runs, seed=int(100 * d))
        print(
            f"| F over offline-lite ({len(sizes)} tasks) | {sum(sizes)} | {d:g} | 0.05 | {100 * mde:.1f} | (simulated) | {sim:.3f} | – |"
        )
    sizing_time()


def sizing_time() -> None:
    """Wall time of the sizing `gate` and `plan` do per rule (was a test's bound; it belongs here)."""
    import time

    start = time.perf_counter()
    big = BinarySizing(14000, 0.1)
    big.mde(0.03, 0.005)
    big.needed(0.0, 0.01, 0.05)
    middle = time.perf_counter()
    rng = np.random.default_rng(0)
    agg = sizing_of(forgetting([paired_items(n, 0.0, 0.15, rng) for n in (40, 40, 60, 60, 60, 60, 20, 40)]))
    agg.mde(0.02, 0.005)
    agg.needed(0.0, 0.02, 0.05)
    end = time.perf_counter()
    print(f"\nsizing time: a 14 000-item 0/1 task's MDE and items needed {middle - start:.2f} s; "
          f"F over 8 tasks (380 items) {end - middle:.2f} s")  # fmt: skip


def _uncorrected_fail(n: int, d: float, margin: float, alpha: float) -> float:
    """The fail rate at the limit of Tango's test without the continuity correction (before issue 25)."""
    from scipy.special import gammaln
    from scipy.stats import norm

    b, c = np.meshgrid(np.arange(n + 1.0), np.arange(n + 1.0), indexing="ij")
    keep = b + c <= n
    b, c = b[keep], c[keep]
    lost, won = d / 2 + margin, d / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = (gammaln(n + 1) - gammaln(b + 1) - gammaln(c + 1) - gammaln(n - b - c + 1)
                + np.where(b > 0, b * np.log(lost), 0) + np.where(c > 0, c * np.log(max(won, 1e-300)), 0)
                + np.where(n - b - c > 0, (n - b - c) * np.log(1 - lost - won), 0))  # fmt: skip
        num, var = tango_parts(b, c, n, margin)
        z = np.where(var > 0, num / np.sqrt(np.where(var > 0, var, 1)), np.where(num > 0, np.inf, -np.inf))
    return float(np.exp(logp)[norm.sf(z) <= alpha].sum())


def fail_at_limit(args) -> None:
    """Exact rates of a 0/1 task whose true drop is exactly its limit (5 points)."""
    print("\n## a 0/1 task whose true drop is exactly its limit (5 points): exact rates")
    print("| items | background flips d | α | fail, uncorrected Tango (before) | fail, continuity-corrected (now) | pass (now) |")
    print("|---|---|---|---|---|---|")
    worst = {}
    for alpha in (0.05, 0.005):
        for n in (20, 40, 60, 100, 200, 400):
            for d in (0.0, 0.02, 0.05, 0.15, 0.30):
                now = binary_power(n, d, 0.05, 0.05, alpha, "beyond")
                passed = binary_power(n, d, 0.05, 0.05, alpha, "within")
                worst[alpha] = max(worst.get(alpha, (0.0,)), (now, n, d))
                if alpha == 0.05 and n <= 200 and d <= 0.15:
                    print(f"| {n} | {d:g} | {alpha:g} | {_uncorrected_fail(n, d, 0.05, alpha):.4f} | {now:.4f} | {passed:.4f} |")
    for alpha, (rate, n, d) in worst.items():
        print(
            f"worst fail rate at α {alpha:g} over 20–400 items, d 0–0.30: {rate:.4f} ({rate / alpha:.2f} α) at {n} items, d {d:g}"
        )


def _wald_bounds(pairs, level: float) -> tuple[float, float]:
    """The stratified Agresti–Min Wald interval F had before issue 25 (for the comparison)."""
    from scipy.stats import norm

    parts = []
    for b, c in pairs:
        lost, won, n = ((b == 1) & (c == 0)).sum() + 0.5, ((b == 0) & (c == 1)).sum() + 0.5, len(b) + 2.0
        d = (lost - won) / n
        parts.append((d, ((lost + won) / n - d * d) / n))
    centre, se = sum(p[0] for p in parts) / len(parts), math.sqrt(sum(p[1] for p in parts)) / len(parts)
    q = float(norm.ppf(0.5 + level / 2)) * se
    return centre - q, centre + q


def f_bounds(args, lite: dict[str, int]) -> None:
    """How often F's one-sided 95% bounds (the ends of its 90% interval) miss the truth."""
    print(f"\n## F's one-sided 95% bounds: share of {args.runs} runs where the bound is on the wrong side of the truth")
    print("| tasks (items) | lost / won per task | upper < truth, Wald (before) | upper < truth (now) | lower > truth (now) |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(17)
    for sizes in (tuple(lite.values()), (20, 20, 20), (20, 20, 40), (60,) * 7):
        for lost, won in ((0.05, 0.0), (0.10, 0.05), (0.02, 0.0), (0.20, 0.0)):
            old = high_miss = low_miss = 0
            truth = lost - won
            for _ in range(args.runs):
                pairs = [paired_items(n, 100 * truth, 2 * won, rng) for n in sizes]
                low, high = forgetting(pairs).interval(0.90)
                old += _wald_bounds(pairs, 0.90)[1] < truth - 1e-12
                high_miss += high < truth - 1e-12
                low_miss += low > truth + 1e-12
            r = args.runs
            print(
                f"| {len(sizes)} ({', '.join(map(str, sizes))}) | {lost:.0%} / {won:.0%} | {old / r:.3f} | {high_miss / r:.3f} | {low_miss / r:.3f} |"
            )


SECTIONS = ("power", "limit", "bounds", "calibration", "coverage", "null")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--discordance", type=float, default=0.15)
    ap.add_argument("--only", nargs="*", choices=SECTIONS, default=list(SECTIONS))
    args = ap.parse_args()
    lite = suite_sizes("offline-lite")
    if "power" in args.only:
        mde_power(args, lite)
    if "limit" in args.only:
        fail_at_limit(args)
    if "bounds" in args.only:
        f_bounds(args, lite)
    if "calibration" in args.only:
        calibration(args, lite)
    if "coverage" in args.only:
        coverage(args)
    if "null" in args.only:
        null_verdicts(args)


if __name__ == "__main__":
    main()
