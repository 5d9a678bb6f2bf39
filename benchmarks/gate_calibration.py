"""Error rates and power of a gate policy at the offline-lite suite's sizes, by simulation.

    .venv/bin/python benchmarks/gate_calibration.py [--reps 1000] [--discordance 0.15]

For each mode and task limit m: how often the verdict is FAIL when every task's true drop is 0, when
every task sits exactly at the limit, and when every task (or one task) drops 2m. Items are paired
0/1 outcomes; `discordance` is the share of items that flip when nothing is lost.
"""

from __future__ import annotations

import argparse

from forgetbench.gate.policy import GatePolicy
from forgetbench.gate.power import LITE_SIZES, fail_rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--discordance", type=float, default=0.15)
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args()
    first = next(iter(LITE_SIZES))
    print(
        f"offline-lite sizes {list(LITE_SIZES.values())}, discordance {args.discordance}, {args.reps} runs each, "
        f"alpha 0.05, Holm across tasks"
    )
    print("mode              limit  P(fail|no drop)  P(fail|all at limit)  P(fail|all drop 2m)  P(fail|one task 2m)")
    for mode in ("non-inferiority", "significant-drop"):
        for limit in (5.0, 10.0):
            policy = GatePolicy(max_task_drop=limit, mode=mode, n_boot=args.n_boot)
            rates = [
                fail_rate(policy, drops, LITE_SIZES, args.discordance, args.reps, seed=i)
                for i, drops in enumerate(
                    (
                        {},
                        {t: limit for t in LITE_SIZES},
                        {t: 2 * limit for t in LITE_SIZES},
                        {first: 2 * limit},
                    )
                )
            ]
            print(f"{mode:17s} {limit:5.0f}  {rates[0]:15.3f}  {rates[1]:20.3f}  {rates[2]:19.3f}  {rates[3]:19.3f}")
    print("aggregate rule only (F = mean drop over the 8 tasks):")
    print("mode              limit  P(fail|no drop)  P(fail|all at limit)  P(fail|all drop 2m)")
    for mode in ("non-inferiority", "significant-drop"):
        for limit in (2.0, 5.0):
            policy = GatePolicy(max_aggregate_drop=limit, mode=mode, n_boot=args.n_boot)
            rates = [
                fail_rate(policy, drops, LITE_SIZES, args.discordance, args.reps, seed=10 + i)
                for i, drops in enumerate(({}, {t: limit for t in LITE_SIZES}, {t: 2 * limit for t in LITE_SIZES}))
            ]
            print(f"{mode:17s} {limit:5.0f}  {rates[0]:15.3f}  {rates[1]:20.3f}  {rates[2]:19.3f}")


if __name__ == "__main__":
    main()
