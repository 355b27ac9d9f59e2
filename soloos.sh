#!/usr/bin/env bash
# One entry point for a fresh machine (Python 3.11+ on PATH):
#   ./soloos.sh chat     set up .venv if needed, then start the console assistant
#   ./soloos.sh test     set up .venv with the dev tools, then run lint, types and the test suite
#   ./soloos.sh ARGS…    any other soloos command (doctor, memory …) after setting up
# Set SOLOOS_TORCH_INDEX (e.g. https://download.pytorch.org/whl/cpu) where the CPU build of torch
# is not the default; SOLOOS_PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${SOLOOS_PYTHON:-python3}
VENV=.venv
TORCH_VERSION=2.13.0

bootstrap() {
  local extras=$1
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "SoloOS needs Python 3.11 or newer")'
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  local stamp="$VENV/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-$extras"
  [ -f "$stamp" ] && return 0
  echo "setting up $VENV (one time, about 2 minutes)…" >&2
  local quiet=(-q --disable-pip-version-check --no-warn-script-location)
  if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
    # The CPU build first, so nothing later pulls the multi-GB CUDA build.
    "$VENV/bin/pip" install "${quiet[@]}" "torch==$TORCH_VERSION" ${SOLOOS_TORCH_INDEX:+--index-url "$SOLOOS_TORCH_INDEX"}
  fi
  local target="."
  [ "$extras" = dev ] && target=".[dev]"
  "$VENV/bin/pip" install "${quiet[@]}" -e "$target"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
}

case "${1:-chat}" in
  test)
    shift || true
    bootstrap dev 2> >(grep -v "^WARNING: Location" >&2)
    "$VENV/bin/ruff" check bot agents memory connectors policies tests bench
    "$VENV/bin/mypy"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    bootstrap base 2> >(grep -v "^WARNING: Location" >&2)
    exec "$VENV/bin/soloos" "${@:-chat}"
    ;;
esac
