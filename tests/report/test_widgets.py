"""The mask explorer runs headless: its pure functions give the right numbers, and changing a control changes
what it shows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import cheap_ticket_store, needs_fashion_mnist
from ctslib.runs import presets
from ctslib.report import widgets
from ctslib.tickets import Ticket

DENSITIES = (0.5, 0.1)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return cheap_ticket_store(tmp_path_factory.mktemp("widget-store"), DENSITIES)


def test_iou_and_mask_matrix():
    a = Ticket({"w": torch.tensor([[True, True, False, False]]), "v": torch.tensor([True, False])})
    b = Ticket({"w": torch.tensor([[True, False, True, False]]), "v": torch.tensor([True, False])})
    iou = widgets.iou_per_layer(a, b)
    assert iou["w"] == pytest.approx(1 / 3) and iou["v"] == 1.0
    conv = torch.zeros(4, 3, 2, 2, dtype=torch.bool)
    assert widgets.mask_matrix(conv).shape == (4, 12)


@needs_fashion_mnist
def test_view_data_matches_the_tickets(store):
    index = widgets.run_index(store)
    assert set(index["label"]) == {"random", "magnitude", "SNIP"}
    view = widgets.view_data(index, store, ["magnitude", "random"], 0.1, 0, "fc2.weight")
    assert view.masks["magnitude"].shape == (100, 300)
    record = store.get(presets.base_config("smoke", "lenet300", method="magnitude", density=0.1, rewind_step=0,
                                           epochs=1, milestones=()))
    assert view.layer_densities.loc["fc2.weight", "magnitude"] == pytest.approx(
        record["layers"]["fc2.weight"]["density"])
    assert view.masks["magnitude"].mean() == pytest.approx(record["layers"]["fc2.weight"]["density"])
    assert view.iou_pair == ("magnitude", "random") and 0 < view.iou["fc1.weight"] < 1
    assert view.layer_densities["share of parameters"].sum() == pytest.approx(1.0)


@needs_fashion_mnist
def test_controls_change_what_is_shown(store):
    explorer = widgets.MaskExplorer(store)
    ctl = explorer.controls
    ctl["methods"].value = ("SNIP", "random")
    first = explorer.view
    assert first.methods == ["SNIP", "random"] and explorer.figure is not None

    ctl["density"].value = 0.5 if first.density != 0.5 else 0.1        # density: other tickets
    second = explorer.view
    assert second.density != first.density
    assert not np.array_equal(second.masks["SNIP"], first.masks["SNIP"])
    assert explorer.figure is not None and explorer.figure is not None

    ctl["layer"].value = "fc3.weight"                                   # layer: another mask
    assert explorer.view.layer == "fc3.weight" and explorer.view.masks["SNIP"].shape == (10, 100)

    ctl["methods"].value = ("magnitude", "SNIP")                        # methods: another pair, another IoU
    assert explorer.view.iou_pair == ("magnitude", "SNIP")
    assert not explorer.view.iou.equals(second.iou)

    figure = explorer.figure
    ctl["seed"].value = ctl["seed"].options[0]
    ctl["layer"].value = "fc1.weight"
    assert explorer.figure is not figure                                # every change redraws
    assert len(explorer.figure.axes) >= 3


@needs_fashion_mnist
def test_snapshot_is_a_figure(store):
    fig = widgets.snapshot(store, methods=["random", "SNIP"], density=0.5)
    assert fig is not None and fig._repr_png_()[:4] == b"\x89PNG"
