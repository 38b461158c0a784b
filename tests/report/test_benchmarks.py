"""The benchmarks in benchmarks/ run (at --tiny size) and write the JSON they promise; no timing assertions.

Also: the optimised CTS step and the direct one the benchmarks compare it against (benchmarks/naive_cts.py)
draw the same tickets.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers import needs_fashion_mnist

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


def run_benchmark(name: str, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / f"{name}.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    # one thread: on a shared 2-core machine two OpenMP threads per process can stall for whole time slices
    cmd = [sys.executable, str(BENCH / f"{name}.py"), "--tiny", "--threads", "1", "--device", "cpu",
           "--out", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["benchmark"] == name and record["tiny"] is True
    assert record["environment"]["threads"] == 1 and record["environment"]["device"] == "cpu"
    return record


def positive_quantiles(q: dict) -> None:
    assert q["n"] >= 1
    assert 0 < q["min"] <= q["q1"] <= q["median"] <= q["q3"] <= q["max"]


def test_step_cost(tmp_path):
    record = run_benchmark("step_cost", tmp_path)
    assert record["targets"] == {"cts_kl": 1.4, "cts_task": 1.15}
    assert [(c["model"], c["batch"]) for c in record["configs"]] == [("lenet300", 16), ("resnet20", 2)]
    for config in record["configs"]:
        assert config["d"] > 0
        rows = config["rows"]
        expected = {"train", "train_before", "fwd_nograd", "fwd_bwd", "rng", "elementwise_pass", "floor_kl", "floor_task",
                    "cts_kl_before", "cts_task_before", "cts_feature_before"}
        expected |= {f"cts_{o}" for o in ("kl", "task", "delta_loss", "grad_norm", "feature", "grad")}
        assert expected <= set(rows)
        for row in rows.values():
            positive_quantiles(row["seconds"])
            positive_quantiles(row["ratio_to_train"])
        assert rows["train"]["ratio_to_train"]["median"] == pytest.approx(1.0)
        positive_quantiles(config["speedup_kl"])
        positive_quantiles(config["before_ratio_kl"])


def test_ticket_time(tmp_path):
    record = run_benchmark("ticket_time", tmp_path)
    assert record["ltr_implementation"] == "ctslib.pruners.ltr"
    rounds = record["rounds"]
    assert [r["round"] for r in rounds] == list(range(1, len(rounds) + 1)) and len(rounds) == 13
    densities = [r["density"] for r in rounds]
    assert densities == sorted(densities, reverse=True)
    assert densities[-1] == pytest.approx(0.8 ** 13, rel=1e-3)
    ltr = [r["ltr_seconds"] for r in rounds]
    assert all(t > 0 for t in ltr) and ltr == sorted(ltr)  # cumulative
    timed = [r for r in rounds if "cts_seconds" in r]
    assert {r["round"] for r in timed} >= {1, 7, 13}
    for r in timed:
        positive_quantiles(r["cts_seconds"])
        positive_quantiles(r["quick_cts_seconds"])
        assert r["ltr_over_cts_this_density"] > 0
    assert all(r["ltr_over_cts"] > 0 and r["ltr_over_quick_cts"] > 0 for r in rounds)
    summary = record["summary"]
    assert summary["ltr_over_cts_at_lowest"] > 0 and summary["cts_step_over_train_step"] > 0
    assert summary["cts_seconds_pooled"] > 0 and summary["quick_cts_seconds_pooled"] > 0
    assert record["quick_steps"] == max(1, record["round_steps"] // 8)


def test_input_pipeline(tmp_path):
    record = run_benchmark("input_pipeline", tmp_path)
    assert record["target"] == 0.9
    assert {w["model"] for w in record["workloads"]} == {"resnet20", "lenet300"}
    for w in record["workloads"]:
        positive_quantiles(w["throughput_fraction"])
        positive_quantiles(w["pipeline_ms_per_batch"])
        positive_quantiles(w["pipeline_ms_per_batch_before"])
        positive_quantiles(w["pipeline_speedup"])
        for contender in ("batches", "premade"):
            positive_quantiles(w["examples_per_second"][contender])
            positive_quantiles(w["train_ms_per_step"][contender])


def test_vs_dataloader(tmp_path):
    record = run_benchmark("vs_dataloader", tmp_path)
    assert record["workers"] == [0]
    for w in record["workloads"]:
        positive_quantiles(w["examples_per_second"]["ctslib"])
        positive_quantiles(w["examples_per_second"]["dataloader_w0"])
        positive_quantiles(w["ours_over_theirs"]["dataloader_w0"])
        positive_quantiles(w["input_only_ours_over_theirs"]["dataloader_w0"])
        positive_quantiles(w["input_only_ms_per_batch"]["ctslib"])


@needs_fashion_mnist
def test_workers(tmp_path):
    record = run_benchmark("workers", tmp_path)
    assert record["scale"] == "smoke" and record["runs"] == 2 and record["workers"] >= 1
    for contender in ("one_process", "pool"):
        positive_quantiles(record["seconds"][contender])
        assert 0 < record["mean_top1"][contender] <= 1
    positive_quantiles(record["pool_speedup"])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS reset needs Linux /proc")
def test_memory(tmp_path):
    record = run_benchmark("memory", tmp_path)
    assert record["target"] == 1.6
    (entry,) = record["models"]
    assert entry["measure"] == "VmHWM - VmRSS"
    for contender in ("train", "cts_kl", "cts_kl_before"):
        assert entry["delta_bytes"][contender]["median"] > 0
        assert entry["ratio_to_train"][contender] > 0


def test_optimised_step_matches_the_direct_one(one_thread):
    sys.path.insert(0, str(BENCH))
    try:
        from naive_cts import NaiveConcreteSearch
    finally:
        sys.path.remove(str(BENCH))
    from ctslib.cts import ConcreteSearch, SearchSettings

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))
    x = torch.randn(64, 20)
    y = (x[:, :3].sum(1) > 0).long()
    for objective in ("task", "delta_loss", "grad_norm", "kl", "feature", "grad"):
        for step in ("gradbalance", "lagrange"):
            settings = SearchSettings(step=step)
            fast = ConcreteSearch(net, 0.3, objective, 15, settings, generator=torch.Generator().manual_seed(1))
            direct = NaiveConcreteSearch(net, 0.3, objective, 15, settings, generator=torch.Generator().manual_seed(1))
            for _ in range(15):
                r_fast, r_direct = fast.step(x, y), direct.step(x, y)
                assert float(r_fast) == pytest.approx(float(r_direct), rel=1e-4, abs=1e-6), (objective, step)
            # the same noise (the same draws of the generator), the same gradients up to float rounding
            assert torch.allclose(fast.alpha_logit.detach(), direct.alpha_logit.detach(), atol=1e-4), (objective, step)
            assert float(fast.lam) == pytest.approx(float(direct.lam), rel=1e-4, abs=1e-7), (objective, step)
            assert fast.ticket() == direct.ticket(), (objective, step)


def test_batches_are_the_same_as_before_the_performance_work():
    sys.path.insert(0, str(BENCH))
    try:
        from naive_data import naive_iter
    finally:
        sys.path.remove(str(BENCH))
    from ctslib.data import Batches, ImageData, dataset_info

    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (300, 3, 32, 32), dtype=torch.uint8, generator=g),
                     torch.randint(0, 10, (300,), generator=g), dataset_info("cifar10"))
    for augment in (False, True):
        now = list(Batches(data, 64, augment=augment, generator=torch.Generator().manual_seed(1)))
        before = list(naive_iter(Batches(data, 64, augment=augment, generator=torch.Generator().manual_seed(1))))
        assert len(now) == len(before) == 5
        for (x, y), (x0, y0) in zip(now, before):
            assert torch.equal(x, x0) and torch.equal(y, y0)


def test_ticket_time_plot(tmp_path):
    """The appendix's plot: one panel per full (not --tiny) ticket_time result; none without results."""
    import shutil

    from ctslib.report.benchmarks import ticket_time
    assert ticket_time(tmp_path) is None
    shutil.copy(BENCH / "results" / "ticket_time.json", tmp_path / "ticket_time.json")
    tiny = json.loads((BENCH / "results" / "ticket_time.json").read_text())
    (tmp_path / "ticket_time_tiny.json").write_text(json.dumps({**tiny, "tiny": True}))
    figure = ticket_time(tmp_path)
    (ax,) = figure.axes
    assert [line.get_label() for line in ax.get_lines()] == ["LTR (20% per round)", "CTS_KL", "Quick CTS_KL"]
    ltr = ax.get_lines()[0].get_ydata()
    assert list(ltr) == sorted(ltr)  # LTR's time only grows as the density falls
    assert "LTR/CTS" in ax.get_title() and figure._repr_png_().startswith(b"\x89PNG")


def test_threads(tmp_path):
    record = run_benchmark("threads", tmp_path)
    assert set(record["contenders"]) == {"all, passive"}
    assert record["contenders"]["all, passive"] == {"CTS_THREADS": str(record["cores"]), "OMP_WAIT_POLICY": "PASSIVE"}
    idle = record["results"]["smoke lenet300"]["idle"]
    assert set(idle) == {"all, passive"} and idle["all, passive"]["vs_best"] == pytest.approx(1.0)
    assert all(len(row["seconds"]) == 1 and row["seconds"][0] > 0 for row in idle.values())


@needs_fashion_mnist
def test_inference(tmp_path):
    record = run_benchmark("inference", tmp_path)
    assert record["layouts"] == ["csr", "csr_int32", "coo"] and record["tolerance"] == 1e-5
    assert len(record["table"]) == 3 * 2 * 4 + 2 * 2 and 0 < record["dense_top1"] <= 1
    contenders = {"dense", "csr", "csr_int32", "coo"}
    tickets = record["lenet300"]
    assert [t["density"] for t in tickets] == [0.1, 0.01, 0.001]
    for t in tickets:
        assert t["nnz"] <= t["kept"] == round(t["density"] * t["total"])
        assert set(t["weight_bytes"]) == set(t["saved_bytes"]) == set(t["top1"]) == contenders
        assert t["weight_bytes"]["dense"] == 4 * t["total"]
        assert all(t["weight_bytes"][c] < t["weight_bytes"]["dense"] for c in ("csr", "csr_int32", "coo"))
        top1 = [t["top1"][c] for c in contenders]
        assert max(top1) - min(top1) <= 0.01  # the sparse models classify as the dense one (up to float rounding)
        assert [b["batch"] for b in t["batches"]] == [1, 8]
        for b in t["batches"]:
            assert set(b["contenders"]) == contenders
            assert all(b["max_abs_diff"][c] <= 1e-5 * b["max_abs_logit"] for c in ("csr", "csr_int32", "coo"))
            for row in b["contenders"].values():
                positive_quantiles(row["seconds"])
                positive_quantiles(row["time_ratio_to_dense"])
                assert row["images_per_second"] > 0
            assert b["contenders"]["dense"]["time_ratio_to_dense"]["median"] == pytest.approx(1.0)
    assert record["resnet20_density"] == 0.01 and [b["batch"] for b in record["resnet20"]] == [1, 2]
    for b in record["resnet20"]:
        assert b["conv_zero_fraction"] > 0.98 and set(b["contenders"]) == {"dense", "masked"}
        assert b["conv_weight_bytes"]["csr_if_stored"] < b["conv_weight_bytes"]["dense"]
        for row in b["contenders"].values():
            positive_quantiles(row["seconds"])


def test_the_appendix_tables_hold_no_raw_json_nan_or_machine_path():
    """The appendix renders nested results as rows (a row per contender or sample), undefined numbers as a dash
    and machine paths shortened; every committed result reads so."""
    from ctslib.report.benchmarks import _scrub, benchmark_tables, records_table
    table = records_table([{"model": "lenet300", "batch": 1, "spread": float("nan"), "note": None,
                            "contenders": {"dense": {"seconds": {"median": 0.5, "q1": 0.4, "q3": 0.6}},
                                           "masked": {"seconds": {"median": 0.25, "q1": 0.2, "q3": 0.3}}},
                            "samples": {"train": [{"peak": 1}, {"peak": 2}]}}])
    assert list(table["part"]) == ["contenders: dense", "contenders: masked", "samples: train 1", "samples: train 2"]
    assert table.loc[0, "seconds"] == "0.5 [0.4-0.6]" and table.loc[0, "spread"] == "—"
    assert table.loc[0, "note"] == "—" and table.loc[3, "peak"] == "2"
    assert _scrub("made by --out /tmp/bench/x.json and /work/stores/a") == "made by --out …/x.json and …/a"
    offenders = []
    for title, machine, tables in benchmark_tables(BENCH / "results"):
        assert "/tmp/" not in machine and "/work/stores" not in machine, machine
        for name, t in tables:
            for cell in t.astype(str).to_numpy().ravel():
                if "{" in cell or cell.lower() == "nan" or "/tmp/" in cell:
                    offenders.append(f"{title} / {name}: {cell[:80]}")
    assert not offenders, offenders[:5]
