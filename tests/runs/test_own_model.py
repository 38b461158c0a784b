"""Your own model in the experiment engine (by name or as module:factory) and a stored run's ticket exported."""

import sys
import textwrap

import pytest
import torch
from torch import nn

from helpers import needs_fashion_mnist
from ctslib.cli import main
from ctslib.models import MODELS, LIKE, build_model, preset_model, register_model, resolve_model
from ctslib.runs.config import RunConfig
from ctslib.runs.presets import base_config
from ctslib.runs.store import RunStore
from ctslib.runs.sweep import sweep
from ctslib.tickets import Ticket, load_safetensors


class TinyMLP(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, num_classes))

    def forward(self, x):
        return self.body(x)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """An importable module `mynets` with a factory, as a user's package would be."""
    (tmp_path / "mynets.py").write_text(textwrap.dedent('''
        from torch import nn

        def small_cnn(in_channels, num_classes):
            return nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                                 nn.Flatten(), nn.Linear(128, num_classes))
        small_cnn.preset_like = "resnet20"
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "mynets:small_cnn"
    MODELS.pop("mynets:small_cnn", None)
    LIKE.pop("mynets:small_cnn", None)
    sys.modules.pop("mynets", None)


@pytest.fixture
def registered():
    register_model("tiny_mlp", TinyMLP, like="lenet300")
    yield "tiny_mlp"
    MODELS.pop("tiny_mlp", None)
    LIKE.pop("tiny_mlp", None)


def test_a_registered_model_builds_with_the_arguments_it_takes_and_borrows_presets(registered):
    model = build_model(registered, in_channels=1, image_size=28, num_classes=7)
    assert isinstance(model, TinyMLP) and model.body[-1].out_features == 7
    config = base_config("smoke", registered, method="random", density=0.1)
    assert config.model == "tiny_mlp" and config.epochs == base_config("smoke", "lenet300").epochs
    assert preset_model(registered) == "lenet300"
    with pytest.raises(ValueError, match="registered already"):
        register_model("tiny_mlp", lambda: nn.Linear(2, 2))
    with pytest.raises(ValueError, match="a zoo model"):
        register_model("resnet20", TinyMLP)
    with pytest.raises(ValueError, match="like='mlp' must name a zoo model"):
        register_model("other", TinyMLP, like="mlp")


def test_unknown_models_and_bad_import_paths_are_named_with_the_fix():
    with pytest.raises(ValueError, match=r"unknown model 'nope'.*module:factory"):
        RunConfig(model="nope")
    with pytest.raises(ValueError, match=r"cannot import 'f' from module 'no_such_module_xyz'.*PYTHONPATH"):
        resolve_model("no_such_module_xyz:f")
    register_model("not_a_module", lambda: 3)
    try:
        with pytest.raises(ValueError, match="returned int, not an nn.Module"):
            build_model("not_a_module", in_channels=1, image_size=28, num_classes=10)
    finally:
        MODELS.pop("not_a_module"), LIKE.pop("not_a_module")


@needs_fashion_mnist
def test_an_import_path_model_runs_through_the_store_the_cli_and_worker_processes(tmp_path, user_module,
                                                                                   one_thread, capsys):
    store = RunStore(tmp_path / "store", archives=[])
    config = base_config("smoke", user_module, method="snip", density=0.2, rewind_step=0)
    assert config.batch_size == base_config("smoke", "resnet20").batch_size  # its preset_like
    record = store.get(config)
    assert record["config"]["model"] == "mynets:small_cnn" and 0 <= record["metrics"]["top1"] <= 1
    assert store.get(config) == record  # cached
    # two worker processes (spawned) import the model themselves
    configs = [config.with_(method="random", seed=s) for s in (0, 1)]
    result = sweep(configs, store, workers=2)
    assert not result.failed and result.computed == 2
    # the command line takes it too
    assert main(["--store", str(tmp_path / "store"), "run", "--preset", "smoke", "--model", user_module,
                 "--method", "magnitude", "--density", "0.3", "--rewind-step", "0"]) == 0
    assert "mynets:small_cnn on fashion_mnist" in capsys.readouterr().out


@needs_fashion_mnist
def test_export_writes_the_ticket_and_the_network(tmp_path, one_thread, capsys):
    root = tmp_path / "store"
    config = base_config("smoke", "lenet300", method="magnitude", density=0.05, rewind_step=0)
    store = RunStore(root, archives=[])
    record = store.get(config)
    ticket = store.ticket(config)
    run_id = config.run_id
    st = tmp_path / "t.safetensors"
    assert main(["--store", str(root), "export", run_id[:8], "-o", str(st)]) == 0
    back, meta = load_safetensors(st)
    assert back == ticket and meta["run_id"] == run_id and meta["method"] == "magnitude"
    assert float(meta["top1"]) == record["metrics"]["top1"]
    # the network as torch.nn.utils.prune keeps it: load it into a fresh model after custom_from_mask
    pruned = tmp_path / "prune.pt"
    assert main(["--store", str(root), "export", run_id, "--format", "prune", "-o", str(pruned)]) == 0
    model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
    Ticket.dense(model).apply(model)
    model.load_state_dict(torch.load(pruned, weights_only=True))
    assert Ticket.from_module(model) == ticket
    # trained, plain state dict: retrained as the run did, the same accuracy
    plain = tmp_path / "trained.pt"
    assert main(["--store", str(root), "export", run_id, "--format", "state-dict", "--trained", "-o", str(plain)]) == 0
    out = capsys.readouterr().out
    assert f"top-1 {record['metrics']['top1']:.2%}; the record: {record['metrics']['top1']:.2%}" in out
    state = torch.load(plain, weights_only=True)
    assert all(not state[n][~m].any() for n, m in ticket.masks.items())
    assert main(["--store", str(root), "export", "ffffffffffff", "-o", str(plain)]) == 2
