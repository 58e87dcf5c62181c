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
  BatchNorm's batch variance;
- ``zico`` (Li et al., ICLR 2023, https://arxiv.org/abs/2301.11300): ``Σ_l log Σ_θ E|g_θ| / σ(g_θ)``,
  the inverse coefficient of variation of every Conv/Linear weight gradient over two batches;
- ``meco`` (Jiang et al., NeurIPS 2023, https://arxiv.org/abs/2310.08052): the summed smallest
  eigenvalue of the channel correlation matrix of every feature map of one image;
- ``swap`` (Peng et al., ICLR 2024, https://arxiv.org/abs/2403.04161): the number of distinct
  sample-wise activation patterns of the batch.

Baselines (the literature's yardstick: a proxy that does not beat them adds nothing): ``params`` and
``macs``, ``log10`` of the parameter count and of the MACs at the candidate's resolution (higher =
bigger). ``python benchmarks/bench_scores.py`` measures every score against the project's ground
truth (trained accuracy, ``benchmarks/results/ground_truth.parquet``).

``train``: a fixed number of optimizer steps on a small dataset (:mod:`search.data`) and the
validation accuracy (a share in [0, 1]); intermediate accuracies are reported to a callback, so a
single-objective study can prune.

``short_train``: the ground-truth recipe (:data:`search.ground_truth.RECIPE`: its dataset, split,
optimizer, schedule, augmentation, initialisation and resolution) cut to ``epochs`` epochs, and the
accuracy on the first ``val_images`` validation images; its initial weights come from a seed that no
later training of the candidate uses (:data:`SHORT_TRAIN_SEED_OFFSET`). It is the ground truth's own training at a
lower fidelity, so it ranks candidates the way trained accuracy does far better than any
training-free proxy (``benchmarks/results/scores.md``), at a few seconds per candidate on a CPU.

Example:
    >>> import metablock
    >>> from search import get_space
    >>> model = metablock.build(get_space("mobilenet").random(seed=0).net)
    >>> settings = ScoreSettings(score="naswot", batch_size=8, resolution=32)
    >>> isinstance(compute_score(model, settings), float)
    True
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from metablock import ConfigError
from metablock.layers import DropPath, DynamicShiftMax
from metablock.registry import Registry

from .data import Dataset, load_dataset
from .training import evaluate, resolve_device

Report = Callable[[int, float], None]

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.GELU, nn.Tanh, nn.Hardtanh, DynamicShiftMax)


@dataclass(frozen=True, kw_only=True)
class ScoreSettings:
    """How candidates are scored.

    Args:
        score: one of :func:`list_scores` (``naswot``, ``synflow``, ``grad_norm``, ``zen``, ``zico``,
            ``meco``, ``swap``, ``params``, ``macs``, ``train``, ...).
        batch_size: images in the proxy batch / training batch.
        resolution: a fixed input resolution for scoring; ``None`` ties it to the candidate's own:
            ``resolution_scale`` × the candidate's resolution, rounded to a multiple of 4 (``train``
            without a candidate resolution: 32).
        resolution_scale: see ``resolution``.
        dataset: ``mnist``, ``digits``, ``shapes`` or ``imagefolder:PATH`` (:mod:`search.data`).
        seed: seed of the batch, the labels, weight initialisation and training order.
        train_steps: optimizer steps of ``train``.
        lr: learning rate of ``train`` (SGD with Nesterov momentum, cosine decay).
        eval_every: steps between intermediate validation accuracies of ``train``.
        epochs: epochs of ``short_train`` (the ground-truth recipe cut to this many).
        val_images: validation images ``short_train`` measures its accuracy on (``0`` = all).
        device: ``auto`` (CUDA when available, else MPS, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        predictor: the JSON file of ``score="predictor"`` (:mod:`search.predictor`); ``None`` = the
            one shipped with the package.
    """

    score: str = "naswot"
    batch_size: int = 16
    resolution: int | None = None
    resolution_scale: float = 1.0
    dataset: str = "digits"
    seed: int = 0
    train_steps: int = 60
    lr: float = 0.05
    eval_every: int = 20
    epochs: int = 3
    val_images: int = 0
    device: str = "auto"
    predictor: str | None = None

    def __post_init__(self) -> None:
        SCORES.get(self.score)
        for name, low in (("batch_size", 2), ("train_steps", 1), ("eval_every", 1), ("epochs", 1), ("val_images", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}; got {name}={value!r}")
        if self.resolution is not None and (
            isinstance(self.resolution, bool) or not isinstance(self.resolution, int) or self.resolution < 8
        ):
            raise ConfigError(f"resolution must be an integer >= 8 or None; got resolution={self.resolution!r}")
        scale = self.resolution_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 4:
            raise ConfigError(f"resolution_scale must be a number in (0, 4]; got resolution_scale={scale!r}")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ConfigError(f"lr must be > 0; got lr={self.lr!r}")
        resolve_device(self.device if self.device != "auto" else "cpu")  # the name's form; availability at use
        if self.score == "predictor" or self.predictor is not None:
            from .predictor import load_predictor

            load_predictor(self.predictor)  # a missing or malformed file fails here, before any trial

    @property
    def resolved_device(self) -> str:
        """The torch device this setting scores on (``auto`` resolved, availability checked)."""
        return resolve_device(self.device)

    def scoring_resolution(self, input_resolution: int | None) -> int:
        """The resolution a candidate searched at ``input_resolution`` is scored at."""
        if self.resolution is not None:
            return self.resolution
        if self.score == "short_train":
            return self.recipe().train_resolution(224 if input_resolution is None else input_resolution)
        if input_resolution is None:
            return 32 if self.score == "train" else 224
        return max(8, 4 * round(input_resolution * self.resolution_scale / 4))

    def recipe(self) -> Any:
        """The :class:`~search.training.Recipe` of ``short_train``: the ground truth's, cut to ``epochs``
        epochs (at ``resolution`` when that is fixed)."""
        from .ground_truth import RECIPE

        return replace(RECIPE, epochs=self.epochs, resolution=self.resolution)

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
    device = settings.resolved_device
    return x.to(device), y.to(device), data.num_classes


def _hooked_forward(net: nn.Module, modules: list[nn.Module], hook: Callable[..., None], x: torch.Tensor) -> None:
    """One forward pass of ``net`` on ``x`` without gradients, with ``hook`` on ``modules``' outputs."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()


@SCORES.register("naswot")
def naswot(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None, **_: Any) -> float:
    x, _, _ = _batch(settings, resolution)
    codes: list[torch.Tensor] = []

    def hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
        # windowed attention folds windows into the batch, sample-major ((b n1 n2) ...): regroup per sample
        codes.append((out.detach() > 0).reshape(x.shape[0], -1).to(torch.float64))

    acts = [m for m in model.modules() if isinstance(m, _ACTIVATIONS)]
    if not acts:
        raise ConfigError("naswot needs activation modules (ReLU, GELU, ...); the model has none")
    model.train()
    _hooked_forward(model, acts, hook, x)
    c = torch.cat(codes, 1)
    k = c @ c.T + (1 - c) @ (1 - c).T
    sign, logdet = torch.linalg.slogdet(k)
    return float(logdet) if sign > 0 else float("-inf")


@SCORES.register("synflow")
def synflow(
    model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None, **_: Any
) -> float:
    device = settings.resolved_device
    dtype = torch.float32 if device.startswith("mps") else torch.float64  # MPS has no float64
    net = copy.deepcopy(model).to(dtype).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad()
    x = torch.ones(1, 3, resolution, resolution, dtype=dtype, device=device)
    net(x).sum().backward()
    total = sum(float((p.detach() * p.grad).abs().sum()) for p in net.parameters() if p.grad is not None)
    return math.log10(total) if total > 0 else float("-inf")


@SCORES.register("grad_norm")
def grad_norm(
    model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None, **_: Any
) -> float:
    x, y, classes = _batch(settings, resolution)
    net = copy.deepcopy(model).train()
    net.zero_grad()
    out = net(x)
    F.cross_entropy(out, y % out.shape[1]).backward()
    return float(sum(p.grad.norm() for p in net.parameters() if p.grad is not None))


@SCORES.register("zen")
def zen(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None, **_: Any) -> float:
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
        x = torch.randn(shape, generator=gen).to(settings.resolved_device)
        eps = torch.randn(shape, generator=gen).to(settings.resolved_device)
        features: Callable[[torch.Tensor], torch.Tensor] = getattr(net, "forward_features", net)
        delta = (features(x) - features(x + 0.01 * eps)).abs().mean()
        bn_term = 0.0
        # the BatchNorm statistics of the last forward pass (the perturbed input) with momentum 1
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_var is not None:
                bn_term += 0.5 * math.log(float(m.running_var.mean()) + 1e-12)
    return math.log(float(delta) + 1e-12) + bn_term


@SCORES.register("zico")
def zico(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None, **_: Any) -> float:
    """ZiCo (Li et al., ICLR 2023, https://arxiv.org/abs/2301.11300): ``Σ_l log Σ_θ E|g_θ| / σ(g_θ)``
    over the weight gradients ``g`` of every Conv2d and Linear layer ``l`` across two batches (the two
    halves of the scoring batch), train mode; parameters whose gradient does not vary are left out."""
    x, y, _ = _batch(settings, resolution)
    net = copy.deepcopy(model).train()
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    grads: list[list[torch.Tensor]] = [[] for _ in layers]
    half = x.shape[0] // 2
    for part in (slice(0, half), slice(half, 2 * half)):
        net.zero_grad(set_to_none=True)
        out = net(x[part])
        F.cross_entropy(out, y[part] % out.shape[1]).backward()
        for store, m in zip(grads, layers, strict=True):
            if m.weight.grad is not None:
                store.append(m.weight.grad.detach().flatten().double())
    total = 0.0
    for store in grads:
        if len(store) < 2:
            continue
        g = torch.stack(store)
        std = g.std(0, unbiased=False)
        keep = std > 0
        ratio = float((g.abs().mean(0)[keep] / std[keep]).sum())
        if ratio > 0:
            total += math.log(ratio)
    return total


_MECO_SKIP = (nn.Identity, nn.Dropout, nn.Flatten)


@SCORES.register("meco")
def meco(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None, **_: Any) -> float:
    """MeCo (Jiang et al., NeurIPS 2023, https://arxiv.org/abs/2310.08052): the sum over modules of the
    smallest eigenvalue of the channel-by-channel Pearson correlation of one sample's feature map
    (the first image of the batch; train mode; undefined correlations count as 0), over the output of
    every module that returns an ``(N, C, H, W)`` map. A map with ``H·W <= C`` has a singular
    correlation matrix, so its smallest eigenvalue is 0 and is not computed."""
    x, _, _ = _batch(settings, resolution)
    values: list[float] = []

    def hook(_m: nn.Module, _i: Any, out: Any) -> None:
        out = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[0] != x.shape[0]:
            return
        fea = out[0].detach().flatten(1).double()
        if fea.shape[1] <= fea.shape[0]:
            return  # rank(corr) <= H·W - 1 < C: the smallest eigenvalue is 0
        corr = torch.nan_to_num(torch.corrcoef(fea), nan=0.0, posinf=0.0, neginf=0.0)
        value = float(torch.linalg.eigvalsh(corr)[0])
        if math.isfinite(value):
            values.append(value)

    net = copy.deepcopy(model).train()
    _hooked_forward(net, [m for m in net.modules() if not isinstance(m, _MECO_SKIP)], hook, x)
    return float(sum(values))


def _gaussian_init(net: nn.Module, seed: int) -> None:
    """Conv and linear weights ~ N(0, 1), biases 0, norms' affine parameters at (1, 0), from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)):
                if m.weight is not None:
                    m.weight.fill_(1.0)
                if m.bias is not None:
                    m.bias.zero_()


@SCORES.register("swap")
def swap(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None, **_: Any) -> float:
    """SWAP (Peng et al., ICLR 2024, https://arxiv.org/abs/2403.04161): the number of distinct
    sample-wise activation patterns, i.e. of distinct rows of the (neurons × samples) matrix of binary
    codes ``output > 0`` of every activation module on a batch, with Gaussian-initialised weights and
    train-mode norms as in the official protocol (one draw of the weights, from the score's seed)."""
    x, _, _ = _batch(settings, resolution)
    n = x.shape[0]
    codes: list[torch.Tensor] = []

    def hook(_m: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        if out.dim() == 4:
            codes.append((out.detach() > 0).reshape(n, -1))

    net = copy.deepcopy(model).train()
    _gaussian_init(net, settings.seed)
    acts = [m for m in net.modules() if isinstance(m, _ACTIVATIONS)]
    if not acts:
        raise ConfigError("swap needs activation modules (ReLU, GELU, ...); the model has none")
    _hooked_forward(net, acts, hook, x)
    if not codes:
        return 0.0
    bits = torch.cat(codes, 1).T  # (neurons, samples)
    # pack each neuron's pattern into 62-bit words, then count distinct rows of words
    weights = 2 ** torch.arange(62, dtype=torch.int64, device=bits.device)
    words = [
        (bits[:, i : i + 62].to(torch.int64) * weights[: bits[:, i : i + 62].shape[1]]).sum(1, keepdim=True)
        for i in range(0, n, 62)
    ]
    return float(torch.unique(torch.cat(words, 1), dim=0).shape[0])


@SCORES.register("params")
def params(
    model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None, **kw: Any
) -> float:
    """Baseline: ``log10`` of the parameter count (bigger = higher)."""
    costs = kw.get("costs") or {}
    count = costs.get("params") or sum(p.numel() for p in model.parameters())
    return math.log10(max(1.0, float(count)))


@SCORES.register("macs")
def macs(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None, **kw: Any) -> float:
    """Baseline: ``log10`` of the MACs (fvcore convention) at the candidate's own input resolution."""
    costs = kw.get("costs") or {}
    count = costs.get("macs")
    if not count:
        import metablock

        side = kw.get("input_resolution") or resolution
        count = metablock.count_macs(model.cpu(), (3, side, side))
    return math.log10(max(1.0, float(count)))


@SCORES.register("predictor")
def predictor(
    model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None, **kw: Any
) -> float:
    """The combined score of :mod:`search.predictor`: its feature scores, each computed with the
    predictor's own settings (dataset, batch, resolution) and the user's seed and device, combined
    by its fitted weights."""
    from .predictor import load_predictor

    pred = load_predictor(settings.predictor)
    base = pred.score_settings(settings)
    values = {}
    for name in pred.features:
        feature = replace(base, score=name, predictor=None)
        res = feature.scoring_resolution(kw.get("input_resolution"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(feature.seed)
            values[name] = float(SCORES.get(name)(model, feature, res, None, **kw))
    return pred.value(values)


@SCORES.register("train")
def train(model: nn.Module, settings: ScoreSettings, resolution: int, report: Report | None = None, **_: Any) -> float:
    """Validation accuracy after ``settings.train_steps`` SGD steps; intermediate ones go to ``report``."""
    device = settings.resolved_device
    data = _dataset(settings.dataset, resolution, settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    net = model.to(device).train()
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
        x, y = data.train_x[idx].to(device), data.train_y[idx].to(device)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % settings.eval_every == 0 or step == settings.train_steps:
            acc = evaluate(net, data, device)
            if report is not None:
                report(step, acc)
            net.train()
    return acc


#: ``short_train`` draws its initial weights and batch order from ``seed + SHORT_TRAIN_SEED_OFFSET``:
#: never from the seed a candidate is then trained with (refinement, the ground truth's seeds 0 and 1),
#: so picking the best short run rewards the architecture, not a lucky draw of initial weights that the
#: final training would share.
SHORT_TRAIN_SEED_OFFSET = 1_000_003
#: scores that build the candidate themselves from its ``NetConfig`` (``compute_score(..., net=)``) and
#: take no model: a caller need not build one
BUILDS_ITS_OWN = frozenset({"short_train"})


@SCORES.register("short_train")
def short_train(
    model: nn.Module,
    settings: ScoreSettings,
    resolution: int,
    report: Report | None = None,
    *,
    net: Any = None,
    input_resolution: int | None = None,
    **_: Any,
) -> float:
    """Validation accuracy after ``settings.recipe()`` (the ground-truth recipe cut to ``settings.epochs``
    epochs), on ``settings.val_images`` validation images, with initial weights and batch order drawn from
    ``settings.seed + SHORT_TRAIN_SEED_OFFSET``.

    Trains ``net`` (the candidate's ``NetConfig``, its classifier resized to the dataset's classes, as
    the ground truth trains it); ``model`` is not used. The final accuracy goes to ``report``."""
    from .training import train_network

    if net is None:
        raise ConfigError("score 'short_train' needs the candidate's NetConfig: compute_score(..., net=config)")
    result = train_network(
        net,
        settings.recipe(),
        seed=settings.seed + SHORT_TRAIN_SEED_OFFSET,
        input_resolution=224 if input_resolution is None else input_resolution,
        device=settings.resolved_device,
        report=report,
        val_images=settings.val_images,
    )
    return result.val_acc


def seeded_build(net: Any, seed: int) -> nn.Module:
    """``metablock.build(net)`` with initial weights drawn from ``seed`` (the global RNG is left as it was)."""
    import metablock

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return metablock.build(net)


class _HostDrawnDropout(nn.Dropout):
    """``nn.Dropout`` whose mask is drawn by the host (CPU) generator and moved to the input's device.

    On the CPU this is exactly what ``nn.Dropout`` computes (same draws, same arithmetic), so a score is
    unchanged there; on an accelerator the mask is the one the CPU would draw, not one from the device's
    own generator, so a score of a network with dropout is the same on every device."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0
        noise = torch.empty(x.shape, dtype=x.dtype).bernoulli_(1 - self.p).div_(1 - self.p)
        return x * noise.to(x.device)


class _HostDrawnDropPath(DropPath):
    """:class:`metablock.layers.DropPath` with its per-sample mask drawn by the host generator (as above)."""

    def _mask(self, x: torch.Tensor, keep: float) -> torch.Tensor:
        return torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype).bernoulli_(keep).to(x.device)


_HOST_DRAWN = {nn.Dropout: _HostDrawnDropout, DropPath: _HostDrawnDropPath}


@contextlib.contextmanager
def device_independent(model: nn.Module | None, device: str) -> Iterator[None]:
    """Score ``model`` so that the value does not depend on ``device``; restores everything after.

    - dropout and drop path masks come from the host generator (:class:`_HostDrawnDropout`): a
      device's own generator draws other masks from the same seed;
    - on CUDA, TF32 is off for convolutions and matrix products (TF32 keeps 10 mantissa bits: it moved
      ``grad_norm`` by up to 0.3% and ``zen`` by 2.6e-4 on an H200) and cuDNN picks deterministic
      algorithms (its default backward kernels sum in a varying order: ``zico`` differed between two
      runs on the same GPU).
    """
    swapped = []
    if model is not None:
        for m in model.modules():
            host = _HOST_DRAWN.get(type(m))
            if host is not None:
                swapped.append((m, type(m)))
                m.__class__ = host
    flags = None
    if device.startswith("cuda"):
        cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
        flags = (cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark)
        cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark = False, False, True, False
    try:
        yield
    finally:
        for m, cls in swapped:
            m.__class__ = cls
        if flags is not None:
            cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
            cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark = flags


def compute_score(
    model: nn.Module | None,
    settings: ScoreSettings,
    resolution: int | None = None,
    report: Report | None = None,
    *,
    costs: dict[str, float] | None = None,
    net: Any = None,
) -> float:
    """The score of ``model`` (higher is better).

    Args:
        model: the network (its classifier must have at least ``num_classes`` outputs for ``train``);
            ``None`` for a score of :data:`BUILDS_ITS_OWN`, which builds it from ``net``.
        settings: which score and how.
        resolution: the candidate's input resolution; the scoring resolution is
            ``settings.scoring_resolution(resolution)``.
        report: called with ``(step, accuracy)`` during ``train``.
        costs: the candidate's known costs (``params``, ``macs`` at its resolution), used by the
            ``params`` and ``macs`` baselines instead of counting again.
        net: the candidate's ``NetConfig`` (``short_train`` trains it as the ground truth does).
    """
    res = settings.scoring_resolution(resolution)
    device = settings.resolved_device
    if model is not None:
        model = model.to(device)
    elif settings.score not in BUILDS_ITS_OWN:
        raise ConfigError(f"score {settings.score!r} needs the candidate's model; got model=None")
    cuda = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=cuda), device_independent(model, device):
        torch.manual_seed(settings.seed)  # dropout / drop path draws (on the host: see device_independent)
        fn = SCORES.get(settings.score)
        return float(fn(model, settings, res, report, input_resolution=resolution, costs=costs, net=net))
