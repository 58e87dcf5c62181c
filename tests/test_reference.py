"""from_reference: every reference block class converts with equal parameters and equal outputs."""

from __future__ import annotations

import copy
import re
from functools import partial

import pytest
import torch
from torch import nn

import metablock
from metablock.config import canonical
from metablock.testing import manifest_of, random_state_dict, seeded_input

tv_models = pytest.importorskip("torchvision.models")
timm = pytest.importorskip("timm")

from timm.models import _efficientnet_blocks as timm_eb  # noqa: E402
from timm.models import ghostnet as timm_ghost  # noqa: E402
from timm.models import repvit as timm_repvit  # noqa: E402
from timm.models import resnet as timm_resnet  # noqa: E402
from torchvision.models import efficientnet as tv_eff  # noqa: E402
from torchvision.models import mnasnet as tv_mnasnet  # noqa: E402
from torchvision.models import mobilenetv2 as tv_v2  # noqa: E402
from torchvision.models import mobilenetv3 as tv_v3  # noqa: E402
from torchvision.models import regnet as tv_regnet  # noqa: E402
from torchvision.models import resnet as tv_resnet  # noqa: E402
from torchvision.models import shufflenetv2 as tv_shuffle  # noqa: E402

V3_BN = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


def _downsample(in_chs: int, out_chs: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, stride, bias=False), nn.BatchNorm2d(out_chs))


def _v3(*args: object) -> nn.Module:
    return tv_v3.InvertedResidual(tv_v3.InvertedResidualConfig(*args, width_mult=1.0), V3_BN)


def _mb(*args: int) -> nn.Module:
    return tv_eff.MBConv(tv_eff.MBConvConfig(*args, num_layers=1), 0.0, nn.BatchNorm2d)


def _fused(*args: int) -> nn.Module:
    return tv_eff.FusedMBConv(tv_eff.FusedMBConvConfig(*args, num_layers=1), 0.0, partial(nn.BatchNorm2d, eps=1e-3))


def _uir(in_chs: int, out_chs: int, start: int, mid: int, end: int, stride: int, exp: float, **kw: object) -> nn.Module:
    return timm_eb.UniversalInvertedResidual(
        in_chs,
        out_chs,
        dw_kernel_size_start=start,
        dw_kernel_size_mid=mid,
        dw_kernel_size_end=end,
        stride=stride,
        exp_ratio=exp,
        **kw,
    )


TIMM_SE = partial(timm_eb.SqueezeExcite, rd_ratio=0.25)

CASES: dict[str, tuple[object, ...]] = {
    # torchvision MobileNetV2 (inp, oup, stride, expand_ratio)
    "v2-s1-e6": (tv_v2.InvertedResidual, 16, 16, 1, 6),
    "v2-s2-e6": (tv_v2.InvertedResidual, 16, 24, 2, 6),
    "v2-e1": (tv_v2.InvertedResidual, 32, 16, 1, 1),
    "v2-odd-e3": (tv_v2.InvertedResidual, 13, 13, 1, 3),
    "v2-odd-s2-e1": (tv_v2.InvertedResidual, 20, 12, 2, 1),
    # torchvision MobileNetV3 (in, kernel, expanded, out, use_se, act, stride, dilation)
    "v3-noexp-se-s2": (_v3, 16, 3, 16, 16, True, "RE", 2, 1),
    "v3-relu-s1": (_v3, 24, 3, 72, 24, False, "RE", 1, 1),
    "v3-hs-se": (_v3, 40, 5, 240, 40, True, "HS", 1, 1),
    "v3-hs-se-s2": (_v3, 40, 3, 120, 48, True, "HS", 2, 1),
    "v3-hs-dilated": (_v3, 160, 5, 960, 160, True, "HS", 1, 2),
    # torchvision EfficientNet MBConv (expand_ratio, kernel, stride, in, out)
    "mbconv-e1": (_mb, 1, 3, 1, 32, 16),
    "mbconv-e6-s2": (_mb, 6, 3, 2, 16, 24),
    "mbconv-e6-k5": (_mb, 6, 5, 1, 40, 40),
    "mbconv-e4": (_mb, 4, 3, 1, 24, 24),
    # torchvision FusedMBConv
    "fused-e1": (_fused, 1, 3, 1, 24, 24),
    "fused-e1-s2": (_fused, 1, 3, 2, 24, 32),
    "fused-e4-s2": (_fused, 4, 3, 2, 24, 48),
    "fused-e4": (_fused, 4, 3, 1, 48, 48),
    # torchvision ShuffleNetV2 unit (inp, oup, stride)
    "shuffle-s1": (tv_shuffle.InvertedResidual, 116, 116, 1),
    "shuffle-s2": (tv_shuffle.InvertedResidual, 24, 116, 2),
    "shuffle-odd-s1": (tv_shuffle.InvertedResidual, 58, 58, 1),
    "shuffle-odd-s2": (tv_shuffle.InvertedResidual, 20, 44, 2),
    # torchvision ResNet
    "basic": (tv_resnet.BasicBlock, 64, 64, 1),
    "basic-s2": (lambda: tv_resnet.BasicBlock(20, 36, 2, _downsample(20, 36, 2)),),
    "bottleneck": (tv_resnet.Bottleneck, 256, 64, 1),
    "bottleneck-proj": (lambda: tv_resnet.Bottleneck(64, 64, 1, _downsample(64, 256, 1)),),
    "bottleneck-s2-groups": (
        lambda: tv_resnet.Bottleneck(36, 32, 2, _downsample(36, 128, 2), groups=4, base_width=32),
    ),
    # torchvision MNASNet inverted residual (in, out, kernel, stride, expansion factor, bn momentum)
    "mnasnet-ir": (lambda: tv_mnasnet._InvertedResidual(24, 24, 3, 1, 3, bn_momentum=0.0003),),
    "mnasnet-ir-s2-k5": (lambda: tv_mnasnet._InvertedResidual(24, 40, 5, 2, 6),),
    # torchvision RegNet bottleneck (X: no SE; Y: SE; grouped 3x3)
    "regnet-x": (lambda: tv_regnet.ResBottleneckBlock(64, 64, 1, nn.BatchNorm2d, nn.ReLU, 16, 1.0, None),),
    "regnet-y-s2": (lambda: tv_regnet.ResBottleneckBlock(48, 104, 2, nn.BatchNorm2d, nn.ReLU, 8, 1.0, 0.25),),
    # timm ResNet blocks (ResNet-D avg_down shortcut, ResNeXt groups)
    "timm-basic-s2": (lambda: timm_resnet.BasicBlock(32, 64, 2, downsample=_downsample(32, 64, 2)),),
    "timm-bottleneck-avgdown": (
        lambda: timm_resnet.Bottleneck(
            64,
            32,
            2,
            downsample=nn.Sequential(
                nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False), *_downsample(64, 128, 1)
            ),
            cardinality=4,
            base_width=16,
        ),
    ),
    "timm-bottleneck": (lambda: timm_resnet.Bottleneck(128, 32, 1, act_layer=nn.SiLU),),
    # timm RepViT
    "repvit-se": (lambda: timm_repvit.RepViTBlock(48, 2, 3, True, nn.GELU),),
    "repvit-legacy": (lambda: timm_repvit.RepViTBlock(48, 2, 3, False, nn.GELU, legacy=True),),
    "repvit-odd-se": (lambda: timm_repvit.RepViTBlock(20, 2, 3, True, nn.GELU),),
    "repvit-k5": (lambda: timm_repvit.RepViTBlock(64, 2, 5, True, nn.GELU),),
    "repvit-down": (lambda: timm_repvit.RepVitDownsample(48, 2, 96, 3, nn.GELU),),
    "repvit-down-legacy": (lambda: timm_repvit.RepVitDownsample(40, 2, 56, 3, nn.GELU, legacy=True),),
    # timm MobileNetV4 universal inverted residual
    "uib-extradw-s2": (lambda: _uir(32, 64, 3, 5, 0, 2, 4.0, layer_scale_init_value=None),),
    "uib-convnext": (lambda: _uir(64, 64, 3, 0, 0, 1, 4.0),),
    "uib-ib": (lambda: _uir(64, 64, 0, 3, 0, 1, 4.0, layer_scale_init_value=None),),
    "uib-ffn": (lambda: _uir(64, 64, 0, 0, 0, 1, 2.0),),
    "uib-end-s2": (lambda: _uir(24, 40, 0, 0, 3, 2, 3.0, layer_scale_init_value=None),),
    "uib-dilated": (lambda: _uir(32, 32, 0, 3, 0, 1, 4.0, dilation=2),),
    "uib-dilated-start": (lambda: _uir(32, 32, 5, 3, 0, 1, 2.0, dilation=2, layer_scale_init_value=None),),
    "uib-same-s1": (lambda: _uir(32, 32, 3, 5, 0, 1, 2.0, pad_type="same"),),  # static: symmetric
    # timm EfficientNet-family blocks: ds, ir, er (any option their block strings generate)
    "timm-ds": (lambda: timm_eb.DepthwiseSeparableConv(32, 32, 3),),
    "timm-ds-s2-se-pwact": (
        lambda: timm_eb.DepthwiseSeparableConv(
            16, 24, 5, stride=2, se_layer=TIMM_SE, pw_act=True, act_layer=nn.Hardswish
        ),
    ),
    "timm-ir": (lambda: timm_eb.InvertedResidual(24, 24, 3, exp_ratio=6.0, act_layer=nn.ReLU6),),
    "timm-ir-e1": (lambda: timm_eb.InvertedResidual(16, 16, 3, exp_ratio=1.0),),
    "timm-ir-s2-se-silu": (
        lambda: timm_eb.InvertedResidual(16, 40, 5, stride=2, exp_ratio=4.0, se_layer=TIMM_SE, act_layer=nn.SiLU),
    ),
    "timm-ir-dilated": (lambda: timm_eb.InvertedResidual(24, 24, 3, dilation=2, exp_ratio=3.0),),
    "timm-er": (lambda: timm_eb.EdgeResidual(24, 24, 3, exp_ratio=4.0, act_layer=nn.SiLU),),
    "timm-er-s2-se": (lambda: timm_eb.EdgeResidual(16, 32, 3, stride=2, exp_ratio=4.0, se_layer=TIMM_SE),),
    "timm-er-grouped": (lambda: timm_eb.EdgeResidual(16, 32, 3, stride=2, exp_ratio=4.0, group_size=8),),
    "convbnact-k3-s2": (lambda: timm_eb.ConvBnAct(16, 24, 3, stride=2),),
    "convbnact-skip": (lambda: timm_eb.ConvBnAct(20, 20, 1, skip=True, act_layer=nn.SiLU),),
    # timm GhostNet bottleneck (in, mid, out, dw kernel, stride, se ratio)
    "ghost-s1": (lambda: timm_ghost.GhostBottleneck(16, 48, 16, 3, 1),),
    "ghost-s2-se-k5": (lambda: timm_ghost.GhostBottleneck(24, 72, 40, 5, 2, se_ratio=0.25),),
    "ghost-s1-widen-odd": (lambda: timm_ghost.GhostBottleneck(40, 75, 35, 3, 1, se_ratio=0.25),),
    # MixNet: timm ir/ds blocks with mixed depthwise kernels and grouped 1x1 convs (MixedConv2d)
    "mixnet-ir-se": (
        lambda: timm_eb.InvertedResidual(
            40,
            40,
            [3, 5],
            exp_ratio=6.0,
            exp_kernel_size=[1, 1],
            pw_kernel_size=[1, 1],
            se_layer=partial(timm_eb.SqueezeExcite, rd_ratio=0.5 / 6),
            act_layer=nn.SiLU,
        ),
    ),
    "mixnet-ir-s2-odd": (lambda: timm_eb.InvertedResidual(20, 40, [3, 5, 7], stride=2, exp_ratio=1.0),),
    "mixnet-ir-dilated": (lambda: timm_eb.InvertedResidual(24, 24, [3, 5], dilation=2, exp_ratio=2.0),),
    "mixnet-ds": (lambda: timm_eb.DepthwiseSeparableConv(24, 32, [3, 5, 7, 9], pw_kernel_size=[1, 1]),),
    # timm MobileNetV4 Mobile MQA block
    "mqa-kv2": (
        lambda: timm_eb.MobileAttention(
            64, 64, num_heads=4, key_dim=16, value_dim=16, use_multi_query=True, kv_stride=2
        ),
    ),
    "mqa-k5-noscale": (
        lambda: timm_eb.MobileAttention(
            48,
            48,
            dw_kernel_size=5,
            num_heads=2,
            key_dim=32,
            value_dim=32,
            use_multi_query=True,
            kv_stride=2,
            layer_scale_init_value=None,
        ),
    ),
    "mqa-global": (lambda: timm_eb.MobileAttention(32, 32, num_heads=3, key_dim=8, value_dim=8, use_multi_query=True),),
    "uib-se-odd": (
        lambda: _uir(
            20, 20, 3, 3, 0, 1, 3.0, act_layer=nn.Hardswish, se_layer=partial(timm_eb.SqueezeExcite, rd_ratio=0.25)
        ),
    ),
}


def _build(case: tuple[object, ...]) -> nn.Module:
    ctor, *args = case
    return ctor(*args)  # type: ignore[operator]


def _in_chs(module: nn.Module) -> int:
    first = next(m for m in module.modules() if isinstance(m, metablock.MetaMobileBlock))
    return first.cfg.in_chs


@pytest.fixture(params=sorted(CASES), ids=str)
def converted(request: pytest.FixtureRequest) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    ref = _build(CASES[request.param])
    ref.load_state_dict(random_state_dict(manifest_of(ref.state_dict()), seed=1))
    ours = metablock.from_reference(ref)
    x = seeded_input((2, _in_chs(ours), 11, 13), seed=2)
    return ref, ours, x


def test_parameter_counts_equal(converted: tuple[nn.Module, nn.Module, torch.Tensor]) -> None:
    ref, ours, _ = converted
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ours) == count(ref)
    assert sum(b.numel() for b in ours.buffers() if b.is_floating_point()) == sum(
        b.numel() for b in ref.buffers() if b.is_floating_point()
    )


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_outputs_equal(converted: tuple[nn.Module, nn.Module, torch.Tensor], mode: str) -> None:
    ref, ours, x = converted
    ref.train(mode == "train")
    ours.train(mode == "train")
    with torch.no_grad():
        expected = ref(x)
        got = ours(x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-5


def test_reparameterized_converted_block_equal(converted: tuple[nn.Module, nn.Module, torch.Tensor]) -> None:
    ref, ours, x = converted
    ref.eval()
    fused = metablock.reparameterize(copy.deepcopy(ours).eval())
    # every BatchNorm after a conv is folded; a pre-norm (Mobile MQA's) has no conv before it to fold into
    assert not any(isinstance(m, nn.BatchNorm2d) and name != "norm_in" for name, m in fused.named_modules())
    with torch.no_grad():
        assert (fused(x) - ref(x)).abs().max().item() <= 1e-4


NETWORK_CLASSES = {
    "torchvision.models.mobilenetv2.MobileNetV2",
    "torchvision.models.mobilenetv3.MobileNetV3",
    "torchvision.models.efficientnet.EfficientNet",
    "torchvision.models.shufflenetv2.ShuffleNetV2",
    "torchvision.models.resnet.ResNet",
    "timm.models.repvit.RepVit",
    "timm.models.mobilenetv3.MobileNetV3",
    "timm.models.efficientnet.EfficientNet",
    "torchvision.models.mnasnet.MNASNet",
    "torchvision.models.regnet.RegNet",
    "timm.models.resnet.ResNet",
    "timm.models.ghostnet.GhostNet",
}


def test_every_reference_block_class_is_covered() -> None:
    covered = {metablock.reference._qualname(_build(c)) for c in CASES.values()}  # type: ignore[attr-defined]
    assert covered == set(metablock.list_reference_classes()) - NETWORK_CLASSES


def test_unknown_reference_class_names_supported_ones() -> None:
    with pytest.raises(metablock.ConfigError, match="InvertedResidual"):
        metablock.from_reference(nn.Conv2d(3, 3, 1))


# ------------------------------------------------------------------- nothing converts silently wrong
def _blur(channels: int, **kw: object) -> nn.Module:
    from timm.layers import BlurPool2d

    return BlurPool2d(channels, **kw)


REFUSED = {
    # (reference, text the error names)
    "uib-aa-s2": (lambda: _uir(16, 24, 3, 5, 0, 2, 4.0, aa_layer=_blur), "aa_layer=BlurPool2d at 'dw_mid.aa'"),
    "convbnact-dilated": (lambda: timm_eb.ConvBnAct(16, 16, 3, dilation=2), "'conv' has dilation=(2, 2)"),
    "convbnact-valid": (lambda: timm_eb.ConvBnAct(16, 16, 3, pad_type="valid"), "'conv' has padding=(0, 0)"),
    "v2-reflect": (lambda: _reflect(tv_v2.InvertedResidual(16, 16, 1, 6)), "padding_mode='reflect'"),
    "ir-aa-s2": (
        lambda: timm_eb.InvertedResidual(16, 24, 3, stride=2, exp_ratio=4.0, aa_layer="avg"),
        "aa_layer=AvgPool2d at 'aa'",
    ),
    "ir-s2d": (lambda: timm_eb.InvertedResidual(16, 24, 3, stride=1, exp_ratio=4.0, s2d=1), "s2d=1"),
    "mixnet-unequal-groups": (
        lambda: timm_eb.InvertedResidual(21, 21, 3, exp_ratio=3.0, exp_kernel_size=[1, 1]),
        "MixedConv2d at 'conv_pw' splits 21 -> 64 channels into unequal groups [11, 10] -> [32, 32]",
    ),
    "mixnet-mixed-expansion": (
        lambda: timm_eb.InvertedResidual(16, 16, 3, exp_ratio=4.0, exp_kernel_size=[1, 3]),
        "kernel_size=[1, 3] at 'conv_pw'",
    ),
    "ghostv2": (lambda: timm_ghost.GhostBottleneck(16, 48, 24, 3, 2, mode="attn"), "GhostModuleV2"),
    "mhsa-not-mqa": (
        lambda: timm_eb.MobileAttention(32, 32, num_heads=4, key_dim=8, value_dim=8, use_multi_query=False),
        "use_multi_query=False",
    ),
    "mqa-query-stride": (
        lambda: timm_eb.MobileAttention(
            32, 32, num_heads=2, key_dim=8, value_dim=8, use_multi_query=True, query_strides=2
        ),
        "query_strides=(2, 2)",
    ),
    "mqa-cpe": (
        lambda: timm_eb.MobileAttention(
            32, 32, num_heads=2, key_dim=8, value_dim=8, use_multi_query=True, use_cpe=True
        ),
        "use_cpe=True",
    ),
}


def _reflect(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1):
            m.padding_mode = "reflect"
    return module


@pytest.mark.parametrize("case", sorted(REFUSED), ids=str)
def test_attributes_without_equivalent_are_refused_by_name(case: str) -> None:
    make, text = REFUSED[case]
    ref = make()
    with torch.no_grad():  # the reference itself works: only the conversion is refused
        ref.eval()(
            seeded_input((1, next(m for m in ref.modules() if hasattr(m, "in_channels")).in_channels, 16, 16), seed=0)
        )
    with pytest.raises(metablock.ConfigError, match=re.escape(text)):
        metablock.from_reference(ref)


def test_a_converter_that_loses_an_attribute_is_caught_by_the_output_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # a reference attribute no converter reads (here a changed BN epsilon behind the converter's back)
    # must still not convert silently: the outputs are compared before the block is returned
    ref = tv_v2.InvertedResidual(16, 16, 1, 6)
    ref.load_state_dict(random_state_dict(manifest_of(ref.state_dict()), seed=1))
    family = metablock.families.mobilenet  # where torchvision's MobileNetV2 converter lives
    original = family._norm_kwargs
    monkeypatch.setattr(family, "_norm_kwargs", lambda bn: {**original(bn), "norm_eps": 0.5})
    with pytest.raises(metablock.ConfigError, match="does not reproduce the reference"):
        metablock.from_reference(ref)
    monkeypatch.undo()
    assert isinstance(metablock.from_reference(ref), metablock.MetaMobileBlock)


def test_grouped_or_larger_kernels_than_the_slot_takes_are_refused_not_reshaped() -> None:
    for ref in (
        timm_eb.DepthwiseSeparableConv(32, 32, 3, group_size=8),
        timm_eb.InvertedResidual(32, 32, 3, exp_ratio=4.0, exp_kernel_size=3),
    ):
        with pytest.raises(metablock.ConfigError, match="has shape"):
            metablock.from_reference(ref)


def test_a_reference_in_another_dtype_converts_and_is_checked() -> None:
    ref = tv_v2.InvertedResidual(16, 16, 1, 4).to(torch.bfloat16)
    ours = metablock.from_reference(ref)
    assert next(ours.parameters()).dtype == torch.float32 and next(ref.parameters()).dtype == torch.bfloat16


def test_blocks_without_a_skip_drop_nothing_in_training_like_the_reference() -> None:
    ref = timm_eb.InvertedResidual(16, 24, 3, stride=2, exp_ratio=4.0, drop_path_rate=0.5).train()
    ours = metablock.from_reference(ref).train()
    assert ours.cfg.drop_path == 0.0
    built = metablock.MetaMobileBlock(ours.cfg.replace(drop_path=0.5)).train()  # a stray rate has no effect
    x = seeded_input((64, 16, 8, 8), seed=4)
    for block in (ours, built):
        assert (block(x).flatten(1).abs().sum(1) > 0).all()


#: the block presets of new families and a reference module with the same settings
PRESETS = {
    "ghost_bottleneck": (
        lambda: timm_ghost.GhostBottleneck(40, 240, 80, 5, 2, se_ratio=0.25),
        {"in_chs": 40, "out_chs": 80, "stride": 2, "hidden_chs": 240, "kernel": 5, "se_ratio": 0.25},
    ),
    "mixnet_block": (
        lambda: timm_eb.InvertedResidual(
            40,
            40,
            [3, 5],
            exp_ratio=6.0,
            exp_kernel_size=[1, 1],
            pw_kernel_size=[1, 1],
            se_layer=partial(timm_eb.SqueezeExcite, rd_ratio=0.5 / 6),
            act_layer=nn.SiLU,
        ),
        {"in_chs": 40, "out_chs": 40, "kernels": (3, 5), "groups": 2, "se_ratio": 0.5},
    ),
    "mobile_mqa": (
        lambda: timm_eb.MobileAttention(
            160, 160, num_heads=4, key_dim=64, value_dim=64, use_multi_query=True, kv_stride=2
        ),
        {"chs": 160, "num_heads": 4, "head_dim": 64, "kv_stride": 2},
    ),
    "regnet_y_block": (
        lambda: tv_regnet.ResBottleneckBlock(48, 104, 2, nn.BatchNorm2d, nn.ReLU, 8, 1.0, 0.25),
        {"in_chs": 48, "out_chs": 104, "stride": 2, "group_width": 8, "se_ratio": 0.25},
    ),
    "edge_residual": (
        # timm's builder gives SE a ratio of the block input: se_ratio / exp_ratio of the expansion
        lambda: timm_eb.EdgeResidual(
            24, 32, 3, stride=2, exp_ratio=4.0, se_layer=partial(timm_eb.SqueezeExcite, rd_ratio=0.25 / 4.0)
        ),
        {"in_chs": 24, "out_chs": 32, "stride": 2, "exp_ratio": 4.0, "se_ratio": 0.25},
    ),
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_new_family_preset_equals_its_reference(name: str) -> None:
    make, kwargs = PRESETS[name]
    ref = make()
    ref.load_state_dict(random_state_dict(manifest_of(ref.state_dict()), seed=5))
    converted = metablock.from_reference(ref)
    cfg = metablock.block_config(name, **kwargs)
    same = lambda c: canonical(metablock.presets.explicit_se(c))  # noqa: E731 (one form per block)
    assert same(cfg) == same(converted.cfg)
    block = metablock.MetaMobileBlock(cfg)
    block.load_state_dict(converted.state_dict())  # strict: the preset has the reference's layout
    x = seeded_input((2, cfg.in_chs, 14, 14), seed=6)
    for training in (False, True):
        ref.train(training), block.train(training)
        with torch.no_grad():
            assert (block(x) - ref(x)).abs().max().item() <= 1e-5


#: timm blocks with TensorFlow SAME padding (pad_type="same") at stride 2: every strided conv pads by
#: what the input size needs, the odd pixel on the bottom/right
SAME = {
    "uib-same-s2": lambda: _uir(16, 24, 3, 5, 0, 2, 4.0, pad_type="same"),
    "convbnact-same-s2": lambda: timm_eb.ConvBnAct(16, 24, 3, stride=2, pad_type="same"),
    "ir-same-s2-k5": lambda: timm_eb.InvertedResidual(16, 24, 5, stride=2, exp_ratio=4.0, pad_type="same"),
    "ds-same-s2": lambda: timm_eb.DepthwiseSeparableConv(16, 24, 3, stride=2, pad_type="same"),
    "er-same-s2": lambda: timm_eb.EdgeResidual(16, 24, 3, stride=2, exp_ratio=4.0, pad_type="same"),
    "mixnet-same-s2": lambda: timm_eb.InvertedResidual(16, 24, [3, 5, 7], stride=2, exp_ratio=3.0, pad_type="same"),
    "mqa-same-kv2": lambda: timm_eb.MobileAttention(
        32, 32, num_heads=2, key_dim=16, value_dim=16, use_multi_query=True, kv_stride=2, pad_type="same"
    ),
}


@pytest.mark.parametrize("name", sorted(SAME))
def test_tensorflow_same_padding_converts_exactly_at_every_input_size(name: str) -> None:
    ref = SAME[name]()
    ref.load_state_dict(random_state_dict(manifest_of(ref.state_dict()), seed=1))
    ref.eval()
    ours = metablock.from_reference(ref).eval()
    assert ours.cfg.padding == "same"
    symmetric = metablock.MetaMobileBlock(ours.cfg.replace(padding="symmetric")).eval()
    symmetric.load_state_dict(ours.state_dict())
    for h, w in ((12, 14), (11, 13), (16, 9)):
        x = seeded_input((2, ours.cfg.in_chs, h, w), seed=h)
        with torch.no_grad():
            expected, got = ref(x), ours(x)
            assert got.shape == expected.shape
            assert (got - expected).abs().max().item() <= 1e-5
            if (h, w) == (12, 14):  # even sizes pad asymmetrically: symmetric padding is a different block
                assert (symmetric(x) - expected).abs().max().item() > 1e-3
    fused = metablock.reparameterize(copy.deepcopy(ours))
    with torch.no_grad():
        assert (fused(x) - ref(x)).abs().max().item() <= 1e-4
