#!/usr/bin/env bash
# Prepares the Python the report tests and benchmark check grantwatch against:
# DuckDB (an independent SQL engine) and pyarrow, pinned, in a virtualenv under
# ~/.cache/grantwatch. Prints the interpreter's path.
set -euo pipefail
venv="${GRANTWATCH_VENV:-$HOME/.cache/grantwatch/venv}"
want="duckdb==2.0.1 pyarrow==26.0.1"
if ! "$venv/bin/python" -c 'import duckdb, pyarrow' >/dev/null 2>&1; then
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 lacks ensurepip until python3-venv is installed.
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $want >&2
fi
echo "$venv/bin/python"
