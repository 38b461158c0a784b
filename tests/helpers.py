"""Shared by the tests (importable from every test folder: pyproject's pytest `pythonpath`)."""

from pathlib import Path

import pytest

from ctslib.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]


def fashion_mnist_available() -> bool:
    try:
        load_dataset("fashion_mnist", "test", download=False)
        return True
    except FileNotFoundError:
        return False


needs_fashion_mnist = pytest.mark.skipif(
    not fashion_mnist_available(),
    reason="Fashion-MNIST not found: run `make setup` (installs the Debian package dataset-fashion-mnist)")
