"""A dress rehearsal of the paper scale on CPU: every `paper`-preset path executed, in seconds, before a GPU user meets
it (`presets.rehearsing`: $CTS_REHEARSE=1 keeps every choice of the preset but its sizes).

    ctslib rehearse                          # fake data, every run below, then their records checked; ~3 min on CPU
    ctslib rehearse --ddp 2 --data DIR       # ResNet-50 on 2 processes (torchrun, gloo on CPU), data kept in DIR

The data is generated in the real formats, so the loaders that read it are the paper's: CIFAR-10 as its python
pickles (`cifar-10-batches-py/data_batch_1..5`, `test_batch`: dicts with bytes keys, (N, 3072) uint8 rows of R, G,
B planes) and ImageNet as a folder of JPEGs in the class-folder layout (`imagenet/{train,val}/<wnid>/*.JPEG`, read
through the streaming loader with its random-resized crops). The runs: every run of Table II and Figs. 2 and 4 at
paper scale, for ResNet-20 and for VGG-16 (`report.figures.rehearsal_configs`, the figures' own runs) (CTS_KL, CTS_L, LTR, SNIP, GraSP, SynFlow, random,
the dense net; the sanity checks' shuffles, inversions and reinitialisation), and CTS_KL (Half CTS) and LTR for
ResNet-50 on ImageNet under DDP. Each must finish, write a record, and keep exactly round(kappa d) weights.

What it guarantees, and what not: every line of the paper preset's code path runs (models, loaders, augmentation,
schedules, rewinding, Quick / Half CTS, LTR's rounds, channels_last, DDP's collectives), so a GPU user meets no
untried path; not the numerics on CUDA (cuDNN's algorithm choices, TF32, bf16 kernels), nor the time or memory a
full-size run takes (`ctslib book --scale paper --plan` estimates the time).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
import numpy as np

from .config import RunConfig

CIFAR_DIR = "cifar-10-batches-py"


def write_fake_cifar10(root: str | os.PathLike, train: int = 64, test: int = 32, seed: int = 0) -> Path:
    """`root/cifar-10-batches-py/` in the official python format with `train` images over its 5 training batches
    and `test` in `test_batch`, random pixels and labels (a deterministic `seed`). Returns the folder."""
    folder = Path(root) / CIFAR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_batch = -(-train // 5)
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    sizes = [min(per_batch, max(0, train - k * per_batch)) for k in range(5)] + [test]
    for name, n in zip(names, sizes):
        batch = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, n).tolist(),
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"fake.png"] * n}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)], b"num_cases_per_batch": per_batch,
                     b"num_vis": 3072}, f)
    return folder


def write_fake_imagenet(root: str | os.PathLike, classes: int = 2, train_per_class: int = 4, val_per_class: int = 2,
                        size: tuple[int, int] = (48, 36), seed: int = 0) -> Path:
    """`root/imagenet/{train,val}/<wnid>/*.JPEG`: small random JPEGs of `size` (width, height; the loader resizes and
    crops them to 224 as it does real ones) in `classes` class folders named like WordNet ids. Returns
    `root/imagenet`."""
    from PIL import Image
    base = Path(root) / "imagenet"
    rng = np.random.default_rng(seed)
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        for c in range(classes):
            folder = base / split / f"n{1440764 + c:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{folder.name}_{i}.JPEG", quality=90)
    return base


def write_fake_data(root: str | os.PathLike) -> Path:
    """Both datasets at the sizes of the rehearsal presets (`presets._REHEARSAL`) under `root` (a $CTS_DATA)."""
    from . import presets
    write_fake_cifar10(root, train=presets._REHEARSAL["resnet20"]["train_examples"],
                       test=presets._REHEARSAL["resnet20"]["test_examples"])
    r50 = presets._REHEARSAL["resnet50"]
    write_fake_imagenet(root, classes=2, train_per_class=r50["train_examples"] // 2,
                        val_per_class=r50["test_examples"] // 2)
    return Path(root)


def require_rehearsal() -> None:
    from .presets import REHEARSAL_VARIABLE, rehearsing
    if not rehearsing():
        raise RuntimeError(f"set {REHEARSAL_VARIABLE}=1 (or pass --rehearse) first: the rehearsal's runs are the "
                           f"paper preset's at rehearsal sizes")


def resnet50_configs() -> list[RunConfig]:
    """CTS_KL (Half CTS, the paper preset's search for ResNet-50) and LTR at the rehearsal's density."""
    from . import presets
    require_rehearsal()
    density = presets.on_grid((), "paper", "resnet50")[0]
    return [presets.base_config("paper", "resnet50", method="cts", objective="kl", density=density),
            presets.base_config("paper", "resnet50", method="ltr", density=density)]


def check_record(config: RunConfig, record: dict) -> str | None:
    """Why a rehearsal run's record is not what the paper preset promises, or None: it must be the config's run,
    finished, and keep exactly round(kappa d) weights."""
    from ..tickets import num_to_keep
    m = record.get("metrics", {})
    if record.get("run_id") != config.run_id:
        return f"the record is of run {record.get('run_id')}, not {config.run_id}"
    expected = num_to_keep(config.density, m.get("num_total", 0)) if config.density < 1 else m.get("num_total")
    if m.get("num_kept") != expected:
        return f"keeps {m.get('num_kept')} weights, not round(kappa d) = {expected}"
    return None


def run_resnet50_ddp(store: str | os.PathLike, processes: int = 2, timeout: float = 900) -> None:
    """ResNet-50's rehearsal runs on `processes` DDP processes (torchrun, gloo on CPU, NCCL on GPUs), one
    `ctslib sweep` under torchrun, into `store`; raises with its output if it fails."""
    require_rehearsal()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    density = resnet50_configs()[0].density
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
           "-m", "ctslib", "--store", str(store), "sweep", "--preset", "paper", "--model", "resnet50",
           "--methods", "cts", "ltr", "--densities", repr(density), "--seeds", "0"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"ResNet-50 under torchrun failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                           f"{proc.stderr[-4000:]}")
