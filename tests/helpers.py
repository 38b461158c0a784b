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


def cheap_ticket_store(root, densities, methods=("random", "magnitude", "snip")):
    """A run store holding LeNet-300-100 smoke runs of cheap methods (drawn at initialisation, one epoch) at
    `densities`: what the mask explorers' tests look at."""
    from ctslib.runs import presets
    from ctslib.runs.store import RunStore
    store = RunStore(root)
    for method in methods:
        for density in densities:
            store.get(presets.base_config("smoke", "lenet300", method=method, density=density, rewind_step=0,
                                          epochs=1, milestones=()))
    return store
