"""Every timm / torchvision model of the families ``from_reference`` takes, converted: equal logits or a
refusal by name.

For each model name of the checked classes (timm's ``EfficientNet``, ``MobileNetV3``, ``GhostNet``,
``ResNet`` and ``RepVit`` builders; torchvision's MobileNetV2/V3, EfficientNet, ShuffleNetV2,
ResNet, MNASNet and RegNet) the model is built without pretrained weights, filled with seeded random
weights, its BatchNorm statistics calibrated on a seeded batch (so the logits depend on every
layer), converted, and run next to the reference on a 64x64 (and a 65x65) input. A row is
``converts`` (with the largest logit difference relative to the logit scale), ``refused`` (with the
``ConfigError`` message: the reason is stated) or ``error`` (anything else: a bug). Rows are kept in
a CSV beside the table, so an interrupted run continues where it stopped.

Example:
    python benchmarks/bench_zoo.py                       # every model (about 40 min on 2 CPU cores)
    python benchmarks/bench_zoo.py --max-params 30e6     # skip the large ones
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch

import metablock
from metablock.testing import calibrate_batchnorm, manifest_of, random_state_dict, seeded_input

RESULTS = Path(__file__).resolve().parent / "results"
TIMM_CLASSES = {"EfficientNet", "MobileNetV3", "GhostNet", "ResNet", "RepVit"}
TIMM_MODULES = ("efficientnet", "mobilenetv3", "ghostnet", "resnet", "repvit")
TORCHVISION = [
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "efficientnet_b3",
    "efficientnet_v2_s", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "resnet18", "resnet50", "resnext50_32x4d",
    "wide_resnet50_2", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "regnet_x_400mf",
    "regnet_x_800mf", "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf",
]  # fmt: skip
FIELDS = ["source", "model", "class", "params", "status", "max_rel_diff", "detail", "seconds"]


def timm_names() -> list[str]:
    import timm

    names = []
    for module in TIMM_MODULES:
        names += timm.list_models(module=module)
    return sorted(set(names))


def build(source: str, name: str) -> torch.nn.Module:
    if source == "timm":
        import timm

        return timm.create_model(name)
    import torchvision

    return getattr(torchvision.models, name)()


def check(source: str, name: str, max_params: float) -> dict[str, object]:
    start = time.perf_counter()
    row: dict[str, object] = {"source": source, "model": name}
    try:
        ref = build(source, name)
    except Exception as exc:  # noqa: BLE001 (a model the package itself cannot build here)
        return {**row, "status": "skipped", "detail": f"cannot build: {exc!r}"[:300]}
    row["class"] = type(ref).__name__
    row["params"] = sum(p.numel() for p in ref.parameters())
    if source == "timm" and type(ref).__name__ not in TIMM_CLASSES:
        return {**row, "status": "skipped", "detail": "another class"}
    if row["params"] > max_params:  # type: ignore[operator]
        return {**row, "status": "skipped", "detail": f"over --max-params {max_params:g}"}
    state = ref.state_dict()
    with torch.no_grad():
        for key, value in random_state_dict(manifest_of(state), seed=1).items():
            state[key].copy_(value)
    calibrate_batchnorm(ref, seeded_input((4, 3, 64, 64), seed=2))
    try:
        ours = metablock.from_reference(ref).eval()
    except metablock.ConfigError as exc:
        return {**row, "status": "refused", "detail": str(exc)[:300], "seconds": time.perf_counter() - start}
    except Exception as exc:  # noqa: BLE001 (reported, never hidden: this is a bug)
        return {**row, "status": "error", "detail": repr(exc)[:300], "seconds": time.perf_counter() - start}
    worst = 0.0
    status = "converts"
    for side in (64, 65):
        x = seeded_input((2, 3, side, side), seed=3)
        with torch.no_grad():
            expected, got = ref(x), ours(x)
        scale = max(1.0, expected.abs().max().item())
        worst = max(worst, (got - expected).abs().max().item() / scale)
        if sum(p.numel() for p in ours.parameters()) != row["params"]:
            status = "error"
    if worst > 1e-4:
        status = "error"
    return {**row, "status": status, "max_rel_diff": f"{worst:.1e}", "seconds": time.perf_counter() - start}


def write_table(rows: list[dict[str, object]], path: Path, command: str) -> None:
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r["status"])] = counts.get(str(r["status"]), 0) + 1
    lines = [
        "# from_reference over the model zoo",
        "",
        f"`{command}` — seeded random weights, BatchNorm statistics calibrated on a seeded batch, logits "
        "compared on 64x64 and 65x65 inputs (largest difference relative to the logit scale).",
        "",
        "Totals: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
        "",
        "| source | model | class | params | status | max rel. diff | reason |",
        "|---|---|---|---:|---|---:|---|",
    ]
    for r in rows:
        if r["status"] == "skipped" and r.get("detail") == "another class":
            continue
        detail = str(r.get("detail") or "").replace("|", "/").replace("\n", " ")
        params = f"{int(r['params']):,}" if r.get("params") not in (None, "") else ""
        lines.append(
            f"| {r['source']} | {r['model']} | {r.get('class') or ''} | {params} | {r['status']} | "
            f"{r.get('max_rel_diff') or ''} | {detail} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-params", type=float, default=float("inf"), help="skip larger models")
    parser.add_argument("--models", default="", help="comma-separated timm names (default: every one)")
    parser.add_argument("--out", type=Path, default=RESULTS / "zoo.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cache = args.out.with_suffix(".csv")
    done: dict[tuple[str, str], dict[str, object]] = {}
    if cache.exists():
        with cache.open() as f:
            for r in csv.DictReader(f):
                done[(r["source"], r["model"])] = r
    todo = [("timm", n) for n in (args.models.split(",") if args.models else timm_names())]
    if not args.models:
        todo += [("torchvision", n) for n in TORCHVISION]
    new_file = not cache.exists()
    with cache.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        for i, key in enumerate(todo):
            if key in done:
                continue
            row = check(*key, args.max_params)
            done[key] = row
            writer.writerow({k: row.get(k, "") for k in FIELDS})
            f.flush()
            print(f"[{i + 1}/{len(todo)}] {key[0]} {key[1]}: {row['status']} {row.get('detail', '')}"[:200], flush=True)
    rows = [done[k] for k in todo if k in done]
    given = argv if argv is not None else sys.argv[1:]
    command = " ".join(["python benchmarks/bench_zoo.py", *given])
    write_table(rows, args.out, command)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
