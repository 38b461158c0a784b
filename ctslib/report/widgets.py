"""Mask explorer: look at the tickets in the run store with ipywidgets.

    from ctslib.report.widgets import MaskExplorer
    MaskExplorer()                      # in Jupyter: pick methods, density, seed and layer

It shows the chosen layer's mask for each chosen method (kept weights dark; rows are output units,
columns inputs x kernel positions), the per-layer densities of the chosen methods side by side with each
layer's share of the parameters, and the per-layer IoU (intersection over union) of the first two chosen
methods' tickets.

Everything the widgets show comes from pure functions (`run_index`, `view_data`, `explorer_figure`), so
they run headless; `MaskExplorer` only wires controls to them, and `snapshot` renders a static figure
(what the book shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..runs.config import RunConfig
from ..runs.store import RunStore
from ..tickets import Ticket
from .names import color, dataset_name, explorer_label, model_name
from .plots import ReportFigure


# --- pure functions ------------------------------------------------------------------------------------

def setting_label(config: RunConfig) -> str:
    data = f"{config.train_examples:,} images" if config.train_examples else "all images"
    return f"{model_name(config.model)} / {dataset_name(config.dataset)}, {config.epochs} epochs, {data}"


def run_index(store=None, configs: Sequence[RunConfig] | None = None, compute: bool = False) -> pd.DataFrame:
    """The finished runs to explore (of `configs`, computing missing ones if `compute`, or every run in the
    store): one row each with run_id, label, setting, model, dataset, density, seed, top-1 and the config. Dense
    runs are left out."""
    store = store if store is not None else RunStore()
    if configs is not None:
        records = [store.get(c) for c in configs if compute or store.has(c)]
    else:
        records = store.records()
    rows = []
    for record in records:
        config = RunConfig.from_dict(record["config"])
        if config.method == "dense":
            continue
        rows.append(dict(run_id=record["run_id"], label=explorer_label(config), setting=setting_label(config),
                         model=config.model, dataset=config.dataset, density=config.density, seed=config.seed,
                         top1=record.get("metrics", {}).get("top1"), finished=record.get("finished", ""),
                         layers=record.get("layers", {}), config=config))
    columns = ["run_id", "label", "setting", "model", "dataset", "density", "seed", "top1", "finished", "layers",
               "config"]
    index = pd.DataFrame(rows, columns=columns)
    # the same label twice in one setting (e.g. one method at two search lengths): keep the newest
    return index.sort_values("finished").drop_duplicates(["setting", "label", "density", "seed"], keep="last") \
        .reset_index(drop=True)


@lru_cache(maxsize=64)
def _load_ticket(path: str) -> Ticket:
    return Ticket.load(path)


def load_ticket(store, run_id: str) -> Ticket:
    return _load_ticket(str(store.ticket_path(run_id)))


def mask_matrix(mask) -> np.ndarray:
    """A layer's mask as a 2-D boolean array: rows are output units, columns inputs (x kernel positions)."""
    m = mask.detach().cpu().numpy() if hasattr(mask, "detach") else np.asarray(mask)
    return m.reshape(m.shape[0], -1).astype(bool) if m.ndim > 1 else m.reshape(1, -1).astype(bool)


def iou_per_layer(a: Ticket, b: Ticket) -> pd.Series:
    """Intersection over union of two tickets' kept weights, per layer (1 = identical, 0 = disjoint)."""
    out = {}
    for name, ma in a.masks.items():
        mb = b.masks[name]
        union = int((ma | mb).sum())
        out[name] = float((ma & mb).sum()) / union if union else 1.0
    return pd.Series(out, name="IoU")


@dataclass
class View:
    """Everything one state of the explorer shows (no widgets, no drawing)."""

    setting: str
    density: float
    seed: int
    layer: str
    methods: list[str]                       # labels, in the order chosen
    masks: dict[str, np.ndarray]             # label -> 2-D mask of `layer`
    layer_densities: pd.DataFrame            # index layer, columns labels (+ 'share of parameters')
    iou: pd.Series | None                    # per layer, first two methods; None for fewer than two
    iou_pair: tuple[str, str] | None


def choices(index: pd.DataFrame, setting: str | None = None) -> dict[str, Any]:
    """What the controls can offer for `setting` (default: the one with most runs)."""
    if index.empty:
        return {"settings": [], "setting": None, "methods": [], "densities": [], "seeds": [], "layers": []}
    settings = index["setting"].value_counts().index.tolist()
    setting = setting if setting in settings else settings[0]
    part = index[index["setting"] == setting]
    layers = list(part.iloc[0]["layers"].keys())
    methods = list(dict.fromkeys(part.sort_values(["label"])["label"]))
    return {"settings": settings, "setting": setting, "methods": methods,
            "densities": sorted(set(part["density"]), reverse=True), "seeds": sorted(set(part["seed"])),
            "layers": layers}


def view_data(index: pd.DataFrame, store, methods: Sequence[str], density: float, seed: int, layer: str | None = None,
              setting: str | None = None) -> View:
    """The data of one explorer state: masks of `layer`, per-layer densities and IoU of the chosen runs.

    Methods with no run at this (density, seed) are skipped.
    """
    c = choices(index, setting)
    part = index[(index["setting"] == c["setting"]) & np.isclose(index["density"], density) & (index["seed"] == seed)]
    rows = {label: part[part["label"] == label].iloc[0] for label in methods if (part["label"] == label).any()}
    layer = layer if layer in c["layers"] else (c["layers"][0] if c["layers"] else "")
    tickets = {label: load_ticket(store, row["run_id"]) for label, row in rows.items()}
    masks = {label: mask_matrix(t.masks[layer]) for label, t in tickets.items() if layer in t.masks}
    dens = {label: {n: v["density"] for n, v in row["layers"].items()} for label, row in rows.items()}
    table = pd.DataFrame(dens)
    if rows:
        sizes = pd.Series({n: v["size"] for n, v in next(iter(rows.values()))["layers"].items()})
        table["share of parameters"] = sizes / sizes.sum()
    labels = list(rows)
    iou, pair = None, None
    if len(labels) >= 2:
        pair = (labels[0], labels[1])
        iou = iou_per_layer(tickets[labels[0]], tickets[labels[1]])
    return View(c["setting"], density, seed, layer, labels, masks, table, iou, pair)


def explorer_figure(view: View) -> Figure:
    """The explorer's picture of a `View`: mask images (top), per-layer densities and IoU (bottom)."""
    n = max(1, len(view.masks))
    fig = ReportFigure(figsize=(max(9.0, 3.2 * n), 6.8), layout="constrained")
    grid = fig.add_gridspec(2, max(n, 2))
    for i, (label, mask) in enumerate(view.masks.items()):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(~mask, cmap="gray", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
        ax.set_title(f"{label}\n{view.layer}: {mask.mean():.2%} kept of {mask.size:,}", fontsize=8)
        ax.set_xlabel("input (x kernel position)", fontsize=7)
        ax.set_ylabel("output unit", fontsize=7)
        ax.tick_params(labelsize=6)
    if not view.masks:
        ax = fig.add_subplot(grid[0, :])
        ax.text(0.5, 0.5, "no run of the chosen methods at this density and seed", ha="center", va="center")
        ax.axis("off")
    ax = fig.add_subplot(grid[1, 0])
    table = view.layer_densities
    layers = list(table.index)
    x = np.arange(len(layers))
    if "share of parameters" in table:
        ax.bar(x, 100 * table["share of parameters"], width=0.9, color="#dddddd", label="share of parameters")
    labels = [c for c in table.columns if c != "share of parameters"]
    width = 0.8 / max(1, len(labels))
    for i, label in enumerate(labels):
        ax.bar(x - 0.4 + width * (i + 0.5), 100 * table[label], width=width, color=color(label, i), label=label)
    ax.set_xticks(x)
    ax.set_xticklabels([l.removesuffix(".weight") for l in layers], rotation=45, ha="right", fontsize=6)
    ax.set_yscale("log")
    ax.set_ylabel("% kept (log)", fontsize=8)
    ax.set_title(f"per-layer density at {view.density:.3%} (seed {view.seed})", fontsize=9)
    ax.legend(fontsize=6)
    ax = fig.add_subplot(grid[1, 1:])
    if view.iou is not None:
        ax.bar(np.arange(len(view.iou)), view.iou.to_numpy(), color="#555555")
        ax.set_xticks(np.arange(len(view.iou)))
        ax.set_xticklabels([l.removesuffix(".weight") for l in view.iou.index], rotation=45, ha="right", fontsize=6)
        ax.set_ylim(0, 1)
        ax.set_title(f"IoU per layer: {view.iou_pair[0]} vs {view.iou_pair[1]}", fontsize=9)
        ax.set_ylabel("intersection / union", fontsize=8)
    else:
        ax.text(0.5, 0.5, "choose two methods for their IoU", ha="center", va="center")
        ax.axis("off")
    fig.suptitle(view.setting, fontsize=10)
    return fig


# --- widgets --------------------------------------------------------------------------------------------

DEFAULT_METHODS = ("CTS_KL", "LTR", "SNIP", "random")


class MaskExplorer:
    """ipywidgets controls over `view_data` / `explorer_figure`. `controls` maps names to the widgets;
    `view` and `figure` hold what is shown now (updated whenever a control changes)."""

    def __init__(self, store=None, configs: Sequence[RunConfig] | None = None, index: pd.DataFrame | None = None):
        import ipywidgets as w
        self.store = store if store is not None else RunStore()
        self.index = index if index is not None else run_index(self.store, configs)
        c = choices(self.index)
        self.controls = {
            "setting": w.Dropdown(options=c["settings"], value=c["setting"], description="setting",
                                  layout=w.Layout(width="520px")),
            "methods": w.SelectMultiple(options=c["methods"], description="methods", rows=8),
            "density": w.Dropdown(description="density"),
            "seed": w.Dropdown(description="seed"),
            "layer": w.Dropdown(description="layer"),
        }
        # The picture is an Image widget (PNG bytes), not an Output widget: nothing is captured from the
        # kernel's output stream, so the explorer also runs under nbclient (papermill, nbmake, the book's tests).
        self.image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.view: View | None = None
        self.figure: Figure | None = None
        self._busy = False
        self._refresh_options()
        for name, control in self.controls.items():
            control.observe(self._on_setting if name == "setting" else self._on_change, names="value")
        self.update()

    def _refresh_options(self) -> None:
        c = choices(self.index, self.controls["setting"].value)
        self._busy = True
        try:
            ctl = self.controls
            ctl["methods"].options = c["methods"]
            preferred = [m for m in DEFAULT_METHODS if m in c["methods"]] or c["methods"][:2]
            ctl["methods"].value = tuple(preferred[:3])
            ctl["density"].options = [(f"{100 * d:.3g}%", d) for d in c["densities"]]
            if c["densities"]:
                ctl["density"].value = c["densities"][-1]
            ctl["seed"].options = c["seeds"]
            if c["seeds"]:
                ctl["seed"].value = c["seeds"][0]
            ctl["layer"].options = c["layers"]
            if c["layers"]:
                ctl["layer"].value = c["layers"][0]
        finally:
            self._busy = False

    def _on_setting(self, change) -> None:
        self._refresh_options()
        self.update()

    def _on_change(self, change) -> None:
        if not self._busy:
            self.update()

    def state(self) -> dict[str, Any]:
        ctl = self.controls
        return {"setting": ctl["setting"].value, "methods": list(ctl["methods"].value), "density": ctl["density"].value,
                "seed": ctl["seed"].value, "layer": ctl["layer"].value}

    def update(self) -> None:
        """Recompute the view from the controls and redraw."""
        s = self.state()
        if s["density"] is None or s["seed"] is None:
            self.view, self.figure = None, None
            return
        self.view = view_data(self.index, self.store, s["methods"], s["density"], s["seed"], s["layer"], s["setting"])
        self.figure = explorer_figure(self.view)
        self.image.value = self.figure._repr_png_()

    @property
    def ui(self):
        import ipywidgets as w
        ctl = self.controls
        return w.VBox([ctl["setting"], w.HBox([ctl["methods"], w.VBox([ctl["density"], ctl["seed"], ctl["layer"]])]),
                       self.image])

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.ui)


def snapshot(store=None, configs: Sequence[RunConfig] | None = None, methods: Sequence[str] | None = None,
             density: float | None = None, seed: int | None = None, layer: str | None = None,
             compute: bool = True) -> Figure | None:
    """A static picture of the explorer (for the book): the given state, defaults for what is not given.
    With `configs`, their runs (computed first if missing and `compute`); else every run in the store."""
    store = store if store is not None else RunStore()
    index = run_index(store, configs, compute=compute)
    c = choices(index)
    if not c["densities"]:
        return None
    methods = list(methods) if methods else [m for m in DEFAULT_METHODS if m in c["methods"]][:3]
    density = density if density is not None else c["densities"][-1]
    seed = seed if seed is not None else c["seeds"][0]
    return explorer_figure(view_data(index, store, methods, density, seed, layer, c["setting"]))
