"""``MetaMobileBlock``: one module class for every block family."""

from __future__ import annotations

import torch
from torch import nn

from .config import BlockConfig, check_weights_fit
from .layers import (
    MIXERS,
    ChannelShuffle,
    ConvNormAct,
    DropPath,
    ExpandOnly,
    GhostModule,
    LayerScale2d,
    Shortcut,
    SqueezeExcite,
    WindowAttention,
    add_residual,
    create_act,
    create_norm,
    run,
)


def _shuffle(chs: int, groups: tuple[int, ...]) -> nn.Module:
    return ChannelShuffle(chs, groups) if groups else nn.Identity()


class MetaMobileBlock(nn.Module):
    """The Meta Mobile Block (EMO, https://arxiv.org/abs/2301.01146), generalised.

    ``y = shortcut(x) ⊕ Project(F(Expand(Norm(x))))`` where every part comes from a
    :class:`BlockConfig`; parts that are switched off are ``nn.Identity`` so the module layout and
    ``forward`` are the same for every preset.

    Args:
        cfg: the block's configuration.

    Example:
        >>> from metablock import block_config
        >>> block = MetaMobileBlock(block_config("mobilenet_v2_ir", in_chs=16, out_chs=16))
        >>> block(torch.randn(2, 16, 8, 8)).shape
        torch.Size([2, 16, 8, 8])
    """

    def __init__(self, cfg: BlockConfig) -> None:
        super().__init__()
        if not isinstance(cfg, BlockConfig):
            raise TypeError(f"MetaMobileBlock takes a BlockConfig; got {type(cfg).__name__}")
        check_weights_fit(cfg.estimate_params(), f"a block of {cfg.in_chs} -> {cfg.out_chs} channels")
        self.cfg = cfg
        w = cfg.widths()
        eps, mom = cfg.norm_eps, cfg.norm_momentum
        slot = cfg.stride_slot

        def stride_of(name: str) -> int:
            return cfg.stride if slot == name else 1

        def norm_of(enabled: bool) -> str:
            return cfg.norm if enabled else "none"

        self.mixer_first = cfg.mixer_first
        self.inner_skip = cfg.inner_skip

        if cfg.mixer_first and (cfg.stride > 1 or cfg.in_chs != cfg.out_chs):
            self.transition: nn.Module = ConvNormAct(cfg.in_chs, cfg.out_chs, 1, norm=cfg.norm, eps=eps, momentum=mom)
        else:
            self.transition = nn.Identity()
        self.shortcut = Shortcut(cfg)
        # "none" and "identity" joins are done inline in forward (no module call on the hot path)
        self.join = cfg.shortcut if cfg.shortcut in ("none", "identity") else "module"
        self.norm_in = create_norm(cfg.norm_in, w["main_in"], eps, mom)
        if cfg.pre_dw_kernel:
            self.pre_dw: nn.Module = ConvNormAct(
                w["main_in"],
                w["main_in"],
                cfg.pre_dw_kernel,
                stride=stride_of("pre_dw"),
                dilation=cfg.dilation,
                groups=w["main_in"],
                norm=cfg.norm,
                eps=eps,
                momentum=mom,
                padding=cfg.padding,
            )
        else:
            self.pre_dw = nn.Identity()

        if cfg.has_attention:
            self.attn: nn.Module = WindowAttention(
                w["main_in"],
                head_dim=cfg.head_dim,
                window_size=cfg.window_size,
                attn_pre=cfg.attn_pre,
                qkv_bias=cfg.qkv_bias,
                attn_drop=cfg.attn_drop,
            )
        else:
            self.attn = ExpandOnly()
        if cfg.expand == "none":
            self.expand: nn.Module = nn.Identity()
        elif cfg.expand == "ghost":
            self.expand = GhostModule(
                w["main_in"],
                w["hidden"],
                ratio=cfg.ghost_ratio,
                kernel=cfg.ghost_kernel,
                bias=cfg.expand_bias,
                norm=norm_of(cfg.expand_norm),
                act=cfg.expand_act,
                eps=eps,
                momentum=mom,
                padding=cfg.padding,
            )
        else:
            fused = cfg.expand == "fused"
            self.expand = ConvNormAct(
                w["main_in"],
                w["hidden"],
                cfg.expand_kernel if fused else 1,
                stride=stride_of("expand"),
                groups=w["heads"] if cfg.v_group else cfg.expand_groups,
                bias=cfg.expand_bias,
                norm=norm_of(cfg.expand_norm),
                act=cfg.expand_act,
                eps=eps,
                momentum=mom,
                padding=cfg.padding,
            )
        self.expand_shuffle = _shuffle(w["hidden"], cfg.expand_shuffle)

        self.mixer = MIXERS.get(cfg.mixer)(cfg, stride_of("mixer"))
        if w["se"]:
            # every operator but "identity" hands the gate a fresh tensor it may overwrite
            self.se: nn.Module = SqueezeExcite(
                w["mixer_out"],
                w["se"],
                act=cfg.se_act,
                gate=cfg.se_gate,
                inplace=type(self.mixer) is not nn.Identity,
            )
        else:
            self.se = nn.Identity()
        self.mixer_shuffle = _shuffle(w["mixer_out"], cfg.mixer_shuffle)

        if cfg.project == "none":
            self.project: nn.Module = nn.Identity()
        elif cfg.project == "ghost":
            self.project = GhostModule(
                w["mixer_out"],
                w["main_out"],
                ratio=cfg.ghost_ratio,
                kernel=cfg.ghost_kernel,
                bias=cfg.project_bias,
                norm=norm_of(cfg.project_norm),
                act=cfg.project_act,
                eps=eps,
                momentum=mom,
                padding=cfg.padding,
            )
        else:
            self.project = ConvNormAct(
                w["mixer_out"] if not cfg.mixer_first else w["hidden"],
                w["main_out"],
                cfg.project_kernel if cfg.project == "conv" else 1,
                groups=cfg.project_groups,
                bias=cfg.project_bias,
                norm=norm_of(cfg.project_norm),
                act=cfg.project_act,
                eps=eps,
                momentum=mom,
                padding=cfg.padding,
            )
        if cfg.project_norm_init != 1.0:
            for norm in self.project.modules():
                if isinstance(norm, nn.modules.batchnorm._NormBase):
                    nn.init.constant_(norm.weight, cfg.project_norm_init)
        self.project_shuffle = _shuffle(w["main_out"], cfg.project_shuffle)
        if cfg.post_dw_kernel:
            self.post_dw: nn.Module = ConvNormAct(
                w["main_out"],
                w["main_out"],
                cfg.post_dw_kernel,
                stride=stride_of("post_dw"),
                dilation=cfg.dilation,
                groups=w["main_out"],
                norm=cfg.norm,
                eps=eps,
                momentum=mom,
                padding=cfg.padding,
            )
        else:
            self.post_dw = nn.Identity()
        self.layer_scale = LayerScale2d(w["main_out"], cfg.layer_scale) if cfg.layer_scale else nn.Identity()
        # stochastic depth drops the residual branch; without a shortcut there is none (as timm/torchvision)
        has_branch = cfg.drop_path and cfg.shortcut != "none"
        self.drop_path = DropPath(cfg.drop_path) if has_branch else nn.Identity()
        # a joining shortcut returns a fresh tensor, which the post activation may overwrite
        self.post_act = create_act(cfg.post_act, cfg.out_chs, inplace=cfg.shortcut != "none")

    # Switched-off parts are nn.Identity modules (so the module layout is the same for every preset);
    # ``run`` skips calling them, and parts are read from ``_modules`` directly rather than through
    # ``nn.Module.__getattr__``, which keeps the per-block Python overhead that of a hand-written block.
    def _mix(self, h: torch.Tensor, parts: dict[str, nn.Module]) -> torch.Tensor:
        m = run(parts["se"], run(parts["mixer"], h))
        if self.inner_skip:
            m = add_residual(h, m)
        return run(parts["mixer_shuffle"], m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts: dict[str, nn.Module] = self._modules  # type: ignore[assignment]
        if self.mixer_first:
            x = run(parts["transition"], self._mix(x, parts))
        join = self.join
        if join == "module":
            shortcut: Shortcut = parts["shortcut"]  # type: ignore[assignment]
            s, h = shortcut.split(x)
        else:
            s = h = x
        h = run(parts["norm_in"], h)
        h = run(parts["pre_dw"], h)
        attn = parts["attn"]
        h = run(parts["expand"], h) if type(attn) is ExpandOnly else attn(h, parts["expand"])
        h = run(parts["expand_shuffle"], h)
        if not self.mixer_first:
            h = self._mix(h, parts)
        h = run(parts["project"], h)
        h = run(parts["project_shuffle"], h)
        h = run(parts["post_dw"], h)
        h = run(parts["drop_path"], run(parts["layer_scale"], h))
        if join == "identity":
            h = add_residual(s, h)
        elif join == "module":
            h = shortcut(s, h)
        return run(parts["post_act"], h)

    def extra_repr(self) -> str:
        c = self.cfg
        return f"{c.in_chs} -> {c.out_chs}, stride={c.stride}, mixer={c.mixer}, shortcut={c.shortcut}"
