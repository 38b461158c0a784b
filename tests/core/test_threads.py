"""The thread count of a run: passive OpenMP waiting asked for at import, `auto` resolved from it, `--threads` and
$CTS_THREADS, and the count recorded in every run's record."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import needs_fashion_mnist
from ctslib import threads
from ctslib.threads import parse_threads, resolve_threads, usable_cores

ROOT = Path(__file__).resolve().parents[2]


def python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "CTS_THREADS", "OMP_NUM_THREADS")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**clean, "PYTHONPATH": str(ROOT), **env})
    return proc.stdout.strip()


def test_import_asks_for_passive_waiting_unless_torch_came_first_or_the_user_chose():
    show = "import os; print(os.environ.get('OMP_WAIT_POLICY'))"
    assert python(f"import ctslib; {show}") == "PASSIVE"
    assert python(f"import torch, ctslib; {show}") == "None"  # too late: the runtime has read it already
    assert python(f"import ctslib; {show}", OMP_WAIT_POLICY="active") == "active"  # the user's choice wins
    # and `auto` follows what the runtime does
    auto = "from ctslib.threads import resolve_threads; print(resolve_threads('auto'))"
    assert python(f"import ctslib; {auto}") == str(usable_cores())
    assert python(f"import torch, ctslib; {auto}") == "1"


def test_parse_and_resolve(monkeypatch):
    assert parse_threads(None) == parse_threads("") == parse_threads(" Auto ") == "auto"
    assert parse_threads("3") == parse_threads(3) == 3
    for bad in ("0", "-2", "two", 1.5j):
        with pytest.raises(ValueError, match="positive integer or 'auto'"):
            parse_threads(bad)
    monkeypatch.delenv("CTS_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user's own count for torch: auto keeps it
    assert resolve_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert resolve_threads() == resolve_threads("auto") == usable_cores()
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # torchrun: two processes share the cores
    assert resolve_threads() == max(1, usable_cores() // 2)
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # spinning threads: one thread is the safe count
    assert resolve_threads() == 1
    monkeypatch.setenv("CTS_THREADS", "3")
    assert resolve_threads() == 3 and resolve_threads(2) == 2  # an explicit request wins over the variable
    monkeypatch.setenv("CTS_THREADS", "many")
    with pytest.raises(ValueError, match="'many'.*CTS_THREADS"):
        resolve_threads()


@needs_fashion_mnist
def test_cli_threads_are_set_and_recorded(tmp_path, capsys):
    from ctslib.cli import main
    import torch
    base = ["run", "--preset", "smoke", "--method", "random", "--density", "0.2", "--rewind-step", "0", "--epochs",
            "1", "--milestones", "1", "--train-examples", "256", "--test-examples", "256", "--no-store", "--json"]
    before = torch.get_num_threads()
    try:
        assert main([*base, "--threads", "1"]) == 0
        assert json.loads(capsys.readouterr().out)["environment"]["threads"] == 1
        assert main([*base, "--threads", "0"]) == 2
        assert "threads must be a positive integer or 'auto', got '0'" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)
    # auto, in a fresh process: passive waiting asked for at import, then one thread per core
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "CTS_THREADS", "OMP_NUM_THREADS")}
    proc = subprocess.run([sys.executable, "-m", "ctslib", *base], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    auto = json.loads(proc.stdout)["environment"]
    assert (auto["threads"], auto["omp_wait_policy"]) == (usable_cores(), "PASSIVE")


def test_threads_module_does_not_import_torch():
    assert "torch" not in python("import sys, ctslib.threads; print(sorted(sys.modules))")
    assert threads.WAIT_POLICY_VARIABLE == "OMP_WAIT_POLICY"
