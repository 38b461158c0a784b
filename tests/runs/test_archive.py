"""Committed run records (ctslib/runs/archive.py): packed tickets, stores reading them, stale ones refused."""

import json
import random

import pytest
import torch

from helpers import needs_fashion_mnist
from ctslib.cli import main
from ctslib.runs import archive as A
from ctslib.runs import recheck as R
from ctslib.runs.presets import base_config
from ctslib.runs.store import RunStore
from ctslib.tickets import Ticket


def smoke(**overrides):
    return base_config("smoke", **{"method": "random", "density": 0.2, **overrides})


def test_packed_ticket_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    ticket = Ticket({"a.weight": torch.rand(7, 3, 3, 3, generator=g) < 0.3, "b.weight": torch.rand(13, generator=g) < 0.5,
                     "c.weight": torch.zeros(2, 5, dtype=torch.bool)})
    path = tmp_path / "t.npz"
    A.save_packed(ticket, path)
    back = A.load_packed(path)
    assert back == ticket and list(back.masks) == list(ticket.masks)
    assert all(m.dtype == torch.bool for m in back.masks.values())
    big = Ticket({"w": torch.rand(300, 1000, generator=g) < 0.5})
    A.save_packed(big, tmp_path / "big.npz")
    assert A.load_packed(tmp_path / "big.npz") == big
    assert (tmp_path / "big.npz").stat().st_size < 300_000 / 8 + 2000  # a bit per weight (random bits: no less)


def test_packed_ticket_refuses_other_files(tmp_path):
    import numpy as np
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a ctslib.packed-ticket/1 file"):
        A.load_packed(tmp_path / "x.npz")


@pytest.fixture
def archived(tmp_path, one_thread):
    """A smoke run computed in one store and committed to an archive."""
    config = smoke()
    source = RunStore(tmp_path / "source", archives=[])
    record = source.get(config)
    archive = A.Archive(tmp_path / "results" / "smoke")
    archive.add(record, source.ticket(config))
    return config, record, source.ticket(config), archive


@needs_fashion_mnist
def test_a_store_copies_an_archived_run_instead_of_computing_it(tmp_path, archived, monkeypatch):
    config, record, ticket, archive = archived
    from ctslib.runs import store as S
    monkeypatch.setattr(S, "execute", lambda *a, **k: pytest.fail("the archived run was computed"))
    store = RunStore(tmp_path / "fresh", archives=[archive])
    assert store.has(config)
    got = store.fetch(config)
    assert got.source == "archive" and got.record == record
    assert store.ticket(config) == ticket
    assert store.fetch(config).source == "store"  # copied in: found in the store from then on


@needs_fashion_mnist
def test_a_stale_record_is_never_used_and_is_named(tmp_path, archived, capsys):
    config, record, _, archive = archived
    path = archive.record_path(config.run_id)
    data = json.loads(path.read_text())
    data["config"]["lr"] = 0.5  # as if ctslib had changed what this config means: it hashes elsewhere now
    path.write_text(json.dumps(data))
    assert archive.find(config) is None and not RunStore(tmp_path / "fresh", archives=[archive]).has(config)
    assert [run_id for run_id, _ in archive.stale()] == [config.run_id]
    assert "hashes to run id" in archive.stale()[0][1]
    assert main(["results", "check", "--archive", str(archive.root)]) == 1
    err = capsys.readouterr().err
    assert config.run_id in err and "recompute them" in err


@needs_fashion_mnist
def test_a_record_without_its_ticket_is_stale(archived):
    config, _, _, archive = archived
    archive.ticket_path(config.run_id).unlink()
    assert archive.find(config) is None
    assert archive.stale() == [(config.run_id, "its ticket file is missing")]


@needs_fashion_mnist
def test_verify_recomputes_an_archived_run_identically(tmp_path, archived, capsys):
    config, record, _, archive = archived
    result = R.verify(archive, config, tmp_path / "work")
    assert result["ok"] and result["same_ticket"] and result["top1_recomputed"] == record["metrics"]["top1"]
    assert main(["results", "verify", "--archive", str(archive.root), "--sample", "1"]) == 0
    assert "1 of 1 archived runs reproduced" in capsys.readouterr().out


def test_a_record_is_recomputed_with_the_thread_count_it_was_computed_with():
    """A sweep's workers run one torch thread each; a recomputation on more threads sums convolutions in another
    order (measured: a ResNet-20 SynFlow ticket at 0.12% trained to 44.98% on 2 threads, 48.00% archived on 1)."""
    before = torch.get_num_threads()
    with R.threads_of({"environment": {"threads": 1}}) as threads:
        assert threads == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with R.threads_of({}) as threads:  # a record that does not say: the current count
        assert threads == before == torch.get_num_threads()


@needs_fashion_mnist
def test_results_save_archives_the_runs_only_that_figure_needs(tmp_path, one_thread, capsys):
    from ctslib.report.figures import FIGURES, all_configs
    store = tmp_path / "store"
    arch = ["--archive", str(tmp_path / "arch")]
    assert main(["--store", str(store), "results", "save", "--scale", "smoke", "--figures", "open", *arch]) == 1
    assert "not finished in the store" in capsys.readouterr().out  # nothing computed yet: says what to run
    shared = {c.run_id for c in all_configs("smoke", figures=[f for f in FIGURES if f != "open"])}
    own = [c for c in FIGURES["open"].configs(scale="smoke") if c.run_id not in shared]
    common = [c for c in FIGURES["open"].configs(scale="smoke") if c.run_id in shared]
    s = RunStore(store, archives=[])
    for c in own[:2] + common[:1]:
        s.get(c)
    main(["--store", str(store), "results", "save", "--scale", "smoke", "--figures", "open", *arch])
    assert sorted(A.Archive(tmp_path / "arch").run_ids()) == sorted(c.run_id for c in own[:2])  # not the shared one


@needs_fashion_mnist
def test_redraw_draws_an_archived_ticket_again_and_spots_a_changed_one(tmp_path, one_thread):
    config = smoke(method="snip", rewind_step=0, density=0.05)
    source = RunStore(tmp_path / "source", archives=[])
    archive = A.Archive(tmp_path / "results" / "smoke")
    archive.add(source.get(config), source.ticket(config))
    result = R.redraw(archive, config)
    assert result["same_machine"] and result["same_ticket"] and result["ok"] and result["agreement"] == 1.0
    ticket = source.ticket(config)
    name = next(iter(ticket.masks))
    flat = ticket.masks[name].reshape(-1).clone()
    kept = flat.nonzero().reshape(-1)
    flat[kept[: len(kept) // 2]] = False  # half of a layer's kept weights moved elsewhere
    flat[(~ticket.masks[name].reshape(-1)).nonzero().reshape(-1)[: len(kept) // 2]] = True
    A.save_packed(Ticket({**ticket.masks, name: flat.reshape(ticket.masks[name].shape)}),
                  archive.ticket_path(config.run_id))
    changed = R.redraw(archive, config)
    assert not changed["same_ticket"] and not changed["ok"] and changed["agreement"] < 1.0
    with pytest.raises(ValueError, match="no cheap draw"):
        cts = smoke(method="cts", density=0.05)
        archive.add(source.get(cts), source.ticket(cts))
        R.redraw(archive, cts)


@needs_fashion_mnist
def test_a_committed_ticket_chosen_at_random_is_drawn_again_identically(one_thread):
    """One committed record of a cheap draw (SNIP, GraSP, SynFlow, random, ...), chosen at random on every build,
    drawn again from scratch: the ticket the code draws today is the committed one (identical on the machine
    that computed it; >= 99% of its kept weights elsewhere)."""
    pool = [(a, c) for a in A.default_archives() for c in a.configs() if R.cheap_to_redraw(c)]
    assert pool, "no committed record of a cheap draw under results/"
    archive, config = random.Random().choice(pool)
    result = R.redraw(archive, config)
    assert result["ok"], (f"{archive.root.name}/{config.run_id} ({config.label}, density {config.density:.3%}, "
                          f"seed {config.seed}) drawn again: {result}")


def test_the_committed_results_match_this_ctslib():
    """Every record under results/ stands for its run under the code as it is: a change to ctslib that changes
    results must recompute those records (make reproduce-results) or remove them, visibly."""
    problems = [f"{a.root / run_id}.json: {why}" for a in A.default_archives() for run_id, why in a.stale()]
    assert not problems, "\n".join(problems)


def test_cts_results_none_disables_the_archives(monkeypatch, tmp_path):
    monkeypatch.setenv("CTS_RESULTS", "none")
    assert A.default_archives() == [] and RunStore(tmp_path).archives == []
    monkeypatch.setenv("CTS_RESULTS", str(tmp_path / "a"))
    assert [a.root for a in A.default_archives()] == [tmp_path / "a"]
