"""The static mask explorer: its pictures and tables are the tickets' (block shades, per-layer densities, IoU), it
opens on a state that shows something, and its page carries everything it can show (the book's browser test
clicks it: tests/report/test_book.py)."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest

from helpers import cheap_ticket_store, needs_fashion_mnist
from ctslib.report import static_explorer as se
from ctslib.report import widgets

DENSITIES = (0.5, 0.1, 0.002)


def test_block_shades_keep_a_single_weight_visible():
    mask = np.zeros((300, 784), dtype=bool)
    assert se.block_sizes(mask.shape) == (2, 4)
    mask[0, 0] = True             # one weight of its 2 x 4 block
    mask[10:12, 8:12] = True      # a full block
    shades = se.block_shades(mask)
    assert shades.shape == (150, 196) and shades.dtype == np.uint8
    assert shades[0, 0] == round(140 * (1 - 1 / 8)) and shades[5, 2] == 0
    assert (shades == 255).sum() == shades.size - 2
    # an edge block holding fewer real weights: its share counts only those
    edge = np.ones((3, 5), dtype=bool)
    assert se.block_shades(edge, max_pixels=(2, 2)).max() == 0


def test_png_is_the_shades():
    from PIL import Image
    shades = np.array([[255, 0], [140, 70]], dtype=np.uint8)
    url = se.png_data_url(shades)
    assert url.startswith("data:image/png;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert np.array_equal(back, shades)


def test_density_text_tells_the_densities_apart():
    from ctslib.report.figures import FIGURES
    densities = sorted({c.density for c in FIGURES["fig2"].configs(scale="cpu") if c.density < 1}, reverse=True)
    texts = [se.density_text(d) for d in densities]
    assert len(set(texts)) == len(texts)
    assert se.density_text(0.512) == "51%" and se.density_text(0.000133) == "0.013%"


def test_default_state_shows_something():
    state = se.default_state(["CTS_KL", "LTR", "SNIP"], [0.5, 0.02, 0.004, 0.0001], [0, 1], ["fc1.weight"])
    assert state == {"a": "CTS_KL", "b": "LTR", "density": "2%", "seed": "0", "layer": "fc1.weight"}
    # no CTS_KL / LTR: the first two methods; every density too sparse: the densest
    state = se.default_state(["SNIP", "random"], [0.001, 0.0001], [3], ["w"])
    assert (state["a"], state["b"], state["density"]) == ("SNIP", "random", "0.1%")
    assert se.default_state(["SNIP"], [0.1], [0], ["w"])["b"] == "SNIP"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return cheap_ticket_store(tmp_path_factory.mktemp("static-explorer-store"), DENSITIES)


@needs_fashion_mnist
def test_explorer_data_are_the_tickets(store):
    data = se.explorer_data(store)
    assert data.methods == ["SNIP", "magnitude", "random"]
    assert data.densities == ["50%", "10%", "0.2%"] and data.layers == ["fc1.weight", "fc2.weight", "fc3.weight"]
    assert data.layer_shapes == {"fc1.weight": [300, 784], "fc2.weight": [100, 300], "fc3.weight": [10, 100]}
    assert sum(data.layer_shares) == pytest.approx(1.0)
    assert len(data.runs) == 9 and len(data.iou) == 3 * 3
    index = widgets.run_index(store)
    row = index[(index["label"] == "magnitude") & np.isclose(index["density"], 0.1)].iloc[0]
    run = data.runs["magnitude|10%|0"]
    assert run["top1"] == pytest.approx(row["top1"])
    assert run["densities"] == pytest.approx([row["layers"][n]["density"] for n in data.layers])
    a, b = widgets.load_ticket(store, row["run_id"]), None
    other = index[(index["label"] == "random") & np.isclose(index["density"], 0.1)].iloc[0]
    b = widgets.load_ticket(store, other["run_id"])
    assert data.iou["magnitude|random|10%|0"] == pytest.approx(list(widgets.iou_per_layer(a, b)[data.layers]))
    assert data.default == {"a": "SNIP", "b": "magnitude", "density": "10%", "seed": "0", "layer": "fc1.weight"}


@needs_fashion_mnist
def test_explorer_html_is_offline_and_weighed(store):
    html = se.explorer_html(store)
    remote = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*?(?:src|href)=["'](?:https?:)?//""", re.I)
    assert "<script" in html and not remote.search(html)      # BokehJS inline: the book works offline
    weight = se.page_weight(html)
    assert weight["bokehjs"] > 1e6 and 0 < weight["data"] < 1e6 and weight["total"] == len(html.encode())
    assert "MB" in se.caption(se.explorer_data(store), html)
    assert "No finished run" in se.explorer_html(type(store)(store.root / "empty"))
