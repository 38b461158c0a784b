"""The run store: cached runs, atomic records, corrupted records, locks, shared rewind points and LTR chains."""

import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import replace

import pytest

from helpers import needs_fashion_mnist
from ctslib.runs import lock as L, methods, pipeline, store as S
from ctslib.runs.config import chain_key
from ctslib.runs.methods import Drawn
from ctslib.runs.presets import base_config
from ctslib.runs.store import CorruptRecordWarning, RunLocked, RunNotFound, RunStore
from ctslib.tickets import Ticket, num_to_keep, prunable_parameters

pytestmark = [needs_fashion_mnist, pytest.mark.usefixtures("one_thread")]


def smoke(**overrides):
    """A cheap run: random ticket (no search), smoke scale."""
    return base_config("smoke", **{"method": "random", "density": 0.2, **overrides})


@pytest.fixture
def calls(monkeypatch):
    """Counts the runs the store computes (calls of pipeline.execute)."""
    seen = []
    real = S.execute

    def counting(config, **kwargs):
        seen.append(config.run_id)
        return real(config, **kwargs)

    monkeypatch.setattr(S, "execute", counting)
    return seen


def test_second_get_does_no_training(tmp_path, calls, monkeypatch):
    store = RunStore(tmp_path)
    config = smoke()
    assert not store.has(config)
    first = store.get(config)
    assert calls == [config.run_id] and store.has(config)
    monkeypatch.setattr(pipeline, "train", lambda *a, **k: pytest.fail("a stored run was trained again"))
    second = store.get(config)
    assert calls == [config.run_id]
    assert second == first
    assert set(os.listdir(store.folder(config))) == {"record.json", "ticket.pt"}  # checkpoints cleared
    for key in ("config", "metrics", "seconds", "epochs", "layers", "environment", "started", "finished"):
        assert key in first
    assert first["environment"]["ctslib_version"]
    assert set(first["seconds"]) == {"rewind", "draw", "train", "test", "total"}
    assert store.ticket(config) == Ticket.load(store.ticket_path(config))
    assert store.ticket(config).num_kept == first["metrics"]["num_kept"]


def test_compute_false_and_records_and_remove(tmp_path):
    store = RunStore(tmp_path)
    config = smoke()
    with pytest.raises(RunNotFound, match=config.run_id):
        store.get(config, compute=False)
    store.get(config)
    assert [r["run_id"] for r in store.records()] == [config.run_id]
    assert store.find(config.run_id[:6]) == config.run_id
    assert store.remove(config) and not store.has(config) and store.records() == []
    assert not store.remove(config)


def test_default_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CTS_STORE", str(tmp_path / "x"))
    assert RunStore().root == tmp_path / "x"
    monkeypatch.delenv("CTS_STORE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert RunStore().root == tmp_path / "cache" / "ctslib" / "runs"


@pytest.mark.parametrize("crash", ["json_dump", "os_replace"])
def test_crash_while_writing_the_record_leaves_the_run_unfinished(tmp_path, monkeypatch, crash, calls):
    store = RunStore(tmp_path)
    config = smoke()

    real_dump = json.dump

    def half_dump(obj, f, **kwargs):
        if not (isinstance(obj, dict) and obj.get("format") == "ctslib.record/1"):
            return real_dump(obj, f, **kwargs)
        f.write('{"format": "ctslib.record/1", "run_id": ')  # half a record on disk...
        raise OSError("simulated crash in the middle of writing")  # ...then the process "dies"

    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith("record.json"):
            raise OSError("simulated crash before the rename")
        return real_replace(src, dst)

    with monkeypatch.context() as m:
        if crash == "json_dump":
            m.setattr(S.json, "dump", half_dump)
        else:
            m.setattr(os, "replace", failing_replace)
        with pytest.raises(OSError, match="simulated crash"):
            store.get(config)
    folder = store.folder(config)
    assert not (folder / "record.json").exists()
    assert not [f for f in os.listdir(folder) if f.endswith(".tmp")]  # no half-written temporary left
    assert not store.has(config) and store.records() == []
    assert [r["status"] for r in store.runs()] == ["stopped"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing corrupt to report: the run is simply unfinished
        record = store.get(config)
    assert calls == [config.run_id] * 2
    assert set(record["info"]["resumed_from"]) == {"rewind", "draw", "progress"}  # the rerun resumed
    assert store.has(config)


@pytest.mark.parametrize("damage", ["bad_json", "missing_key", "other_config", "no_ticket"])
def test_corrupted_record_is_reported_and_recomputed(tmp_path, damage, calls):
    store = RunStore(tmp_path)
    config = smoke()
    good = store.get(config)
    path = store.record_path(config)
    if damage == "bad_json":
        path.write_text(json.dumps(good)[:-40])
    elif damage == "missing_key":
        path.write_text(json.dumps({k: v for k, v in good.items() if k != "metrics"}))
    elif damage == "other_config":
        path.write_text(json.dumps({**good, "config": smoke(seed=7).to_dict()}))
    else:
        store.ticket_path(config).unlink()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert not store.has(config)  # a question: no warning
        again = store.get(config)
    corrupt = [w for w in seen if issubclass(w.category, CorruptRecordWarning)]
    assert len(corrupt) == 1 and str(path) in str(corrupt[0].message)  # reported once, by the get that recomputes
    assert calls == [config.run_id] * 2  # recomputed, never used
    assert again["metrics"] == good["metrics"]
    assert store.has(config)
    if damage != "no_ticket":
        assert any(f.startswith("record.corrupt-") for f in os.listdir(store.folder(config)))


def test_rewind_point_is_shared_between_methods_and_densities(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    rewinds = []
    real = pipeline._rewind_phase
    monkeypatch.setattr(pipeline, "_rewind_phase", lambda *a, **k: rewinds.append(1) or real(*a, **k))
    first = store.get(smoke(density=0.5))
    second = store.get(smoke(density=0.1, method="magnitude"))
    assert len(rewinds) == 1 and second["info"].get("rewind_shared")
    assert second["seconds"]["rewind"] == first["seconds"]["rewind"]  # the record still reports its cost
    store.get(smoke(density=0.1, seed=1))  # another seed: another rewind point
    assert len(rewinds) == 2
    # a shared rewind point gives the same run as one computed on its own
    alone = pipeline.execute(smoke(density=0.1, method="magnitude"))
    assert alone.metrics["top1"] == second["metrics"]["top1"]
    # ... and the same theta_k as one trained on its own
    shared = store.load_rewind(smoke(density=0.1))["state"]
    own = pipeline.rewound_model(smoke(density=0.1), "cpu").state_dict()
    assert shared.keys() == own.keys() and all(shared[k].equal(own[k]) for k in own)


def fake_chain_method(calls):
    """An LTR-like method: a chain of magnitude tickets at round(d 0.8^r) down to the target density."""

    def draw(ctx):
        calls.append(ctx.config.density)
        scores = {n: p.detach().abs() + 0.0 for n, p in prunable_parameters(ctx.model).items()}
        total = sum(s.numel() for s in scores.values())
        target = num_to_keep(ctx.config.density, total)
        tickets, r = {}, 0
        while not tickets or min(t.num_kept for t in tickets.values()) > target:
            r += 1
            keep = max(target, round(total * 0.8 ** r))
            ticket = Ticket.from_scores(scores, keep / total)
            tickets[ticket.density] = ticket
        return Drawn(ticket, epochs=2.0 * r, info={"rounds": r}, tickets=tickets, scores=scores)

    return draw


def test_ltr_chain_serves_every_density_it_passed_through(tmp_path, monkeypatch):
    draws = []
    monkeypatch.setitem(methods.METHODS, "ltr", replace(methods.METHODS["ltr"], draw=fake_chain_method(draws)))
    store = RunStore(tmp_path)
    on_chain = [0.8 ** 2, 0.8 ** 5, 0.8 ** 7]
    sparsest = store.get(smoke(method="ltr", density=0.8 ** 7))
    assert draws == [0.8 ** 7] and sparsest["epochs"]["draw"] == 14.0
    for density in on_chain[:2]:
        record = store.get(smoke(method="ltr", density=density))
        assert record["info"]["shared_chain"] == chain_key(smoke(method="ltr", density=density))
    assert draws == [0.8 ** 7]  # no new rounds
    assert store.get(smoke(method="ltr", density=0.8 ** 2))["epochs"]["draw"] == pytest.approx(4.0)  # 2 of 7 rounds
    # served tickets are those of the chain, and train exactly as a run that draws its own
    fresh = RunStore(tmp_path / "fresh")
    own = fresh.get(smoke(method="ltr", density=0.8 ** 5))
    assert fresh.ticket(smoke(method="ltr", density=0.8 ** 5)) == store.ticket(smoke(method="ltr", density=0.8 ** 5))
    assert own["metrics"] == store.get(smoke(method="ltr", density=0.8 ** 5))["metrics"]
    # the score-inversion ablation is served too (the chain keeps the scores)
    inverted = store.get(smoke(method="ltr", density=0.8 ** 5, ablation="invert"))
    assert inverted["info"].get("shared_chain")
    # off the chain (0.3 is no power of 0.8), another chain seed, another rate: drawn anew
    store.get(smoke(method="ltr", density=0.3))
    store.get(smoke(method="ltr", density=0.8 ** 2, seed=1))
    store.get(smoke(method="ltr", density=0.8 ** 2, ltr_rate=0.3))
    assert draws == [0.8 ** 7, 0.8 ** 5, 0.3, 0.8 ** 2, 0.8 ** 2]


def test_a_costly_draw_is_shared_with_the_runs_that_ablate_its_ticket(tmp_path, monkeypatch):
    """A CTS search kept in _shared/draws serves its shuffled / inverted / reinitialised runs: the same ticket and
    the same result as each of them drawing its own; draws cheaper than SHARE_DRAW_SECONDS are not kept."""
    cts = smoke(method="cts", objective="task", density=0.05, search_epochs=0.25)
    store = RunStore(tmp_path)
    store.get(cts)
    assert not (tmp_path / S.SHARED / "draws").exists()  # a smoke search takes well under 30 s
    monkeypatch.setattr(S, "SHARE_DRAW_SECONDS", 0.0)
    store.remove(cts)
    base = store.get(cts)
    searches = []
    real = methods.draw_cts
    monkeypatch.setitem(methods.METHODS, "cts", replace(methods.METHODS["cts"],
                                                         draw=lambda ctx: searches.append(1) or real(ctx)))
    fresh = RunStore(tmp_path / "fresh")
    for ablation in ("shuffle", "invert"):
        before = len(searches)
        shared = store.get(cts.with_(ablation=ablation))
        assert shared["info"]["shared_draw"] == cts.run_id and len(searches) == before  # no search
        own = fresh.get(cts.with_(ablation=ablation))  # its own search
        assert own["metrics"] == shared["metrics"]
        assert fresh.ticket(cts.with_(ablation=ablation)) == store.ticket(cts.with_(ablation=ablation))
    assert len(searches) == 1  # the fresh store searched once, for the shuffle; the inversion reused that draw
    assert store.ticket(cts) != store.ticket(cts.with_(ablation="shuffle"))
    assert base["seconds"]["draw"] == store.get(cts.with_(ablation="shuffle"))["seconds"]["draw"]


# --- locks ---------------------------------------------------------------------------------------------

def write_lock(store, config, pid, machine=None, age=0.0):
    folder = store.folder(config)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / "lock"
    lock.write_text(json.dumps({"pid": pid, "pid_start": L._process_start(pid), "machine": machine or L._machine(),
                                "token": "someone-else"}))
    if age:
        os.utime(lock, (time.time() - age, time.time() - age))
    return lock


def test_a_live_lock_keeps_a_second_process_out(tmp_path, calls):
    store = RunStore(tmp_path, poll_seconds=0.05)
    config = smoke()
    lock = write_lock(store, config, os.getpid())  # a live process owns the run
    with pytest.raises(RunLocked, match=f"pid {os.getpid()}"):
        store.get(config, wait=False)
    assert calls == [] and lock.exists()


def test_stale_locks_are_broken(tmp_path, calls):
    store = RunStore(tmp_path, stale_after=60)
    config = smoke()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_lock(store, config, dead.pid)  # its process is gone
    with pytest.warns(UserWarning, match="stale lock.*gone"):
        store.get(config, wait=False)
    assert calls == [config.run_id]
    other = smoke(seed=5)
    write_lock(store, other, 1, machine="elsewhere/1", age=3600)  # another host, no heartbeat for an hour
    with pytest.warns(UserWarning, match="no heartbeat"):
        store.get(other, wait=False)
    assert not (store.folder(other) / "lock").exists()


def test_a_waiting_process_gets_the_record_of_the_lock_owner(tmp_path, calls):
    store = RunStore(tmp_path, poll_seconds=0.05)
    config = smoke()
    store.get(config)
    record = store.record_path(config).read_text()
    store.record_path(config).unlink()
    write_lock(store, config, os.getpid())
    import threading
    timer = threading.Timer(0.3, lambda: store.record_path(config).write_text(record))  # the owner finishes
    timer.start()
    got, source = store.fetch(config)
    timer.join()
    assert got["run_id"] == config.run_id and calls == [config.run_id]  # waited, did not compute
    assert source == "other process"  # and says so (`ctslib run` prints "computed by another process")
    assert store.fetch(config).source == "store"


def test_fetch_says_who_computed_the_run(tmp_path, calls):
    store = RunStore(tmp_path)
    config = smoke()
    assert store.fetch(config).source == "computed"
    assert store.fetch(config).source == "store" and calls == [config.run_id]


def test_leftovers_of_a_kill_after_the_record_are_cleaned_up(tmp_path, calls):
    """A process killed between writing record.json and clearing its checkpoints leaves its lock, progress.pt and
    status.json; the next get of the finished run removes them (and never while the lock's owner is alive)."""
    store = RunStore(tmp_path)
    config = smoke()
    store.get(config)
    folder = store.folder(config)
    leftovers = ("progress.pt", "draw.pt", "status.json")

    def kill_leftovers(pid):
        write_lock(store, config, pid)
        for name in leftovers:
            (folder / name).write_text("left by a killed process")

    kill_leftovers(os.getpid())  # the owner is alive: it is cleaning up right now, leave it alone
    assert store.fetch(config).source == "store"
    assert all((folder / name).exists() for name in ("lock", *leftovers))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    kill_leftovers(dead.pid)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tidying a finished run is not worth a warning
        assert store.fetch(config).source == "store"
    assert set(os.listdir(folder)) == {"record.json", "ticket.pt"} and calls == [config.run_id]
    assert [r["status"] for r in store.runs()] == ["finished"]
