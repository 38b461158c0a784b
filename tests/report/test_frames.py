"""Runs as tidy frames: one row per run with its config, metrics, seconds, epochs and display columns."""

from dataclasses import fields

import pytest

from helpers import needs_fashion_mnist
from ctslib.report.frames import collect
from ctslib.runs.config import RunConfig
from ctslib.runs.presets import base_config
from ctslib.runs.store import RunStore

pytestmark = [needs_fashion_mnist, pytest.mark.usefixtures("one_thread")]


def smoke(**overrides):
    """A cheap run: random ticket (no search), smoke scale."""
    return base_config("smoke", **{"method": "random", "density": 0.2, **overrides})


def test_collect_returns_one_tidy_row_per_run(tmp_path):
    store = RunStore(tmp_path)
    configs = [smoke(density=0.5), smoke(density=0.2, method="magnitude")]
    df = collect(configs, store=store, progress=False)
    for column in [f.name for f in fields(RunConfig)] + ["top1", "top3", "top5", "loss", "ticket_density", "run_id",
                                                           "label", "seconds_total", "seconds_draw", "epochs_train"]:
        assert column in df.columns, column
    assert list(df["run_id"]) == [c.run_id for c in configs]
    assert list(df["method"]) == ["random", "magnitude"]
    assert df["top1"].between(0, 1).all() and (df["seconds_total"] > 0).all()
    assert df["ticket_density"].tolist() == pytest.approx([0.5, 0.2], abs=1e-5)
    missing = smoke(seed=3)
    with pytest.warns(UserWarning, match="1 of 3 runs are not in the store"):
        partial = collect(configs + [missing], store=store, compute=False, progress=False)
    assert len(partial) == 2 and not store.has(missing)
    assert list(df["name"]) == ["random", "magnitude"] and list(df["sparsity"]) == pytest.approx([0.5, 0.8])


def test_objective_values_are_scored_on_held_out_batches(tmp_path, monkeypatch):
    """Figs. 1, 7, 8 score each ticket on fixed batches of the test split, which no search or score saw (a search
    scored on its own training batches would be favoured in-sample)."""
    from ctslib.report import frames
    from ctslib.data import DATASETS

    seen = []
    real = frames.fixed_eval_batches

    def spy(data, n_batches, batch_size, seed=0):
        seen.append(len(data))
        return real(data, n_batches, batch_size, seed)

    monkeypatch.setattr(frames, "fixed_eval_batches", spy)
    values = frames.ticket_objectives(smoke(), "init", 1, RunStore(tmp_path))
    assert seen == [DATASETS["fashion_mnist"].test_size]  # the whole test split, not the 2000 training images
    assert set(values) == {"task", "delta_loss", "grad_norm", "kl", "feature", "grad"}
