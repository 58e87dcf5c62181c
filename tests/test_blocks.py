"""Every block preset builds, runs forward and backward, round-trips its config and folds for deploy."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

import metablock
from metablock import BlockConfig, MetaMobileBlock, block_config, list_blocks
from metablock.layers import SqueezeExcite
from metablock.testing import manifest_of, random_state_dict, seeded_input

BLOCKS = list_blocks()


def _block(name: str) -> tuple[MetaMobileBlock, torch.Tensor]:
    cfg = block_config(name)
    torch.manual_seed(0)
    return MetaMobileBlock(cfg), seeded_input((2, cfg.in_chs, 13, 11), seed=0)


@pytest.mark.parametrize("name", BLOCKS)
def test_forward_backward_every_parameter_gets_a_gradient(name: str) -> None:
    block, x = _block(name)
    block.train()
    x.requires_grad_(True)
    y = block(x)
    cfg = block.cfg
    stride = cfg.stride
    assert y.shape == (2, cfg.out_chs, -(-13 // stride), -(-11 // stride))
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    missing = [n for n, p in block.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in block.parameters())
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", BLOCKS)
def test_config_round_trip_through_json(name: str) -> None:
    cfg = block_config(name)
    again = BlockConfig.from_json(json.dumps(json.loads(cfg.to_json())))
    assert again == cfg
    assert again.to_dict() == cfg.to_dict()
    assert MetaMobileBlock(again).state_dict().keys() == MetaMobileBlock(cfg).state_dict().keys()


@pytest.mark.parametrize("name", BLOCKS)
def test_reparameterize_keeps_eval_outputs_with_nontrivial_statistics(name: str) -> None:
    block, x = _block(name)
    block.load_state_dict(random_state_dict(manifest_of(block.state_dict()), seed=3))
    block.eval()
    with torch.no_grad():
        expected = block(x)
        fused = metablock.reparameterize(block)
        got = fused(x)
        again = metablock.reparameterize(fused)(x)
    assert (got - expected).abs().max().item() <= 1e-4
    assert torch.equal(got, again), "reparameterize must be idempotent"
    assert not any(isinstance(m, nn.BatchNorm2d) and m is not getattr(fused, "norm_in", None) for m in fused.modules())
    assert sum(p.numel() for p in fused.parameters()) <= sum(p.numel() for p in block.parameters())


@pytest.mark.parametrize("name", BLOCKS)
def test_inference_fast_paths_compute_the_same_function_and_leave_the_input_alone(name: str) -> None:
    # without autograd, blocks overwrite fresh intermediates (activations, residual adds, SE gating)
    block, x = _block(name)
    block.load_state_dict(random_state_dict(manifest_of(block.state_dict()), seed=3))
    block.eval()
    kept = x.clone()
    expected = block(x).detach()  # autograd on: no in-place shortcuts
    for mode in (torch.no_grad, torch.inference_mode):
        with mode():
            got = block(x)
        assert torch.equal(x, kept), f"{mode.__name__} changed the block's input"
        assert (got - expected).abs().max().item() <= 1e-6, mode.__name__


def test_squeeze_excite_alone_never_overwrites_its_input() -> None:
    se = SqueezeExcite(8, 4, act="relu", gate="sigmoid")
    x = torch.randn(2, 8, 5, 5)
    kept = x.clone()
    with torch.no_grad():
        se(x)
    assert torch.equal(x, kept)


def test_rep_dw_folds_to_a_single_depthwise_conv() -> None:
    block = MetaMobileBlock(block_config("repvit_block", chs=16)).eval()
    metablock.reparameterize(block)
    convs = [m for m in block.mixer.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 and convs[0].groups == 16 and convs[0].bias is not None


def test_every_preset_has_paper_and_reference() -> None:
    for name in BLOCKS:
        info = metablock.block_info(name)
        assert "https://arxiv.org/abs/" in info["paper"]
        assert info["reference"]


def test_block_config_overrides_preset_arguments_and_fields() -> None:
    cfg = block_config("mbconv", in_chs=40, out_chs=80, stride=2, drop_path=0.1)
    assert (cfg.in_chs, cfg.out_chs, cfg.stride, cfg.drop_path) == (40, 80, 2, 0.1)
    assert cfg.widths()["hidden"] == 240


def test_unknown_preset_and_override_name_the_closest_match() -> None:
    with pytest.raises(metablock.ConfigError, match="did you mean 'mbconv'"):
        block_config("mbconvv")
    with pytest.raises(metablock.ConfigError, match="did you mean 'exp_ratio'"):
        block_config("mbconv", exp_ration=4)


def test_window_attention_pads_and_matches_global_attention_when_window_covers_input() -> None:
    cfg = block_config("irmb_attn", in_chs=40, out_chs=40, head_dim=20, window_size=0)
    global_block = MetaMobileBlock(cfg).eval()
    windowed = MetaMobileBlock(cfg.replace(window_size=9)).eval()
    windowed.load_state_dict(global_block.state_dict())
    x = seeded_input((1, 40, 9, 9), seed=4)
    with torch.no_grad():
        assert torch.allclose(global_block(x), windowed(x), atol=1e-5)
        # a 7-window over a 9x9 map pads to 14x14 and crops back
        odd = MetaMobileBlock(cfg.replace(window_size=7)).eval()
        odd.load_state_dict(global_block.state_dict())
        assert odd(x).shape == x.shape


def test_channel_shuffle_is_a_deterministic_permutation() -> None:
    from metablock.layers import ChannelShuffle

    x = torch.arange(12.0).reshape(1, 12, 1, 1)
    single = ChannelShuffle(12, (3,))(x).flatten().tolist()
    assert single == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    double = ChannelShuffle(12, (3, 2))(x).flatten()
    step = ChannelShuffle(12, (2,))(ChannelShuffle(12, (3,))(x)).flatten()
    assert torch.equal(double, step)
    assert sorted(double.tolist()) == list(range(12))


def test_shift_max_shifts_within_and_across_groups() -> None:
    from metablock.layers import shift_index

    # 2 groups of 3 channels: channel c reads the next channel of the next group
    assert shift_index(6, 2).tolist() == [4, 5, 3, 1, 2, 0]
    assert shift_index(4, 1).tolist() == [1, 2, 3, 0]


def test_drop_path_only_in_training() -> None:
    cfg = block_config("mobilenet_v2_ir", drop_path=0.5)
    block = MetaMobileBlock(cfg)
    x = seeded_input((8, cfg.in_chs, 6, 6), seed=5)
    block.eval()
    with torch.no_grad():
        assert torch.equal(block(x), block(x))
    block.train()
    torch.manual_seed(0)
    with torch.no_grad():
        a = block(x)
        b = copy.deepcopy(block)(x)
    assert not torch.equal(a, b)


def test_repvit_blocks_start_their_ffn_at_zero_as_the_reference_does() -> None:
    repvit = pytest.importorskip("timm.models.repvit")
    ref_block = repvit.RepViTBlock(48, 2, 3, True, nn.GELU)
    ref_down = repvit.RepVitDownsample(48, 2, 96, 3, nn.GELU)
    references = (ref_block.channel_mixer.conv2.bn, ref_down.ffn.conv2.bn)
    for ref, name in zip(references, ("repvit_block", "repvit_down"), strict=True):
        ours = MetaMobileBlock(block_config(name, **({"chs": 48} if name == "repvit_block" else {})))
        assert torch.equal(ours.project.norm.weight, ref.weight.detach()), name
        assert float(ours.project.norm.weight.abs().sum()) == 0.0
        assert float(ours.expand.norm.weight.abs().sum()) > 0  # only the branch's last norm starts at 0
    with pytest.raises(metablock.ConfigError, match="project_norm_init"):
        block_config("repvit_block", project_norm_init=float("nan"))
