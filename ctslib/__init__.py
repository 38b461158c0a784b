"""ctslib: Concrete Ticket Search (CTS) and the lottery-ticket baselines it is compared against."""

__version__ = "0.1.0"
