"""Markdown tables that README.md shows, generated from the code (``python tools/readme_tables.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .costs import count_macs, count_params
from .zoo import list_models, model_config, model_info

OFFICIAL = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "official_networks.json"


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
    }
    for name in list_models():
        if name.startswith(("repvit_", "mobilenetv4_")):
            refs[name] = lambda n=name: timm.create_model(n)
    return refs


def reference_counts(name: str) -> tuple[int, int] | None:
    """(params, fvcore-default MACs at 224) of the reference, computed on it (official code for
    EMO and MicroNet, recorded in ``tests/fixtures/official_networks.json``)."""
    refs = package_references()
    if name in refs:
        ref = refs[name]()
        return count_params(ref), count_macs(ref, convention="fvcore")
    if OFFICIAL.exists():
        data = json.loads(OFFICIAL.read_text())
        if name in data:
            return int(data[name]["params"]), int(data[name]["fvcore_macs"])
    return None


def networks_markdown() -> str:
    lines = [
        "| network | params | MACs @224 | reference params | reference MACs @224 (fvcore defaults) | reference |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in list_models():
        cfg = model_config(name)
        params, macs = count_params(cfg), count_macs(cfg)
        ref = reference_counts(name)
        ref_params = f"{ref[0]:,}" if ref else "—"
        ref_macs = f"{ref[1] / 1e6:.1f} M" if ref else "—"
        lines.append(
            f"| `{name}` | {params:,} | {macs / 1e6:.1f} M | {ref_params} | {ref_macs} | {model_info(name)['reference']} |"
        )
    return "\n".join(lines)
