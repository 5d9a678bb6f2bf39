"""Coverage of the leave-one-out R² interval `leaderboard predictors` prints (`stats.law.loo_r2_interval`),
by simulation (docs/leaderboards.md "Which predictor").

    .venv/bin/python benchmarks/ranking_calibration.py [--runs 400] [--draws 1000]

A family of n checkpoints: predictor x ~ U(0, 2), F = 1 + 3x (linear) or 1 + 3x² / 2 (quadratic) plus
N(0, s²) noise. The interval's target is the law's population R², 1 − s² / Var(F), which a law fitted to
a new family predicts as n grows. Prints per regime the share of runs whose 95% interval covers it (Monte
Carlo s.e. √(0.95 · 0.05 / runs)), the share without an interval, and the mean width.
"""

from __future__ import annotations

import argparse

import numpy as np

from forgetbench.stats.law import LawKind, loo_r2_interval


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=400)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    se = (0.95 * 0.05 / args.runs) ** 0.5
    print(f"runs {args.runs}, draws {args.draws}; coverage wanted 0.95 (MC s.e. {se:.3f})")
    print(f"{'law':<10}{'n':>4}{'noise':>7}{'R²':>7}{'covers':>8}{'none':>7}{'width':>8}")
    moments = {"linear": (3.0, 1), "quadratic": (1.5, 2)}
    for kind in ("linear", "quadratic"):
        scale, power = moments[kind]
        grid = np.linspace(0, 2, 200_001)
        var_signal = float(np.var(scale * grid**power))  # Var(F's signal) under x ~ U(0, 2)
        for n in (10, 15, 30):
            for s in (0.5, 1.5):
                true = var_signal / (var_signal + s * s)
                covered = none = 0
                widths = []
                for _ in range(args.runs):
                    x = rng.uniform(0, 2, n)
                    y = 1 + scale * x**power + rng.normal(0, s, n)
                    law: LawKind = kind  # type: ignore[assignment]
                    iv = loo_r2_interval(x, y, law, rng, draws=args.draws)
                    if not np.isfinite(iv.low) or not np.isfinite(iv.high):
                        none += 1
                        continue
                    covered += iv.low <= true <= iv.high
                    widths.append(iv.high - iv.low)
                print(
                    f"{kind:<10}{n:>4}{s:>7.1f}{true:>7.3f}{covered / args.runs:>8.3f}{none / args.runs:>7.3f}"
                    f"{np.mean(widths) if widths else float('nan'):>8.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
