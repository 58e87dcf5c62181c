"""Whole timm and torchvision model families through ``from_reference``: equal parameters and equal logits, or a
refusal that names what has no equivalent (never a silently different network)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import metablock
from metablock.testing import calibrate_batchnorm, manifest_of, random_state_dict, seeded_input

timm = pytest.importorskip("timm")

#: timm models built by its EfficientNet and MobileNetV3 builder classes: every block string they
#: generate (ds, ir, er, uir, cn; SE choices; head norm or not; fix_stem; channel and depth multipliers)
CONVERTS = [
    "mobilenetv1_100",  # ds blocks only, no head conv
    "mobilenetv1_100h",
    "mobilenetv2_050",
    "mobilenetv2_110d",  # depth multiplier, fix_stem_head
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_lite0",  # relu6, no SE, fixed stem and head
    "efficientnet_es",  # er blocks (EdgeTPU)
    "efficientnetv2_rw_t",  # cn + er + ir
    "mnasnet_small",
    "semnasnet_050",
    "spnasnet_100",
    "fbnetc_100",
    "fbnetv3_b",
    "tinynet_e",
    "mobilenetv3_small_100",  # timm MobileNetV3: no head norm
    "mobilenetv3_rw",
    "lcnet_050",
    "mobilenetv4_conv_small",  # uir + cn, head norm
    "mobilenetv4_conv_medium",
    "mobilenetv4_hybrid_medium",  # uir + Mobile MQA (with and without key/value downsampling), layer scale
    "mixnet_s",  # mixed depthwise kernels, grouped 1x1 convs
    "mixnet_m",
    # TensorFlow SAME padding (pad_type="same"): every tf_* model
    "tf_efficientnet_b0",
    "tf_efficientnetv2_b0",
    "tf_mobilenetv3_small_100",
    "tf_mixnet_s",
    # timm GhostNet (v1): ghost modules, dw_conv shortcuts, a channel multiplier
    "ghostnet_050",
    "ghostnet_100",
    # timm ResNet: 7x7 or deep stem, basic and bottleneck blocks, avg_down shortcuts, ResNeXt groups
    "resnet10t",
    "resnet18d",
    "resnet26",
    "resnext50_32x4d",
]

#: torchvision models whose families have no named preset (MNASNet, RegNet X and Y)
TORCHVISION = ["mnasnet0_5", "mnasnet1_0", "regnet_x_400mf", "regnet_y_400mf"]

#: (model, what the error must name)
REFUSED = {
    "ghostnetv2_100": "GhostModuleV2",
    "ghostnetv3_100": "GhostNetV3",
    "test_efficientnet_evos": "norm layer EvoNorm2dS0 at 'bn1'",
    "gc_efficientnetv2_rw_t": "norm layer LayerNorm2d at 'blocks.3.0.se.mlp_scale.norm'",
    "efficientnet_cc_b0_4e": "CondConv2d",
    "efficientnet_b0_gn": "norm layer GroupNormAct",
    "mobilenetv4_conv_aa_large": "aa_layer=AvgPool2d at 'blocks.0.0.aa'",
    "efficientnet_x_b3": "s2d=1 at 'blocks.0.0'",
    "seresnet50": "attn_layer=SEModule",
    "resnetaa50": "aa_layer=AvgPool2d at 'layer2.0.aa'",
    "resnet50_gn": "norm layer GroupNorm",
}


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", CONVERTS)
def test_timm_model_converts_with_equal_parameters_and_logits(name: str) -> None:
    ref = timm.create_model(name, drop_rate=0.2)
    ref.load_state_dict(random_state_dict(manifest_of(ref.state_dict()), seed=1))  # weights and BN statistics
    calibrate_batchnorm(ref, seeded_input((4, 3, 64, 64), seed=2))  # so the logits depend on every layer
    ours = metablock.from_reference(ref)
    assert not ours.training and _count(ours) == _count(ref)
    assert ours.cfg.name == name
    x = seeded_input((2, 3, 64, 64), seed=3)
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    scale = max(1.0, expected.abs().max().item())
    assert (expected[0] - expected[1]).abs().max().item() > 1e-2 * scale  # the logits follow the input
    assert (got - expected).abs().max().item() <= 1e-4 * scale
    # the converted network is an ordinary preset-style config: it round-trips through JSON
    assert metablock.NetConfig.from_json(ours.cfg.to_json()) == ours.cfg


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_model_converts_with_equal_parameters_and_logits(name: str) -> None:
    tv = pytest.importorskip("torchvision.models")
    ref = getattr(tv, name)().eval()
    state = ref.state_dict()  # MNASNet's loader wants its version metadata: fill the tensors in place
    with torch.no_grad():
        for key, value in random_state_dict(manifest_of(state), seed=1).items():
            state[key].copy_(value)
    calibrate_batchnorm(ref, seeded_input((4, 3, 64, 64), seed=2))
    ours = metablock.from_reference(ref)
    assert _count(ours) == _count(ref)
    x = seeded_input((2, 3, 64, 64), seed=3)
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    scale = max(1.0, expected.abs().max().item())
    assert (expected[0] - expected[1]).abs().max().item() > 1e-2 * scale  # the logits follow the input
    assert (got - expected).abs().max().item() <= 1e-4 * scale


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_timm_model_without_equivalent_is_refused_by_name(name: str) -> None:
    ref = timm.create_model(name).eval()
    with pytest.raises(metablock.ConfigError, match=REFUSED[name].replace("(", r"\(").replace(")", r"\)")):
        metablock.from_reference(ref)
