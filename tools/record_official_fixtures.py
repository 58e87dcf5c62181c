"""Record the fixtures that prove metablock's EMO and MicroNet presets equal to their official code.

EMO (zhangzjn/EMO, ``model/emo.py``) and MicroNet (liyunsheng13/micronet, ``backbone/micronet.py``)
are not packages, so ``tests/test_official.py`` compares our presets with outputs recorded here from
checkouts of the official repositories. Nothing of the official code is stored: each fixture holds
the official state dict's manifest (keys, shapes, dtypes), a seed, the input shape, the official
parameter count and outputs (and, for networks, fvcore's default MAC count at 224), plus the
arguments that build the official module and the matching metablock preset. Weights are
``metablock.testing.random_state_dict(manifest, seed)`` and the input is
``metablock.testing.seeded_input(shape, seed + 1)``, so the test rebuilds both.

The official EMO code imports timm 0.6 module paths; run with timm 0.6.5 first on the path (see
``tests/fixtures/README.md``).

Usage:
    python tools/record_official_fixtures.py --emo /tmp/official/EMO --micronet /tmp/official/micronet \
        --emo-commit SHA --micronet-commit SHA [--out tests/fixtures] [--only PATTERN]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import fnmatch
import importlib
import importlib.util
import io
import json
import re
import subprocess
import sys
import types
import zlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from metablock.costs import count_macs  # noqa: E402
from metablock.testing import manifest_of, random_state_dict, seeded_input  # noqa: E402

REPOS = {"emo": "zhangzjn/EMO", "micronet": "liyunsheng13/micronet"}

# ------------------------------------------------------------------------------------ cases
# EMO blocks: official ``iRMB(**official)``; ``preset`` names the metablock side (``emo_block`` with
# the same arguments unless a named block preset is given).
_IRMB = dict(norm_in=True, has_skip=True, v_proj=True, dilation=1, se_ratio=0.0, attn_pre=False, v_group=False)
EMO_BLOCKS: list[dict[str, Any]] = [
    dict(
        case="irmb_s1_skip_bn",
        official=dict(
            _IRMB,
            dim_in=48,
            dim_out=48,
            exp_ratio=2.5,
            norm_layer="bn_2d",
            act_layer="silu",
            dw_ks=3,
            stride=1,
            attn_s=False,
            qkv_bias=True,
        ),
        input=(2, 48, 5, 5),
    ),
    dict(
        case="irmb_s2_noskip_bn",
        official=dict(
            _IRMB,
            dim_in=32,
            dim_out=48,
            has_skip=False,
            exp_ratio=5.0,
            norm_layer="bn_2d",
            act_layer="silu",
            dw_ks=3,
            stride=2,
            attn_s=False,
            qkv_bias=True,
        ),
        input=(2, 32, 9, 9),
    ),
    dict(
        case="irmb_s2_noskip_ln_k5",
        official=dict(
            _IRMB,
            dim_in=48,
            dim_out=80,
            has_skip=False,
            exp_ratio=6.0,
            norm_layer="ln_2d",
            act_layer="gelu",
            dw_ks=5,
            stride=2,
            attn_s=False,
            qkv_bias=True,
        ),
        input=(2, 48, 6, 6),
    ),
    dict(
        case="irmb_s1_skip_se_ln",
        official=dict(
            _IRMB,
            dim_in=40,
            dim_out=40,
            exp_ratio=2.0,
            norm_layer="ln_2d",
            act_layer="gelu",
            dw_ks=5,
            stride=1,
            se_ratio=0.25,
            attn_s=False,
            qkv_bias=False,
        ),
        input=(2, 40, 5, 5),
    ),
    dict(
        case="irmb_stem_ds_se",  # EMO's stage0 block: no pre-norm, no skip, no expansion, SE ratio 1
        official=dict(
            _IRMB,
            dim_in=24,
            dim_out=24,
            norm_in=False,
            has_skip=False,
            exp_ratio=1,
            norm_layer="bn_2d",
            act_layer="silu",
            v_proj=False,
            dw_ks=3,
            stride=1,
            se_ratio=1,
            dim_head=16,
            attn_s=False,
            qkv_bias=True,
            attn_pre=True,
        ),
        input=(2, 24, 6, 6),
    ),
    dict(
        case="irmb_preset_default",
        official=dict(
            _IRMB,
            dim_in=48,
            dim_out=48,
            exp_ratio=2.0,
            norm_layer="bn_2d",
            act_layer="silu",
            dw_ks=3,
            stride=1,
            attn_s=False,
            qkv_bias=True,
        ),
        preset=dict(name="irmb", kwargs={}),
        input=(2, 48, 5, 5),
    ),
    dict(
        case="irmb_attn_w7_two_windows",
        official=dict(
            _IRMB,
            dim_in=20,
            dim_out=20,
            exp_ratio=3.0,
            norm_layer="ln_2d",
            act_layer="gelu",
            dw_ks=5,
            stride=1,
            dim_head=10,
            window_size=7,
            attn_s=True,
            qkv_bias=True,
            attn_pre=True,
        ),
        input=(1, 20, 14, 14),
    ),
    dict(
        case="irmb_attn_padded_windows",  # 9x11 is not a multiple of the window: padded, then cropped
        official=dict(
            _IRMB,
            dim_in=32,
            dim_out=32,
            exp_ratio=2.0,
            norm_layer="ln_2d",
            act_layer="gelu",
            dw_ks=3,
            stride=1,
            dim_head=16,
            window_size=4,
            attn_s=True,
            qkv_bias=True,
            attn_pre=True,
        ),
        input=(1, 32, 9, 11),
    ),
    dict(
        case="irmb_attn_v_after_attn_vgroup",  # attn_pre=False: v projected first; grouped v
        official=dict(
            _IRMB,
            dim_in=32,
            dim_out=32,
            exp_ratio=2.0,
            norm_layer="ln_2d",
            act_layer="gelu",
            dw_ks=3,
            stride=1,
            dim_head=8,
            window_size=3,
            attn_s=True,
            qkv_bias=True,
            attn_pre=False,
            v_group=True,
        ),
        input=(2, 32, 6, 6),
    ),
    dict(
        case="irmb_attn_global_window0",  # window_size <= 0: one window over the whole map
        official=dict(
            _IRMB,
            dim_in=32,
            dim_out=32,
            exp_ratio=1.5,
            norm_layer="bn_2d",
            act_layer="silu",
            dw_ks=3,
            stride=1,
            dim_head=16,
            window_size=0,
            attn_s=True,
            qkv_bias=False,
            attn_pre=True,
        ),
        input=(2, 32, 5, 7),
    ),
    dict(
        case="irmb_attn_s2_noskip_bn_se",
        official=dict(
            _IRMB,
            dim_in=32,
            dim_out=48,
            has_skip=False,
            exp_ratio=2.0,
            norm_layer="bn_2d",
            act_layer="relu",
            dw_ks=3,
            stride=2,
            se_ratio=0.5,
            dim_head=16,
            window_size=4,
            attn_s=True,
            qkv_bias=True,
            attn_pre=True,
        ),
        input=(2, 32, 8, 8),
    ),
    dict(
        case="irmb_attn_preset_default",
        official=dict(
            _IRMB,
            dim_in=80,
            dim_out=80,
            exp_ratio=3.0,
            norm_layer="ln_2d",
            act_layer="gelu",
            dw_ks=5,
            stride=1,
            dim_head=20,
            window_size=7,
            attn_s=True,
            qkv_bias=True,
            attn_pre=True,
        ),
        preset=dict(name="irmb_attn", kwargs={}),
        input=(1, 80, 7, 7),
    ),
]

# MicroNet blocks: one row of backbone/microconfig.py (the official block is built from it exactly as
# MicroNet.__init__ does) with the activation settings of an official script; ``kwargs`` are
# ``metablock.micronet_block``'s arguments.
_M0_ACT = dict(init_a=(1.0, 1.0), init_b=(0.0, 0.0), init_ab3=(1.0, 0.0), reduction=8, act_max=2.0)
_M3_ACT = dict(init_a=(1.0, 0.5), init_b=(0.0, 0.5), init_ab3=(1.0, 0.0), reduction=8, act_max=2.0)
_MN = dict(shuffle=True, depthsep=True)
MICRONET_BLOCKS: list[dict[str, Any]] = [
    dict(
        case="m0_row0_a_relu6_mixer",
        kwargs=dict(_M0_ACT, **_MN, in_chs=4, row=(2, 1, 8, 3, 2, 2, 0, 4, 8, 2, 2, 2, 0, 1, 1)),
        input=(2, 4, 8, 8),
    ),
    dict(
        case="m0_row1_a",
        kwargs=dict(_M0_ACT, **_MN, in_chs=8, row=(2, 1, 12, 3, 2, 2, 0, 8, 12, 4, 4, 2, 2, 1, 1)),
        input=(2, 8, 8, 8),
    ),
    dict(
        case="m0_row3_b",
        kwargs=dict(_M0_ACT, **_MN, in_chs=16, row=(1, 1, 32, 5, 1, 4, 4, 4, 32, 4, 4, 2, 2, 1, 1)),
        input=(2, 16, 6, 6),
    ),
    dict(
        case="m0_row3_b_depthsep_false",
        kwargs=dict(
            _M0_ACT, shuffle=True, depthsep=False, in_chs=16, row=(1, 1, 32, 5, 1, 4, 4, 4, 32, 4, 4, 2, 2, 1, 1)
        ),
        input=(2, 16, 6, 6),
    ),
    dict(
        case="m0_row4_b_s2",
        kwargs=dict(_M0_ACT, **_MN, in_chs=32, row=(2, 1, 64, 5, 1, 4, 8, 8, 64, 8, 8, 2, 2, 1, 1)),
        input=(2, 32, 6, 6),
    ),
    dict(
        case="m0_row6_expand",
        kwargs=dict(_M0_ACT, **_MN, in_chs=96, row=(1, 1, 384, 3, 1, 4, 12, 12, 0, 0, 0, 2, 2, 1, 2)),
        input=(2, 96, 2, 2),
    ),
    dict(
        case="m2_row4_c",
        kwargs=dict(_M0_ACT, **_MN, in_chs=32, row=(1, 1, 32, 5, 1, 6, 8, 8, 32, 4, 4, 2, 2, 1, 2)),
        input=(2, 32, 5, 5),
    ),
    dict(
        case="m2_row4_c_no_shuffle",
        kwargs=dict(
            _M0_ACT, shuffle=False, depthsep=True, in_chs=32, row=(1, 1, 32, 5, 1, 6, 8, 8, 32, 4, 4, 2, 2, 1, 2)
        ),
        input=(2, 32, 5, 5),
    ),
    dict(
        case="m3_row0_a_one_fusion_off",
        kwargs=dict(_M3_ACT, **_MN, in_chs=12, row=(2, 1, 16, 3, 2, 2, 0, 12, 16, 4, 4, 0, 2, 0, 1)),
        input=(2, 12, 8, 8),
    ),
    dict(
        case="m3_row4_c",
        kwargs=dict(_M3_ACT, **_MN, in_chs=32, row=(1, 1, 32, 5, 1, 6, 8, 8, 32, 4, 4, 0, 2, 0, 2)),
        input=(2, 32, 5, 5),
    ),
    dict(
        case="m3_row5_b_c3_differs",
        kwargs=dict(_M3_ACT, **_MN, in_chs=32, row=(1, 1, 64, 5, 1, 6, 8, 8, 48, 8, 8, 0, 2, 0, 2)),
        input=(2, 32, 5, 5),
    ),
    dict(
        case="m3_row11_expand_no_act",
        kwargs=dict(_M3_ACT, **_MN, in_chs=144, row=(1, 1, 864, 3, 1, 6, 12, 12, 0, 0, 0, 0, 2, 0, 2)),
        input=(1, 144, 2, 2),
    ),
    dict(
        case="micro_block_a_preset",
        preset=dict(name="micro_block_a", kwargs={}),
        kwargs=dict(_M0_ACT, **_MN, in_chs=8, row=(2, 1, 12, 3, 2, 2, 0, 8, 12, 4, 4, 2, 2, 1, 1)),
        input=(2, 8, 8, 8),
    ),
    dict(
        case="micro_block_b_preset",
        preset=dict(name="micro_block_b", kwargs={}),
        kwargs=dict(_M0_ACT, **_MN, in_chs=16, row=(1, 1, 32, 5, 1, 4, 4, 4, 32, 4, 4, 2, 2, 1, 1)),
        input=(2, 16, 6, 6),
    ),
    dict(
        case="micro_block_c_preset",
        preset=dict(name="micro_block_c", kwargs={}),
        kwargs=dict(_M0_ACT, **_MN, in_chs=32, row=(1, 1, 32, 5, 1, 6, 8, 8, 32, 4, 4, 2, 2, 1, 2)),
        input=(2, 32, 5, 5),
    ),
]

EMO_NETWORKS = {"emo_1m": "EMO_1M", "emo_2m": "EMO_2M", "emo_5m": "EMO_5M", "emo_6m": "EMO_6M"}
MICRONET_NETWORKS = {f"micronet_m{i}": f"scripts/eval_micronet_m{i}.sh" for i in range(4)}
EMO_NET_INPUT = (1, 3, 224, 224)  # stage 3 at 14x14: two windows of 7 per side
MICRONET_NET_INPUT = (2, 3, 64, 64)


# ------------------------------------------------------------------------- official imports
def load_emo(path: Path) -> types.ModuleType:
    """Import ``model/emo.py`` from an EMO checkout without running its ``model/__init__.py``
    (which imports the training stack); ``cv2`` (imported, unused) is stubbed when absent."""
    try:
        importlib.import_module("timm.models.layers.activations")
    except ImportError as err:
        raise SystemExit(
            "the official EMO code needs timm 0.6 module paths: "
            "pip install --target /tmp/timm065 --no-deps timm==0.6.5 and run with PYTHONPATH=/tmp/timm065"
        ) from err
    if importlib.util.find_spec("cv2") is None:
        sys.modules["cv2"] = types.ModuleType("cv2")
    package = types.ModuleType("model")
    package.__path__ = [str(path / "model")]
    package.MODEL = types.SimpleNamespace(register_module=lambda fn: fn)  # type: ignore[attr-defined]
    sys.modules["model"] = package
    return importlib.import_module("model.emo")


def load_micronet(path: Path) -> tuple[types.ModuleType, Any]:
    """Import ``backbone/micronet.py`` and the yacs defaults of ``utils/defaults.py``."""
    sys.path.insert(0, str(path))
    micronet = importlib.import_module("backbone.micronet")
    spec = importlib.util.spec_from_file_location("micronet_defaults", path / "utils" / "defaults.py")
    assert spec is not None and spec.loader is not None
    defaults = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(defaults)
    return micronet, defaults._C


def script_opts(path: Path, script: str) -> list[str]:
    """The ``MODEL.* value`` options that an official eval script passes to ``main.py``."""
    text = (path / script).read_text()
    return [tok for pair in re.findall(r"(MODEL\.[A-Z0-9_.]+)\s+([^\s\\]+)", text) for tok in pair]


def micronet_cfg(defaults: Any, opts: list[str]) -> Any:
    cfg = defaults.clone()
    cfg.merge_from_list(opts)
    return cfg


def official_micro_block(micronet: types.ModuleType, defaults: Any, kw: dict[str, Any]) -> nn.Module:
    """``DYMicroBlock`` built from one config row as ``MicroNet.__init__`` builds it."""
    s, _n, c, ks, c1, c2, g1, g2, c3, g3, g4, y1, y2, y3, r = kw["row"]
    act = copy.deepcopy(defaults.MODEL.ACTIVATION)
    act.MODULE = "DYShiftMax"
    act.ACT_MAX = kw["act_max"]
    act.LINEARSE_BIAS = False
    act.INIT_A = list(kw["init_a"])
    act.INIT_B = list(kw["init_b"])
    act.INIT_A_BLOCK3 = list(kw["init_ab3"])
    act.REDUCTION = kw["reduction"]
    act.dy = [y1, y2, y3]
    act.ratio = r
    return micronet.DYMicroBlock(
        kw["in_chs"], c, kernel_size=ks, stride=s, ch_exp=(c1, c2), ch_per_group=(g1, g2),
        groups_1x1=(c3, g3, g4), depthsep=kw["depthsep"], shuffle=kw["shuffle"], pointwise="group",
        activation_cfg=act,
    )  # fmt: skip


# --------------------------------------------------------------------------------- records
def encode(t: torch.Tensor) -> dict[str, Any]:
    """A float32 tensor as shape + base64 of its little-endian bytes (exact, compact)."""
    t = t.detach().to(torch.float32).contiguous().cpu()
    return {"shape": list(t.shape), "float32_base64": base64.b64encode(t.numpy().astype("<f4").tobytes()).decode()}


def seed_of(case: str) -> int:
    return zlib.crc32(case.encode()) % 2**31


def run(module: nn.Module, case: str, input_shape: tuple[int, ...], modes: tuple[str, ...]) -> dict[str, Any]:
    """Load seeded random weights into ``module`` and record its manifest and outputs."""
    seed = seed_of(case)
    manifest = manifest_of(module.state_dict())
    module.load_state_dict(random_state_dict(manifest, seed), strict=True)
    x = seeded_input(input_shape, seed + 1)
    outputs = {}
    for mode in modes:
        module.train(mode == "train")
        with torch.no_grad():
            y = module(x.clone())
        outputs[mode] = encode(y["out"] if isinstance(y, dict) else y)
    module.eval()
    return {
        "seed": seed,
        "input_shape": list(input_shape),
        "params": sum(p.numel() for p in module.parameters()),
        "manifest": {k: [list(shape), dtype] for k, (shape, dtype) in manifest.items()},
        "outputs": outputs,
    }


class _Logits(nn.Module):
    """EMO's forward returns ``{"out": ..., "out_kd": ...}``; count MACs on the logits."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]


def records(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    emo = load_emo(args.emo)
    micronet, defaults = load_micronet(args.micronet)
    quiet = contextlib.redirect_stdout(io.StringIO())  # the official constructors print
    official = {
        "emo": {"repo": REPOS["emo"], "commit": args.emo_commit},
        "micronet": {"repo": REPOS["micronet"], "commit": args.micronet_commit},
    }
    env = {"torch": torch.__version__, "timm": importlib.import_module("timm").__version__}

    for c in EMO_BLOCKS:
        case = f"emo_block_{c['case']}"
        block = emo.iRMB(**c["official"])
        preset = c.get("preset") or {"fn": "emo_block", "kwargs": c["official"]}
        out[case] = dict(
            kind="block", source="emo", official=dict(official["emo"], call="model/emo.py iRMB", kwargs=c["official"]),
            preset=preset, **run(block, case, c["input"], ("eval", "train")),
        )  # fmt: skip
    for c in MICRONET_BLOCKS:
        case = f"micronet_block_{c['case']}"
        with quiet:
            block = official_micro_block(micronet, defaults, c["kwargs"])
        preset = c.get("preset") or {"fn": "micronet_block", "kwargs": c["kwargs"]}
        out[case] = dict(
            kind="block", source="micronet",
            official=dict(official["micronet"], call="backbone/micronet.py DYMicroBlock (one microconfig row)",
                          kwargs=c["kwargs"]),
            preset=preset, **run(block, case, c["input"], ("eval", "train")),
        )  # fmt: skip
    for name, fn in EMO_NETWORKS.items():
        case = f"emo_net_{name}"
        net = getattr(emo, fn)()
        rec = run(net, case, EMO_NET_INPUT, ("eval",))
        out[case] = dict(
            kind="network", source="emo", official=dict(official["emo"], call=f"model/emo.py {fn}()", kwargs={}),
            preset={"model": name}, fvcore_macs=count_macs(_Logits(net), convention="fvcore"), **rec,
        )  # fmt: skip
    for name, script in MICRONET_NETWORKS.items():
        case = f"micronet_net_{name}"
        opts = script_opts(args.micronet, script)
        with quiet:
            net = micronet.MicroNet(micronet_cfg(defaults, opts))
        rec = run(net, case, MICRONET_NET_INPUT, ("eval",))
        out[case] = dict(
            kind="network", source="micronet",
            official=dict(official["micronet"], call=f"backbone/micronet.py MicroNet(cfg) with {script}",
                          kwargs={"opts": opts}),
            preset={"model": name}, fvcore_macs=count_macs(net, convention="fvcore"), **rec,
        )  # fmt: skip
    for rec in out.values():
        rec["environment"] = env
    return out


def dumps(record: dict[str, Any]) -> str:
    """JSON with one line per top-level field and per manifest key (small, readable diffs)."""
    lines = []
    for key, value in record.items():
        if key == "manifest":
            inner = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            lines.append(f' "manifest": {{\n{inner}\n }}')
        elif key == "outputs":
            inner = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            lines.append(f' "outputs": {{\n{inner}\n }}')
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def git_head(path: Path) -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emo", type=Path, required=True, help="checkout of zhangzjn/EMO")
    parser.add_argument("--micronet", type=Path, required=True, help="checkout of liyunsheng13/micronet")
    parser.add_argument("--emo-commit", help="commit of the EMO checkout (default: git rev-parse HEAD)")
    parser.add_argument("--micronet-commit", help="commit of the MicroNet checkout (default: git rev-parse HEAD)")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures")
    parser.add_argument("--only", default="*", help="record only cases matching this glob")
    args = parser.parse_args()
    args.emo, args.micronet = args.emo.resolve(), args.micronet.resolve()
    args.emo_commit = args.emo_commit or git_head(args.emo)
    args.micronet_commit = args.micronet_commit or git_head(args.micronet)
    if not args.emo_commit or not args.micronet_commit:
        parser.error("the checkouts are not git work trees; pass --emo-commit and --micronet-commit")
    torch.manual_seed(0)  # the official constructors draw initial weights; all are overwritten
    args.out.mkdir(parents=True, exist_ok=True)
    for case, rec in records(args).items():
        if fnmatch.fnmatch(case, args.only):
            path = args.out / f"{case}.json"
            path.write_text(dumps({"case": case, **rec}))
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
