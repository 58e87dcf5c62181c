"""Scores of candidate networks: training-free proxies and short training.

Proxies (higher is better), computed on one fixed, seeded batch:

- ``naswot`` (Mellor et al., 2021, https://arxiv.org/abs/2006.04647): log-determinant of the kernel
  of binary activation codes (``output > 0`` of every activation module) over the batch;
- ``synflow`` (Tanaka et al., 2020, https://arxiv.org/abs/2006.05467): ``log10 Σ |θ ⊙ ∂R/∂θ|`` with
  ``R`` the summed output of the network with absolute weights on an all-ones input (float64);
- ``grad_norm`` (Abdelfattah et al., 2021, https://arxiv.org/abs/2101.08134): the summed L2 norms
  of the gradients of the cross-entropy loss on the batch;
- ``zen`` (Lin et al., 2021, https://arxiv.org/abs/2102.01063): ``log E|f(x) - f(x + αε)|`` on the
  pre-pooling features of Gaussian-initialised weights plus ``Σ log sqrt(mean σ²)`` of every
  BatchNorm's batch variance.

``train``: a fixed number of optimizer steps on a small dataset (:mod:`search.data`) and the
validation accuracy (a share in [0, 1]); intermediate accuracies are reported to a callback, so a
single-objective study can prune.

Example:
    >>> import metablock
    >>> from search import get_space
    >>> model = metablock.build(get_space("mobilenet").random(seed=0).net)
    >>> settings = ScoreSettings(score="naswot", batch_size=8, resolution=32)
    >>> isinstance(compute_score(model, settings), float)
    True
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from metablock import ConfigError
from metablock.layers import DynamicShiftMax
from metablock.registry import Registry

from .data import Dataset, load_dataset

Report = Callable[[int, float], None]

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.GELU, nn.Tanh, nn.Hardtanh, DynamicShiftMax)


@dataclass(frozen=True, kw_only=True)
class ScoreSettings:
    """How candidates are scored.

    Args:
        score: ``naswot``, ``synflow``, ``grad_norm``, ``zen`` or ``train``.
        batch_size: images in the proxy batch / training batch.
        resolution: input resolution for scoring; ``None`` uses the candidate's own resolution
            (proxies) or 32 (training).
        dataset: ``digits``, ``shapes`` or ``imagefolder:PATH`` (:mod:`search.data`).
        seed: seed of the batch, the labels, weight initialisation and training order.
        train_steps: optimizer steps of ``train``.
        lr: learning rate of ``train`` (SGD with Nesterov momentum, cosine decay).
        eval_every: steps between intermediate validation accuracies of ``train``.
        device: torch device.
    """

    score: str = "naswot"
    batch_size: int = 16
    resolution: int | None = None
    dataset: str = "digits"
    seed: int = 0
    train_steps: int = 60
    lr: float = 0.05
    eval_every: int = 20
    device: str = "cpu"

    def __post_init__(self) -> None:
        SCORES.get(self.score)
        for name, low in (("batch_size", 2), ("train_steps", 1), ("eval_every", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}; got {name}={value!r}")
        if self.resolution is not None and self.resolution < 8:
            raise ConfigError(f"resolution must be >= 8 or None; got resolution={self.resolution!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0; got lr={self.lr!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


SCORES: Registry[Callable[..., float]] = Registry("score")


def list_scores() -> list[str]:
    return SCORES.names()


@lru_cache(maxsize=8)
def _dataset(name: str, resolution: int, seed: int) -> Dataset:
    return load_dataset(name, resolution=resolution, seed=seed)


def _batch(settings: ScoreSettings, resolution: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    data = _dataset(settings.dataset, resolution, settings.seed)
    x, y = data.batch(settings.batch_size, settings.seed)
    return x.to(settings.device), y.to(settings.device), data.num_classes


@SCORES.register("naswot")
def naswot(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None) -> float:
    x, _, _ = _batch(settings, resolution)
    codes: list[torch.Tensor] = []

    def hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
        # windowed attention folds windows into the batch, sample-major ((b n1 n2) ...): regroup per sample
        codes.append((out.detach() > 0).reshape(x.shape[0], -1).to(torch.float64))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _ACTIVATIONS)]
    if not handles:
        raise ConfigError("naswot needs activation modules (ReLU, GELU, ...); the model has none")
    model.train()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    c = torch.cat(codes, 1)
    k = c @ c.T + (1 - c) @ (1 - c).T
    sign, logdet = torch.linalg.slogdet(k)
    return float(logdet) if sign > 0 else float("-inf")


@SCORES.register("synflow")
def synflow(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None) -> float:
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad()
    x = torch.ones(1, 3, resolution, resolution, dtype=torch.float64, device=settings.device)
    net(x).sum().backward()
    total = sum(float((p.detach() * p.grad).abs().sum()) for p in net.parameters() if p.grad is not None)
    return math.log10(total) if total > 0 else float("-inf")


@SCORES.register("grad_norm")
def grad_norm(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None) -> float:
    x, y, classes = _batch(settings, resolution)
    net = copy.deepcopy(model).train()
    net.zero_grad()
    out = net(x)
    F.cross_entropy(out, y % out.shape[1]).backward()
    return float(sum(p.grad.norm() for p in net.parameters() if p.grad is not None))


@SCORES.register("zen")
def zen(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None) -> float:
    gen = torch.Generator().manual_seed(settings.seed)
    net = copy.deepcopy(model).train()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
                if m.bias is not None:
                    m.bias.zero_()
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = 1.0
        shape = (settings.batch_size, 3, resolution, resolution)
        x = torch.randn(shape, generator=gen).to(settings.device)
        eps = torch.randn(shape, generator=gen).to(settings.device)
        features: Callable[[torch.Tensor], torch.Tensor] = getattr(net, "forward_features", net)
        delta = (features(x) - features(x + 0.01 * eps)).abs().mean()
        bn_term = 0.0
        # the BatchNorm statistics of the last forward pass (the perturbed input) with momentum 1
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_var is not None:
                bn_term += 0.5 * math.log(float(m.running_var.mean()) + 1e-12)
    return math.log(float(delta) + 1e-12) + bn_term


@SCORES.register("train")
def train(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None) -> float:
    """Validation accuracy after ``settings.train_steps`` SGD steps; intermediate ones go to ``report``."""
    data = _dataset(settings.dataset, resolution, settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    net = model.to(settings.device).train()
    opt = torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=0.9, nesterov=True, weight_decay=5e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=settings.train_steps)
    n = len(data.train_x)
    order = torch.randperm(n, generator=gen)
    pos = 0
    acc = 0.0
    for step in range(1, settings.train_steps + 1):
        if pos + settings.batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + settings.batch_size]
        pos += settings.batch_size
        x, y = data.train_x[idx].to(settings.device), data.train_y[idx].to(settings.device)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % settings.eval_every == 0 or step == settings.train_steps:
            acc = evaluate(net, data, settings.device)
            if report is not None:
                report(step, acc)
            net.train()
    return acc


def evaluate(net: nn.Module, data: Dataset, device: str = "cpu", batch_size: int = 256) -> float:
    """Top-1 accuracy on the validation split."""
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data.val_x), batch_size):
            out = net(data.val_x[i : i + batch_size].to(device))
            correct += int((out.argmax(1) == data.val_y[i : i + batch_size].to(device)).sum())
    return correct / len(data.val_x)


def seeded_build(net: Any, seed: int) -> nn.Module:
    """``metablock.build(net)`` with initial weights drawn from ``seed`` (the global RNG is left as it was)."""
    import metablock

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return metablock.build(net)


def compute_score(
    model: nn.Module, settings: ScoreSettings, resolution: int | None = None, report: Report | None = None
) -> float:
    """The score of ``model`` (higher is better).

    Args:
        model: the network (its classifier must have at least ``num_classes`` outputs for ``train``).
        settings: which score and how.
        resolution: the candidate's resolution, used when ``settings.resolution`` is ``None``.
        report: called with ``(step, accuracy)`` during ``train``.
    """
    res = settings.resolution or (32 if settings.score == "train" else resolution or 224)
    model = model.to(settings.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)  # dropout / drop path draws
        return float(SCORES.get(settings.score)(model, settings, res, report))
