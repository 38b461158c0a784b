"""The README's main job, end to end on real data: CTS_KL vs a random ticket at 1% density."""

import subprocess
import sys

import pytest

from helpers import needs_fashion_mnist
from ctslib.runs.config import RunConfig
from ctslib.runs.pipeline import execute


@needs_fashion_mnist
def test_cts_kl_ticket_beats_random_ticket_at_one_percent():
    base = RunConfig(dataset="fashion_mnist", model="lenet300", density=0.01, epochs=6, milestones=(4, 5),
                     search_epochs=2, rewind_step=469, seed=0)
    cts = execute(base)
    rnd = execute(base.with_(method="random"))
    for result in (cts, rnd):
        assert result.ticket.num_kept == round(0.01 * 266200)
    print(f"CTS_KL {cts.metrics['top1']:.4f}  random {rnd.metrics['top1']:.4f}")
    assert cts.metrics["top1"] > rnd.metrics["top1"] + 0.15
    assert cts.metrics["top1"] > 0.75


def test_cli_bad_input_is_a_clear_error():
    for args, message in ((["--density", "1.5"], "density must be in (0, 1]"),
                          (["--model", "resnet99"], "unknown model 'resnet99'"),
                          (["--objective", "l1"], "unknown objective 'l1'"),
                          (["--dataset", "mnist"], "unknown dataset 'mnist'")):
        proc = subprocess.run([sys.executable, "-m", "ctslib", "run", *args], capture_output=True, text=True)
        assert proc.returncode == 2, args
        assert message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_wrong_input_shape_is_a_clear_error():
    import torch
    from ctslib.models import build_model
    model = build_model("resnet20", in_channels=3, image_size=32, num_classes=10)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(N, 3, 32, 32\)"):
        model(torch.randn(2, 1, 28, 28))
