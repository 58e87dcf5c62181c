"""The parts a Meta Mobile Block is assembled from: activations, norms, convs and operators.

Name-to-class maps are plain dicts (``ACT_LAYERS``, ``NORM_LAYERS``); the operator F is chosen
through the ``MIXERS`` registry. Modules that can be folded for deployment implement
``reparameterized()`` (see :func:`metablock.reparameterize`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .config import BlockConfig, ShiftMaxConfig
from .registry import Registry


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of an NCHW tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


ACT_LAYERS: dict[str, Callable[[], nn.Module]] = {
    "none": nn.Identity,
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "hswish": nn.Hardswish,
    "hsigmoid": nn.Hardsigmoid,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}


# activations that can overwrite their input; used where the input is a fresh tensor nobody else reads
INPLACE_ACTS = frozenset({"relu", "relu6", "hswish", "hsigmoid", "silu"})


def create_act(spec: str | ShiftMaxConfig, channels: int, *, inplace: bool = False) -> nn.Module:
    """An activation module from a name or a :class:`ShiftMaxConfig` (which needs ``channels``).

    ``inplace=True`` makes ``relu``, ``relu6``, ``hswish``, ``hsigmoid`` and ``silu`` overwrite their
    input (as torchvision's blocks do); only pass it where the input is a fresh intermediate tensor.
    """
    if isinstance(spec, ShiftMaxConfig):
        return DynamicShiftMax(channels, spec)
    if inplace and spec in INPLACE_ACTS:
        return ACT_LAYERS[spec](inplace=True)  # type: ignore[call-arg]
    return ACT_LAYERS[spec]()


def run(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)``, skipping the call when ``module`` is an ``nn.Identity`` (a switched-off part)."""
    return x if type(module) is nn.Identity else module(x)


def add_residual(s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``s + h``; written into ``h`` when no autograd graph is being recorded and ``h`` is a fresh
    tensor of the same shape and dtype (not ``s`` itself, not a view), which saves an allocation."""
    if not torch.is_grad_enabled() and h is not s and h._base is None and h.shape == s.shape and h.dtype == s.dtype:
        return h.add_(s)
    return s + h


def create_norm(kind: str, channels: int, eps: float, momentum: float) -> nn.Module:
    """A norm module: ``bn`` (BatchNorm2d), ``ln2d`` (channel LayerNorm) or ``none``."""
    if kind == "bn":
        return nn.BatchNorm2d(channels, eps=eps, momentum=momentum)
    if kind == "ln2d":
        return LayerNorm2d(channels, eps=eps)
    return nn.Identity()


def same_padding(kernel: int, dilation: int = 1) -> int:
    return (kernel - 1) // 2 * dilation


def tf_same_pad(size: int, kernel: int, stride: int, dilation: int) -> int:
    """Total padding TensorFlow's SAME adds along one dimension of ``size`` pixels."""
    return max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)


class Conv2dSame(nn.Conv2d):
    """A strided conv with TensorFlow's SAME padding: the padding follows the input size (the odd
    pixel on the bottom/right), so the output is ``ceil(input / stride)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph = tf_same_pad(h, self.kernel_size[0], self.stride[0], self.dilation[0])
        pw = tf_same_pad(w, self.kernel_size[1], self.stride[1], self.dilation[1])
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def create_conv(
    in_chs: int,
    out_chs: int,
    kernel: int | tuple[int, int],
    *,
    stride: int | tuple[int, int] = 1,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = False,
    padding: str = "symmetric",
) -> nn.Conv2d:
    """A conv with ``symmetric`` padding, or with ``same`` (TensorFlow's SAME), which differs only when
    strided (odd kernels): then a :class:`Conv2dSame`."""
    strided = stride != 1 and stride != (1, 1)
    if padding == "same" and strided:
        return Conv2dSame(in_chs, out_chs, kernel, stride, 0, dilation, groups, bias=bias)
    if isinstance(kernel, int):
        pad: int | tuple[int, int] = same_padding(kernel, dilation)
    else:
        pad = (same_padding(kernel[0], dilation), same_padding(kernel[1], dilation))
    return nn.Conv2d(in_chs, out_chs, kernel, stride, pad, dilation, groups, bias=bias)


# ---------------------------------------------------------------------------------- folding
@torch.no_grad()
def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A conv with bias equal to ``bn(conv(x))`` in eval mode."""
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std if bn.weight is not None else 1.0 / std
    shift = bn.bias - bn.running_mean * scale if bn.bias is not None else -bn.running_mean * scale
    fused = type(conv)(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=True,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_(bias * scale + shift)
    return fused


class ConvNormAct(nn.Module):
    """Conv2d, optional norm, activation; the unit every conv slot is made of.

    Example:
        >>> m = ConvNormAct(8, 16, 3, stride=2, norm="bn", act="relu")
        >>> m(torch.randn(1, 8, 16, 16)).shape
        torch.Size([1, 16, 8, 8])
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel: int | tuple[int, int] = 1,
        *,
        stride: int | tuple[int, int] = 1,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = False,
        norm: str = "bn",
        act: str | ShiftMaxConfig = "none",
        eps: float = 1e-5,
        momentum: float = 0.1,
        padding: str = "symmetric",
    ) -> None:
        super().__init__()
        self.conv = create_conv(
            in_chs, out_chs, kernel, stride=stride, dilation=dilation, groups=groups, bias=bias, padding=padding
        )
        self.norm = create_norm(norm, out_chs, eps, momentum)
        self.act = create_act(act, out_chs, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = self._modules  # direct reads, cheaper than nn.Module.__getattr__ on this hot path
        return run(parts["act"], run(parts["norm"], parts["conv"](x)))  # type: ignore[misc]

    def reparameterized(self) -> nn.Module:
        if isinstance(self.norm, nn.BatchNorm2d):
            self.conv = fuse_conv_bn(self.conv, self.norm)
            self.norm = nn.Identity()
        return self


class FactorizedDWConv(nn.Module):
    """Micro-factorized depthwise conv (MicroNet): k×1 then 1×k depthwise, each with a norm.

    The first conv multiplies the width by ``mults[0]``, the second by ``mults[1]``; the stride is
    applied along height in the first and along width in the second.
    """

    def __init__(
        self,
        chs: int,
        kernel: int,
        *,
        stride: int,
        mults: tuple[int, int],
        norm: str,
        act: str | ShiftMaxConfig,
        eps: float,
        momentum: float,
        bias: bool = False,
    ) -> None:
        super().__init__()
        mid, out = chs * mults[0], chs * mults[0] * mults[1]
        self.conv1 = ConvNormAct(
            chs, mid, (kernel, 1), stride=(stride, 1), groups=chs, norm=norm, bias=bias, eps=eps, momentum=momentum
        )
        self.conv2 = ConvNormAct(
            mid,
            out,
            (1, kernel),
            stride=(1, stride),
            groups=mid,
            norm=norm,
            act=act,
            bias=bias,
            eps=eps,
            momentum=momentum,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class RepDWConv(nn.Module):
    """RepVGG-style multi-branch depthwise conv that folds into one depthwise conv at deploy time.

    ``post_norm(conv_k(x) [+ scale(x)] [+ x])`` where ``conv_k`` is a k×k depthwise conv with a norm,
    ``scale`` a 1x1 depthwise conv with a bias or a norm, and the identity branch optional.
    """

    def __init__(
        self,
        chs: int,
        kernel: int,
        *,
        stride: int,
        scale: str,
        identity: bool,
        post_norm: bool,
        act: str | ShiftMaxConfig,
        eps: float,
        momentum: float,
    ) -> None:
        super().__init__()
        self.kernel = kernel
        self.conv = ConvNormAct(chs, chs, kernel, stride=stride, groups=chs, norm="bn", eps=eps, momentum=momentum)
        if scale == "none":
            self.scale: nn.Module = nn.Identity()
        else:
            self.scale = ConvNormAct(
                chs,
                chs,
                1,
                stride=stride,
                groups=chs,
                bias=scale == "bias",
                norm="bn" if scale == "norm" else "none",
                eps=eps,
                momentum=momentum,
            )
        self.has_scale = scale != "none"
        self.identity = identity
        self.norm = nn.BatchNorm2d(chs, eps=eps, momentum=momentum) if post_norm else nn.Identity()
        self.act = create_act(act, chs, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)  # conv + BN: a fresh tensor the branches can be added into
        if self.has_scale:
            y += self.scale(x)
        if self.identity:
            y += x
        return run(self.act, run(self.norm, y))

    @torch.no_grad()
    def reparameterized(self) -> nn.Module:
        conv = self.conv.reparameterized().conv  # type: ignore[operator]
        k = self.kernel
        weight = conv.weight.clone()
        bias = conv.bias.clone()
        center = k // 2
        if self.has_scale:
            s = self.scale.reparameterized().conv  # type: ignore[operator]
            weight[:, :, center, center] += s.weight[:, :, 0, 0]
            if s.bias is not None:
                bias += s.bias
        if self.identity:
            weight[:, :, center, center] += 1.0
        chs = weight.shape[0]
        fused = ConvNormAct(chs, chs, k, stride=conv.stride, groups=chs, bias=True, norm="none")
        fused = fused.to(device=weight.device, dtype=weight.dtype)
        fused.conv.weight.copy_(weight)
        fused.conv.bias.copy_(bias)
        if isinstance(self.norm, nn.BatchNorm2d):
            fused.conv = fuse_conv_bn(fused.conv, self.norm)
        fused.act = self.act
        return fused


def split_channels(chs: int, groups: int) -> list[int]:
    """Equal channel groups with the remainder in the first (MixConv's split)."""
    split = [chs // groups] * groups
    split[0] += chs - sum(split)
    return split


class MixedDWConv(nn.Module):
    """Mixed depthwise conv (MixNet, https://arxiv.org/abs/1907.09595): the channels split into
    groups (equal, the remainder in the first), each with its own kernel, concatenated; then one
    norm and activation over all channels."""

    def __init__(
        self,
        chs: int,
        kernels: tuple[int, ...],
        *,
        stride: int = 1,
        dilation: int = 1,
        bias: bool = False,
        norm: str = "bn",
        act: str | ShiftMaxConfig = "none",
        eps: float = 1e-5,
        momentum: float = 0.1,
        padding: str = "symmetric",
    ) -> None:
        super().__init__()
        self.splits = split_channels(chs, len(kernels))
        self.convs = nn.ModuleList(
            create_conv(c, c, k, stride=stride, dilation=dilation, groups=c, bias=bias, padding=padding)
            for c, k in zip(self.splits, kernels, strict=True)
        )
        self.norm = create_norm(norm, chs, eps, momentum)
        self.act = create_act(act, chs, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.splits, dim=1)
        y = torch.cat([conv(p) for conv, p in zip(self.convs, parts, strict=True)], dim=1)
        return run(self.act, run(self.norm, y))

    @torch.no_grad()
    def reparameterized(self) -> nn.Module:
        if not isinstance(self.norm, nn.BatchNorm2d):
            return self
        bn, start = self.norm, 0
        for i, (conv, c) in enumerate(zip(self.convs, self.splits, strict=True)):
            part = nn.BatchNorm2d(c, eps=bn.eps).to(bn.running_mean)
            part.running_mean.copy_(bn.running_mean[start : start + c])
            part.running_var.copy_(bn.running_var[start : start + c])
            part.weight.copy_(bn.weight[start : start + c])
            part.bias.copy_(bn.bias[start : start + c])
            self.convs[i] = fuse_conv_bn(conv, part)
            start += c
        self.norm = nn.Identity()
        return self


class GhostModule(nn.Module):
    """Ghost module (GhostNet, https://arxiv.org/abs/1911.11907): a 1x1 conv makes
    ``ceil(out / ratio)`` channels, a cheap depthwise conv of ``kernel`` makes ``ratio - 1`` more
    from each, both with norm and activation; the two are concatenated and cut to ``out`` channels."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        ratio: int,
        kernel: int,
        bias: bool = False,
        norm: str = "bn",
        act: str | ShiftMaxConfig = "none",
        eps: float = 1e-5,
        momentum: float = 0.1,
        padding: str = "symmetric",
    ) -> None:
        super().__init__()
        init = -(-out_chs // ratio)
        self.out_chs = out_chs
        kw = {"bias": bias, "norm": norm, "act": act, "eps": eps, "momentum": momentum, "padding": padding}
        self.primary = ConvNormAct(in_chs, init, 1, **kw)  # type: ignore[arg-type]
        self.cheap = ConvNormAct(init, init * (ratio - 1), kernel, groups=init, **kw)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.primary(x)
        y = torch.cat([x1, self.cheap(x1)], dim=1)
        return y if y.shape[1] == self.out_chs else y[:, : self.out_chs].contiguous()


class MobileMQA(nn.Module):
    """Mobile multi-query attention (MobileNetV4, https://arxiv.org/abs/2404.10518): ``heads`` query
    heads share one key and one value head of ``head_dim``; keys and values may first be
    downsampled by a strided depthwise conv of ``kernel`` + norm; global attention, then a 1x1
    output projection back to the input width."""

    def __init__(
        self,
        chs: int,
        *,
        heads: int,
        head_dim: int,
        kv_stride: int,
        kernel: int,
        bias: bool,
        attn_drop: float,
        norm: str,
        eps: float,
        momentum: float,
        padding: str = "symmetric",
    ) -> None:
        super().__init__()
        self.heads, self.head_dim, self.attn_drop = heads, head_dim, attn_drop
        self.query = nn.Conv2d(chs, heads * head_dim, 1, bias=bias)
        down = kv_stride > 1

        def downsample() -> nn.Module:
            if not down:
                return nn.Identity()
            return ConvNormAct(
                chs, chs, kernel, stride=kv_stride, groups=chs, norm=norm, eps=eps, momentum=momentum, padding=padding
            )

        self.key_down, self.value_down = downsample(), downsample()
        self.key = nn.Conv2d(chs, head_dim, 1, bias=bias)
        self.value = nn.Conv2d(chs, head_dim, 1, bias=bias)
        self.proj = nn.Conv2d(heads * head_dim, chs, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q = self.query(x).reshape(b, self.heads, self.head_dim, h * w).transpose(-1, -2)
        k = self.key(run(self.key_down, x)).flatten(2).transpose(-1, -2).unsqueeze(1)
        v = self.value(run(self.value_down, x)).flatten(2).transpose(-1, -2).unsqueeze(1)
        drop = self.attn_drop if self.training else 0.0
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        return self.proj(o.transpose(-1, -2).reshape(b, self.heads * self.head_dim, h, w))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: ``x * gate(fc2(act(fc1(mean(x)))))`` with 1x1 convs with bias."""

    def __init__(self, chs: int, rd_chs: int, *, act: str, gate: str, inplace: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(chs, rd_chs, 1, bias=True)
        self.act = create_act(act, rd_chs, inplace=True)
        self.fc2 = nn.Conv2d(rd_chs, chs, 1, bias=True)
        self.gate = create_act(gate, chs, inplace=True)
        # ``inplace``: the input is a fresh tensor nobody else reads, so without autograd the gating
        # may overwrite it (saves allocating a tensor of the input's size)
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        g = self.gate(self.fc2(self.act(self.fc1(s))))
        if self.inplace and not torch.is_grad_enabled() and x._base is None:
            return x.mul_(g)
        return x * g


def shift_index(channels: int, groups: int) -> torch.Tensor:
    """Channel ``c`` of the shifted tensor reads ``index[c]``: the next channel inside the next group."""
    per = channels // groups
    c = torch.arange(channels)
    return ((c // per + 1) % groups) * per + (c % per + 1) % per


class DynamicShiftMax(nn.Module):
    """Dynamic shift-max (MicroNet, https://arxiv.org/abs/2108.05894), input-conditioned."""

    def __init__(self, chs: int, cfg: ShiftMaxConfig) -> None:
        super().__init__()
        self.chs = chs
        self.fusions = cfg.fusions
        self.act_max = cfg.act_max
        self.init_a = cfg.init_a
        self.init_b = cfg.init_b
        sq = cfg.squeeze_width(chs)
        self.fc1 = nn.Linear(chs, sq)
        self.fc2 = nn.Linear(sq, chs * 2 * cfg.fusions)
        self.register_buffer("index", shift_index(chs, cfg.groups), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        y = x.mean((2, 3))
        y = F.hardsigmoid(self.fc2(F.relu(self.fc1(y))))
        y = ((y - 0.5) * (2.0 * self.act_max)).reshape(b, -1, 1, 1)
        shifted = x[:, self.index]
        coef = torch.split(y, self.chs, dim=1)
        out = x * (coef[0] + self.init_a[0]) + shifted * (coef[1] + self.init_b[0])
        if self.fusions == 2:
            out2 = x * (coef[2] + self.init_a[1]) + shifted * (coef[3] + self.init_b[1])
            out = torch.maximum(out, out2)
        return out


class ChannelShuffle(nn.Module):
    """One or more channel shuffles applied in order (``groups`` per shuffle), as one permutation."""

    def __init__(self, chs: int, groups: tuple[int, ...]) -> None:
        super().__init__()
        self.groups = tuple(groups)
        index = torch.arange(chs)
        for g in groups:
            index = index[torch.arange(chs).reshape(g, chs // g).t().reshape(-1)]
        self.single = len(groups) == 1
        self.register_buffer("index", index, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.single:
            b, c, h, w = x.shape
            g = self.groups[0]
            return x.reshape(b, g, c // g, h, w).transpose(1, 2).reshape(b, c, h, w)
        return x[:, self.index]


class WindowAttention(nn.Module):
    """Window multi-head self-attention of iRMB (EMO, https://arxiv.org/abs/2301.01146).

    Windows are strided grids: a ``window_size`` window over an ``H`` × ``W`` map takes every
    ``H / window_size``-th pixel. Inputs are zero-padded to a multiple of the window;
    ``window_size <= 0`` attends globally. The value projection is the block's expansion, applied
    after attention when ``attn_pre`` and before it otherwise.
    """

    def __init__(
        self, chs: int, *, head_dim: int, window_size: int, attn_pre: bool, qkv_bias: bool, attn_drop: float
    ) -> None:
        super().__init__()
        self.heads = chs // head_dim
        self.head_dim = head_dim
        self.window_size = window_size
        self.attn_pre = attn_pre
        self.attn_drop = attn_drop
        self.scale = head_dim**-0.5
        self.qk = nn.Conv2d(chs, 2 * chs, 1, bias=qkv_bias)

    def forward(self, x: torch.Tensor, expand: nn.Module) -> torch.Tensor:
        _, _, H, W = x.shape
        wh, ww = (H, W) if self.window_size <= 0 else (self.window_size, self.window_size)
        pad_b, pad_r = (wh - H % wh) % wh, (ww - W % ww) % ww
        if pad_b or pad_r:
            x = F.pad(x, (0, pad_r, 0, pad_b))
        n1, n2 = (H + pad_b) // wh, (W + pad_r) // ww
        x = rearrange(x, "b c (h1 n1) (w1 n2) -> (b n1 n2) c h1 w1", n1=n1, n2=n2)
        h, w = x.shape[2], x.shape[3]
        q, k = rearrange(self.qk(x), "b (qk g d) h w -> qk b g (h w) d", qk=2, g=self.heads)
        drop = self.attn_drop if self.training else 0.0
        if self.attn_pre:
            v = rearrange(x, "b (g d) h w -> b g (h w) d", g=self.heads)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)
            y = expand(rearrange(y, "b g (h w) d -> b (g d) h w", h=h, w=w))
        else:
            v = rearrange(expand(x), "b (g d) h w -> b g (h w) d", g=self.heads)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)
            y = rearrange(y, "b g (h w) d -> b (g d) h w", h=h, w=w)
        y = rearrange(y, "(b n1 n2) c h1 w1 -> b c (h1 n1) (w1 n2)", n1=n1, n2=n2)
        if pad_b or pad_r:
            y = y[:, :, :H, :W].contiguous()
        return y


class ExpandOnly(nn.Module):
    """The attention slot of a block without attention: applies the expansion."""

    def forward(self, x: torch.Tensor, expand: nn.Module) -> torch.Tensor:
        return expand(x)


class DropPath(nn.Module):
    """Stochastic depth per sample (https://arxiv.org/abs/1603.09382)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1.0 - self.p
        return x * self._mask(x, keep) / keep

    def _mask(self, x: torch.Tensor, keep: float) -> torch.Tensor:
        """Ones (kept samples) and zeros, one per sample, broadcast over the rest of ``x``."""
        return x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)


class LayerScale2d(nn.Module):
    """Per-channel learnable scale (``gamma``) on an NCHW tensor."""

    def __init__(self, chs: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((chs,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.reshape(1, -1, 1, 1)


class Shortcut(nn.Module):
    """The block's shortcut: ``split`` divides the input, ``forward`` joins the two paths."""

    def __init__(self, cfg: BlockConfig) -> None:
        super().__init__()
        self.kind = cfg.shortcut
        self.halve = cfg.shortcut == "split" and cfg.stride == 1
        eps, mom, pad = cfg.norm_eps, cfg.norm_momentum, cfg.padding
        self.pool: nn.Module = nn.Identity()
        self.proj: nn.Module = nn.Identity()
        in_chs = cfg.out_chs if cfg.mixer_first else cfg.in_chs
        if self.kind == "conv":
            self.proj = ConvNormAct(
                in_chs, cfg.out_chs, 1, stride=cfg.stride, norm=cfg.norm, eps=eps, momentum=mom, padding=pad
            )
        elif self.kind == "avgpool":
            if cfg.stride > 1:
                self.pool = nn.AvgPool2d(cfg.stride, cfg.stride, ceil_mode=True, count_include_pad=False)
            if in_chs != cfg.out_chs:
                self.proj = ConvNormAct(in_chs, cfg.out_chs, 1, norm=cfg.norm, eps=eps, momentum=mom)
        elif self.kind == "split" and cfg.stride > 1:
            half = cfg.out_chs // 2
            self.proj = nn.Sequential(
                ConvNormAct(
                    in_chs,
                    in_chs,
                    cfg.kernel,
                    stride=cfg.stride,
                    groups=in_chs,
                    norm=cfg.norm,
                    eps=eps,
                    momentum=mom,
                    padding=pad,
                ),
                ConvNormAct(in_chs, half, 1, norm=cfg.norm, act=cfg.project_act, eps=eps, momentum=mom),
            )
        elif self.kind == "dw_conv":
            self.proj = nn.Sequential(
                ConvNormAct(
                    in_chs,
                    in_chs,
                    cfg.kernel,
                    stride=cfg.stride,
                    groups=in_chs,
                    norm=cfg.norm,
                    eps=eps,
                    momentum=mom,
                    padding=pad,
                ),
                ConvNormAct(in_chs, cfg.out_chs, 1, norm=cfg.norm, eps=eps, momentum=mom),
            )
        if self.kind == "split":
            # the join's permutation, as a module for inspection; forward applies it fused with the concat
            self.shuffle: nn.Module = ChannelShuffle(cfg.out_chs, (2,))
        else:
            self.shuffle = nn.Identity()

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.halve:
            s, h = x.chunk(2, dim=1)
            return s, h
        return x, x

    def forward(self, s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if self.kind == "none":
            return h
        parts = self._modules
        s = run(parts["proj"], run(parts["pool"], s))  # type: ignore[arg-type]
        if self.kind == "split":
            # shuffle(cat(s, h)) with 2 groups interleaves the halves: one stack writes that directly
            b, c, height, width = h.shape
            return torch.stack((s, h), dim=2).reshape(b, 2 * c, height, width)
        return add_residual(s, h)


# ------------------------------------------------------------------------------- operators
MixerFactory = Callable[[BlockConfig, int], nn.Module]
MIXERS: Registry[MixerFactory] = Registry("mixer")


def _norm(cfg: BlockConfig, enabled: bool) -> str:
    return cfg.norm if enabled else "none"


@MIXERS.register("dwconv")
def _dwconv(cfg: BlockConfig, stride: int) -> nn.Module:
    w = cfg.widths()["mixer_in"]
    return ConvNormAct(
        w,
        w,
        cfg.kernel,
        stride=stride,
        dilation=cfg.dilation,
        groups=w,
        bias=cfg.mixer_bias,
        norm=_norm(cfg, cfg.mixer_norm),
        act=cfg.mixer_act,
        eps=cfg.norm_eps,
        momentum=cfg.norm_momentum,
        padding=cfg.padding,
    )


@MIXERS.register("conv")
def _conv(cfg: BlockConfig, stride: int) -> nn.Module:
    w = cfg.widths()["mixer_in"]
    return ConvNormAct(
        w,
        w,
        cfg.kernel,
        stride=stride,
        dilation=cfg.dilation,
        groups=cfg.mixer_groups,
        bias=cfg.mixer_bias,
        norm=_norm(cfg, cfg.mixer_norm),
        act=cfg.mixer_act,
        eps=cfg.norm_eps,
        momentum=cfg.norm_momentum,
        padding=cfg.padding,
    )


@MIXERS.register("dw_factorized")
def _dw_factorized(cfg: BlockConfig, stride: int) -> nn.Module:
    return FactorizedDWConv(
        cfg.widths()["mixer_in"],
        cfg.kernel,
        stride=stride,
        mults=cfg.factor_mults,
        norm=_norm(cfg, cfg.mixer_norm),
        act=cfg.mixer_act,
        eps=cfg.norm_eps,
        momentum=cfg.norm_momentum,
        bias=cfg.mixer_bias,
    )


@MIXERS.register("rep_dw")
def _rep_dw(cfg: BlockConfig, stride: int) -> nn.Module:
    return RepDWConv(
        cfg.widths()["mixer_in"],
        cfg.kernel,
        stride=stride,
        scale=cfg.rep_scale,
        identity=cfg.rep_identity,
        post_norm=cfg.rep_post_norm,
        act=cfg.mixer_act,
        eps=cfg.norm_eps,
        momentum=cfg.norm_momentum,
    )


@MIXERS.register("dw_mixed")
def _dw_mixed(cfg: BlockConfig, stride: int) -> nn.Module:
    return MixedDWConv(
        cfg.widths()["mixer_in"],
        cfg.mixed_kernels,
        stride=stride,
        dilation=cfg.dilation,
        bias=cfg.mixer_bias,
        norm=_norm(cfg, cfg.mixer_norm),
        act=cfg.mixer_act,
        eps=cfg.norm_eps,
        momentum=cfg.norm_momentum,
        padding=cfg.padding,
    )


@MIXERS.register("mqa")
def _mqa(cfg: BlockConfig, stride: int) -> nn.Module:
    w = cfg.widths()
    return MobileMQA(
        w["mixer_in"],
        heads=w["heads"],
        head_dim=cfg.head_dim,
        kv_stride=cfg.kv_stride,
        kernel=cfg.kernel,
        bias=cfg.qkv_bias,
        attn_drop=cfg.attn_drop,
        norm=cfg.norm,
        eps=cfg.norm_eps,
        momentum=cfg.norm_momentum,
        padding=cfg.padding,
    )


@MIXERS.register("window_mhsa")
def _window_mhsa(cfg: BlockConfig, stride: int) -> nn.Module:
    # the attention itself sits in the block's attention slot; F keeps the cascaded depthwise conv
    if cfg.kernel == 0:
        return nn.Identity()
    return _dwconv(cfg, stride)


@MIXERS.register("identity")
def _identity(cfg: BlockConfig, stride: int) -> nn.Module:
    return nn.Identity()
