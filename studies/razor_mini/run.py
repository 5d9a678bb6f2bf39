"""RL's Razor in miniature: SFT against GRPO on SmolLM2-135M, measured end to end with forgetbench.

    python studies/razor_mini/run.py                # the whole study, resumable: each stage skips what is done
    python studies/razor_mini/run.py --quick --base TINY_MODEL --out /tmp/q   # the minutes-long smoke version

New task: `tasks/numrange` (name a whole number strictly between two bounds; many correct answers, one exact
verifier that is both the lm-eval metric and the RL reward). Both methods train LoRA adapters with TRL (the
optional `forgetbench[train]` extra): SFT on one fixed correct answer per prompt, GRPO with the verifier as
reward, each at three learning rates, a checkpoint every `save_every` steps. Everything is then measured by
forgetbench's own commands, as a user would run them: `forgetbench sweep` (every predictor: `--direction
both`, old-task prompts, weight distances), `leaderboard add`, `leaderboard fit`, `leaderboard predictors`.

Stages (`--stage`, default all): train → sweep → board → figures. Every run's settings are written beside its
checkpoints (`study_run.json`), each stage's wall time to OUT/timings.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FORGETBENCH = [sys.executable, "-m", "forgetbench"]


def _task_module():
    """tasks/numrange/numrange.py: the items and the verifier, the very module lm-eval loads."""
    spec = importlib.util.spec_from_file_location("numrange", ROOT / "tasks" / "numrange" / "numrange.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


numrange = _task_module()


@dataclass(frozen=True)
class Run:
    name: str
    method: str
    """`SFT` or `GRPO`: the leaderboard label."""
    lr: float
    steps: int
    save_every: int


@dataclass(frozen=True)
class Settings:
    """What the study trains and how it measures; `QUICK` is the smoke version on a tiny model."""

    runs: tuple[Run, ...]
    sft_batch: int = 16
    grpo_prompts: int = 4
    """Prompts per GRPO step; each gets `generations` completions."""
    generations: int = 8
    completion_tokens: int = 8
    lora_r: int = 16
    lora_alpha: int = 32
    suite: str = "offline"
    limit: int | None = 150
    """Items per task of the prior suite (8 tasks: 1200 items; `forgetbench plan` sizes it, see README)."""
    new_task: str = "task:fb_numrange_lite"
    n_prompts: int = 64
    max_new_tokens: int = 8
    old_task_prompts: int = 32
    direction: str = "both"
    sweep_every: int = 1
    """Sweep every this-many-th checkpoint of a run (1: all)."""
    kl_every: int = 10
    """Steps between the training-time KL measurements (`ForgettingCallback`, on the sweep's prompts and samples)."""


FULL = Settings(
    runs=(
        Run("sft-lr3e-5", "SFT", 3e-5, 100, 20),
        Run("sft-lr1e-4", "SFT", 1e-4, 100, 20),
        Run("sft-lr3e-4", "SFT", 3e-4, 100, 20),
        Run("grpo-lr3e-5", "GRPO", 3e-5, 100, 20),
        Run("grpo-lr1e-4", "GRPO", 1e-4, 100, 20),
        Run("grpo-lr3e-4", "GRPO", 3e-4, 100, 20),
    )
)
QUICK = Settings(
    runs=(Run("sft-quick", "SFT", 2e-2, 2, 1), Run("grpo-quick", "GRPO", 2e-2, 2, 2)),  # 3 checkpoints: a law needs 3
    sft_batch=4,
    grpo_prompts=2,
    generations=4,
    suite="task:fb_boolq_lite",
    limit=8,
    new_task="task:fb_numrange_smoke",
    n_prompts=4,
    old_task_prompts=2,
    kl_every=1,
)


def say(text: str) -> None:
    print(f"razor-mini: {text}", flush=True)


def forgetbench(*args: str) -> str:
    """Run one forgetbench command as a user would (printed first); its stdout."""
    cmd = [*FORGETBENCH, *args]
    say("$ forgetbench " + " ".join(shlex.quote(a) for a in args))
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"razor-mini: forgetbench {args[0]} failed with exit {done.returncode}")
    return done.stdout


# --- training (TRL) -----------------------------------------------------------------------------


def _lora(s: Settings):
    from peft import LoraConfig

    return LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")


def _common(run: Run, folder: Path) -> dict:
    return dict(
        output_dir=str(folder), max_steps=run.steps, learning_rate=run.lr, lr_scheduler_type="constant", warmup_steps=0,
        save_steps=run.save_every, save_strategy="steps", logging_steps=1, report_to="none", use_cpu=True, seed=0,
        data_seed=0, save_total_limit=None, dataloader_num_workers=0, gradient_checkpointing=False,  # LoRA on CPU: memory is not the limit, time is
    )  # fmt: skip


def _trainer(run: Run, s: Settings, base: str, folder: Path):
    from datasets import Dataset
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    items = numrange.docs("train")
    if run.method == "SFT":
        from trl import SFTConfig, SFTTrainer

        data = Dataset.from_list([{"prompt": d["prompt"], "completion": " " + d["example"]} for d in items])
        args = SFTConfig(
            **_common(run, folder), per_device_train_batch_size=s.sft_batch, completion_only_loss=True, max_length=256
        )
        return SFTTrainer(model=base, args=args, train_dataset=data, processing_class=tok, peft_config=_lora(s))
    from trl import GRPOConfig, GRPOTrainer

    def valid(completions: list[str], lo: list[int], hi: list[int], **_: object) -> list[float]:
        """The reward: the task's own verifier (tasks/numrange/numrange.py)."""
        return [float(numrange.verify(c, a, b)) for c, a, b in zip(completions, lo, hi)]

    data = Dataset.from_list([{"prompt": d["prompt"], "lo": d["lo"], "hi": d["hi"]} for d in items])
    args = GRPOConfig(
        **_common(run, folder), per_device_train_batch_size=s.grpo_prompts * s.generations, num_generations=s.generations,
        max_completion_length=s.completion_tokens, beta=0.0, temperature=1.0,
    )  # fmt: skip
    return GRPOTrainer(model=base, reward_funcs=valid, args=args, train_dataset=data, processing_class=tok, peft_config=_lora(s))


def checkpoints(folder: Path) -> list[Path]:
    found = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def train(run: Run, s: Settings, base: str, out: Path) -> Path:
    """One training run's `checkpoint-<step>` folders under OUT/train/<name>; resumes from its last checkpoint."""
    folder = out / "train" / run.name
    record = folder / "study_run.json"
    if record.is_file() and json.loads(record.read_text()).get("finished"):
        return folder
    import trl

    from forgetbench.integrations.transformers import PREFIX, ForgettingCallback

    KL = PREFIX + "kl_forward"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    trainer = _trainer(run, s, base, folder)
    watch = ForgettingCallback(
        trainer, base, s.new_task, every_n_steps=s.kl_every, n_prompts=s.n_prompts, max_new_tokens=s.max_new_tokens,
        chat_template=False, seed=0,
    )  # fmt: skip
    trainer.add_callback(watch)  # the KL trajectory, logged with the losses (and kept across a resume)
    resume = bool(checkpoints(folder))
    say(f"{run.name}: {run.method}, lr {run.lr:g}, {run.steps} steps" + (" (resuming)" if resume else ""))
    trainer.train(resume_from_checkpoint=resume or None)
    history = trainer.state.log_history
    rewards = [h["reward"] for h in history if "reward" in h]
    losses = [h["loss"] for h in history if "loss" in h]
    kl = [
        {"step": h["step"], **{k.removeprefix(PREFIX): v for k, v in h.items() if k.startswith(PREFIX)}}
        for h in history
        if KL in h
    ]
    record.write_text(json.dumps({
        "finished": True, "run": asdict(run), "base": base, "trl": trl.__version__, "wall_s": time.perf_counter() - started,
        "lora": {"r": s.lora_r, "alpha": s.lora_alpha, "targets": "all-linear"},
        "trainer_args": trainer.args.to_dict(), "rewards": rewards, "losses": losses, "kl_trajectory": kl,
    }, indent=1, default=str))  # fmt: skip
    return folder


# --- measuring (forgetbench's commands) -----------------------------------------------------------


def sweep(run: Run, s: Settings, base: str, out: Path) -> Path:
    """`forgetbench sweep` over the run's checkpoints (every `sweep_every`-th, the last always)."""
    ckpts = checkpoints(out / "train" / run.name)
    chosen = [c for i, c in enumerate(ckpts) if (len(ckpts) - 1 - i) % s.sweep_every == 0]
    folder = out / "sweeps" / run.name
    limit = ["--limit", str(s.limit)] if s.limit else []
    forgetbench(
        "sweep", base, *map(str, chosen), "--new-task", s.new_task, "--suite", s.suite, *limit, "--n-prompts", str(s.n_prompts),
        "--max-new-tokens", str(s.max_new_tokens), "--no-chat-template", "--direction", s.direction,
        "--old-task-prompts", str(s.old_task_prompts), "--noise-floor-prompts", "0", "--seed", "0", "--out", str(folder),
    )  # fmt: skip
    return folder


def board(s: Settings, out: Path, to: Path, figures_dir: Path) -> None:
    """Every swept checkpoint into the board (label: the method), then forgetbench's law, law plot and
    predictor ranking, and the study's own Pareto plot and matched-accuracy table (`figures`)."""
    import figures

    runs: dict[str, Path] = {}
    for run in s.runs:
        for ckpt in checkpoints(out / "sweeps" / run.name):
            if (ckpt / "report.json").is_file():
                name = f"razor-mini/{run.name}/{ckpt.name}"
                forgetbench("leaderboard", "add", str(ckpt), "--to", str(to), "--label", run.method, "--ckpt-name", name)
                runs[name] = ckpt
    figures_dir.mkdir(parents=True, exist_ok=True)
    (figures_dir / "law.txt").write_text(forgetbench("leaderboard", "fit", str(to)))
    forgetbench("leaderboard", "plot", str(to), "--out", str(figures_dir / "law"))
    (figures_dir / "predictors.txt").write_text(
        forgetbench("leaderboard", "predictors", str(to), "--out", str(figures_dir / "predictors"))
    )
    figures.pareto(to, figures_dir / "pareto")
    figures.trajectories(
        {r.name: (r.method, out / "train" / r.name / "study_run.json") for r in s.runs}, figures_dir / "kl_trajectories"
    )
    pairs = figures.matched(to, runs)
    (figures_dir / "matched.json").write_text(json.dumps(pairs, indent=1))
    (figures_dir / "matched.md").write_text(figures.matched_markdown(pairs))
    say(f"{len(runs)} checkpoints on {to}; figures in {figures_dir}; {len(pairs)} SFT/GRPO pairs within 5 points")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "razor_mini")
    ap.add_argument("--base", default="smollm2-135m", help="the base model (default: the embedded SmolLM2-135M-Instruct)")
    ap.add_argument("--board", type=Path, help="default: leaderboards/razor-mini-smollm2-135m.csv (--quick: OUT/board.csv)")
    ap.add_argument("--figures", type=Path, help="default: studies/razor_mini/figures (--quick: OUT/figures)")
    ap.add_argument("--quick", action="store_true", help="a few steps of each trainer and a 2-checkpoint sweep")
    ap.add_argument("--stage", choices=("train", "sweep", "board", "all"), default="all")
    ap.add_argument("--only", nargs="*", help="run names (default: all)")
    args = ap.parse_args(argv)
    s = QUICK if args.quick else FULL
    if args.only:
        s = replace(s, runs=tuple(r for r in s.runs if r.name in args.only))
    to = args.board or (args.out / "board.csv" if args.quick else ROOT / "leaderboards" / "razor-mini-smollm2-135m.csv")
    base = _local(args.base)
    args.out.mkdir(parents=True, exist_ok=True)
    timings_file = args.out / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}

    def timed(stage: str, fn, *a) -> object:
        started = time.perf_counter()
        result = fn(*a)
        timings[stage] = round(time.perf_counter() - started, 1)
        timings_file.write_text(json.dumps(timings, indent=1))
        return result

    for run in s.runs:
        if args.stage in ("train", "all"):
            timed(f"train {run.name}", train, run, s, base, args.out)
        if args.stage in ("sweep", "all"):
            timed(f"sweep {run.name}", sweep, run, s, base, args.out)
    if args.stage in ("board", "all"):
        figures_dir = args.figures or (args.out / "figures" if args.quick else HERE / "figures")
        timed("board", board, s, args.out, to, figures_dir)
    say(f"done; wall times in {timings_file}")


def _local(spec: str) -> str:
    """The base as a local folder (TRL loads it by path; forgetbench resolves the same folder to the same fingerprint)."""
    if Path(spec).is_dir():
        return str(Path(spec).resolve())
    from forgetbench.models import embedded

    return str(embedded.ensure(spec))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
