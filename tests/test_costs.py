"""MACs and parameter counts: complete (no op uncounted) and equal to the references, like with like."""

from __future__ import annotations

import pytest

import metablock
from metablock.costs import HANDLES, count_macs, count_params, flop_analysis, unsupported_ops

torchvision = pytest.importorskip("torchvision")
timm = pytest.importorskip("timm")

REFERENCES = {
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(),
    "mobilenet_v3_large": lambda: torchvision.models.mobilenet_v3_large(),
    "mobilenet_v3_small": lambda: torchvision.models.mobilenet_v3_small(),
    "efficientnet_b0": lambda: torchvision.models.efficientnet_b0(),
    "efficientnet_v2_s": lambda: torchvision.models.efficientnet_v2_s(),
    "shufflenet_v2_x1_0": lambda: torchvision.models.shufflenet_v2_x1_0(),
    "resnet50": lambda: torchvision.models.resnet50(),
    "repvit_m0_9": lambda: timm.create_model("repvit_m0_9"),
    "repvit_m1_5": lambda: timm.create_model("repvit_m1_5"),
    "mobilenetv4_conv_small": lambda: timm.create_model("mobilenetv4_conv_small"),
    "mobilenetv4_hybrid_medium": lambda: timm.create_model("mobilenetv4_hybrid_medium"),
    "ghostnet_100": lambda: timm.create_model("ghostnet_100"),
    "mixnet_s": lambda: timm.create_model("mixnet_s"),
}


@pytest.mark.parametrize("name", metablock.list_models())
def test_no_op_of_a_named_network_goes_uncounted(name: str) -> None:
    assert unsupported_ops(metablock.model_config(name), (3, 96, 96)) == {}


@pytest.mark.parametrize("name", metablock.list_blocks())
def test_no_op_of_a_block_preset_goes_uncounted(name: str) -> None:
    cfg = metablock.block_config(name)
    assert unsupported_ops(cfg, (cfg.in_chs, 15, 15)) == {}


def test_tensorflow_same_padding_is_counted_and_costs_what_symmetric_padding_does() -> None:
    # timm's own SAME padding does its size arithmetic on traced scalars (and ``ceil``, uncounted), so
    # the like-with-like reference is the same network with symmetric padding: padding adds no MACs
    ours = metablock.from_reference(timm.create_model("tf_efficientnet_b0"))
    assert unsupported_ops(ours, (3, 96, 96)) == {}
    assert count_macs(ours, (3, 96, 96)) == count_macs(timm.create_model("efficientnet_b0"), (3, 96, 96))


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_macs_equal_fvcore_on_the_reference_plus_only_the_added_handles(name: str) -> None:
    ref = REFERENCES[name]()
    ours = metablock.create_model(name)
    size = (3, 224, 224)
    assert count_macs(ours, size) == count_macs(ref, size)
    # the difference to fvcore's own count on the reference is exactly the ops we added handles for
    full = flop_analysis(ref, size)
    default = count_macs(ref, size, convention="fvcore")
    added = sum(v for op, v in full.by_operator().items() if f"aten::{op}" in HANDLES)
    assert full.total() == default + added
    assert count_params(ours) == count_params(ref)


def test_attention_is_counted_like_explicit_matmul_softmax_matmul() -> None:
    # one global-attention block over a 7x7 map: q·kᵀ and attn·v are 49·49·head_dim per head each,
    # plus one MAC per attention weight for the scale and one for the softmax
    cfg = metablock.block_config("emo_mhsa", chs=32, head_dim=16, window_size=0)
    ops = flop_analysis(cfg, (32, 7, 7)).by_operator()
    heads, n, d = 2, 49, 16
    assert ops["scaled_dot_product_attention"] == heads * n * n * (2 * d + 2)


def test_macs_scale_with_batch_and_reject_bad_input_size() -> None:
    cfg = metablock.block_config("mbconv")
    assert count_macs(cfg, (24, 16, 16), batch=2) == 2 * count_macs(cfg, (24, 16, 16))
    with pytest.raises(metablock.ConfigError, match="input_size"):
        count_macs(cfg, (24, 16))
