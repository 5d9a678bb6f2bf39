"""Typed, versioned results. Every field is documented; nothing is a dict with compound keys.

`SCHEMA_VERSION` changes whenever a field is added, changes meaning or disappears; `results_io`
reads every earlier version through an explicit migration and refuses later ones.

Version history:
- 1: the first published reports.
- 2: `KLResult.headline` names the headline estimator (`full` whenever computed; in version 1 the
  first requested estimator was the headline, so `--estimators k1,full` headlined k1).
- 3: `files` and `digest` on `ScoreReport` and `KLResult`: the content hashes of the rows a run folder
  holds beside the report, and the report's own hash, so an edited folder is refused (version-2
  files read back with neither, and are checked only against their rows' means);
  `ScoreReport.warnings` (tasks too small to detect a drop; empty when migrated).
- 4: statistics you can bet a release on. `RuleVerdict` is three-valued (`status` pass / fail /
  inconclusive, `low`/`high`, `p_within`/`p_beyond`, `mde`, `n_needed`, `method`; `bound`, `p_value`
  and `p_adjusted` are gone) and `GateVerdict` has `status` and `on_inconclusive` instead of `mode`;
  `TaskComparison.p_adjusted` (Holm); intervals are Tango / Agresti–Min / studentized (see each
  field); `KLResult.template_mismatch`, `precision_floor`, `precision_resolvable`,
  `precision_floor_s`; `LawPrediction.kind`. Version-3 files migrate with no Holm p (None), their
  intervals as they were, and their digest checked on the file as written.
- 5: `ModelInfo.adapter`: a checkpoint may be a PEFT adapter on the base (None for full-weight models,
  and in migrated files).
- 6: reports of `compare` (retention from existing lm-eval logs): `ScoreReport.source` (`forgetbench` or
  `lm-eval logs`), `base_logs` / `ckpt_logs` (`LogSource`), and `ScoreReport.kl` may be None (a
  comparison of logs without `--kl`). Version-5 files migrate unchanged (source `forgetbench`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise

SCHEMA_VERSION = 7


@dataclass(frozen=True)
class AdapterInfo:
    """A PEFT adapter applied to a base model (a checkpoint that is an adapter folder)."""

    path: str
    """Local adapter folder (adapter_config.json and the adapter weights)."""
    digest: str
    """sha256 of the adapter's config (without bookkeeping) and weight tensors."""
    peft_type: str
    """PEFT method (`LORA`)."""
    rank: int
    """LoRA rank `r` (the largest, when layers have their own)."""
    declared_base: str
    """`base_model_name_or_path` in adapter_config.json."""
    matched_by: str
    """How the declared base was matched to the base model: `name` (the base's own folder), `weights` (another
    folder with the same weights, config and tokenizer), `unverified` (not on this machine, weights not
    compared; the report warns) or `mismatch allowed` (other weights, --allow-base-mismatch; the report warns).
    Earlier reports may say `config+tokenizer` (a local folder with the base's config and tokenizer)."""


@dataclass(frozen=True)
class LogSource:
    """One side of a `compare`: the lm-eval output its items were read from."""

    results_file: str
    """lm-eval's results file (`results_<date>.json`)."""
    run_id: str
    """The run's `<date>` in its file names (empty for lm-eval ≤ 0.4.2's `results.json`)."""
    lm_eval_model: str
    """lm-eval's `--model` (`hf`, `vllm`, `openai-completions`, ...)."""
    model_args: str
    """lm-eval's `--model_args` as logged."""
    lm_eval_version: str | None
    """The lm-eval version that wrote the logs (recorded since 0.4.9)."""
    samples_files: dict[str, str]
    """Task → the samples file read (beside the results file)."""


@dataclass(frozen=True)
class ModelInfo:
    """Which model was evaluated."""

    spec: str
    """The model spec as the user typed it (embedded name, path, GGUF file or hub id); for `lm-eval`, the
    model as lm-eval's model_args name it (`pretrained`, `+ peft` when an adapter was applied)."""
    kind: str
    """`embedded`, `dir`, `gguf` or `hub`; `lm-eval` for a model known only from lm-eval logs."""
    path: str
    """Local Hugging Face folder that was loaded (for `lm-eval`: the logged folder when it exists here, else empty)."""
    fingerprint: str
    """sha256 over config, tokenizer and weight digests: the model's identity in the store. For `lm-eval`
    (no weights read): sha256 of the logged identity (lm-eval model type, name, adapter, revision, hub sha)."""
    tokenizer_digest: str
    """sha256 of the tokenizer files alone (two models with equal digests share a tokenizer); empty for `lm-eval`."""
    adapter: AdapterInfo | None = None
    """The PEFT adapter applied to the model at `path`, when the checkpoint is an adapter (schema 5)."""


@dataclass(frozen=True)
class ItemEvidence:
    """What one model did on one item, as lm-eval logged it, clipped to bounded size
    (`backends.lm_eval_samples`):
    what the report shows for a flipped item. Lives in the store's and run folder's parquet files, not in
    `report.json`."""

    context: str
    """The end of the prompt the model saw (few-shot examples and template included), its last
    `backends.lm_eval_samples.CONTEXT_CHARS` characters; starts with `…` when clipped. For a task whose
    options are contexts (WinoGrande's form), the shared continuation."""
    choices: tuple[str, ...]
    """The continuations scored (multiple choice and log-likelihood tasks; for WinoGrande's form, the
    contexts), each clipped; empty for generation."""
    target: str
    """The gold answer as lm-eval's `doc_to_target` gave it: a choice's text when it was an index, else
    its text (clipped)."""
    gold: int | None
    """Index of the gold choice, when the target names one (for two options without one: deduced from the
    pick and the item's 0/1 score)."""
    loglikelihoods: tuple[float, ...]
    """The model's log-likelihood of each choice (nats), in `choices` order; empty for generation."""
    pick: int | None
    """The option the task's metric took, from the unclipped options (`acc`: argmax of the log-likelihoods;
    `acc_norm` per character, `acc_bytes` per byte); for a one-continuation log-likelihood task, 0 when the
    continuation is the model's greedy output. None for generation, for other metrics, and where it would
    contradict the item's 0/1 score."""
    generation: str | None
    """The model's generation (generative tasks), clipped; None otherwise."""
    answer: str | None
    """What the task's filter extracted from the generation and scored (e.g. a number), when it differs
    from the generation; None otherwise."""


@dataclass(frozen=True)
class ItemOutcome:
    """One benchmark item's outcome under one model (the unit of pairing)."""

    task: str
    """lm-eval leaf task name."""
    doc_id: int
    """Index of the doc in the task's evaluation split (after any lite subsampling)."""
    doc_hash: str
    """lm-eval's sha256 of the doc's JSON: items are paired on (task, doc_id, doc_hash)."""
    score: float
    """Value of the task's primary metric on this item (0/1 for accuracy metrics)."""
    evidence: ItemEvidence | None = field(default=None, compare=False, repr=False)
    """What the model did on the item (the report's flips); None in store entries written before
    forgetbench kept it."""


@dataclass(frozen=True)
class TaskResult:
    """One leaf task's result for one model."""

    task: str
    """lm-eval leaf task name."""
    member: str
    """Suite member the task belongs to (itself, or its group, e.g. `mmlu`)."""
    metric: str
    """Primary metric name (lm-eval's, without the `,filter` suffix)."""
    score: float
    """lm-eval's aggregate of the primary metric over the items, in [0, 1]."""
    n_items: int
    """Number of items evaluated."""
    chance: float | None
    """Expected score of uniform guessing (mean of 1/#options) for multiple-choice tasks; None otherwise."""
    task_hash: str
    """sha256 of the task's lm-eval config and of its docs: changes when the task changes."""
    cache_key: str
    """Store key of this result (model fingerprint, task hash, settings; see `prior.run`)."""
    cached: bool
    """True when served from the store without running the model."""
    items: tuple[ItemOutcome, ...] = field(repr=False, default=())
    """Per-item outcomes, in doc order."""


@dataclass(frozen=True)
class EvalSettings:
    """Everything besides the model and the task that can change a score (all part of cache keys)."""

    backend: str
    """Model backend (`hf`)."""
    dtype: str
    """Weights/activation dtype the model ran in (e.g. `float32`)."""
    device: str
    """Device (`cpu`, `cuda`); not part of the cache key."""
    limit: int | None
    """lm-eval `limit`: first N docs per task, or None for all."""
    num_fewshot: int | None
    """Few-shot override, or None for each task's own setting."""
    chat_template: bool
    """Whether prompts were rendered with the model's chat template."""
    batch_size: int
    """Batch size (not part of the cache key: it does not change results beyond float noise); 0 when
    lm-eval chose it (`auto`, in logs read by `compare`)."""
    seeds: dict[str, int]
    """lm-eval's random, numpy, torch and few-shot seeds."""
    lm_eval_version: str
    """Installed lm-eval version (for `compare`: the one that wrote the logs, `unknown (< 0.4.9)` when they
    do not say)."""


@dataclass(frozen=True)
class EvalResult:
    """Prior-capability results of one model on one suite."""

    schema_version: int
    """Version of this schema (`SCHEMA_VERSION`)."""
    forgetbench_version: str
    """forgetbench version that produced the result."""
    model: ModelInfo
    """The evaluated model."""
    suite: str
    """Suite name."""
    settings: EvalSettings
    """Settings of the evaluation (shared by both halves of a comparison)."""
    tasks: tuple[TaskResult, ...]
    """One result per leaf task, in suite order."""
    elapsed_s: float
    """Wall time of the evaluation call, including store look-ups."""

    def to_dict(self, items: bool = False) -> dict:
        """JSON-ready dict; per-item outcomes only when `items`."""
        d = asdict(self)
        if not items:
            for t in d["tasks"]:
                t.pop("items")
        return d


@dataclass(frozen=True)
class Estimate:
    """One KL estimator's result over the prompts."""

    name: str
    """`full`, `k1` or `k3` (see `forgetbench.kl.estimators`)."""
    mean: float
    """Mean per-sequence KL in nats: average over prompts of each prompt's mean over its samples."""
    ci_low: float
    """Lower end of the 95% interval over prompts (a prompt's samples averaged first): a studentized
    bootstrap joined by the lognormal interval when every prompt's value is positive
    (`stats.bootstrap.MeanTest`; in version ≤ 3, a percentile bootstrap)."""
    ci_high: float
    """Upper end of that interval."""
    per_token: float
    """Σ KL / Σ response tokens over all samples (nats per token)."""


@dataclass(frozen=True)
class PredictorValue:
    """One candidate predictor of forgetting measured on a run (`core.predictors` names and describes it)."""

    name: str
    """Its catalog name (`kl_forward_new`, `tv_new`, `act_old`, `weight_frobenius`, ...)."""
    inputs: str
    """`new` (new-task prompts), `old` (prompts drawn from the prior suite's items) or `weights` (no prompts)."""
    value: float
    """Per-token divergences: the mean over prompts of the per-sequence sum (like `Estimate.mean`);
    weight distances: the distance itself."""
    ci_low: float
    """Lower end of the 95% interval over prompts (the headline KL's method); NaN for a weight distance,
    which has no sampling error."""
    ci_high: float
    """Upper end of that interval (NaN for a weight distance)."""
    unit: str
    """`nats/sequence`, `tokens` (a sum of per-token values in [0, 1]), `ratio` or `weight units`."""


@dataclass(frozen=True)
class KLResult:
    """KL between base and checkpoint on new-task prompts."""

    schema_version: int
    """Version of this schema (`SCHEMA_VERSION`)."""
    forgetbench_version: str
    """forgetbench version that produced the result."""
    base: ModelInfo
    """The base model π₀."""
    ckpt: ModelInfo
    """The checkpoint π."""
    direction: str
    """`forward` = KL(base‖ckpt), responses sampled from the base; `reverse` = KL(ckpt‖base), from the checkpoint."""
    prompts_source: str
    """Prompts file or `task:NAME`."""
    prompts_hash: str
    """sha256 of the rendered prompts (after any chat template), in order."""
    chat_template: bool
    """Whether the chat template was applied."""
    n_prompts: int
    """Prompts used."""
    samples_per_prompt: int
    """Responses sampled per prompt."""
    max_new_tokens: int
    """Longest response in tokens."""
    mean_response_tokens: float
    """Mean response length in tokens (EOS included when drawn)."""
    eos_fraction: float
    """Fraction of responses that ended with EOS rather than at max_new_tokens."""
    estimates: tuple[Estimate, ...]
    """One per requested estimator, in the order requested."""
    headline: str
    """The estimator reported, gated and published as *the* KL: `full` whenever it was computed, else
    the first requested."""
    noise_floor: Estimate | None
    """The headline estimator on the same pipeline with the checkpoint replaced by a second copy of
    the sampling model (`full` must be 0 up to float error). None when skipped."""
    noise_floor_prompts: int
    """Prompts the noise floor was measured on."""
    seed: int
    """Seed of prompt choice, sampling and bootstrap."""
    samples_cached: bool
    """True when the sampled responses came from the store."""
    backend: str
    """Backend that sampled and scored: `hf` (transformers) or `vllm` (vLLM engines sample and give
    the sampled tokens' log-probs for k1/k3; `full_scorer` says who computed `full`)."""
    dtype: str
    """dtype the models ran in (log-softmax and KL always in float32)."""
    device: str
    """Device (`cpu`, `cuda`)."""
    elapsed_s: float
    """Wall time of the whole measurement (model loads included)."""
    sampling_s: float
    """Wall time of sampling (≈0 when the samples came from the store; includes loading the sampler)."""
    scoring_s: float
    """Wall time of scoring every sample under both models (includes loading the other model)."""
    noise_floor_s: float
    """Wall time of the noise-floor pass (includes loading the second copy)."""
    noise_floor_k1: Estimate | None = None
    """k1 on the noise-floor pass: the noise in the backend's sampled-token log-probs (with vLLM, two
    separate engines of the sampling model). None when skipped."""
    full_scorer: str | None = "hf"
    """Who computed `full`: `hf` (the chunked transformers scorer) or `vllm` (full-vocabulary prompt
    log-probs); None when `full` was not requested."""
    engine_version: str | None = None
    """vLLM version under the vllm backend (`X+cpu` for the CPU build); None for hf."""
    files: dict[str, str] = field(default_factory=dict)
    """sha256 of each file written beside kl.json (`kl.parquet`); empty inside a ScoreReport, whose own
    `files` cover the folder."""
    digest: str = ""
    """sha256 of this result's canonical JSON with `digest` empty, set when written as kl.json (a check
    that the file was not edited; `core.results_io.seal`)."""
    template_mismatch: str | None = None
    """How the two models' chat templates or stop tokens differ (forward and reverse KL then see
    different prompts or stop rules), measured anyway under `--allow-template-mismatch`; None when they agree."""
    precision_floor: Estimate | None = None
    """The KL that the run's dtype alone puts between two models, in the headline estimator's nats per
    sequence: 2 × KL(sampling model in `dtype` ‖ the same model in float32), measured on the noise-floor
    prompts' samples (each of the two models carries its own rounding error; `forgetbench.kl.run`). The
    noise floor cannot see it: two copies in one dtype agree bit for bit. None in float32, or when the
    noise floor was skipped."""
    precision_resolvable: bool | None = None
    """False when the headline KL is not resolvable at this precision: its mean is at most the precision
    floor's upper CI end (the floor's mean when it has no CI). None without a precision floor."""
    precision_floor_s: float = 0.0
    """Wall time of the precision-floor pass (includes loading the float32 copy; 0 without one)."""
    predictors: tuple[PredictorValue, ...] = ()
    """Every candidate predictor of forgetting this run measured, in `core.predictors` order: the forward
    KL and the other per-token divergences on the new-task prompts, the same on prior-suite prompts
    (`--old-task-prompts`), the weight distances. Results before version 7 carry only the headline KL
    here (`kl_forward_new`, or `kl_reverse_new` for a reverse run), filled in when read."""
    old_task_prompts: int = 0
    """Prompts drawn from the prior suite's items for the `_old` predictors (0: not measured)."""
    predictor_notes: tuple[str, ...] = ()
    """What was asked for but not measured, each with why (`act_new: the vllm backend's full scorer does not
    compute it`; weight distances of a GGUF checkpoint)."""

    @property
    def headline_estimate(self) -> Estimate:
        """The estimate named by `headline`."""
        return next(e for e in self.estimates if e.name == self.headline)

    def predictor(self, name: str) -> PredictorValue | None:
        """The measured predictor named `name`, or None when this run did not measure it."""
        return next((p for p in self.predictors if p.name == name), None)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TaskComparison:
    """One task, base vs checkpoint on the same items (scores in points = score × 100)."""

    task: str
    """lm-eval leaf task name."""
    member: str
    """Suite member the task belongs to."""
    metric: str
    """Primary metric compared."""
    n_items: int
    """Paired items (joined on task, doc_id, doc_hash)."""
    base: float
    """Base score in points."""
    ckpt: float
    """Checkpoint score in points."""
    delta: float
    """ckpt − base in points (negative = forgot)."""
    delta_low: float
    """Lower end of delta's 95% interval: Tango's score interval for 0/1 metrics, the paired t interval
    for graded ones (`stats.paired`; in version ≤ 3, a percentile bootstrap)."""
    delta_high: float
    """Upper end of that CI."""
    p_value: float | None
    """Exact McNemar p-value (two-sided) for 0/1 metrics; None for graded metrics."""
    p_adjusted: float | None
    """`p_value` (or the paired t test's, for graded metrics) Holm-adjusted across the suite's tasks: a
    drop or gain is called significant — in the verdict, the tables and the report — when this is ≤ 0.05."""
    forgotten: int | None
    """Items right under the base, wrong under the checkpoint (0/1 metrics only)."""
    gained: int | None
    """Items wrong under the base, right under the checkpoint (0/1 metrics only)."""
    chance: float | None
    """Chance level (0–1) for multiple choice; None otherwise."""
    base_adjusted: float | None
    """Chance-adjusted base score (s − chance)/(1 − chance), in points; None without a chance level."""
    ckpt_adjusted: float | None
    """Chance-adjusted checkpoint score in points."""
    task_hash: str
    """Content hash of the task (identical on both sides, or the comparison is refused)."""


@dataclass(frozen=True)
class Retention:
    """Prior-capability retention over a suite."""

    tasks: tuple[TaskComparison, ...]
    """One comparison per task, in suite order."""
    forgetting: float
    """F = mean over tasks of (base − ckpt), in points (positive = forgot); tasks weigh equally."""
    forgetting_low: float
    """Lower end of F's 95% interval: stratified Wald over tasks, each 0/1 task Agresti–Min adjusted
    (`stats.paired.Forgetting`; in version ≤ 3, a percentile bootstrap)."""
    forgetting_high: float
    """Upper end of that CI."""
    forgetting_weighted: float
    """Size-weighted F: Σ n_t (base_t − ckpt_t) / Σ n_t, in points."""
    retention_ratio: float
    """mean over tasks of ckpt / mean over tasks of base (1 = nothing lost)."""
    n_items: int
    """Paired items over all tasks."""


@dataclass(frozen=True)
class NewTaskScore:
    """The new task's own metric under both models (when the new task is an lm-eval task)."""

    task: str
    """lm-eval task name of the new task."""
    metric: str
    """Its primary metric."""
    n_items: int
    """Paired items."""
    base: float
    """Base score in points."""
    ckpt: float
    """Checkpoint score in points."""
    gain: float
    """ckpt − base in points."""
    gain_low: float
    """Lower end of the gain's 95% interval (the same paired method as a task's delta)."""
    gain_high: float
    """Upper end of that CI."""


@dataclass(frozen=True)
class LawPrediction:
    """What a forgetting-vs-KL law fitted on earlier checkpoints predicts for this one."""

    source: str
    """The leaderboard CSV the law was fitted on."""
    n: int
    """Checkpoints fitted (same base fingerprint and suite hash; this checkpoint excluded)."""
    loo_r2: float
    """Leave-one-out R² of the headline law (`kind`) on those checkpoints."""
    predicted_forgetting: float
    """F predicted at this run's KL by the headline law, in points."""
    warning: str | None
    """Set when n is too small to trust the law."""
    kind: str = "quadratic"
    """The headline law: of `linear` (a + b·KL), `quadratic` (a + b·KL + c·KL²) and `isotonic`
    (non-decreasing steps), the one with the best leave-one-out R²."""


@dataclass(frozen=True)
class ScoreReport:
    """`forgetbench score`: what the fine-tune cost (retention) beside the KL that predicts it."""

    schema_version: int
    """Version of this schema (`SCHEMA_VERSION`)."""
    forgetbench_version: str
    """forgetbench version that produced the report."""
    created: str
    """UTC time the report was made, ISO 8601."""
    git_commit: str | None
    """forgetbench's git commit when run from a checkout."""
    versions: dict[str, str]
    """Versions of python, torch, transformers, lm-eval, numpy, pandas."""
    seed: int
    """Seed of the bootstraps, prompt choice and sampling; lm-eval's own seeds are in `settings`."""
    base: ModelInfo
    """The base model π₀."""
    ckpt: ModelInfo
    """The checkpoint π."""
    suite: str
    """Prior-capability suite name."""
    suite_hash: str
    """sha256 over the suite's task names and content hashes."""
    task_hashes: dict[str, str]
    """Content hash of every task (lm-eval config + docs)."""
    settings: EvalSettings
    """Settings both prior-capability evaluations shared."""
    retention: Retention
    """Paired retention statistics on the suite."""
    new_task: str
    """The new task: a prompts file, or `task:NAME`."""
    new_task_score: NewTaskScore | None
    """Present when the new task is an lm-eval task with a metric."""
    kl: KLResult | None
    """KL between base and checkpoint on the new task prompts; None for a `compare` of lm-eval logs
    without `--kl`."""
    verdict: str
    """One sentence for a person."""
    elapsed_s: float
    """Wall time of the whole score run."""
    law: LawPrediction | None = None
    """Forgetting predicted from the KL by a law fitted on a leaderboard (`score --law FILE`)."""
    warnings: tuple[str, ...] = ()
    """What a reader must know before trusting the verdict: a chat-template or stop-token difference the KL
    was measured under (`KLResult.template_mismatch`), tasks too small for their test to detect a drop
    (with the smallest drop that could be significant)."""
    files: dict[str, str] = field(default_factory=dict)
    """sha256 of each file of the run folder the report summarises (`items.parquet`, `kl.parquet`):
    the gate and `leaderboard add` refuse a folder whose rows were changed after it was written."""
    digest: str = ""
    """sha256 of this report's canonical JSON with `digest` empty (`core.results_io.seal`): a report
    edited after it was written (a fingerprint, a score) is refused."""
    source: str = "forgetbench"
    """Where the per-item outcomes come from: `forgetbench` (`score` ran the suites) or `lm-eval logs`
    (`compare` read two existing `lm_eval --log_samples` runs: `base_logs`, `ckpt_logs`)."""
    base_logs: LogSource | None = None
    """The base's lm-eval output (source `lm-eval logs`)."""
    ckpt_logs: LogSource | None = None
    """The checkpoint's lm-eval output (source `lm-eval logs`)."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RuleVerdict:
    """One rule of a release policy, decided on one run: shown within its limit (`pass`), shown beyond
    it (`fail`), or neither (`inconclusive`), with what it could have seen."""

    rule: str
    """`task:NAME` (drop on one task), `aggregate` (forgetting F), `kl` (forward KL) or `predictor:NAME` (a
    predictor of forgetting the policy's `[predictors]` table limits, in its own unit)."""
    status: str
    """`pass`, `fail` or `inconclusive`."""
    passed: bool
    """Whether the rule lets the release through: `pass`, or `inconclusive` under `on_inconclusive = "pass"`."""
    estimate: float
    """The measured quantity: drop (base − ckpt) or F in points, or KL in nats per sequence."""
    margin: float
    """The policy's limit for it, same units."""
    low: float
    """Lower end of the two-sided 1 − 2α interval (the one-sided 1 − α lower bound), unadjusted."""
    high: float
    """Upper end of that interval (the one-sided 1 − α upper bound)."""
    p_within: float
    """p of H0: value ≥ limit (small: shown within the limit). Not corrected: the gate passes only when
    every rule passes (an intersection–union test), so each rule is tested at α."""
    p_beyond: float
    """p of H0: value ≤ limit (small: shown beyond the limit), corrected by the policy's `correction`
    across every rule of the run (the family whose error is a wrong FAIL)."""
    mde: float
    """Minimum detectable value: the smallest true drop (or KL) that this rule fails with 80% power at
    this size, under the data model fitted to the run (`stats.sizing`, `stats.kl_mean`); NaN when no
    value is (a task too small, or no drop above the limit that fits its items)."""
    n_needed: int | None
    """Items (prompts for `kl`) at which a true value equal to this estimate would be decided with 80%
    power; None when decided already, when the estimate sits exactly at the limit, or when the data
    model has no room for it (a gain on most of a task's items)."""
    method: str
    """The test: `Tango score` (0/1 task), `paired t` (graded task), `stratified Wald, Agresti–Min
    adjusted` (aggregate), `studentized bootstrap ∪ lognormal (Cox)` (kl)."""
    reason: str
    """One sentence: what was shown, or what the rule could not see."""


@dataclass(frozen=True)
class GateVerdict:
    """`forgetbench gate`: the policy's decision on one saved run."""

    schema_version: int
    """Version of this schema (`SCHEMA_VERSION`)."""
    forgetbench_version: str
    """forgetbench version that decided."""
    passed: bool
    """True when every rule let the release through (exit 0); False exits 1."""
    status: str
    """`fail` when a rule failed; else `inconclusive` when a rule was; else `pass`."""
    run: str
    """The run folder decided on."""
    base: str
    """Base model spec of the run."""
    ckpt: str
    """Checkpoint spec of the run."""
    policy: str
    """The policy file."""
    policy_hash: str
    """sha256 of the policy file's bytes."""
    on_inconclusive: str
    """What an inconclusive rule means for the exit code: `pass` or `fail`."""
    alpha: float
    """Significance level of every rule."""
    correction: str
    """Multiple-testing correction of the fail tests across the rules: `holm`, `bonferroni` or `none`."""
    rules: tuple[RuleVerdict, ...]
    """Every rule, tasks first, then `aggregate`, then `kl`."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MatrixDistance:
    """How far one weight matrix moved from the base's (`backends.weights`): ‖W‖, ‖ΔW‖ and σ₁(ΔW)."""

    name: str
    """The base's tensor name (`model.layers.0.self_attn.q_proj.weight`)."""
    shape: tuple[int, ...]
    """The base matrix's shape."""
    norm: float
    """‖W‖_F of the base's matrix (in the weights' own units)."""
    delta_norm: float
    """‖ΔW‖_F, ΔW = checkpoint − base (0 for a matrix an adapter leaves alone)."""
    spectral: float
    """σ₁(ΔW), the largest singular value of the change (power iteration; ≤ `delta_norm`)."""

    @property
    def relative(self) -> float:
        """‖ΔW‖_F / ‖W‖_F (NaN for an all-zero base matrix)."""
        return self.delta_norm / self.norm if self.norm > 0 else float("nan")


@dataclass(frozen=True)
class WeightDistance:
    """Weight-space distance of a checkpoint from its base, no prompts: every 2-D tensor of the base."""

    matrices: tuple[MatrixDistance, ...]
    """Every 2-D tensor of the base, in name order."""

    @property
    def relative(self) -> float:
        """√Σ‖ΔW‖² / √Σ‖W‖² over every matrix: the relative Frobenius distance of the whole model."""
        return _relative(self.matrices)

    @property
    def spectral_max(self) -> float:
        """The largest σ₁(ΔW) of any matrix."""
        return max((m.spectral for m in self.matrices), default=0.0)

    def per_layer(self) -> dict[str, float]:
        """Relative Frobenius distance per block (`0`, `1`, ... by the index in the tensor name; `other` for
        embeddings, head and what sits outside the blocks), blocks in order."""
        groups: dict[str, list[MatrixDistance]] = {}
        for m in self.matrices:
            groups.setdefault(layer_of(m.name), []).append(m)
        order = sorted(groups, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0))
        return {k: _relative(groups[k]) for k in order}


def _relative(matrices: tuple[MatrixDistance, ...] | list[MatrixDistance]) -> float:
    den = sum(m.norm**2 for m in matrices)
    return (sum(m.delta_norm**2 for m in matrices) / den) ** 0.5 if den > 0 else float("nan")


def layer_of(tensor: str) -> str:
    """The block index in a tensor name (`model.layers.12.mlp.up_proj.weight` → `12`; GPT-2's `h.3`,
    `blocks.3`, `layer.3` too), or `other`."""
    parts = tensor.split(".")
    for key, nxt in pairwise(parts):
        if key in ("layers", "h", "blocks", "layer") and nxt.isdigit():
            return nxt
    return "other"
