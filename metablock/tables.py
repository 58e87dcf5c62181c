"""Markdown tables that README.md shows, generated from the code (``python tools/readme_tables.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .costs import count_macs, count_params
from .zoo import list_models, model_config, model_info

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def package_references() -> dict[str, Callable[[], Any]]:
    """Builders of the torchvision / timm reference of each named network that has one."""
    import timm
    import torchvision

    tv = torchvision.models
    refs: dict[str, Callable[[], Any]] = {
        "mobilenet_v2": tv.mobilenet_v2,
        "mobilenet_v3_large": tv.mobilenet_v3_large,
        "mobilenet_v3_small": tv.mobilenet_v3_small,
        "efficientnet_b0": tv.efficientnet_b0,
        "efficientnet_v2_s": tv.efficientnet_v2_s,
        "shufflenet_v2_x1_0": tv.shufflenet_v2_x1_0,
        "resnet50": tv.resnet50,
        "efficientnet_b1": tv.efficientnet_b1,
        "efficientnet_b2": tv.efficientnet_b2,
        "efficientnet_b3": tv.efficientnet_b3,
        "regnet_y_400mf": tv.regnet_y_400mf,
        "mnasnet_100": tv.mnasnet1_0,
        "mobilenet_v1": lambda: timm.create_model("mobilenetv1_100"),
        "lcnet_100": lambda: timm.create_model("lcnet_100"),
        "ghostnet_100": lambda: timm.create_model("ghostnet_100"),
        "mixnet_s": lambda: timm.create_model("mixnet_s"),
        # only in the official code; its block list is timm's RepVit class at these dims and depths
        "repvit_m0_6": lambda: timm.models.repvit.RepVit(
            embed_dim=(40, 80, 160, 320), depth=(1, 1, 8, 1), distillation=True
        ),
    }
    for name in list_models():
        if name.startswith(("repvit_", "mobilenetv4_")) and name not in refs:
            refs[name] = lambda n=name: timm.create_model(n)
    return refs


def official_counts() -> dict[str, tuple[int, int]]:
    """(params, fvcore-default MACs at 224) of the official EMO and MicroNet models, as recorded in
    the network fixtures ``tests/fixtures/*_net_*.json`` (``tools/record_official_fixtures.py``)."""
    counts = {}
    for path in sorted(FIXTURES.glob("*_net_*.json")):
        fixture = json.loads(path.read_text())
        counts[fixture["preset"]["model"]] = (int(fixture["params"]), int(fixture["fvcore_macs"]))
    return counts


def reference_counts(name: str) -> tuple[int, int] | None:
    """(params, fvcore-default MACs at 224) of the reference, computed on it (torchvision / timm) or
    recorded from the official code (EMO, MicroNet; see :func:`official_counts`)."""
    refs = package_references()
    if name in refs:
        ref = refs[name]()
        return count_params(ref), count_macs(ref, convention="fvcore")
    return official_counts().get(name)


def networks_markdown() -> str:
    lines = [
        "| network | params | MACs @224 | reference params | reference MACs @224 (fvcore defaults) | reference |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in list_models():
        cfg = model_config(name)
        params, macs = count_params(cfg), count_macs(cfg, (cfg.in_chans, 224, 224))
        ref = reference_counts(name)
        ref_params = f"{ref[0]:,}" if ref else "—"
        ref_macs = f"{ref[1] / 1e6:.1f} M" if ref else "—"
        reference = model_info(name)["reference"]
        lines.append(f"| `{name}` | {params:,} | {macs / 1e6:.1f} M | {ref_params} | {ref_macs} | {reference} |")
    return "\n".join(lines)
