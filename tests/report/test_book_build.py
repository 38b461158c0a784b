"""The book build's Sphinx extension (ctslib/report/book_build.py): the kernels the builder starts are killed
after their last cell, never sent the shutdown request at which ipykernel races (scripts/kernel_shutdown_race.py
shows the race; tests/report/test_book.py builds the whole book and fails on its traceback)."""

import re

import nbformat
from nbclient import NotebookClient

from ctslib.report import book_build
from helpers import ROOT


def test_the_book_config_loads_the_extension():
    config = (ROOT / "_config.yml").read_text()
    assert re.search(r"extra_extensions:\s*\[[^\]]*\bctslib\.report\.book_build\b", config)


def test_clients_made_after_setup_stop_their_kernel_at_once(monkeypatch):
    monkeypatch.setattr(NotebookClient.shutdown_kernel, "default_value", "graceful")  # restored afterwards
    assert NotebookClient(nbformat.v4.new_notebook()).shutdown_kernel == "graceful"
    assert book_build.setup(app=None)["parallel_read_safe"]
    # as jupyter_cache's single_nb_execution (myst-nb's executor) makes its client: no shutdown setting passed
    assert NotebookClient(nbformat.v4.new_notebook(), timeout=10).shutdown_kernel == "immediate"
