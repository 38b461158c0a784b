"""The mask explorer of the static book: pick two methods, a density, a seed and a layer in the browser, with no
kernel, and see the two masks, their per-layer densities and their per-layer IoU change.

    from ctslib.report.static_explorer import explorer_html
    explorer_html(configs=FIGURES["fig2"].configs(scale="cpu"))     # an HTML fragment for the book's page

Everything the page can show is computed here, at build time, from the run store (`explorer_data`): for every
run, its top-1, its per-layer densities and each layer's mask as a small PNG (each pixel a block of weights:
white where the block keeps none, grey to black as it keeps more, so a single kept weight stays visible); for
every pair of methods at each (density, seed), the per-layer IoU of their tickets. Bokeh draws the page and its
controls (`explorer_layout`); the one piece of JavaScript is the callback that looks the chosen state up in those
precomputed tables (`_UPDATE_JS`). The live explorer for Jupyter, with every run of the store, is
`ctslib.report.widgets.MaskExplorer`.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd

from ..runs.config import RunConfig
from ..runs.store import RunStore
from .names import color
from .widgets import choices, iou_per_layer, load_ticket, mask_matrix, run_index

# The largest picture of a layer's mask, in blocks of weights (rows x columns): LeNet-300-100's first layer
# (300 x 784) becomes 150 x 196 blocks of 2 x 4 weights.
MAX_PIXELS = (160, 200)
# The methods shown first, and the density shown first: the sparsest one at which each of them keeps at
# least this share of the first layer (the sparsest tickets of the cpu scale keep a few dozen weights of
# 235,200 and look blank)
DEFAULT_PAIR = ("CTS_KL", "LTR")
VISIBLE_DENSITY = 0.005


def block_sizes(shape: tuple[int, int], max_pixels: tuple[int, int] = MAX_PIXELS) -> tuple[int, int]:
    """Rows and columns of weights per pixel so that a (rows, columns) mask fits `max_pixels`."""
    return tuple(max(1, -(-n // m)) for n, m in zip(shape, max_pixels))


def block_shades(mask: np.ndarray, max_pixels: tuple[int, int] = MAX_PIXELS) -> np.ndarray:
    """A 2-D boolean mask as grey levels of blocks (uint8): 255 (white) where a block keeps no weight, 140 down
    to 0 (black) as the share it keeps grows to all of it (one kept weight of a block is a clear grey)."""
    br, bc = block_sizes(mask.shape, max_pixels)
    rows, cols = -(-mask.shape[0] // br), -(-mask.shape[1] // bc)
    padded = np.zeros((rows * br, cols * bc), dtype=np.float32)
    padded[:mask.shape[0], :mask.shape[1]] = mask
    counts = padded.reshape(rows, br, cols, bc).sum(axis=(1, 3))
    # the share of the block's real weights (a padded edge block holds fewer)
    real = np.ones_like(padded)
    real[mask.shape[0]:, :] = 0
    real[:, mask.shape[1]:] = 0
    share = counts / np.maximum(real.reshape(rows, br, cols, bc).sum(axis=(1, 3)), 1)
    return np.where(share > 0, np.round(140 * (1 - share)), 255).astype(np.uint8)


def png_data_url(shades: np.ndarray) -> str:
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(shades, mode="L").save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def density_text(density: float) -> str:
    """A density with the digits that tell the explorer's densities apart (0.013%, 0.24%, 51%)."""
    return f"{100 * density:.2g}%" if density < 0.1 else f"{100 * density:.0f}%"


@dataclass
class ExplorerData:
    """What the static explorer can show, as plain JSON-able tables (the page's whole data)."""

    setting: str
    methods: list[str]
    densities: list[str]                 # density_text of each density, sparsest last
    seeds: list[str]
    layers: list[str]
    layer_shapes: dict[str, list[int]]   # layer -> [rows, columns] of its 2-D mask
    layer_shares: list[float]            # each layer's share of the prunable weights
    runs: dict[str, dict]                # "method|density|seed" -> top1, densities (per layer), images (per layer)
    iou: dict[str, list[float]]          # "methodA|methodB|density|seed" (A < B) -> IoU per layer
    default: dict[str, str]

    @staticmethod
    def key(*parts) -> str:
        return "|".join(str(p) for p in parts)


def explorer_data(store=None, configs: Sequence[RunConfig] | None = None, compute: bool = False,
                  max_pixels: tuple[int, int] = MAX_PIXELS) -> ExplorerData | None:
    """The explorer's tables from the finished runs of `configs` (computing missing ones if `compute`), in the
    setting that has most of them; None when there is no run."""
    store = store if store is not None else RunStore()
    index = run_index(store, configs, compute=compute)
    c = choices(index)
    if not c["densities"]:
        return None
    part = index[index["setting"] == c["setting"]]
    layers = c["layers"]
    shapes = {}
    runs = {}
    tickets = {}
    for row in part.itertuples():
        d, s = density_text(row.density), str(row.seed)
        ticket = load_ticket(store, row.run_id)
        images = {}
        for layer in layers:
            mask = mask_matrix(ticket.masks[layer])
            shapes[layer] = list(mask.shape)
            images[layer] = png_data_url(block_shades(mask, max_pixels))
        runs[ExplorerData.key(row.label, d, s)] = {
            "top1": None if pd.isna(row.top1) else float(row.top1),
            "densities": [float(row.layers[n]["density"]) for n in layers], "images": images}
        tickets[(row.label, d, s)] = ticket
    iou = {}
    for (d, s) in {(d, s) for (_, d, s) in tickets}:
        here = sorted(m for (m, dd, ss) in tickets if (dd, ss) == (d, s))
        for a, b in combinations(here, 2):
            iou[ExplorerData.key(a, b, d, s)] = [float(v) for v in
                                                 iou_per_layer(tickets[(a, d, s)], tickets[(b, d, s)])[layers]]
    sizes = pd.Series({n: v["size"] for n, v in part.iloc[0]["layers"].items()})[layers]
    densities = [density_text(d) for d in c["densities"]]
    methods = [m for m in c["methods"] if any(k[0] == m for k in tickets)]
    return ExplorerData(setting=c["setting"], methods=methods, densities=densities, seeds=[str(s) for s in c["seeds"]],
                        layers=layers, layer_shapes=shapes, layer_shares=[float(v) for v in sizes / sizes.sum()],
                        runs=runs, iou=iou, default=default_state(methods, c["densities"], c["seeds"], layers))


def default_state(methods: Sequence[str], densities: Sequence[float], seeds: Sequence[int],
                  layers: Sequence[str]) -> dict[str, str]:
    """The state shown first: CTS_KL and LTR (else the first two methods), the sparsest density of at least
    `VISIBLE_DENSITY` (else the densest), the first seed and layer."""
    pair = [m for m in DEFAULT_PAIR if m in methods]
    pair += [m for m in methods if m not in pair][:2 - len(pair)]
    pair += pair[-1:] * (2 - len(pair))
    visible = [d for d in densities if d >= VISIBLE_DENSITY]
    density = min(visible) if visible else max(densities)
    return {"a": pair[0], "b": pair[1], "density": density_text(density), "seed": str(seeds[0]), "layer": layers[0]}


# The callback of every control: look the chosen state up in the precomputed tables and hand the new columns to
# the plots' data sources. Bokeh redraws; nothing is computed here.
_UPDATE_JS = """
const key = (...parts) => parts.join("|");
const d = density.value, s = seed.value, l = layer.value, li = data.layers.indexOf(l);
const shape = data.layer_shapes[l];
const chosen = [a.value, b.value];
chosen.forEach((m, i) => {
  const run = data.runs[key(m, d, s)];
  const [src, fig] = i == 0 ? [src_a, fig_a] : [src_b, fig_b];
  src.data = {url: [run ? run.images[l] : ""], w: [shape[1]], h: [shape[0]]};
  fig.x_range.end = shape[1]; fig.y_range.start = shape[0];
  fig.title.text = run
    ? `${m}, seed ${s}: ${(100 * run.densities[li]).toPrecision(2)}% of ${l}'s ` +
      `${(shape[0] * shape[1]).toLocaleString("en")} kept` +
      (run.top1 === null ? "" : `, top-1 ${(100 * run.top1).toFixed(1)}%`)
    : `${m}: no run at ${d}, seed ${s}`;
});
const runs = chosen.map(m => data.runs[key(m, d, s)]);
const floor = 1e-4;
const bars = {layer: [], method: [], x: [], kept: [], shown: [], text: [], color: []};
data.layers.forEach((name, j) => runs.forEach((run, i) => {
  const v = run ? 100 * run.densities[j] : 0;
  bars.layer.push(name); bars.method.push(chosen[i]); bars.x.push([name, i == 0 ? "A" : "B"]);
  bars.kept.push(v); bars.shown.push(Math.max(v, floor)); bars.text.push(v > 0 ? v.toPrecision(2) + "%" : "0");
  bars.color.push(colors[chosen[i]] || (i == 0 ? "#1f77b4" : "#ff7f0e"));
}));
src_bars.data = bars;
const pair = [...chosen].sort();
const iou = data.iou[key(pair[0], pair[1], d, s)];
src_iou.data = {layer: data.layers, iou: data.layers.map((_, j) => chosen[0] == chosen[1] ? 1 : (iou ? iou[j] : NaN)),
                text: data.layers.map((_, j) => chosen[0] == chosen[1] ? "1" : (iou ? iou[j].toFixed(2) : "no run"))};
fig_iou.title.text = `IoU per layer: ${chosen[0]} vs ${chosen[1]} at ${d}, seed ${s}`;
fig_bars.title.text = `per-layer density at ${d} (grey: share of the weights)`;
"""


def explorer_layout(data: ExplorerData):
    """The Bokeh layout of the static explorer: five selects, two mask pictures, the per-layer densities and IoU."""
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, CustomJS, FactorRange, LabelSet, Range1d, Select
    from bokeh.plotting import figure

    state = data.default
    selects = {
        "a": Select(title="method A", value=state["a"], options=data.methods, name="method_a", width=170),
        "b": Select(title="method B", value=state["b"], options=data.methods, name="method_b", width=170),
        "density": Select(title="density", value=state["density"], options=data.densities, name="density", width=110),
        "seed": Select(title="seed", value=state["seed"], options=data.seeds, name="seed", width=80),
        "layer": Select(title="layer", value=state["layer"], options=data.layers, name="layer", width=160),
    }
    rows, cols = data.layer_shapes[state["layer"]]
    pictures, sources = [], []
    for name in ("a", "b"):
        src = ColumnDataSource({"url": [""], "w": [cols], "h": [rows]}, name=f"mask_{name}")
        fig = figure(width=500, height=320, x_range=Range1d(0, cols), y_range=Range1d(rows, 0), toolbar_location=None,
                     title=f"method {name.upper()}", name=f"figure_{name}", x_axis_label="input (x kernel position)",
                     y_axis_label="output unit")
        fig.image_url(url="url", x=0, y=0, w="w", h="h", anchor="top_left", source=src)
        fig.grid.visible = False
        fig.title.text_font_size = "9pt"
        pictures.append(fig)
        sources.append(src)
    factors = [(layer, side) for layer in data.layers for side in ("A", "B")]
    src_bars = ColumnDataSource({"layer": [], "method": [], "x": [], "kept": [], "shown": [], "text": [], "color": []},
                                name="bars")
    fig_bars = figure(width=500, height=300, title="per-layer density", x_range=FactorRange(*factors),
                      y_axis_type="log", toolbar_location=None, y_axis_label="% of the layer's weights kept (log)",
                      name="figure_bars", y_range=Range1d(5e-5, 3000),
                      tooltips=[("method", "@method"), ("kept", "@text")])
    shares = ColumnDataSource({"x": [(layer, "A") for layer in data.layers],
                               "share": [100 * s for s in data.layer_shares]})
    fig_bars.vbar(x="x", top="share", bottom=5e-5, width=2.0, source=shares, color="#dddddd")
    fig_bars.vbar(x="x", top="shown", bottom=5e-5, width=0.8, source=src_bars, color="color", legend_field="method")
    fig_bars.add_layout(LabelSet(x="x", y="shown", text="text", source=src_bars, text_font_size="8pt",
                                 text_align="center", y_offset=2))
    fig_bars.title.text_font_size = "9pt"
    fig_bars.legend.location = "top_right"
    fig_bars.legend.orientation = "horizontal"
    src_iou = ColumnDataSource({"layer": [], "iou": [], "text": []}, name="iou")
    fig_iou = figure(width=500, height=300, x_range=data.layers, y_range=Range1d(0, 1.1), toolbar_location=None,
                     title="IoU per layer",
                     y_axis_label="intersection / union of kept weights", name="figure_iou")
    fig_iou.title.text_font_size = "9pt"
    fig_iou.vbar(x="layer", top="iou", width=0.6, source=src_iou, color="#555555")
    fig_iou.add_layout(LabelSet(x="layer", y="iou", text="text", source=src_iou, text_font_size="8pt",
                                text_align="center", y_offset=2))
    payload = {"layers": data.layers, "layer_shapes": data.layer_shapes, "runs": data.runs, "iou": data.iou}
    callback = CustomJS(args=dict(data=payload, colors={m: color(m, i) for i, m in enumerate(data.methods)},
                                  src_a=sources[0], src_b=sources[1], fig_a=pictures[0], fig_b=pictures[1],
                                  src_bars=src_bars, fig_bars=fig_bars, src_iou=src_iou, fig_iou=fig_iou,
                                  **selects), code=_UPDATE_JS)
    for select in selects.values():
        select.js_on_change("value", callback)
    layout = column(row(*selects.values()), row(*pictures), row(fig_bars, fig_iou), name="mask_explorer")
    # the first state is drawn by the same callback, once the page has loaded (a document's event: the layout
    # gets a document of its own, which the embedding keeps)
    from bokeh.document import Document
    from bokeh.events import DocumentReady
    document = Document()
    document.add_root(layout)
    document.js_on_event(DocumentReady, callback)
    return layout


# BokehJS's core and its widgets, inline so the book works offline (~1.6 MB; the GL, tables and MathJax parts
# the explorer does not use would more than double it)
BOKEH_COMPONENTS = ("bokeh", "bokeh-widgets")


def bokeh_js() -> str:
    from bokeh.resources import Resources
    return Resources(mode="inline", components=list(BOKEH_COMPONENTS)).render_js()


def explorer_html(store=None, configs: Sequence[RunConfig] | None = None, compute: bool = False,
                  data: ExplorerData | None = None) -> str:
    """The static explorer as one HTML fragment with BokehJS inline, or a sentence saying there is nothing to
    explore yet."""
    data = data if data is not None else explorer_data(store, configs, compute=compute)
    if data is None:
        return "<p>No finished run to explore yet: build the book or run <code>python -m ctslib book</code>.</p>"
    from bokeh.embed import components
    script, div = components(explorer_layout(data))
    return bokeh_js() + script + div


def page_weight(html: str) -> dict[str, int]:
    """The fragment's size in bytes: BokehJS, and the rest (the runs' tables and pictures)."""
    library = len(bokeh_js().encode())
    return {"bokehjs": library, "data": len(html.encode()) - library, "total": len(html.encode())}


def caption(data: ExplorerData | None, html: str | None = None) -> str:
    """The line under the explorer: what it holds, how a mask is drawn and, given the page's `html`, its weight."""
    if data is None:
        return ""
    text = (f"{data.setting}: {len(data.runs)} tickets ({len(data.methods)} methods, {len(data.densities)} densities, "
            f"{len(data.seeds)} seed{'s' if len(data.seeds) > 1 else ''}). Each pixel of a mask is a block of "
            f"weights: white where the block keeps none, grey to black as it keeps more. The sparsest tickets keep so "
            f"few weights that their pictures look nearly blank; the bars and the IoU still tell them apart.")
    if html is not None:
        weight = page_weight(html)
        text += (f" The explorer weighs {weight['total'] / 1e6:.1f} MB: BokehJS {weight['bokehjs'] / 1e6:.1f} MB, "
                 f"the tickets' pictures and tables {weight['data'] / 1e6:.2f} MB.")
    return text
