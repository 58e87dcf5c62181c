"""Named networks: equal to their references, serialisable, with features, folding and ONNX export."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

import metablock
from metablock import NetConfig, build, create_model, list_models, model_config
from metablock.testing import calibrate_batchnorm, manifest_of, random_state_dict, seeded_input

torchvision = pytest.importorskip("torchvision")
timm = pytest.importorskip("timm")

REFERENCES = {
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(),
    "mobilenet_v3_large": lambda: torchvision.models.mobilenet_v3_large(),
    "mobilenet_v3_small": lambda: torchvision.models.mobilenet_v3_small(),
    "efficientnet_b0": lambda: torchvision.models.efficientnet_b0(stochastic_depth_prob=0.0),
    "efficientnet_b1": lambda: torchvision.models.efficientnet_b1(stochastic_depth_prob=0.0),
    "efficientnet_b2": lambda: torchvision.models.efficientnet_b2(stochastic_depth_prob=0.0),
    "efficientnet_b3": lambda: torchvision.models.efficientnet_b3(stochastic_depth_prob=0.0),
    "efficientnet_v2_s": lambda: torchvision.models.efficientnet_v2_s(stochastic_depth_prob=0.0),
    "shufflenet_v2_x1_0": lambda: torchvision.models.shufflenet_v2_x1_0(),
    "resnet50": lambda: torchvision.models.resnet50(),
    "regnet_y_400mf": lambda: torchvision.models.regnet_y_400mf(),
    "mnasnet_100": lambda: torchvision.models.mnasnet1_0(),
    # the official repvit_m0_6's block list is timm's RepVit class at these dims and depths
    "repvit_m0_6": lambda: timm.models.repvit.RepVit(
        embed_dim=(40, 80, 160, 320), depth=(1, 1, 8, 1), distillation=True
    ),
    "repvit_m0_9": lambda: timm.create_model("repvit_m0_9"),
    "repvit_m1_0": lambda: timm.create_model("repvit_m1_0"),
    "repvit_m1_1": lambda: timm.create_model("repvit_m1_1"),
    "repvit_m1_5": lambda: timm.create_model("repvit_m1_5"),
    "repvit_m2_3": lambda: timm.create_model("repvit_m2_3"),
    "mobilenetv4_conv_small": lambda: timm.create_model("mobilenetv4_conv_small"),
    "mobilenet_v1": lambda: timm.create_model("mobilenetv1_100"),
    "lcnet_100": lambda: timm.create_model("lcnet_100"),
    "mobilenetv4_conv_medium": lambda: timm.create_model("mobilenetv4_conv_medium"),
    "mobilenetv4_conv_large": lambda: timm.create_model("mobilenetv4_conv_large"),
    "mobilenetv4_hybrid_medium": lambda: timm.create_model("mobilenetv4_hybrid_medium"),
    "ghostnet_100": lambda: timm.create_model("ghostnet_100"),
    "mixnet_s": lambda: timm.create_model("mixnet_s"),
}
MODELS = list_models()
X = seeded_input((2, 3, 64, 64), seed=7)
CALIBRATION = seeded_input((4, 3, 64, 64), seed=8)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_every_named_network_of_the_issue_exists() -> None:
    wanted = set(REFERENCES) | {f"emo_{s}" for s in ("1m", "2m", "5m", "6m")} | {f"micronet_m{i}" for i in range(4)}
    assert wanted <= set(MODELS)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_parameter_count_equals_reference(name: str) -> None:
    assert count(create_model(name)) == count(REFERENCES[name]())


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_from_reference_gives_the_named_config_and_equal_logits(name: str) -> None:
    ref = REFERENCES[name]()
    state = ref.state_dict()  # filled in place: MNASNet's loader wants its version metadata
    with torch.no_grad():
        for key, value in random_state_dict(manifest_of(state), seed=11).items():
            state[key].copy_(value)
    calibrate_batchnorm(ref, CALIBRATION)  # activations keep their scale: the logits depend on every layer
    ours = metablock.from_reference(ref).eval()
    named = model_config(name)
    flat = lambda cfg: [b for stage in cfg.block_configs() for b in stage]  # noqa: E731
    assert flat(ours.cfg) == flat(named)  # every resolved block, width and depth multipliers applied
    if named.width_mult == 1.0 and named.depth_mult == 1.0:
        assert ours.cfg.stages == named.stages and ours.cfg.stem == named.stem and ours.cfg.head == named.head
    preset = build(named).eval()
    preset.load_state_dict(ours.state_dict())  # strict: the preset has exactly the reference's layout
    with torch.no_grad():
        expected, got, converted = ref(X), preset(X), ours(X)
    scale = max(1.0, expected.abs().max().item())
    assert (expected[0] - expected[1]).abs().max().item() > 1e-2 * scale  # the logits follow the input
    assert (got - expected).abs().max().item() <= 1e-4 * scale
    assert (converted - expected).abs().max().item() <= 1e-4 * scale


@pytest.mark.parametrize("name", MODELS)
def test_config_round_trips_through_json_and_yaml(name: str) -> None:
    cfg = model_config(name)
    assert NetConfig.from_json(cfg.to_json()) == cfg
    assert NetConfig.from_yaml(cfg.to_yaml()) == cfg
    again = build(NetConfig.from_json(cfg.to_json()))
    assert again.state_dict().keys() == build(cfg).state_dict().keys()


@pytest.mark.parametrize("name", MODELS)
def test_features_only_gives_strides_4_to_32_with_their_channels(name: str) -> None:
    model = create_model(name, features_only=True).eval()
    assert model.feature_strides() == [4, 8, 16, 32]
    with torch.no_grad():
        feats = model(X[:1])
    assert [f.shape[1] for f in feats] == model.feature_channels()
    assert [64 // f.shape[2] for f in feats] == [4, 8, 16, 32]


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_reparameterize_and_onnx(name: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = create_model(name, num_classes=10)
    model.load_state_dict(random_state_dict(manifest_of(model.state_dict()), seed=5))
    calibrate_batchnorm(model, CALIBRATION)
    model.train()
    out = model(X)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        # folding is exact: check it in float64, where random deep networks keep their precision
        wide = copy.deepcopy(model).double()
        expected64 = wide(X.double())
        folded64 = metablock.reparameterize(wide)(X.double())
        assert (folded64 - expected64).abs().max().item() <= 1e-8 * max(1.0, expected64.abs().max().item())
        fused = metablock.reparameterize(copy.deepcopy(model))
        expected = fused(X[:1])
        rounding = (expected.double() - folded64[:1]).abs().max().item()  # float32 against float64
    buf = io.BytesIO()
    torch.onnx.export(fused, (X[:1],), buf, dynamo=False, opset_version=17)
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {session.get_inputs()[0].name: X[:1].numpy()})
    # random weights make some deep networks (EfficientNetV2-S) amplify float32 rounding, so ONNX
    # Runtime's kernels must agree with PyTorch's as closely as PyTorch float32 agrees with float64
    scale = max(1.0, expected.abs().max().item())
    assert (torch.from_numpy(onnx_out) - expected).abs().max().item() <= 1e-3 * scale + 4 * rounding


def test_width_multiplier_scales_and_stays_buildable() -> None:
    wide = create_model("mobilenet_v2", width_mult=1.4)
    assert count(wide) > count(create_model("mobilenet_v2"))
    assert wide.cfg.block_configs()[0][0].in_chs == 48


def test_drop_path_rate_rises_over_residual_blocks() -> None:
    cfg = model_config("emo_1m", drop_path_rate=0.1)
    rates = [b.drop_path for s in cfg.block_configs() for b in s if b.shortcut != "none"]
    assert rates == sorted(rates) and rates[-1] == pytest.approx(
        0.1 * (sum(len(s) for s in cfg.block_configs()) - 1) / (sum(len(s) for s in cfg.block_configs()) - 1)
    )


@pytest.mark.parametrize("name", ["emo_1m", "emo_6m"])
def test_emo_drop_path_schedule_is_the_official_one(name: str) -> None:
    # official model/emo.py: dprs = linspace(0, drop_path, sum(depths)) over the stages' blocks, the
    # stem iRMB outside it; block j of stage i takes dprs[sum(depths[:i]) + j] (unused without skip)
    depths = metablock.zoo._EMO[name][0]  # type: ignore[attr-defined]
    rate = 0.04036
    cfg = model_config(name, drop_path_rate=rate)
    blocks = [b for s in cfg.block_configs() for b in s]
    official = torch.linspace(0, rate, sum(depths)).tolist()
    assert len(blocks) == 1 + sum(depths) and blocks[0].drop_path == 0.0
    for block, dpr in zip(blocks[1:], official, strict=True):
        assert block.drop_path == pytest.approx(dpr if block.shortcut != "none" else 0.0, abs=1e-7)
    assert blocks[2].drop_path == pytest.approx(rate / (sum(depths) - 1))  # the first block with a skip
    with pytest.raises(metablock.ConfigError, match="drop_path_start"):
        cfg.replace(drop_path_start=len(blocks))


def test_reparameterize_merges_repvit_distillation_heads_as_timm_does() -> None:
    from timm.utils.model import reparameterize_model

    ref = timm.create_model("repvit_m0_9").eval()
    ref.load_state_dict(random_state_dict(manifest_of(ref.state_dict()), seed=3))
    calibrate_batchnorm(ref, CALIBRATION)
    ours = metablock.from_reference(ref).eval()
    with torch.no_grad():
        expected = ref(X)
        fused_ref = reparameterize_model(copy.deepcopy(ref))
        fused = metablock.reparameterize(copy.deepcopy(ours))
        got = fused(X)
    assert count(fused) == count(fused_ref) < count(ours)
    heads = [m for m in fused.modules() if isinstance(m, nn.Linear)]
    assert len(heads) == 1 and heads[0].out_features == 1000
    scale = max(1.0, expected.abs().max().item())
    assert (got - expected).abs().max().item() <= 1e-4 * scale


def test_efficientnet_variants_are_one_function_of_their_multipliers() -> None:
    b3 = model_config("efficientnet_b3")
    assert (b3.width_mult, b3.depth_mult) == (1.2, 1.4)
    assert b3.stages == model_config("efficientnet_b0").stages  # scaled, not copied
    assert b3.stage_depths() == (2, 3, 3, 5, 5, 6, 2)  # ceil(depth x 1.4) of B0's (1, 2, 2, 3, 3, 4, 1)
    assert metablock.zoo.efficientnet(1.2, 1.4, 0.3, "efficientnet_b3", 300) == b3  # type: ignore[attr-defined]
    assert [model_config(f"efficientnet_b{i}").resolution for i in range(4)] == [224, 240, 260, 300]
    repeated = [b for b in b3.block_configs()[0]]
    assert [b.shortcut for b in repeated] == ["none", "identity"]  # the repeat of a shape-changing block
    with pytest.raises(metablock.ConfigError, match="depth_mult"):
        b3.replace(depth_mult=0)


def test_stages_from_blocks_gives_the_blocks_back() -> None:
    cfg = model_config("mobilenet_v3_large")
    flat = [b for s in cfg.block_configs() for b in s]
    again = NetConfig(stem=cfg.stem, stages=metablock.stages_from_blocks(flat), head=cfg.head)
    assert [b for s in again.block_configs() for b in s] == flat


def test_invalid_network_configs_name_the_field() -> None:
    cfg = model_config("mobilenet_v2")
    with pytest.raises(metablock.ConfigError, match="depth"):
        metablock.StageConfig(block=cfg.stages[0].block, depth=0, out_chs=16)
    with pytest.raises(metablock.ConfigError, match="did you mean 'num_classes'"):
        NetConfig.from_dict({**cfg.to_dict(), "num_class": 10})
    with pytest.raises(metablock.ConfigError, match="unknown model 'mobilenet_v5'"):
        create_model("mobilenet_v5")
    with pytest.raises(metablock.ConfigError, match="stage 1 block 0"):
        bad = cfg.stages[1].__class__(
            block=cfg.stages[1].block, depth=2, out_chs=24, stride=2, first={"shortcut": "identity"}
        )
        NetConfig(stem=cfg.stem, stages=(cfg.stages[0], bad), head=cfg.head)


# ------------------------------------------------------------------------------ a timm-like model API
def test_list_models_takes_patterns_and_lists_no_pretrained_weights() -> None:
    assert list_models("emo*") == ["emo_1m", "emo_2m", "emo_5m", "emo_6m"]
    assert set(list_models(["repvit_m0*", "ghost*"])) == {"repvit_m0_6", "repvit_m0_9", "ghostnet_100"}
    assert list_models("nothing*") == [] and list_models(pretrained=True) == []


def test_create_model_pretrained_says_how_to_load_weights_and_checkpoint_path_loads_them(tmp_path) -> None:
    with pytest.raises(metablock.ConfigError, match="no pretrained weights are shipped for 'emo_1m'.*checkpoint_path="):
        create_model("emo_1m", pretrained=True)
    source = create_model("emo_1m", num_classes=5)
    path = tmp_path / "emo.pt"
    torch.save({"state_dict": source.state_dict()}, path)
    loaded = create_model("emo_1m", num_classes=5, checkpoint_path=str(path))
    pairs = zip(source.state_dict().values(), loaded.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


@pytest.mark.parametrize("name", ["repvit_m0_9", "mobilenet_v3_large", "emo_1m"])
def test_reset_classifier_replaces_only_the_classifier(name: str) -> None:
    model = create_model(name).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cls_prefix = model.pretrained_cfg["classifier"] + "."
    model.reset_classifier(7)
    assert model(X).shape == (2, 7) and model.cfg.num_classes == 7 and not model.get_classifier().training
    after = model.state_dict()
    kept = [k for k in before if not k.startswith(cls_prefix)]
    assert kept and all(torch.equal(before[k], after[k]) for k in kept)
    fused = metablock.reparameterize(create_model(name).eval())
    fused.reset_classifier(3)
    assert fused(X).shape == (2, 3)


def test_pretrained_cfg_gives_the_network_s_own_input_size() -> None:
    cfg = create_model("emo_1m", resolution=192).pretrained_cfg
    assert cfg["input_size"] == (3, 192, 192) and cfg["architecture"] == "emo_1m" and cfg["num_classes"] == 1000
    assert create_model("emo_1m").default_cfg["input_size"] == (3, 224, 224)


def test_features_only_with_out_indices_returns_the_chosen_maps() -> None:
    full = create_model("mobilenet_v3_small", features_only=True)
    picked = create_model("mobilenet_v3_small", features_only=True, out_indices=(1, -1))
    maps = picked(X)
    assert [m.shape[1] for m in maps] == [full.feature_channels()[1], full.feature_channels()[-1]]
    assert picked.feature_strides() == [8, 32]
    with pytest.raises(metablock.ConfigError, match="out_indices must be integers in"):
        create_model("mobilenet_v3_small", features_only=True, out_indices=(4,))
    with pytest.raises(metablock.ConfigError, match="out_indices applies only with features_only=True"):
        create_model("mobilenet_v3_small", out_indices=(1,))
