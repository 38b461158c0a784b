#!/bin/bash
# Build the smoke book N times in a row (default 10) beside a CPU-bound process, each build into a fresh folder,
# and count per build the lines a strict build test fails on (WARNING / ERROR, but the kernel's TCP notice) and
# ipykernel's shutdown-race traceback (ENOTSOCK; see ctslib/report/book_build.py).
#     CTS_STORE=/tmp/smoke-store bash scripts/book_builds_under_load.sh 10
# The runs come from $CTS_STORE (precompute them with `python -m ctslib book --scale smoke`).
set -u
N=${1:-10}
PYTHON=${PYTHON:-python3}
cd "$(dirname "$0")/.."
OUT=$(mktemp -d)
$PYTHON -c "while True: pass" &
BURN=$!
trap 'kill $BURN 2>/dev/null; rm -rf "$OUT"' EXIT
for i in $(seq 1 "$N"); do
  start=$(date +%s)
  CTS_SCALE=smoke TQDM_DISABLE=1 $PYTHON -c "import sys; from jupyter_book.cli.main import main; sys.exit(main())" \
    build book --path-output "$OUT/$i" > "$OUT/$i.log" 2>&1
  rc=$?
  problems=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/$i.log" | grep -E '\bWARNING\b|\bERROR\b' \
             | grep -vc 'Kernel is running over TCP without encryption')
  races=$(grep -c 'Socket operation on non-socket' "$OUT/$i.log")
  echo "build $i: exit $rc, problem lines $problems, ENOTSOCK tracebacks $races, $(( $(date +%s) - start )) s"
done
