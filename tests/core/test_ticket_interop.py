"""Tickets in the PyTorch ecosystem: torch.nn.utils.prune masks both ways, and the portable safetensors file."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ctslib.models import build_model
from ctslib.tickets import SAFETENSORS_FORMAT, Ticket, load_safetensors, prunable_parameters


def lenet():
    torch.manual_seed(0)
    return build_model("lenet300", in_channels=1, image_size=28, num_classes=10)


def random_ticket(model, density=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Ticket.from_scores({n: torch.rand(p.shape, generator=g) for n, p in prunable_parameters(model).items()},
                              density)


def test_apply_installs_prune_masks_that_survive_a_training_step_and_read_back():
    model = lenet()
    ticket = random_ticket(model)
    ticket.apply(model)
    fc = model.fc1 if hasattr(model, "fc1") else next(m for m in model.modules() if isinstance(m, nn.Linear))
    assert hasattr(fc, "weight_orig") and hasattr(fc, "weight_mask")  # what torch's own pruning code sees
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    F.cross_entropy(model(x), y).backward()
    opt.step()
    back = Ticket.from_module(model)
    assert back == ticket  # identical masks after a step
    for name, mask in ticket.masks.items():  # the effective weights are zero where pruned
        module = model.get_submodule(name.rpartition(".")[0])
        assert not getattr(module, name.rpartition(".")[2])[~mask].any()
    Ticket.make_permanent(model)
    assert not any(n.endswith("_orig") for n, _ in model.named_parameters())
    params = dict(model.named_parameters())
    assert all(not params[n][~m].any() for n, m in ticket.masks.items())  # the zeros baked in
    assert Ticket.from_module(model).density == 1.0  # no masks left: every prunable weight counts as kept


def test_from_module_reads_masks_of_the_users_own_pruning_code():
    from torch.nn.utils import prune
    model = lenet()
    linears = [(m, "weight") for m in model.modules() if isinstance(m, nn.Linear)]
    prune.global_unstructured(linears, pruning_method=prune.L1Unstructured, amount=0.9)
    ticket = Ticket.from_module(model)
    assert set(ticket.masks) == {n for n, p in lenet().named_parameters() if n.endswith("weight")}
    assert ticket.density == pytest.approx(0.1, abs=1e-4)
    with pytest.raises(ValueError, match="no prunable weight"):
        Ticket.from_module(nn.ReLU())


def test_safetensors_round_trip_with_metadata_and_without_ctslib(tmp_path):
    model = lenet()
    ticket = random_ticket(model, 0.013)
    path = tmp_path / "ticket.safetensors"
    ticket.save(path, metadata={"model": "lenet300", "method": "random", "run_id": "abc"})
    back, meta = load_safetensors(path)
    assert back == ticket and list(back.masks) == list(ticket.masks) and Ticket.load(path) == ticket
    assert meta["format"] == SAFETENSORS_FORMAT and meta["model"] == "lenet300" and meta["run_id"] == "abc"
    assert int(meta["num_kept"]) == ticket.num_kept and "ctslib_version" in meta
    # a bit per weight, and readable with safetensors + numpy alone
    assert path.stat().st_size < ticket.num_total / 8 + 4000
    from safetensors.numpy import load_file
    arrays, shapes = load_file(str(path)), json.loads(meta["shapes"])
    name = next(iter(ticket.masks))
    plain = np.unpackbits(arrays[name], count=int(np.prod(shapes[name]))).reshape(shapes[name]).astype(bool)
    assert (plain == ticket.masks[name].numpy()).all()
    # today's torch format still reads, and other safetensors files are refused by name
    ticket.save(tmp_path / "ticket.pt")
    assert Ticket.load(tmp_path / "ticket.pt") == ticket
    from safetensors.numpy import save_file
    save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a ctslib ticket"):
        Ticket.load(tmp_path / "other.safetensors")
