"""Fixtures shared by every test folder (core, runs, report); markers and helpers are in helpers.py."""

import os

import pytest

import ctslib  # noqa: F401  (first: it asks torch's OpenMP threads to wait passively, ctslib/threads.py)
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """One intra-op thread for tiny models: as fast alone, far faster when other processes share the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    """A private run store for a test."""
    monkeypatch.setenv("CTS_STORE", str(tmp_path / "store"))
    return tmp_path / "store"


@pytest.fixture(scope="session")
def book(tmp_path_factory):
    """The book built at the smoke scale (once per session, into a private store), checked to have built."""
    from book_helpers import build_smoke_book
    book = build_smoke_book(tmp_path_factory)
    book.check_built()
    return book


os.environ.setdefault("TQDM_DISABLE", "1")
