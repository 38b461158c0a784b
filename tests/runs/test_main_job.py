"""The README's main job, end to end on real data: CTS_KL vs a random ticket at 1% density."""

import subprocess
import sys

import pytest

from helpers import needs_fashion_mnist
from ctslib.cli import build_parser, config_from_args, main
from ctslib.runs.pipeline import execute
from ctslib.runs.presets import base_config

# the README's main job (`make run`'s first line)
MAIN_JOB = ["run", "--model", "lenet300", "--dataset", "fashion_mnist", "--method", "cts", "--objective", "kl",
            "--density", "0.01"]


@needs_fashion_mnist
def test_cts_kl_ticket_beats_random_ticket_at_one_percent(monkeypatch):
    monkeypatch.delenv("CTS_SCALE", raising=False)
    base = base_config("cpu", "lenet300", method="cts", objective="kl", density=0.01)  # the main job, exactly
    assert base == config_from_args(build_parser().parse_args(MAIN_JOB))
    cts = execute(base)
    rnd = execute(base.with_(method="random"))
    for result in (cts, rnd):
        assert result.ticket.num_kept == round(0.01 * 266200)
    print(f"CTS_KL {cts.metrics['top1']:.4f}  random {rnd.metrics['top1']:.4f}")
    assert cts.metrics["top1"] > rnd.metrics["top1"] + 0.15
    assert cts.metrics["top1"] > 0.75


def test_cli_bad_input_is_a_clear_error(capsys):
    for args, message in ((["--density", "1.5"], "density must be in (0, 1]"),
                          (["--model", "resnet99"], "unknown model 'resnet99'"),
                          (["--objective", "l1"], "unknown objective 'l1'"),
                          (["--dataset", "mnist"], "unknown dataset 'mnist'")):
        assert main(["run", *args]) == 2, args
        assert message in capsys.readouterr().err
    # and in a real process: one line, no traceback
    proc = subprocess.run([sys.executable, "-m", "ctslib", "run", "--density", "1.5"], capture_output=True, text=True)
    assert proc.returncode == 2 and "density must be in (0, 1]" in proc.stderr and "Traceback" not in proc.stderr


def test_wrong_input_shape_is_a_clear_error():
    import torch
    from ctslib.models import build_model
    model = build_model("resnet20", in_channels=3, image_size=32, num_classes=10)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(N, 3, 32, 32\)"):
        model(torch.randn(2, 1, 28, 28))
