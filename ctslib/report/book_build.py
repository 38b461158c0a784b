"""The Sphinx extension of the book's build (`_config.yml`: sphinx.extra_extensions): each notebook's kernel is
stopped at once when its last cell has run, instead of by a shutdown request.

Why: ipykernel (7.4.0 included) races at a requested shutdown. The control thread that handled the request
still flushes `sys.stderr` through the IOPub thread (`IOPubThread.schedule`: `thread.is_alive()`, then a send on
the thread's event pipe) while the main thread closes that pipe (`IPKernelApp.close`). When the control thread
loses the race, the send raises `ZMQError: Socket operation on non-socket` and the kernel logs
"Uncaught exception in ZMQStream callback" with its traceback into the build's log: harmless (the notebook
has run and its outputs are saved), but indistinguishable from a real build error, and more frequent on a
loaded machine. ipykernel 7.3 (PR #1518) guarded the same race in `_really_send` only. A kernel killed after
its last cell gets no shutdown request, so the race cannot happen; its process group (the kernel and any
worker it started) is killed with it. `scripts/kernel_shutdown_race.py` reproduces the race on demand.
"""

from __future__ import annotations


def stop_kernels_at_once() -> None:
    """Make nbclient (which myst-nb's executor uses) kill each kernel after its last cell: nbclient's own
    `NotebookClient.shutdown_kernel` setting, "graceful" by default, set to "immediate"."""
    from nbclient import NotebookClient

    NotebookClient.shutdown_kernel.default_value = "immediate"


def setup(app) -> dict:
    stop_kernels_at_once()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
