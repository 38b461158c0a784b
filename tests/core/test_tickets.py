import pytest
import torch
from torch import nn

from ctslib.models import build_model
from ctslib.tickets import Ticket, check_density, num_to_keep, prunable_names, prunable_parameters


def test_prunable_names_any_module_and_dense_exclusion():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    assert prunable_names(net) == ["0.weight", "3.weight"]
    net.dense_parameters = ("3.weight",)
    assert prunable_names(net) == ["0.weight"]
    vgg = build_model("vgg16", in_channels=3, image_size=32, num_classes=10)
    assert "fc.weight" not in prunable_names(vgg)
    assert len(prunable_names(vgg)) == 13


def test_from_scores_keeps_exactly_round_kappa_d_with_ties():
    scores = {"a": torch.zeros(10, 10), "b": torch.ones(7)}  # massive ties
    for density in (0.01, 0.05, 0.5, 0.33, 1.0):
        t = Ticket.from_scores(scores, density)
        assert t.num_kept == round(density * 107)
        assert t.num_total == 107
    t = Ticket.from_scores({"a": torch.arange(10.0)}, 0.3)
    assert t.masks["a"].tolist() == [False] * 7 + [True] * 3


def test_global_topk_is_global_not_per_layer():
    t = Ticket.from_scores({"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([3.0, 4.0])}, 0.5)
    assert t.layer_densities() == {"a": 0.0, "b": 1.0}
    assert t.collapsed_layers() == ["a"]


def test_density_checks():
    for bad in (0, -0.1, 1.5, float("nan"), "x"):
        with pytest.raises(ValueError, match="density must be"):
            check_density(bad)
    with pytest.raises(ValueError, match="got 1.5"):
        Ticket.from_scores({"a": torch.ones(3)}, 1.5)
    assert num_to_keep(0.01, 266200) == 2662


def test_apply_save_load_roundtrip(tmp_path):
    model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
    scores = {n: p.abs() for n, p in prunable_parameters(model).items()}
    ticket = Ticket.from_scores(scores, 0.05)
    ticket.apply_(model)
    for name, p in prunable_parameters(model).items():
        assert torch.all(p[~ticket.masks[name]] == 0)
    path = tmp_path / "t.pt"
    ticket.save(path)
    assert Ticket.load(path) == ticket
    assert not list(tmp_path.glob("*.tmp*"))
    (tmp_path / "junk.pt").write_bytes(b"not a ticket")
    with pytest.raises(Exception):
        Ticket.load(tmp_path / "junk.pt")


def test_mismatched_ticket_is_a_clear_error():
    model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
    with pytest.raises(ValueError, match="does not have"):
        Ticket({"nope.weight": torch.ones(3, dtype=torch.bool)}).apply_(model)
