"""Reproduce, on demand, the kernel-shutdown race that made the book's build log
"ERROR:tornado.general:Uncaught exception in ZMQStream callback ... ZMQError: Socket operation on non-socket"
(see ctslib/report/book_build.py), and show that the book's build no longer meets it.

The race is rare as it stands (a few bytecodes wide), so a `sitecustomize` given to the kernel widens it: after a
shutdown request, `IOPubThread.schedule` waits `--delay` seconds between its `thread.is_alive()` check and its send,
as a descheduled control thread on a loaded machine does. The notebook configures the root logger, as something in
the book's kernels does (the build log shows `logging.BASIC_FORMAT`); without a handler the error is silent.

    python scripts/kernel_shutdown_race.py            # 8 executions each way
Measured on the 2-core VM (ipykernel 7.4.0, nbclient 0.11.0, --delay 0.2): nbclient's default 2 of 8 executions
logged the traceback, the book's build 0 of 8.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap

SITECUSTOMIZE = textwrap.dedent('''
    import os, threading, time
    from ipykernel import iostream, kernelbase

    requested = threading.Event()
    _shutdown_request = kernelbase.Kernel.shutdown_request

    async def shutdown_request(self, *args, **kwargs):
        requested.set()
        return await _shutdown_request(self, *args, **kwargs)

    def schedule(self, f):  # IOPubThread.schedule of ipykernel 7.4.0, with a pause inside its race window
        if self.thread.is_alive():
            self._events.append(f)
            if requested.is_set():
                time.sleep(float(os.environ["RACE_DELAY"]))
            self._event_pipe.send(b"")
        else:
            f()

    kernelbase.Kernel.shutdown_request = shutdown_request
    iostream.IOPubThread.schedule = schedule
''')

EXECUTE = textwrap.dedent('''
    import sys
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution  # what myst-nb's executor calls
    if sys.argv[1] == "book":
        from ctslib.report.book_build import stop_kernels_at_once
        stop_kernels_at_once()
    cell = "import logging, sys\\nlogging.basicConfig()\\nprint('to stderr', file=sys.stderr)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    result = single_nb_execution(nb, cwd=None, timeout=120, allow_errors=False)
    sys.exit(1 if result.err else 0)
''')


def tracebacks(mode: str, delay: float, site: str) -> int:
    env = dict(os.environ, RACE_DELAY=str(delay), PYTHONPATH=site + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", EXECUTE, mode], env=env, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"the notebook did not run ({mode}):\n{proc.stderr[-3000:]}")
    return proc.stderr.count("Socket operation on non-socket")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="executions of the notebook each way (default 8)")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the widened race waits (default 0.2)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as site:
        with open(os.path.join(site, "sitecustomize.py"), "w") as f:
            f.write(SITECUSTOMIZE)
        for mode, label in (("graceful", "nbclient's default (shutdown request)"),
                            ("book", "the book's build (book_build: kernel stopped at once)")):
            hit = sum(tracebacks(mode, args.delay, site) > 0 for _ in range(args.runs))
            print(f"{label}: ENOTSOCK traceback in {hit} of {args.runs} executions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
