"""The zoo's ViT (ctslib.models.vit): shapes, size, what is prunable, SynFlow's linearisation of LayerNorm and
attention, and a smoke-scale draw of every method and sanity ablation on it."""

import math

import pytest
import torch
from torch import nn

from helpers import needs_fashion_mnist
from ctslib import pruners
from ctslib.models import build_model, count_parameters
from ctslib.models.vit import ViT, projection_kind
from ctslib.objectives import OBJECTIVES
from ctslib.runs import presets
from ctslib.runs.pipeline import draw_ticket
from ctslib.tickets import num_to_keep, prunable_names

pytestmark = pytest.mark.usefixtures("one_thread")
MNIST = dict(in_channels=1, image_size=28, num_classes=10)
KINDS = ("q", "k", "v", "out", "fc1", "fc2")


def test_size_tokens_and_prunable_weights():
    model = build_model("vit", **MNIST)
    assert count_parameters(model) == 60_634
    assert model.tokens == 16 and len(model.blocks) == 3
    names = prunable_names(model)
    per_block = [f"blocks.{i}.{'attn' if k in ('q', 'k', 'v', 'out') else 'mlp'}.{k}.weight"
                 for i in range(3) for k in KINDS]
    assert names == ["embed.weight", *per_block, "head.weight"]
    params = dict(model.named_parameters())
    assert sum(params[n].numel() for n in names) == 49 * 48 + 3 * (4 * 48 * 48 + 2 * 48 * 96) + 48 * 10 == 58_128
    never = set(params) - set(names)  # biases, LayerNorms, the position embedding
    assert "pos" in never and all(n == "pos" or n.endswith("bias") or "norm" in n for n in never)
    assert [projection_kind(n) for n in names] == ["embed", *(KINDS * 3), "head"]
    with pytest.raises(ValueError, match="norm1.weight"):
        projection_kind("blocks.0.norm1.weight")


def test_patches_are_the_image_in_row_major_order():
    model = ViT(in_channels=2, image_size=28, num_classes=10)
    x = torch.randn(3, 2, 28, 28)
    p = model.patches(x)
    assert p.shape == (3, 16, 2 * 49)
    assert torch.equal(p[:, 0], x[:, :, :7, :7].reshape(3, -1))
    assert torch.equal(p[:, 5], x[:, :, 7:14, 7:14].reshape(3, -1))  # row 1, column 1 of the 4x4 grid
    with pytest.raises(ValueError, match="image_size=30 is not a multiple of the patch size 7.*patch=6"):
        build_model("vit", in_channels=1, image_size=30, num_classes=10)


def test_attention_is_softmax_attention_over_the_tokens():
    torch.manual_seed(0)
    attn = build_model("vit", **MNIST).blocks[0].attn
    x = torch.randn(2, 16, 48)
    ref = nn.MultiheadAttention(48, 4, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([attn.q.weight, attn.k.weight, attn.v.weight]))
        ref.in_proj_bias.copy_(torch.cat([attn.q.bias, attn.k.bias, attn.v.bias]))
        ref.out_proj.weight.copy_(attn.out.weight)
        ref.out_proj.bias.copy_(attn.out.bias)
        assert torch.allclose(attn(x), ref(x, x, x, need_weights=False)[0], atol=1e-5)


def test_synflow_linearisation_conserves_the_flow_through_q_k_v_and_stays_finite():
    model = build_model("vit", **MNIST)
    before = {n: p.clone() for n, p in model.state_dict().items()}
    linear = pruners._linearised_copy(model)
    kinds = {type(m) for m in linear.modules()}
    assert not kinds & {nn.LayerNorm, nn.Softmax, nn.GELU}
    scores = pruners.synflow_scores(model, (1, 28, 28))
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())  # the model is untouched
    assert all(s.dtype == torch.float64 and bool((s > 0).all()) for s in scores.values())  # every path carries flow
    for i in range(3):  # within a block Q, K, V and the attention output carry the same flow, as do fc1 and fc2
        sums = [float(scores[f"blocks.{i}.attn.{k}.weight"].sum()) for k in ("q", "k", "v", "out")]
        assert max(sums) == pytest.approx(min(sums), rel=1e-9)
        assert float(scores[f"blocks.{i}.mlp.fc1.weight"].sum()) == pytest.approx(
            float(scores[f"blocks.{i}.mlp.fc2.weight"].sum()), rel=1e-9)
    # the MLP keeps a share of the flow of the same order as attention (a softmax kept as is would starve Q and K,
    # attention without a normaliser would outgrow the MLP)
    ratio = float(scores["blocks.0.mlp.fc1.weight"].sum() / scores["blocks.0.attn.q.weight"].sum())
    assert 0.1 < ratio < 10
    deep = ViT(**MNIST, depth=12)  # the flow's scale is held per block: finite however deep
    assert all(math.isfinite(float(s.sum())) for s in pruners.synflow_scores(deep, (1, 28, 28)).values())


def _draw_configs():
    """Every method and sanity ablation at the smoke preset's sparsest density, by label."""
    density = presets.default_densities("smoke", "vit")[-1]

    def config(**fields):
        return presets.base_config("smoke", "vit", density=density, seed=0, **fields)

    configs = {f"cts_{o}": config(method="cts", objective=o) for o in OBJECTIVES}
    configs["quick_cts_kl"] = config(method="cts", objective="kl", quick=True)
    configs["cts_kl_lagrange"] = config(method="cts", objective="kl", step="lagrange")
    configs["ltr"] = config(method="ltr")
    configs |= {m: config(method=m, rewind_step=0) for m in ("snip", "grasp", "synflow", "magnitude", "random")}
    configs |= {f"cts_kl+{a}": config(method="cts", objective="kl", ablation=a) for a in ("shuffle", "invert")}
    configs |= {f"cts_task_at_init+{a}": config(method="cts", objective="task", rewind_step=0, ablation=a)
                for a in ("shuffle", "invert", "reinit")}
    return configs


@needs_fashion_mnist
@pytest.mark.parametrize("label", list(_draw_configs()))
def test_every_method_and_ablation_draws_a_ticket_of_the_exact_count(label):
    config = _draw_configs()[label]
    ticket = draw_ticket(config)
    model = build_model("vit", **MNIST)
    names = prunable_names(model)
    d = sum(dict(model.named_parameters())[n].numel() for n in names)
    assert list(ticket.masks) == names
    assert ticket.num_kept == num_to_keep(config.density, d), label
    by_kind = {}
    for name, density in ticket.layer_densities().items():
        by_kind.setdefault(projection_kind(name), []).append(density)
    assert set(by_kind) == {"embed", *KINDS, "head"}
