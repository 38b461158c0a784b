"""How the EMA factor eta of GRADBALANCE affects how well the expected density meets kappa_eff.

The paper does not state eta. This sweep (LeNet-300-100, 8192 Fashion-MNIST examples, CTS_KL, 600 steps)
prints E[density] / kappa_eff along the search for several eta and densities; ctslib's default (0.7)
is the value that ended closest to kappa_eff at every density here.

    python scripts/gradbalance_eta.py 0.5,0.7,0.9,0.99
"""

import sys

import torch

from ctslib.cts import SearchSettings, search
from ctslib.data import Batches, load_dataset
from ctslib.models import build_model

etas = [float(e) for e in (sys.argv[1] if len(sys.argv) > 1 else "0.5,0.7,0.9,0.99").split(",")]
data = load_dataset("fashion_mnist", "train").subset(8192, seed=0)
checkpoints = (10, 50, 100, 200, 400, 539, 599)
print("eta   kappa   E[density]/kappa_eff at steps", checkpoints, "  final R_KL")
for eta in etas:
    for kappa in (0.05, 0.02, 0.005):
        torch.manual_seed(0)
        model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
        g = torch.Generator().manual_seed(0)
        r = search(model, Batches(data, 128, generator=g), kappa, "kl", steps=600, generator=g,
                   settings=SearchSettings(eta=eta))
        ratios = [round(r.expected_density[i] / (1.1 * kappa), 3) for i in checkpoints]
        print(f"{eta:<5} {kappa:<7} {ratios}  {r.objective[-1]:.3f}")
