"""The KL rule's level, its interval's coverage and its MDE's power, by simulation (README "KL rule").

    .venv/bin/python benchmarks/kl_rule_calibration.py [--runs 1000] [--n-boot 2000] [--part level|power|needed|all]

Level: per-prompt KL drawn from each regime, `max_kl` set to the regime's true mean, α 0.05, one rule,
through `gate.decide.decide`: the share of runs passed (a wrong pass: ≤ α + 2 s.e. wanted, or
`inconclusive` at that size), failed (at the limit: ≤ α + 2 s.e.) and inconclusive; and the coverage of
the two-sided 95% interval the reports print (`stats.bootstrap.MeanTest.interval`, as `kl` reports it;
a run whose interval has a NaN bound, where the data cannot bound the mean, counts as not covering and
is counted under "no interval"). Monte Carlo s.e. √(α(1 − α)/runs).

Power: per-prompt KL from the rule's data model (a share `zeros` of exact zeros, a lognormal positive
part of log spread σ) at n prompts, with the true mean at the MDE `decide` states for a run whose fitted
zero share and spread are the model's (`stats.kl_mean.fail_power_ratio`); the share of runs failed.

Needed: the same model with its mean a ratio × the limit, at the prompts `decide` states as needed for a
run whose fitted model (and estimate) are the model's (`stats.kl_mean.prompts_needed`): the share of runs
passed (ratio < 1) or failed (ratio > 1), 0.77–0.83 wanted.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from forgetbench.gate.decide import decide
from forgetbench.gate.policy import GatePolicy
from forgetbench.gate.power import simulated_inputs
from forgetbench.stats.bootstrap import mean_test
from forgetbench.stats.kl_mean import MIN_PASS_PROMPTS, bootstrap_floor, fail_power_ratio, prompts_needed

ALPHA = 0.05
Draw = Callable[[np.random.Generator, int], np.ndarray]


def lognormal(s: float) -> tuple[Draw, float]:
    return (lambda g, n: g.lognormal(-s * s / 2, s, n)), 1.0


EXPONENTIAL: tuple[Draw, float] = ((lambda g, n: g.exponential(1.0, n)), 1.0)


def zeros(share: float, part: tuple[Draw, float]) -> tuple[Draw, float]:
    draw, mean = part
    return (lambda g, n: np.where(g.random(n) < share, 0.0, draw(g, n))), (1 - share) * mean


def contaminated(share: float, times: float, part: tuple[Draw, float]) -> tuple[Draw, float]:
    """A share of prompts `times` larger than the rest."""
    draw, mean = part
    return (lambda g, n: draw(g, n) * np.where(g.random(n) < share, times, 1.0)), mean * (1 - share + share * times)


REGIMES = {
    "exponential": EXPONENTIAL,
    "lognormal σ 0.5": lognormal(0.5),
    "lognormal σ 1": lognormal(1.0),
    "lognormal σ 1.5": lognormal(1.5),
    "lognormal σ 2": lognormal(2.0),
    "20% zeros + lognormal σ 1.5": zeros(0.2, lognormal(1.5)),
    "50% zeros + lognormal σ 1": zeros(0.5, lognormal(1.0)),
    "20% zeros + exponential": zeros(0.2, EXPONENTIAL),
    "5% of prompts 50× (lognormal σ 1)": contaminated(0.05, 50, lognormal(1.0)),
    "5% of prompts 50× (exponential)": contaminated(0.05, 50, EXPONENTIAL),
    "10% of prompts 20× (lognormal σ 0.5)": contaminated(0.10, 20, lognormal(0.5)),
}
ISSUE = [  # the issue's measurements, then the data model's regimes at and above the minimum
    ("lognormal σ 1", 1),
    ("lognormal σ 1", 2),
    ("lognormal σ 1", 16),
    ("20% zeros + lognormal σ 1.5", 16),
    ("20% zeros + lognormal σ 1.5", 64),
    ("20% zeros + lognormal σ 1.5", 256),
    ("5% of prompts 50× (lognormal σ 1)", 16),
    ("5% of prompts 50× (lognormal σ 1)", 64),
]
CELLS = ISSUE + [(name, n) for n in (MIN_PASS_PROMPTS, 256) for name in REGIMES if (name, n) not in ISSUE]
POWER_MODELS = [(0.0, 0.5), (0.0, 1.0), (0.2, 1.5), (0.5, 1.0), (0.0, 2.0)]


def se(runs: int) -> float:
    return math.sqrt(ALPHA * (1 - ALPHA) / runs)


def level(args) -> None:
    print(f"## KL rule at its limit (max_kl = the true mean, α {ALPHA}, {args.runs} runs per row, n_boot {args.n_boot}; "
          f"MC s.e. {se(args.runs):.3f}, so ≤ {ALPHA + 2 * se(args.runs):.3f} holds the level)")  # fmt: skip
    print("| per-prompt KL | prompts | wrong pass | fail at the limit | inconclusive | 95% interval coverage | no interval |")
    print("|---|---|---|---|---|---|---|")
    for i, (name, n) in enumerate(CELLS):
        draw, truth = REGIMES[name]
        policy = GatePolicy(max_kl=truth, alpha=ALPHA, on_inconclusive="fail", n_boot=args.n_boot)
        rng = np.random.default_rng(1000 + i)
        counts, covered, none = {"pass": 0, "fail": 0, "inconclusive": 0}, 0, 0
        for rep in range(args.runs):
            x = draw(rng, n)
            counts[decide(simulated_inputs({}, {}, 0.0, rng, kl=x), replace(policy, seed=rep)).status] += 1
            low, high = mean_test(x, np.arange(n), np.random.default_rng(rep), args.n_boot).interval(0.95)
            covered += low <= truth <= high
            none += math.isnan(low) or math.isnan(high)
        r = {k: v / args.runs for k, v in counts.items()}
        print(f"| {name} | {n} | {r['pass']:.3f} | {r['fail']:.3f} | {r['inconclusive']:.3f} | {covered / args.runs:.3f} | {none / args.runs:.3f} |",
              flush=True)  # fmt: skip


def power(args) -> None:
    s = math.sqrt(0.8 * 0.2 / args.runs)
    print(f"\n## KL rule's MDE: power of the fail test at the stated MDE ({args.runs} runs per row, MC s.e. {s:.3f}; "
          "0.77–0.83 wanted)")  # fmt: skip
    print("| zero share | log spread σ | prompts | MDE / limit | power |")
    print("|---|---|---|---|---|")
    limit = 1.0
    for i, (share, sigma) in enumerate(POWER_MODELS):
        for n in (16, 64, 256):
            ratio = fail_power_ratio(share, sigma, n, ALPHA, 0)
            draw, mean = zeros(share, lognormal(sigma))
            policy = GatePolicy(max_kl=limit, alpha=ALPHA, n_boot=args.n_boot)
            rng, failed = np.random.default_rng(2000 + 10 * i + n), 0
            for rep in range(args.runs):
                x = draw(rng, n) * ratio * limit / mean
                failed += decide(simulated_inputs({}, {}, 0.0, rng, kl=x), replace(policy, seed=rep)).status == "fail"
            print(f"| {share:.0%} | {sigma:g} | {n} | {ratio:.3f} | {failed / args.runs:.3f} |", flush=True)


NEEDED_MODELS = [
    (0.2, 1.0, 0.7),
    (0.0, 1.5, 0.7),
    (0.0, 1.0, 0.5),
    (0.5, 1.0, 0.7),
    (0.0, 2.0, 0.5),
    (0.0, 1.0, 1.3),
    (0.2, 1.5, 1.5),
]  # (zero share, log spread σ, true mean / limit)


def needed(args) -> None:
    s = math.sqrt(0.8 * 0.2 / args.runs)
    print(f"\n## KL rule's prompts needed: power at the stated n_needed ({args.runs} runs per row, MC s.e. {s:.3f}; "
          "0.77–0.83 wanted)")  # fmt: skip
    print("| zero share | log spread σ | mean / limit | side | n_needed | power |")
    print("|---|---|---|---|---|---|")
    for i, (share, sigma, ratio) in enumerate(NEEDED_MODELS):
        floor = bootstrap_floor(ALPHA) if ratio > 1 else MIN_PASS_PROMPTS
        n = prompts_needed(share, sigma, ratio, ALPHA, floor, 0)
        if n is None:
            print(f"| {share:.0%} | {sigma:g} | {ratio:g} | - | None | - |")
            continue
        draw, mean = zeros(share, lognormal(sigma))
        policy = GatePolicy(max_kl=1.0, alpha=ALPHA, n_boot=args.n_boot)
        rng, hits, side = np.random.default_rng(3000 + i), 0, "fail" if ratio > 1 else "pass"
        for rep in range(args.runs):
            x = draw(rng, n) * ratio / mean
            hits += decide(simulated_inputs({}, {}, 0.0, rng, kl=x), replace(policy, seed=rep)).status == side
        print(f"| {share:.0%} | {sigma:g} | {ratio:g} | {side} | {n} | {hits / args.runs:.3f} |", flush=True)


def examples() -> None:
    print("\n## edge cases (max_kl 1.0)")
    for values in ([0.3], [0.2, 0.9], [0.3] * 200, [0.0] * 200):
        x = np.array(values)
        r = decide(simulated_inputs({}, {}, 0.0, np.random.default_rng(0), kl=x), GatePolicy(max_kl=1.0)).rules[0]
        shown = f"{values[:2]}…×{len(values)}" if len(values) > 2 else str(values)
        print(f"- {shown}: {r.status}, p within {r.p_within:.3g}, n_needed {r.n_needed}: {r.reason}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--part", choices=("level", "power", "needed", "all"), default="all")
    args = ap.parse_args()
    if args.part in ("level", "all"):
        level(args)
    if args.part in ("power", "all"):
        power(args)
    if args.part in ("needed", "all"):
        needed(args)
    examples()


if __name__ == "__main__":
    main()
