"""How the report names and colours things (models, datasets, objectives, ablations, a fixed colour per line)
and how it writes numbers (percent, percentage points, sparsity).

A run's method is named by `ctslib.runs.methods.label` (CTS_KL, Quick CTS_L at init, SNIP, ...), the one name
of a method everywhere; this module adds the names of what is not a method, and the colours.
"""

from __future__ import annotations

from ..objectives import OBJECTIVES
from ..runs.config import RunConfig
from ..runs.methods import is_quick, label, objective_symbol

MODEL_NAMES = {"lenet300": "LeNet-300-100", "resnet20": "ResNet-20", "vgg16": "VGG-16", "resnet50": "ResNet-50", "vit": "ViT"}
DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "imagenet": "ImageNet"}
OBJECTIVE_DESCRIPTIONS = {"task": "task loss", "delta_loss": "relative change of loss", "grad_norm": "minus gradient norm",
                          "kl": "reverse KL to the dense net", "feature": "feature matching",
                          "grad": "gradient matching", "forward_kl": "forward KL to the dense net"}
OBJECTIVE_TITLES = {name: f"R_{objective_symbol(name)} ({OBJECTIVE_DESCRIPTIONS[name]})" for name in OBJECTIVES}
ABLATION_NAMES = {"": "none (the ticket)", "shuffle": "layerwise shuffle", "invert": "score inversion",
                  "invert_layerwise": "score inversion within layers", "reinit": "reinitialisation"}

# A fixed colour per line, so a method looks the same in every figure.
COLORS = {
    "CTS_KL": "#d62728", "CTS_L": "#1f77b4", "CTS_ΔL": "#9467bd", "CTS_-‖∇L‖": "#8c564b",
    "CTS_feature": "#e377c2", "CTS_grad": "#bcbd22", "Quick CTS_KL": "#ff9896",
    "CTS_L at init": "#1f77b4", "LTR": "#2ca02c", "SNIP": "#ff7f0e", "GraSP": "#17becf", "SynFlow": "#7f7f7f",
    "random": "#000000", "magnitude": "#b8860b", "dense": "#555555", "saliency": "#ff7f0e",
    "Quick CTS (GRADBALANCE)": "#d62728", "Quick CTS (LAGRANGE)": "#9467bd",
    # an ablation is not a method: its own palette (greys) with its own line style and marker (ABLATION_STYLES), so
    # no ablation wears a method's colour (green is LTR's everywhere)
    "none (the ticket)": "#111111", "layerwise shuffle": "#555555", "score inversion": "#888888",
    "score inversion within layers": "#888888", "reinitialisation": "#aaaaaa",
}
ABLATION_STYLES = {"none (the ticket)": {"linestyle": "-", "marker": "o"},
                   "layerwise shuffle": {"linestyle": "--", "marker": "s"},
                   "score inversion": {"linestyle": ":", "marker": "v"},
                   "score inversion within layers": {"linestyle": ":", "marker": "^"},
                   "reinitialisation": {"linestyle": "-.", "marker": "D"}}
_FALLBACK = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def color(name: str, i: int = 0) -> str:
    return COLORS.get(name, _FALLBACK[i % len(_FALLBACK)])


# A density is not a method: densities get a sequential palette of their own (dark: dense, light: sparse) and a
# marker each, never a method's colour.
DENSITY_MARKERS = ("o", "s", "^", "D", "v", "P")


def density_color(i: int, n: int) -> str:
    """The colour of the `i`-th of `n` densities (densest first), from the viridis map."""
    from matplotlib import colormaps
    r, g, b, _ = colormaps["viridis"](0.85 * i / max(1, n - 1))
    return f"#{round(255 * r):02x}{round(255 * g):02x}{round(255 * b):02x}"


def model_name(model: str) -> str:
    return MODEL_NAMES.get(model, model)


def dataset_name(dataset: str) -> str:
    return DATASET_NAMES.get(dataset, dataset)


def ablation_name(ablation: str) -> str:
    return ABLATION_NAMES.get(ablation, ablation)


def objective_line_name(config: RunConfig) -> str:
    """The lines of Figs. 1, 7, 8 (every objective in its own panel, so the objective is not in the name):
    Quick CTS (GRADBALANCE), Quick CTS (LAGRANGE), SNIP, GraSP, saliency, LTR, ..."""
    if config.method == "cts":
        return f"{'Quick ' if is_quick(config) else ''}CTS ({config.step.upper()})"
    if config.method == "saliency":
        return "saliency"
    return label(config)


def explorer_label(config: RunConfig) -> str:
    """A run's name in the mask explorer: its label, '@k' for a baseline drawn at the rewind step, '+ ablation'."""
    name = label(config)
    if config.method not in ("cts", "ltr", "dense") and config.rewind_step > 0:
        name += " @k"
    if config.ablation:
        name += f" + {config.ablation}"
    return name


def pp(x: float) -> str:
    """A fraction as percentage points with sign, e.g. +3.1 pp."""
    return f"{100 * x:+.1f} pp"


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def sparsity_label(density: float) -> str:
    """'98.2% sparsity': three significant digits, more where three would round a density > 0 to 100% (99.97%)."""
    digits = 3
    while digits < 6 and float(f"{100 * (1 - density):.{digits}g}") >= 100 and density > 0:
        digits += 1
    return f"{100 * (1 - density):.{digits}g}% sparsity"
