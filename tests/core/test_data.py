"""Tests for ctslib.data: registry, loaders (real Fashion-MNIST, fake CIFAR-10 / ImageNet), Batches, augment_batch."""

import gzip
import hashlib
import io
import pickle
import struct
import sys
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from ctslib import data as D
from ctslib.data import (
    DATASETS,
    Batches,
    DatasetInfo,
    DatasetNotFoundError,
    ImageData,
    augment_batch,
    dataset_info,
    imagenet_batches,
    load_dataset,
)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No CTS_DATA, a private user cache, no system Fashion-MNIST, and no network: nothing outside tmp_path."""
    monkeypatch.delenv("CTS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(D, "_SYSTEM_FASHION_MNIST", tmp_path / "system")

    def offline(url, dest):
        raise urllib.error.URLError("network is closed in this test")

    monkeypatch.setattr(D, "_download", offline)
    return tmp_path


def toy(n=50, c=3, size=8, seed=0, info=None):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)
    info = info or DatasetInfo("toy", 10, c, size, (0.5,) * c, (0.25,) * c)
    return ImageData(images, torch.arange(n), info)  # labels = ids, to track every example


# ---------------------------------------------------------------------------------------------- registry


def test_registry():
    assert set(DATASETS) == {"fashion_mnist", "cifar10", "imagenet"}
    f, c, i = dataset_info("fashion_mnist"), dataset_info("cifar10"), dataset_info("imagenet")
    assert (f.num_classes, f.in_channels, f.image_size) == (10, 1, 28)
    assert (c.num_classes, c.in_channels, c.image_size) == (10, 3, 32)
    assert (i.num_classes, i.in_channels, i.image_size) == (1000, 3, 224)
    for info in DATASETS.values():
        assert len(info.mean) == len(info.std) == info.in_channels
        assert all(0 < m < 1 for m in info.mean) and all(0 < s < 1 for s in info.std)


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match=r"'mnist'.*cifar10.*fashion_mnist.*imagenet"):
        dataset_info("mnist")
    with pytest.raises(ValueError, match="'mnist'"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match=r"'val'.*train.*test"):
        load_dataset("cifar10", split="val")
    with pytest.raises(ValueError, match="imagenet_batches"):
        load_dataset("imagenet")


# ---------------------------------------------------------------------------------------------- ImageData


def test_imagedata_subset_to_and_validation():
    d = toy(50)
    assert len(d) == 50
    s1, s2, s3 = d.subset(10, seed=1), d.subset(10, seed=1), d.subset(10, seed=2)
    assert len(s1) == 10 and torch.equal(s1.labels, s2.labels) and not torch.equal(s1.labels, s3.labels)
    assert len(set(s1.labels.tolist())) == 10  # without replacement
    assert torch.equal(s1.images, d.images[s1.labels])  # images stay paired with their labels
    assert d.subset(50) is d and d.subset(1000) is d
    moved = d.to("cpu")
    assert moved.images.device.type == "cpu" and moved.info is d.info
    with pytest.raises(ValueError, match="uint8"):
        ImageData(d.images.float(), d.labels, d.info)
    with pytest.raises(ValueError, match="labels"):
        ImageData(d.images, d.labels[:-1], d.info)


# ---------------------------------------------------------------------------------------------- Fashion-MNIST


@pytest.fixture(scope="module")
def fmnist_train():
    try:
        return load_dataset("fashion_mnist", "train", download=False)
    except DatasetNotFoundError as e:
        pytest.skip(f"real Fashion-MNIST is not on this machine (sudo apt-get install dataset-fashion-mnist): {e}")


def test_fashion_mnist_real(fmnist_train):
    test = load_dataset("fashion_mnist", "test", download=False)
    for d, n in ((fmnist_train, 60000), (test, 10000)):
        assert d.images.shape == (n, 1, 28, 28) and d.images.dtype == torch.uint8
        assert d.labels.shape == (n,) and d.labels.dtype == torch.int64
        assert d.labels.min() == 0 and d.labels.max() == 9
        assert torch.bincount(d.labels, minlength=10).min() > 0  # every class present (balanced, in fact)
        assert d.info is DATASETS["fashion_mnist"]
    assert d.images.max() == 255 and d.images.min() == 0


def test_batches_normalise_real_data(fmnist_train):
    x = torch.cat([xb for xb, _ in Batches(fmnist_train, 10000, shuffle=False)])
    assert x.dtype == torch.float32 and x.shape == (60000, 1, 28, 28)
    assert abs(x.mean().item()) < 0.01 and abs(x.std().item() - 1) < 0.01


def write_idx(path: Path, arr: np.ndarray) -> None:
    header = struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(gzip.compress(header + arr.astype(np.uint8).tobytes()))


def write_fake_fmnist(folder: Path, n=7, seed=0) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    for split in ("train", "t10k"):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", imgs)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return imgs


def test_fashion_mnist_search_order(isolated, monkeypatch):
    sys_imgs = write_fake_fmnist(isolated / "system", n=3, seed=1)
    d = load_dataset("fashion_mnist", "test", download=False)  # only the system folder has files
    assert torch.equal(d.images[:, 0], torch.from_numpy(sys_imgs))
    env_imgs = write_fake_fmnist(isolated / "env" / "fashion-mnist", n=4, seed=2)
    monkeypatch.setenv("CTS_DATA", str(isolated / "env"))
    assert torch.equal(load_dataset("fashion_mnist", download=False).images[:, 0], torch.from_numpy(env_imgs))
    root_imgs = write_fake_fmnist(isolated / "root", n=5, seed=3)
    d = load_dataset("fashion_mnist", "train", root=isolated / "root", download=False)
    assert torch.equal(d.images[:, 0], torch.from_numpy(root_imgs))
    assert d.labels.tolist() == [0, 1, 2, 3, 4]


def test_fashion_mnist_download_goes_to_user_cache(isolated, monkeypatch):
    src = isolated / "server"
    imgs = write_fake_fmnist(src, n=6)
    urls = []

    def fake_download(url, dest):
        urls.append(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((src / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(D, "_download", fake_download)
    d = load_dataset("fashion_mnist", "train", root=isolated / "nothing_here")
    assert torch.equal(d.images[:, 0], torch.from_numpy(imgs))
    assert all(u.startswith("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/") for u in urls)
    assert (isolated / "cache" / "ctslib" / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_missing_fashion_mnist_error_lists_places_and_fix(isolated, monkeypatch):
    monkeypatch.setenv("CTS_DATA", str(isolated / "env"))
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("fashion_mnist", root=isolated / "myroot", download=False)
    assert isinstance(e.value, FileNotFoundError)
    msg = str(e.value)
    for place in (isolated / "myroot", isolated / "env" / "fashion-mnist", isolated / "env",
                  isolated / "cache" / "ctslib" / "fashion-mnist", isolated / "system"):
        assert str(place) in msg
    assert "sudo apt-get install dataset-fashion-mnist" in msg and "CTS_DATA" in msg and "download=True" in msg
    # With download=True and no network: the same clear error, saying the download failed.
    with pytest.raises(DatasetNotFoundError, match=r"(?s)download from http://fashion-mnist.*failed.*network is closed"):
        load_dataset("fashion_mnist", root=isolated / "myroot", download=True)


def test_download_is_atomic(tmp_path, monkeypatch):
    class Broken(io.BytesIO):  # a response that dies half way
        def read(self, *a):
            raise ConnectionResetError("cut")

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(D.urllib.request, "urlopen", lambda url, timeout: Broken())
    with pytest.raises(ConnectionResetError):
        D._download("http://example.invalid/x", tmp_path / "sub" / "x")
    assert list((tmp_path / "sub").iterdir()) == []  # neither the file nor a temp file is left


# ---------------------------------------------------------------------------------------------- CIFAR-10


def write_fake_cifar(base: Path, per_batch=20, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """The official python format: pickled dicts with bytes keys, data (N, 3072) uint8 as R, G, B planes."""
    folder = base / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (6 * per_batch, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, 6 * per_batch).tolist()
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        sl = slice(i * per_batch, (i + 1) * per_batch)
        d = {b"batch_label": name.encode(), b"labels": labels[sl], b"data": data[sl],
             b"filenames": [b"x.png"] * per_batch}
        with open(folder / name, "wb") as f:
            pickle.dump(d, f)
    return data, np.array(labels)


def test_cifar10_fake_pickle_round_trip(isolated, monkeypatch):
    data, labels = write_fake_cifar(isolated / "root")
    train = load_dataset("cifar10", "train", root=isolated / "root", download=False)
    test = load_dataset("cifar10", "test", root=isolated / "root", download=False)
    assert train.images.shape == (100, 3, 32, 32) and test.images.shape == (20, 3, 32, 32)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.labels.tolist() == labels[:100].tolist() and test.labels.tolist() == labels[100:].tolist()
    # Row layout: first 1024 bytes are the red plane, row-major.
    assert train.images[3, 0, 0, 5] == data[3, 5] and train.images[3, 1, 2, 0] == data[3, 1024 + 64]
    assert torch.equal(test.images.reshape(20, -1), torch.from_numpy(data[100:]))
    # Also found through $CTS_DATA.
    monkeypatch.setenv("CTS_DATA", str(isolated / "root"))
    assert torch.equal(load_dataset("cifar10", "test", download=False).images, test.images)


def make_archive(tmp: Path, members: dict[str, bytes] | None = None) -> bytes:
    src = tmp / "src"
    write_fake_cifar(src, per_batch=4)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        for name, payload in (members or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def serve(monkeypatch, payload: bytes) -> list:
    calls = []

    def fake_download(url, dest):
        calls.append(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(payload)

    monkeypatch.setattr(D, "_download", fake_download)
    return calls


def test_cifar10_download_verified_and_extracted(isolated, monkeypatch):
    archive = make_archive(isolated)
    monkeypatch.setattr(D, "_CIFAR10_MD5", hashlib.md5(archive).hexdigest())
    calls = serve(monkeypatch, archive)
    d = load_dataset("cifar10", "train", root=isolated / "empty")
    assert calls == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert d.images.shape == (20, 3, 32, 32)
    cache = isolated / "cache" / "ctslib"
    assert (cache / "cifar-10-batches-py" / "test_batch").is_file()
    assert sorted(p.name for p in cache.iterdir()) == ["cifar-10-batches-py"]  # archive and temp dirs gone
    load_dataset("cifar10", "test")  # now from the cache, no second download
    assert len(calls) == 1


def test_cifar10_wrong_md5_rejected(isolated, monkeypatch):
    serve(monkeypatch, b"this is not the CIFAR-10 archive")
    with pytest.raises(DatasetNotFoundError, match=r"(?s)corrupt.*MD5.*c58f30108f718f92721af3b95e74349a"):
        load_dataset("cifar10", root=isolated / "empty")
    cache = isolated / "cache" / "ctslib"
    assert not (cache / "cifar-10-python.tar.gz").exists() and not (cache / "cifar-10-batches-py").exists()


def test_cifar10_unsafe_archive_rejected(isolated, monkeypatch):
    archive = make_archive(isolated, {"../../evil.txt": b"owned"})
    monkeypatch.setattr(D, "_CIFAR10_MD5", hashlib.md5(archive).hexdigest())
    serve(monkeypatch, archive)
    with pytest.raises(DatasetNotFoundError, match="safely"):
        load_dataset("cifar10", root=isolated / "empty")
    assert not list(isolated.rglob("evil.txt"))


def test_missing_cifar10_error(isolated, monkeypatch):
    monkeypatch.setenv("CTS_DATA", str(isolated / "env"))
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("cifar10", "test", root=isolated / "r", download=False)
    for place in (isolated / "r", isolated / "env", isolated / "cache" / "ctslib"):
        assert str(place / "cifar-10-batches-py") in str(e.value)
    assert "CTS_DATA" in str(e.value) and "download=True" in str(e.value)
    with pytest.raises(DatasetNotFoundError, match=r"(?s)download from https://www.cs.toronto.edu.*failed"):
        load_dataset("cifar10", "test", root=isolated / "r", download=True)


# ---------------------------------------------------------------------------------------------- Batches


@pytest.mark.parametrize("n,bs,drop,expect", [(50, 16, False, 4), (50, 16, True, 3), (48, 16, True, 3), (5, 16, False, 1)])
def test_batches_count_and_coverage(n, bs, drop, expect):
    d = toy(n)
    b = Batches(d, bs, drop_last=drop, generator=torch.Generator().manual_seed(0))
    assert len(b) == expect
    out = list(b)
    assert len(out) == expect
    sizes = [y.numel() for _, y in out]
    assert all(s == bs for s in sizes[:-1]) and (sizes[-1] == bs if drop else sizes[-1] == n - bs * (expect - 1))
    ids = torch.cat([y for _, y in out])
    if not drop:  # every example exactly once
        assert torch.equal(ids.sort().values, torch.arange(n))
    else:
        assert len(set(ids.tolist())) == len(ids) == bs * expect


def test_batches_outputs_and_shuffle():
    d = toy(64)
    b = Batches(d, 16, device="cpu", generator=torch.Generator().manual_seed(0))
    x, y = next(iter(b))
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (16, 3, 8, 8)
    assert x.device.type == "cpu" and y.device.type == "cpu"
    # x is exactly (image/255 - mean)/std of the images the labels (= ids) point at.
    assert torch.allclose(x, (d.images[y].float() / 255 - 0.5) / 0.25, atol=1e-5)
    b = Batches(d, 16, generator=torch.Generator().manual_seed(0))
    e1, e2 = (torch.cat([y for _, y in b]) for _ in range(2))
    assert not torch.equal(e1, e2)  # each iteration is a new epoch with a new shuffle
    again = Batches(d, 16, generator=torch.Generator().manual_seed(0))
    a1, a2 = (torch.cat([y for _, y in again]) for _ in range(2))
    assert torch.equal(a1, e1) and torch.equal(a2, e2)  # reproducible from the seed, epoch after epoch
    ordered = torch.cat([y for _, y in Batches(d, 16, shuffle=False)])
    assert torch.equal(ordered, torch.arange(64))


def test_batches_per_channel_normalisation():
    # Give each channel its own scale so per-channel stats are needed; mean/std from the data itself.
    g = torch.Generator().manual_seed(0)
    imgs = torch.stack([torch.randint(lo, hi, (200, 8, 8), generator=g) for lo, hi in ((0, 60), (100, 256), (30, 90))], 1)
    f = imgs.float() / 255
    info = DatasetInfo("toy", 10, 3, 8, tuple(f.mean((0, 2, 3)).tolist()), tuple(f.std((0, 2, 3)).tolist()))
    d = ImageData(imgs.to(torch.uint8), torch.zeros(200, dtype=torch.long), info)
    x = torch.cat([xb for xb, _ in Batches(d, 64)])
    assert torch.allclose(x.mean((0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std((0, 2, 3)), torch.ones(3), atol=1e-4)


def test_batches_caches_data_on_device_once():
    d = toy(32)
    b = Batches(d, 8, device="cpu")
    assert b.data.images.device.type == "cpu"
    first = b.data.images
    list(b), list(b)
    assert b.data.images is first  # not re-moved per epoch


def test_batches_augment_pads_with_black():
    info = DatasetInfo("toy", 10, 1, 8, (0.5,), (0.25,))
    d = ImageData(torch.full((100, 1, 8, 8), 255, dtype=torch.uint8), torch.zeros(100, dtype=torch.long), info)
    x = torch.cat([xb for xb, _ in Batches(d, 32, augment=True, generator=torch.Generator().manual_seed(0))])
    white, black = (1 - 0.5) / 0.25, (0 - 0.5) / 0.25
    is_white, is_black = torch.isclose(x, torch.tensor(white)), torch.isclose(x, torch.tensor(black))
    assert (is_white | is_black).all()  # the fill is pixel value 0, i.e. augmentation happens before normalising
    assert is_black.any() and is_white.flatten(1).any(1).all()


# ---------------------------------------------------------------------------------------------- augment_batch


def shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Reference: content moved down dy, right dx, zeros where nothing moved in."""
    out = torch.zeros_like(img)
    H, W = img.shape[-2:]
    out[..., max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        img[..., max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return out


def distinct_images(B=64, C=2, H=10, W=12) -> torch.Tensor:
    # All values distinct and nonzero, so any move or flip is identifiable and zero fill is unambiguous.
    return (torch.arange(B * C * H * W, dtype=torch.float32) + 1).reshape(B, C, H, W)


def test_augment_flip_only():
    x = distinct_images()
    out = augment_batch(x, torch.Generator().manual_seed(0), max_shift=0)
    assert out.shape == x.shape and out.dtype == x.dtype
    same = (out == x).flatten(1).all(1)
    flipped = (out == torch.flip(x, dims=[3])).flatten(1).all(1)
    assert (same ^ flipped).all()  # each image is either untouched or exactly mirrored left-right
    assert 16 < flipped.sum() < 48  # p = 0.5 over 64 images


def test_augment_shift_and_flip_are_moves_with_zero_fill():
    x = distinct_images()
    out = augment_batch(x, torch.Generator().manual_seed(1), max_shift=4)
    assert out.shape == x.shape
    found = []
    for i in range(len(x)):
        matches = [(f, dy, dx) for f in (0, 1) for dy in range(-4, 5) for dx in range(-4, 5)
                   if torch.equal(out[i], shifted(torch.flip(x[i], [2]) if f else x[i], dy, dx))]
        assert len(matches) == 1, f"image {i} is not a flip + shift of at most 4 px of its input"
        found.append(matches[0])
    assert len({(dy, dx) for _, dy, dx in found}) > 20  # shifts really vary
    assert {f for f, _, _ in found} == {0, 1}


def test_augment_deterministic_and_dtypes():
    x = torch.randint(0, 256, (32, 3, 16, 16), dtype=torch.uint8)
    a = augment_batch(x, torch.Generator().manual_seed(7))
    b = augment_batch(x, torch.Generator().manual_seed(7))
    c = augment_batch(x, torch.Generator().manual_seed(8))
    assert a.dtype == torch.uint8 and torch.equal(a, b) and not torch.equal(a, c)
    af = augment_batch(x.float(), torch.Generator().manual_seed(7))
    assert af.dtype == torch.float32 and torch.equal(af, a.float())  # same moves whatever the dtype
    torch.manual_seed(0)
    assert augment_batch(x).shape == x.shape  # default RNG works too


# ---------------------------------------------------------------------------------------------- ImageNet


def test_imagenet_needs_pillow_message(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `from PIL import Image` fail
    with pytest.raises(ImportError, match="pip install pillow"):
        imagenet_batches(tmp_path, "val", 2, train=False)


def test_imagenet_missing_folder(tmp_path):
    pytest.importorskip("PIL", reason="Pillow not installed (pip install pillow); ImageNet loading needs it")
    with pytest.raises(DatasetNotFoundError, match=r"(?s)ImageNet \(val\).*" + str(tmp_path / "val")):
        imagenet_batches(tmp_path, "val", 2, train=False)
    with pytest.raises(ValueError, match="'test'"):
        imagenet_batches(tmp_path, "test", 2, train=False)


def test_imagenet_folder_batches(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="Pillow not installed (pip install pillow); ImageNet loading needs it")
    colours = {"n01440764": (255, 0, 0), "n01443537": (0, 0, 255)}
    for split in ("train", "val"):
        for wnid, colour in colours.items():
            (tmp_path / split / wnid).mkdir(parents=True)
            for k, size in enumerate([(300, 260), (260, 400), (500, 300)]):
                Image.new("RGB", size, colour).save(tmp_path / split / wnid / f"{wnid}_{k}.JPEG", quality=95)
    (tmp_path / "val" / "n01440764" / "notes.txt").write_text("not an image")

    ev = imagenet_batches(tmp_path, "val", 4, train=False, num_workers=0)
    assert len(ev) == 2
    out = list(ev)
    assert [x.shape for x, _ in out] == [(4, 3, 224, 224), (2, 3, 224, 224)]
    assert torch.cat([y for _, y in out]).tolist() == [0, 0, 0, 1, 1, 1]  # in order, classes sorted by wnid
    x = torch.cat([x for x, _ in out])
    assert x.dtype == torch.float32
    mean, std = torch.tensor(DATASETS["imagenet"].mean), torch.tensor(DATASETS["imagenet"].std)
    red = ((torch.tensor([1.0, 0, 0]) - mean) / std).view(3, 1, 1)
    assert (x[0] - red).abs().max() < 0.1  # JPEG is lossy; a uniform red image normalises to ~ red

    tr = imagenet_batches(tmp_path, "train", 4, train=True, num_workers=2)
    assert len(tr) == 1  # 6 images, last partial batch dropped
    for _ in range(2):  # a second epoch works with persistent workers
        (x, y), = list(tr)
        assert x.shape == (4, 3, 224, 224) and x.dtype == torch.float32 and set(y.tolist()) <= {0, 1}
