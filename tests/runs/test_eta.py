"""The sweep's estimate of the time left (ctslib/runs/eta.py)."""

import pytest

from helpers import needs_fashion_mnist

from ctslib.runs import eta
from ctslib.runs.presets import base_config, on_grid


def cpu(**overrides):
    return base_config("cpu", **{"method": "random", "density": 0.1, **overrides})


def test_costs_follow_the_work():
    random, cts = eta.run_seconds(cpu()), eta.run_seconds(cpu(method="cts", objective="kl"))
    assert cts > 1.5 * random  # a search as long as the training, at ~1.4 training steps a step
    assert eta.run_seconds(cpu(method="cts", objective="grad_norm")) > eta.run_seconds(cpu(method="cts", objective="task"))
    assert eta.run_seconds(cpu(model="resnet20")) > 5 * random  # on 8,192 images: ~2 min measured, a LeNet run ~6 s
    assert eta.run_seconds(cpu(method="cts", search_epochs=0.5)) < cts  # Quick CTS


def test_an_ablation_trains_the_ticket_its_unablated_run_draws():
    """A sanity-check run whose unablated run is in the same set pays for its training only (the store shares the
    draw); alone, it pays for the search too."""
    search = cpu(method="cts", objective="kl")
    shuffled = search.with_(ablation="shuffle")
    alone = eta.estimates([shuffled])[shuffled.run_id]
    together = eta.estimates([search, shuffled])
    assert together[shuffled.run_id] == pytest.approx(eta.run_seconds(search, draws=False))
    assert together[search.run_id] == alone > 1.5 * together[shuffled.run_id]  # the search: as long as the training


def test_an_ltr_chain_is_charged_once_to_its_sparsest_run():
    d1, d2 = on_grid((5, 20), "cpu")
    dense_end, sparse_end = cpu(method="ltr", density=d1), cpu(method="ltr", density=d2)
    est = eta.estimates([dense_end, sparse_end])
    assert eta.ltr_rounds(sparse_end) == 20 and eta.ltr_rounds(dense_end) == 5
    assert est[sparse_end.run_id] == pytest.approx(eta.run_seconds(sparse_end, chain_rounds=20))
    assert est[dense_end.run_id] == pytest.approx(eta.run_seconds(dense_end))  # on the chain: its training only
    assert est[sparse_end.run_id] > 10 * est[dense_end.run_id]


def test_the_compute_spent_counts_each_piece_of_shared_work_once():
    """Records of a CTS run, its shuffle (which trains the same drawn ticket) and two LTR runs of one chain (the
    sparser holds every round): the rewind point of each schedule, the search and the chain count once."""
    def record(config, rewind, draw, own):
        return {"config": config.to_dict(),
                "seconds": {"rewind": rewind, "draw": draw, "train": own, "test": 0.0, "total": rewind + draw + own}}
    d1, d2 = on_grid((5, 20), "cpu")
    search = cpu(method="cts", objective="kl")
    ltr_dense, ltr_sparse = cpu(method="ltr", density=d1), cpu(method="ltr", density=d2)
    records = [record(search, 5, 100, 30), record(search.with_(ablation="shuffle"), 5, 100, 31),
               record(ltr_dense, 5, 400, 32), record(ltr_sparse, 5, 1600, 33),
               record(cpu(method="random", rewind_step=0), 0, 0, 34)]
    assert eta.spent_seconds(records) == pytest.approx(5 + 100 + 1600 + 30 + 31 + 32 + 33 + 34)
    assert eta.spent_seconds(records[:1]) == pytest.approx(135)  # alone, a record's own total


def test_the_clock_follows_the_measured_pace(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(eta.time, "perf_counter", lambda: now[0])
    a, b = cpu(seed=0), cpu(seed=1)
    clock = eta.Clock([a, b], workers=2)
    assert clock.left() == pytest.approx(clock.total / 2)  # no run finished yet: the development machine's speed
    now[0] += 600.0  # this machine is slow: one run took ten minutes
    clock.finished(a)
    assert clock.left() == pytest.approx(600.0)
    assert clock.text() == "1/2 runs, 10 min elapsed, about 10 min left"
    clock.finished(cpu(seed=7))  # not one of the clock's runs: ignored
    assert clock.runs_done == 1


@pytest.mark.parametrize("seconds, text", [(42, "42 s"), (600, "10 min"), (7500, "2 h 05 min")])
def test_duration(seconds, text):
    assert eta.duration(seconds) == text


@needs_fashion_mnist
def test_a_sweep_says_how_many_runs_are_done_and_the_time_left(tmp_path, one_thread):
    from ctslib.runs.store import RunStore
    from ctslib.runs.sweep import sweep
    configs = [base_config("smoke", method="random", density=0.2, seed=s) for s in (0, 1)]
    lines = []
    sweep(configs, RunStore(tmp_path, archives=[]), say=lambda text, **_: lines.append(text))
    assert "1/2 runs" in lines[0] and "2/2 runs" in lines[1] and all(" left" in line for line in lines)
    lines.clear()
    sweep(configs, RunStore(tmp_path, archives=[]), say=lambda text, **_: lines.append(text))
    assert all(line.endswith("(cached)") for line in lines)  # nothing to compute: no clock
