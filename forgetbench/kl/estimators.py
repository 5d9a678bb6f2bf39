"""Per-sequence KL estimators from per-token scores (docs/architecture.md, "The KL estimators"). Pure numpy.

With responses y sampled from p (the base π₀ for forward KL), each estimator's expectation over y is
the sequence-level KL(p‖q) = E_y[log p(y|x) − log q(y|x)], in nats:

- `full`: Σ_t KL(p(·|x,y<t) ‖ q(·|x,y<t)), exact over the vocabulary at each step; ≥ 0 term by term,
  and its expectation is the sequence KL by the chain rule. Lowest variance.
- `k1`:   Σ_t [log p(y_t|·) − log q(y_t|·)] = log p(y|x) − log q(y|x); unbiased, can be negative.
- `k3`:   Σ_t [(r_t − 1) − log r_t], r_t = q(y_t|·)/p(y_t|·); unbiased (E_p[r_t] = 1), each term ≥ 0.
"""

from __future__ import annotations

import numpy as np


def token_estimates(kl: np.ndarray | None, logp: np.ndarray, logq: np.ndarray) -> dict[str, np.ndarray | None]:
    """Each estimator's per-token terms for one sequence (float64; their sums are `sequence_estimates`);
    `full` is None when the per-token KL was not computed."""
    log_r = logq.astype(np.float64) - logp.astype(np.float64)
    return {"full": None if kl is None else kl.astype(np.float64), "k1": -log_r, "k3": np.expm1(log_r) - log_r}


def sequence_estimates(kl: np.ndarray | None, logp: np.ndarray, logq: np.ndarray) -> dict[str, float]:
    """The three estimates for one sequence from its per-token arrays (see `TokenScores`); `full` is
    NaN when the per-token KL was not computed (a run that did not ask for it)."""
    return {k: float("nan") if v is None else float(v.sum()) for k, v in token_estimates(kl, logp, logq).items()}
