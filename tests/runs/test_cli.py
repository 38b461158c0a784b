"""The command line: run, sweep (with shards), list, show; --help; bad input is exit code 2 and one clear line."""

import json
import re
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from helpers import needs_fashion_mnist
from ctslib.runs import store as S
from ctslib.cli import main
from ctslib.runs.config import RunConfig
from ctslib.runs.presets import base_config

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ["--preset", "smoke"]


pytestmark = pytest.mark.usefixtures("one_thread")


def cli(capsys, *args):
    """(exit code, stdout, stderr) of `ctslib args` run in this process."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


BAD = [
    (["run", "--preset", "huge"], "unknown preset 'huge'; choose one of: smoke, cpu, paper"),
    (["run", "--method", "prune_all"], "unknown method 'prune_all'; choose one of"),
    (["run", "--model", "resnet99"], "unknown model 'resnet99'; choose one of"),
    (["run", "--objective", "l1"], "unknown objective 'l1'; choose one of"),
    (["run", "--dataset", "mnist"], "unknown dataset 'mnist'; choose one of"),
    (["run", "--density", "1.5"], "density must be in (0, 1]"),
    (["run", "--density", "0"], "density must be in (0, 1]"),
    (["run", "--density", "half"], "argument --density: invalid float value: 'half'"),
    (["run", "--preset", "paper"], "preset 'paper' has no setting for model 'lenet300'"),
    (["run", "--preset", "smoke", "--rewind-step", "5000"], "rewind_step 5000 (= 5000 steps at batch 128) is not before"),
    (["sweep", "--densities", "0.5", "2"], "density must be in (0, 1]"),
    (["sweep", "--methods", "cts", "magic"], "unknown method 'magic'"),
    (["sweep", "--objectives", "l1"], "unknown objective 'l1'"),
    (["sweep", "--preset", "huge"], "unknown preset 'huge'"),
    (["sweep", "--shard", "3/2"], "must be I/N with 0 <= I < N (worker I of N, 0-based, e.g. 0/4), got '3/2'"),
    (["sweep", "--shard", "a/b"], "got 'a/b'"),
    (["sweep", "--shard", "1/0"], "got '1/0'"),
    (["sweep", "--shard=-1/2"], "got '-1/2'"),
    (["sweep", "--shard", "1"], "got '1'"),
    (["sweep", "--workers", "0"], "--workers must be a positive integer or 'auto', got '0'"),
    (["sweep", "--workers", "many"], "--workers must be a positive integer or 'auto', got 'many'"),
    (["show", "0123abcd"], "no run '0123abcd' in the store"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_exit_code_2_and_one_line(capsys, tmp_path, args, message):
    code, out, err = cli(capsys, *args, "--store", tmp_path)
    assert code == 2
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not any(tmp_path.iterdir()) if tmp_path.exists() else True  # nothing computed, nothing written


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["sweep", "--shard", "3/2"],):  # (test_main_job checks `run`'s errors the same way)
        proc = subprocess.run([sys.executable, "-m", "ctslib", *args, "--store", str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("command, options", [(["--help"], ["run", "sweep", "list", "show", "--store"]),
                                              (["run", "--help"], ["--preset", "--quick", "--store", "--density",
                                                                   "--no-store", "--method", "--objective"]),
                                              (["sweep", "--help"], ["--methods", "--densities", "--seeds",
                                                                     "--objectives", "--preset", "--shard", "--store"]),
                                              (["list", "--help"], ["--store", "--all"]),
                                              (["show", "--help"], ["RUN_ID", "--json", "--store"])])
def test_help(capsys, command, options):
    code, out, _ = cli(capsys, *command)
    assert code == 0
    for option in options:
        assert option in out, option


@needs_fashion_mnist
def test_run_prints_its_summary_and_is_cached(capsys, tmp_path, monkeypatch):
    args = ["run", *SMOKE, "--method", "random", "--density", "0.2", "--store", tmp_path]
    code, out, _ = cli(capsys, *args)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("random lenet300 on fashion_mnist, density 20.0000% (53240/266200 weights)")
    assert lines[1].startswith("test accuracy: top-1 ") and "top-5" in lines[1]
    assert lines[2].startswith("time: ") and "rewind" in lines[2] and "train" in lines[2]
    config = base_config("smoke", method="random", density=0.2)
    assert f"run {config.run_id} (saved in {tmp_path / config.run_id})" in out
    monkeypatch.setattr(S, "execute", lambda *a, **k: pytest.fail("a cached run was computed again"))
    code, again, _ = cli(capsys, *args)
    assert code == 0 and again.splitlines()[:3] == lines[:3] and "(from " in again
    code, as_json, _ = cli(capsys, *args, "--json")
    assert json.loads(as_json)["run_id"] == config.run_id
    monkeypatch.undo()
    code, uncached, _ = cli(capsys, "run", *SMOKE, "--method", "random", "--density", "0.2", "--no-store")
    assert code == 0 and "(not stored)" in uncached and uncached.splitlines()[1] == lines[1]


def dry_run_ids(capsys, tmp_path, *extra):
    code, out, _ = cli(capsys, "sweep", *SMOKE, "--methods", "cts", "random", "ltr", "--objectives", "kl", "task",
                       "--densities", "0.5", "0.2", "0.1", "--seeds", "0", "1", "--dry-run", "--store", tmp_path, *extra)
    assert code == 0
    return [line.split()[0] for line in out.splitlines()[1:]]


def test_sweep_shards_are_disjoint_and_cover_the_grid(capsys, tmp_path):
    everything = dry_run_ids(capsys, tmp_path)
    assert len(everything) == len(set(everything)) == (2 + 1 + 1) * 3 * 2
    for n in (2, 3):
        parts = [dry_run_ids(capsys, tmp_path, "--shard", f"{i}/{n}") for i in range(n)]
        assert sorted(sum(parts, [])) == sorted(everything)
        assert sum(len(p) for p in parts) == len(everything)  # disjoint


@needs_fashion_mnist
def test_sweep_on_two_worker_processes(capsys, tmp_path):
    sweep = ["sweep", *SMOKE, "--methods", "random", "ltr", "--densities", "0.5", "0.2", "--store", tmp_path]
    code, out, err = cli(capsys, *sweep, "--workers", "2")
    assert code == 0, err
    assert re.search(r"done: 4 runs \(4 computed, 0 from the store\) in \d+ s on 2 workers, 0 failed", out), out
    assert out.count("top-1") == 4
    assert len(S.RunStore(tmp_path).records()) == 4


@needs_fashion_mnist
def test_sweep_list_and_show(capsys, tmp_path):
    code, out, err = cli(capsys, "list", "--store", tmp_path)
    assert code == 0 and "no finished runs" in out
    sweep = ["sweep", *SMOKE, "--methods", "random", "magnitude", "--densities", "0.5", "0.2", "--store", tmp_path]
    for shard in ("0/2", "1/2"):
        code, out, err = cli(capsys, *sweep, "--shard", shard)
        assert code == 0, err
    code, out, _ = cli(capsys, *sweep)  # the whole grid again: every run is in the store
    assert code == 0 and re.search(r"done: 4 runs \(0 computed, 4 from the store\) in \d+ s, 0 failed", out), out
    code, out, _ = cli(capsys, "list", "--store", tmp_path)
    assert code == 0 and "4 finished runs" in out and out.count("magnitude") == 2 and "top1" in out
    record = S.RunStore(tmp_path).records()[0]
    code, out, _ = cli(capsys, "show", record["run_id"][:7], "--store", tmp_path)
    assert code == 0 and "test accuracy: top-1" in out and "layers (density, size):" in out
    code, out, _ = cli(capsys, "show", record["run_id"], "--json", "--store", tmp_path)
    assert code == 0 and json.loads(out) == record


def test_every_run_flag_explains_itself():
    """`ctslib run --help`: each flag has help text with its default, and the flags with a fixed set of values
    list it."""
    from ctslib.cli import build_parser
    run = build_parser()._subparsers._group_actions[0].choices["run"]
    actions = {a.dest: a for a in run._actions if a.option_strings and a.dest != "help"}
    missing = [d for d, a in actions.items() if not a.help]
    assert not missing, f"flags without help: {missing}"
    config_flags = [a for d, a in actions.items() if a.help and "RunConfig's own" in a.help]
    assert len(config_flags) == len(fields(RunConfig))
    assert "fraction of prunable weights kept, in (0, 1]" in actions["density"].help
    for dest, listed in (("method", "cts | ltr | snip"), ("objective", "task | delta_loss"), ("step", "gradbalance"),
                         ("dataset", "fashion_mnist | cifar10"), ("ablation", "shuffle | reinit"),
                         ("precision", "fp32 | bf16")):
        assert listed in actions[dest].help, (dest, actions[dest].help)
    assert "lenet300, resnet20, vgg16, resnet50" in actions["model"].help and "module:factory" in actions["model"].help
    assert "smoke | cpu | paper" in actions["preset"].help
