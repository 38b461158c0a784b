#!/usr/bin/env bash
# Build the reproduction book at $CTS_SCALE (smoke | cpu | paper; default cpu) into _build/html (next to _config.yml, where jupyter-book puts it):
#   1. python -m ctslib book --scale $CTS_SCALE      every run the book needs, with progress bars (cached
#                                                     in the run store: $CTS_STORE, else ~/.cache/ctslib/runs)
#   2. jupyter-book build book                       executes each notebook (printing its name), which reads
#                                                     those runs; unchanged pages are not executed again
# Extra arguments go to jupyter-book (e.g. --all to re-execute every page). A book last built at another scale
# or from another store is rebuilt whole. PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
export CTS_SCALE="${CTS_SCALE:-cpu}"
start=$(date +%s)

"$PYTHON" -m ctslib book --scale "$CTS_SCALE"

stamp=_build/.ctslib-build
want="scale=$CTS_SCALE store=${CTS_STORE:-default}"
all=()
if [ -d _build/html ] && [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "_build was built with '$(cat "$stamp" 2>/dev/null || echo unknown)', now '$want': rebuilding every page"
    all=(--all)
fi
"$PYTHON" -c "import sys; from jupyter_book.cli.main import main; sys.exit(main())" build book "${all[@]}" "$@"
mkdir -p _build && echo "$want" > "$stamp"
echo "book built at scale $CTS_SCALE in $(( $(date +%s) - start )) s: open _build/html/index.html"
