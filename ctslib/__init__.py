"""ctslib: Concrete Ticket Search (CTS) and the lottery-ticket baselines it is compared against."""

from .threads import prefer_passive_waiting as _prefer_passive_waiting

_prefer_passive_waiting()  # before anything loads torch: its OpenMP runtime reads OMP_WAIT_POLICY once (threads.py)

__version__ = "0.1.0"
