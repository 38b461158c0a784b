"""Datasets as in-memory uint8 tensors, and fast batched on-device augmentation.

Fashion-MNIST and CIFAR-10 are small enough to live whole on the training device: `load_dataset` returns
them as an `ImageData` (uint8 images + int64 labels) and `Batches` walks over it in shuffled mini-batches,
normalising (and optionally augmenting) each batch with a handful of tensor ops — no per-sample Python work,
no DataLoader. ImageNet does not fit in memory, so `imagenet_batches` streams it from a folder of JPEGs
with DataLoader workers and yields the same kind of (x, y) batches.

Where the files are looked for (first hit wins): the `root` argument, `$CTS_DATA`, the user cache
(`$XDG_CACHE_HOME/ctslib`, i.e. `~/.cache/ctslib`) and, for Fashion-MNIST, `/usr/share/datasets/fashion-mnist`
(Debian package `dataset-fashion-mnist`). With `download=True` a missing dataset is fetched into the user cache.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

# ----------------------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset: shape, classes and per-channel statistics on the [0, 1] scale."""

    name: str
    num_classes: int
    in_channels: int
    image_size: int  # H == W
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_size: int = 0  # images in the full training / test split
    test_size: int = 0


DATASETS: dict[str, DatasetInfo] = {
    "fashion_mnist": DatasetInfo("fashion_mnist", 10, 1, 28, (0.2860,), (0.3530,), 60_000, 10_000),
    "cifar10": DatasetInfo("cifar10", 10, 3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 50_000, 10_000),
    "imagenet": DatasetInfo("imagenet", 1000, 3, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1_281_167,
                            50_000),
}


def dataset_info(name: str) -> DatasetInfo:
    """The `DatasetInfo` registered under `name`; ValueError for an unknown name."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are in none of the places ctslib looks, and could not be downloaded."""


# ----------------------------------------------------------------------------------------------------------
# In-memory data


@dataclass
class ImageData:
    """A whole dataset split as tensors: uint8 images (N, C, H, W) and int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    info: DatasetInfo

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels shape {tuple(self.labels.shape)} does not match {self.images.shape[0]} images")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> "ImageData":
        """The same data on `device` (self if it is already there)."""
        return ImageData(self.images.to(device), self.labels.to(device), self.info)

    def subset(self, n: int, seed: int = 0) -> "ImageData":
        """`n` examples drawn without replacement, the choice fixed by `seed`; self if n >= len(self)."""
        if n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        idx = idx.to(self.images.device)
        return ImageData(self.images[idx], self.labels[idx], self.info)


def load_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = True,
) -> ImageData:
    """Load the `split` ('train' | 'test') of dataset `name` into CPU memory as an `ImageData`."""
    info = dataset_info(name)
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; valid splits: train, test")
    if name == "fashion_mnist":
        images, labels = _load_fashion_mnist(split, root, download)
    elif name == "cifar10":
        images, labels = _load_cifar10(split, root, download)
    else:  # 1.3M JPEGs do not fit in memory
        raise ValueError("imagenet is not loaded in memory; stream it with ctslib.data.imagenet_batches(root, ...)")
    return ImageData(images, labels, info)


# ----------------------------------------------------------------------------------------------------------
# Batching and augmentation


def _rand_device(generator: torch.Generator | None, fallback: torch.device) -> torch.device:
    # Random numbers must be drawn on the generator's own device; without one, on the data's device.
    return generator.device if generator is not None else fallback


def augment_batch(x: torch.Tensor, generator: torch.Generator | None = None, max_shift: int = 4) -> torch.Tensor:
    """Random horizontal flip (p=0.5) and random shift by up to `max_shift` px (zero fill) of every image.

    Works on a whole (B, C, H, W) batch of any dtype on its own device; the shift is pad-and-random-crop,
    i.e. torchvision's RandomCrop(size, padding=max_shift) + RandomHorizontalFlip, for the whole batch at once.
    """
    B, C, H, W = x.shape
    rdev = _rand_device(generator, x.device)
    flip = (torch.rand(B, generator=generator, device=rdev) < 0.5).to(x.device)
    if max_shift <= 0:
        return torch.where(flip[:, None, None, None], x.flip(3), x)
    s = max_shift
    # Crop offsets in the padded image, 0..2s: offset s is the identity, content moves by s - offset.
    off = torch.randint(0, 2 * s + 1, (2, B), generator=generator, device=rdev).to(x.device)
    padded = torch.nn.functional.pad(x, (s, s, s, s))
    rows = off[0][:, None] + torch.arange(H, device=x.device)  # (B, H) rows to take from padded
    cols = off[1][:, None] + torch.arange(W, device=x.device)  # (B, W)
    # The flip rides on the same gather: padding is symmetric, so pad(flip(x)) = flip(pad(x)), and column c
    # of the flipped padded image is column W + 2s - 1 - c of the padded one (no flipped copy of the batch).
    cols = torch.where(flip[:, None], (W + 2 * s - 1) - cols, cols)
    # One torch.gather for the whole batch over the flattened padded image (several times faster than
    # advanced indexing with per-pixel row/column index tensors): pixel (i, j) of image b comes from
    # padded position rows[b, i] * (W + 2s) + cols[b, j], the same for every channel.
    index = (rows[:, :, None] * (W + 2 * s) + cols[:, None, :]).view(B, 1, H * W).expand(B, C, H * W)
    return padded.reshape(B, C, -1).gather(2, index).view(B, C, H, W)


class Batches:
    """One pass (epoch) over `data` in mini-batches, iterable any number of times (each iteration = new epoch, new shuffle).

    Yields (x, y): x float32 (B, C, H, W) normalised per channel with the dataset's mean/std, y int64, both on
    `device` (default: where `data` is). The uint8 dataset is moved to `device` once, here, not per batch.
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int,
        *,
        shuffle: bool = True,
        augment: bool = False,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device) if device is not None else data.images.device
        self.data = data.to(self.device)
        self.batch_size, self.shuffle, self.augment, self.drop_last = batch_size, shuffle, augment, drop_last
        self.generator = generator
        # (x/255 - mean)/std folded into one multiply-add per pixel.
        std = torch.tensor(data.info.std, dtype=torch.float32, device=self.device)
        mean = torch.tensor(data.info.mean, dtype=torch.float32, device=self.device)
        self._scale = (1.0 / (255.0 * std)).view(1, -1, 1, 1)
        self._shift = (-mean / std).view(1, -1, 1, 1)

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.data)
        if self.shuffle:
            rdev = _rand_device(self.generator, self.device)
            order = torch.randperm(n, generator=self.generator, device=rdev).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            # index_select copies whole images (rows of bytes); images[idx] goes through the per-element
            # advanced-indexing kernel, 10-20x slower on CPU for the same result
            x = self.data.images.index_select(0, idx)
            if self.augment:  # on uint8, before normalising: the zero fill is black, as in torchvision
                x = augment_batch(x, self.generator)
            yield torch.addcmul(self._shift, x.float(), self._scale), self.data.labels.index_select(0, idx)


# ----------------------------------------------------------------------------------------------------------
# Finding and downloading files

_SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
_FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
_CIFAR10_DIR = "cifar-10-batches-py"


def _cache_dir() -> Path:
    """The user cache for downloads: $XDG_CACHE_HOME/ctslib, by default ~/.cache/ctslib."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ctslib"


def _download(url: str, dest: Path) -> None:
    """Fetch `url` to `dest` atomically (temp file in the same folder, then rename), so no half file is left."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=60) as r:
            shutil.copyfileobj(r, f)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _not_found(what: str, looked: list[Path], extra: str = "") -> DatasetNotFoundError:
    places = "\n".join(f"  - {p}" for p in looked)
    return DatasetNotFoundError(
        f"{what} not found. ctslib looked in:\n{places}\n"
        f"To get it: {extra}put the files in one of those folders, or set CTS_DATA=/path/to/data, "
        f"or call with download=True (needs network; saves to {_cache_dir()}).")


def _first_with(candidates: list[Path], names: tuple[str, ...]) -> Path | None:
    return next((d for d in candidates if all((d / n).is_file() for n in names)), None)


# ----------------------------------------------------------------------------------------------------------
# Fashion-MNIST


def _read_idx(path: Path) -> np.ndarray:
    """Decode a gzipped idx file (big-endian header: magic 0x0000 08 ndim, then ndim uint32 sizes)."""
    raw = gzip.decompress(path.read_bytes())
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise ValueError(f"{path} is not a uint8 idx file (magic {magic:#010x})")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def _load_fashion_mnist(split: str, root, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    img_name, lbl_name = _FASHION_MNIST_FILES[split]
    candidates = []
    if root is not None:
        candidates += [Path(root), Path(root) / "fashion-mnist"]
    if os.environ.get("CTS_DATA"):
        candidates += [Path(os.environ["CTS_DATA"]) / "fashion-mnist", Path(os.environ["CTS_DATA"])]
    cache = _cache_dir() / "fashion-mnist"
    candidates += [cache, _SYSTEM_FASHION_MNIST]
    folder = _first_with(candidates, (img_name, lbl_name))
    if folder is None:
        fix = "sudo apt-get install dataset-fashion-mnist, or "
        if not download:
            raise _not_found(f"Fashion-MNIST ({split})", candidates, fix)
        try:
            for fname in (img_name, lbl_name):
                if not (cache / fname).is_file():
                    _download(_FASHION_MNIST_URL + fname, cache / fname)
        except OSError as e:  # URLError is an OSError: no network, 404, ...
            raise _not_found(f"Fashion-MNIST ({split})", candidates,
                             f"(download from {_FASHION_MNIST_URL} failed: {e}) {fix}") from e
        folder = cache
    images, labels = _read_idx(folder / img_name), _read_idx(folder / lbl_name)
    # No published checksum matches the Debian (recompressed) files, so check the content's shape instead.
    if images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise ValueError(f"corrupt Fashion-MNIST files in {folder}: images {images.shape}, labels {labels.shape}")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long()


# ----------------------------------------------------------------------------------------------------------
# CIFAR-10


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download_cifar10(dest_root: Path) -> None:
    """Download the official archive, check its MD5 and extract `cifar-10-batches-py` into `dest_root`."""
    archive = dest_root / "cifar-10-python.tar.gz"
    if not archive.is_file():
        _download(_CIFAR10_URL, archive)
    if (got := _md5(archive)) != _CIFAR10_MD5:
        archive.unlink()  # never keep (or later trust) a bad archive
        raise DatasetNotFoundError(
            f"CIFAR-10 download from {_CIFAR10_URL} is corrupt: MD5 {got}, expected {_CIFAR10_MD5}; "
            f"the file was deleted, try again")
    # Extract into a temp folder then rename, so an interrupted extraction never looks like a dataset.
    # filter='data' refuses absolute paths, '..', links out of the folder and device files.
    with tempfile.TemporaryDirectory(dir=dest_root) as tmp:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
        except tarfile.TarError as e:  # includes FilterError: a member that would land outside `tmp`
            raise DatasetNotFoundError(f"cannot extract {archive} safely: {e}") from e
        if not (Path(tmp) / _CIFAR10_DIR).is_dir():
            raise DatasetNotFoundError(f"{archive} has no {_CIFAR10_DIR}/ folder")
        os.replace(Path(tmp) / _CIFAR10_DIR, dest_root / _CIFAR10_DIR)
    archive.unlink()


def _load_cifar10(split: str, root, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    names = tuple(f"data_batch_{i}" for i in range(1, 6)) if split == "train" else ("test_batch",)
    bases = ([Path(root)] if root is not None else []) + (
        [Path(os.environ["CTS_DATA"])] if os.environ.get("CTS_DATA") else []) + [_cache_dir()]
    candidates = [b / _CIFAR10_DIR for b in bases]
    folder = _first_with(candidates, names)
    if folder is None:
        if not download:
            raise _not_found(f"CIFAR-10 ({split})", candidates)
        try:
            _cache_dir().mkdir(parents=True, exist_ok=True)
            _download_cifar10(_cache_dir())
        except DatasetNotFoundError:
            raise
        except OSError as e:
            raise _not_found(f"CIFAR-10 ({split})", candidates,
                             f"(download from {_CIFAR10_URL} failed: {e}) ") from e
        folder = _cache_dir() / _CIFAR10_DIR
    images, labels = [], []
    for n in names:
        with open(folder / n, "rb") as f:
            d = pickle.load(f, encoding="bytes")  # the official format is a pickled dict with bytes keys
        images.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(d[b"labels"], dtype=np.int64))
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


# ----------------------------------------------------------------------------------------------------------
# ImageNet: streamed from root/{train,val}/<wnid>/*.JPEG with DataLoader workers


def _pil():
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError("ImageNet loading needs Pillow: pip install pillow") from e
    return Image


class _ImageFolder(torch.utils.data.Dataset):
    """Files of root/<class>/*, classes sorted by name; items are uint8 (3, 224, 224) tensors and int labels."""

    EXTS = (".jpeg", ".jpg", ".png")

    def __init__(self, folder: Path, train: bool, size: int = 224, resize: int = 256) -> None:
        self.classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
        self.samples = [(p, c) for c, name in enumerate(self.classes) for p in sorted((folder / name).iterdir())
                        if p.suffix.lower() in self.EXTS]
        self.train, self.size, self.resize = train, size, resize

    def __len__(self) -> int:
        return len(self.samples)

    def _crop_box(self, w: int, h: int) -> tuple[float, float, float, float]:
        """RandomResizedCrop's box: area 8%..100%, aspect 3/4..4/3 (log-uniform), 10 tries, else the center square."""
        for _ in range(10):
            area = w * h * (0.08 + 0.92 * torch.rand(()).item())
            ratio = math.exp(math.log(3 / 4) + math.log(16 / 9) * torch.rand(()).item())
            cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < cw <= w and 0 < ch <= h:
                x0 = torch.randint(0, w - cw + 1, ()).item()
                y0 = torch.randint(0, h - ch + 1, ()).item()
                return x0, y0, x0 + cw, y0 + ch
        s = min(w, h)
        return (w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        Image = _pil()
        path, label = self.samples[i]
        with Image.open(path) as im:
            im = im.convert("RGB")
        if self.train:  # random-resized-crop to size + horizontal flip
            im = im.resize((self.size, self.size), Image.BILINEAR, box=self._crop_box(*im.size))
            if torch.rand(()).item() < 0.5:
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
        else:  # resize the short side to `resize`, center crop `size`
            w, h = im.size
            k = self.resize / min(w, h)
            im = im.resize((max(self.size, round(w * k)), max(self.size, round(h * k))), Image.BILINEAR)
            w, h = im.size
            x0, y0 = (w - self.size) // 2, (h - self.size) // 2
            im = im.crop((x0, y0, x0 + self.size, y0 + self.size))
        x = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)
        return x, label


class ImageNetBatches:
    """Iterable of normalised (x, y) batches on `device` streamed from an image folder (see `imagenet_batches`)."""

    def __init__(self, dataset: _ImageFolder, loader: torch.utils.data.DataLoader, device: torch.device) -> None:
        self.dataset, self.loader, self.device = dataset, loader, device
        info = DATASETS["imagenet"]
        std = torch.tensor(info.std, device=device)
        self._scale = (1.0 / (255.0 * std)).view(1, -1, 1, 1)
        self._shift = (-torch.tensor(info.mean, device=device) / std).view(1, -1, 1, 1)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:  # uint8 over the wire (4x less than float), normalised on the device
            x = x.to(self.device, non_blocking=True)
            yield torch.addcmul(self._shift, x.float(), self._scale), y.to(self.device, non_blocking=True)


def imagenet_batches(
    root: str | os.PathLike | None,
    split: str,
    batch_size: int,
    *,
    train: bool,
    device: torch.device | str = "cpu",
    num_workers: int | None = None,
) -> ImageNetBatches:
    """Stream ImageNet `split` ('train' | 'val') from `root/<split>/<wnid>/*.JPEG` as normalised (x, y) batches.

    train=True: shuffled, random-resized-crop 224 + horizontal flip, last partial batch dropped;
    train=False: in order, resize 256 + center crop 224. `root` None means $CTS_DATA/imagenet, then the user cache.
    """
    if split not in ("train", "val"):
        raise ValueError(f"unknown ImageNet split {split!r}; valid splits: train, val")
    _pil()  # fail now, with the fix, rather than inside a worker
    if root is not None:
        bases = [Path(root)]
    else:
        bases = ([Path(os.environ["CTS_DATA"]) / "imagenet"] if os.environ.get("CTS_DATA") else [])
        bases += [_cache_dir() / "imagenet"]
    candidates = [b / split for b in bases]
    folder = next((d for d in candidates if d.is_dir()), None)
    if folder is None:
        places = "\n".join(f"  - {p}" for p in candidates)
        raise DatasetNotFoundError(
            f"ImageNet ({split}) not found. ctslib looked in:\n{places}\n"
            "ImageNet cannot be downloaded automatically: get it from https://image-net.org, lay it out as "
            "<root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG, then pass root=<root> or set "
            "CTS_DATA=<dir> with <dir>/imagenet = <root>.")
    dataset = _ImageFolder(folder, train)
    device = torch.device(device)
    if num_workers is None:
        num_workers = min(8, os.cpu_count() or 1)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=train, drop_last=train, num_workers=num_workers,
        pin_memory=device.type == "cuda", persistent_workers=num_workers > 0)
    return ImageNetBatches(dataset, loader, device)
