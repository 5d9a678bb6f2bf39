"""The KL part of report.html: every estimator with its CI and the floors, the predictor panel (every
predictor of forgetting the run measured, when it measured more than its headline KL), the distribution of
per-prompt KL, and the prompts where the models diverge most with their sampled responses coloured token by
token (kl.parquet's `tokens` and `token_kl`, the headline estimator's per-token terms)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from forgetbench.core.results import KLResult
from forgetbench.report import svg
from forgetbench.report.page import esc, table
from forgetbench.report.predictors import extra_predictors, predictor_cells

TOP_PROMPTS = 10
"""Highest-KL prompts shown with their responses."""
SAMPLES_SHOWN = 2
"""Responses shown per prompt (its highest-KL samples)."""
TOKENS_SHOWN = 600
"""Tokens of a response shown (the rest is counted)."""
PROMPT_CHARS = 2000
LEVELS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
"""Per-token KL (nats) at which a token's colour steps up (classes k1…k7); negative terms (k1 and k3 are
per-token noisy, k1 can be negative) get n1…n3 at −0.01, −0.1, −1."""
NEGATIVE = (0.01, 0.1, 1.0)


def level(value: float) -> str:
    """The colour class of a token's KL term."""
    if not math.isfinite(value):
        return "k7"
    if value < 0:
        return "n" + str(sum(-value >= t for t in NEGATIVE)) if -value >= NEGATIVE[0] else "k0"
    return "k" + str(sum(value >= t for t in LEVELS))


def _estimates(kl: KLResult) -> str:
    rows = [[esc(e.name) + (" <b>(headline)</b>" if e.name == kl.headline else ""), f"{e.mean:.4f}",
             f"[{e.ci_low:.4f}, {e.ci_high:.4f}]", f"{e.per_token:.5f}"] for e in kl.estimates]  # fmt: skip
    for n in (kl.noise_floor, kl.noise_floor_k1):
        if n is not None:
            rows.append([f"noise floor ({esc(n.name)})", f"{n.mean:.2e}", f"[{n.ci_low:.1e}, {n.ci_high:.1e}]", ""])
    if (f := kl.precision_floor) is not None:
        rows.append(
            [
                f"precision floor ({esc(f.name)}, {esc(kl.dtype)} vs float32)",
                f"{f.mean:.2e}",
                f"[{f.ci_low:.1e}, {f.ci_high:.1e}]",
                f"{f.per_token:.1e}",
            ]
        )
    note = ""
    if kl.precision_resolvable is False:
        note = f'<div class="warn">The KL is not resolvable at this precision ({esc(kl.dtype)}): its mean is within the precision floor.</div>'
    return table(["estimator", "nats / sequence", "95% CI", "nats / token"], rows, numeric=(1, 2, 3)) + note


def predictors_panel(kl: KLResult) -> str:
    """The predictor panel: one row per predictor of forgetting the run measured (catalog order), and what it
    was asked for and could not measure; "" when it measured only its headline KL."""
    if not extra_predictors(kl):
        return ""
    rows = [[esc(c) for c in predictor_cells(p)] for p in kl.predictors]
    old = f" Prior-suite inputs: {kl.old_task_prompts} prompts drawn from the prior suite's items." if kl.old_task_prompts else ""
    notes = "; ".join(esc(n) for n in kl.predictor_notes)
    return (
        "<h3>Predictors of forgetting</h3>"
        f'<p class="muted">Every candidate predictor this run measured (which one predicts forgetting on a family: '
        f"<code>forgetbench leaderboard predictors</code>).{esc(old)}</p>"
        + table(["predictor", "inputs", "value [95% CI]", "unit", "what"], rows, numeric=(2,))
        + (f'<p class="muted">Not measured: {notes}.</p>' if notes else "")
    )


def _list(value: Any) -> list[Any]:
    """A list column's value (a list, or the numpy array parquet gives back; None: empty)."""
    return [] if value is None else list(value)


def _tokens(row: dict[str, Any]) -> str:
    """The response, each token coloured by its KL term; a token that adds no text (the first bytes of a
    character) passes its term on to the token that completes the character."""
    pieces, terms = _list(row.get("tokens")), _list(row.get("token_kl"))
    if not pieces or len(pieces) != len(terms):
        return '<p class="muted">No per-token KL stored for this response.</p>'
    spans, carried, count = [], 0.0, 0
    for piece, value in zip(pieces[:TOKENS_SHOWN], terms):
        carried, count = carried + float(value), count + 1
        if piece:
            label = f"{carried:.4f} nats" + (f" ({count} tokens)" if count > 1 else "")
            spans.append(f'<span class="{level(carried)}" title="{label}">{esc(piece)}</span>')
            carried, count = 0.0, 0
    more = len(pieces) - TOKENS_SHOWN
    return f'<div class="tokens">{"".join(spans)}</div>' + (f'<p class="muted">… {more} more tokens.</p>' if more > 0 else "")


def _legend() -> str:
    cells = "".join(f'<span class="k{i + 1}">&nbsp;≥{t:g}&nbsp;</span>' for i, t in enumerate(LEVELS))
    return f'<p class="muted">Token colour: its KL term in nats (hover for the value): {cells}</p>'


def kl_section(kl: KLResult, rows: list[dict[str, Any]]) -> str:
    """The KL section from the result and kl.parquet's rows."""
    head = kl.headline
    out = [f"<h2>KL on the new task</h2><p>{esc(kl.direction)} KL on <b>{kl.n_prompts}</b> prompts × {kl.samples_per_prompt} "
           f"samples of <code>{esc(kl.prompts_source)}</code>, mean response {kl.mean_response_tokens:.1f} tokens "
           f"({100 * kl.eos_fraction:.0f}% ended at EOS); {esc(kl.backend)} · {esc(kl.dtype)}.</p>", _estimates(kl),
           predictors_panel(kl)]  # fmt: skip
    by_prompt: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_prompt[int(r["prompt_index"])].append(r)
    if not by_prompt:
        return "".join(out)
    mean = {p: sum(float(r[head]) for r in rs) / len(rs) for p, rs in by_prompt.items()}
    marks = [(kl.headline_estimate.mean, "mean")]
    if kl.noise_floor is not None:
        marks.append((kl.noise_floor.mean, "noise floor"))
    out.append(f"<h3>Per-prompt KL ({esc(head)}, nats per sequence, mean over samples)</h3>")
    out.append(svg.histogram(list(mean.values()), f"KL per prompt ({head}, nats)", marks))
    top = sorted(mean, key=lambda p: -mean[p])[:TOP_PROMPTS]
    out.append(f"<h3>The {len(top)} prompts where the models diverge most</h3>" + _legend())
    for rank, p in enumerate(top, 1):
        rs = sorted(by_prompt[p], key=lambda r: -float(r[head]))
        prompt = str(rs[0].get("prompt") or "")
        prompt = prompt if len(prompt) <= PROMPT_CHARS else prompt[:PROMPT_CHARS] + "…"
        out.append(f'<div class="item"><div><b>#{rank}</b> prompt {int(rs[0]["source_index"])} · KL {mean[p]:.4g} nats</div>'
                   f"<pre>{esc(prompt)}</pre>")  # fmt: skip
        for r in rs[:SAMPLES_SHOWN]:
            out.append(f'<div class="muted">sample {int(r["sample_index"])}: {float(r[head]):.4g} nats over {int(r["response_tokens"])} tokens</div>'
                       + _tokens(r))  # fmt: skip
        out.append("</div>")
    return "".join(out)
