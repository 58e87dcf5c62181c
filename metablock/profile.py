"""``metablock profile``: params, MACs, memory, optional latency and a per-stage breakdown.

Example:
    >>> from metablock.cli import main
    >>> main(["profile", "mobilenet_v3_small", "--input", "64", "--json"])  # doctest: +ELLIPSIS
    {"name": "mobilenet_v3_small", ...}
    0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .network import NetConfig


def load_network(spec: str) -> NetConfig:
    """A named network, or a ``NetConfig`` read from a ``.json`` / ``.yaml`` / ``.yml`` file."""
    from .zoo import list_models, model_config

    if spec in list_models():
        return model_config(spec)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (".json", ".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"network config file {spec!r} does not exist")
        text = path.read_text()
        return NetConfig.from_json(text) if suffix == ".json" else NetConfig.from_yaml(text)
    return model_config(spec)  # raises ConfigError listing the names and the closest match


def profile(
    cfg: NetConfig, *, input_size: int | None = None, batch: int = 1, latency: bool = False, threads: int | None = None
) -> dict[str, Any]:
    """Everything ``metablock profile`` prints, as one JSON-compatible dict; ``input_size`` defaults to
    the config's own ``resolution``."""
    from .cost_table import CostTable
    from .memory import estimate_memory

    input_size = cfg.resolution if input_size is None else input_size
    if input_size < 1 or batch < 1:
        raise ConfigError(f"--input and --batch must be >= 1; got input={input_size}, batch={batch}")
    size = (cfg.in_chans, input_size, input_size)
    costs = CostTable().network(cfg, size)
    out: dict[str, Any] = {
        "name": cfg.name,
        "input": list(size),
        "batch": batch,
        "params": costs.params,
        "macs": costs.macs,  # per image, as every other MACs figure
        "macs_batch": costs.macs * batch,
        "memory_bytes": estimate_memory(cfg, size, batch=batch),
        "stages": [
            {
                "name": p.name,
                "params": p.params,
                "macs": p.macs,
                "peak_memory_bytes": p.memory * batch,
                "out_shape": list(p.out_shape),
            }
            for p in costs.stages
        ],
    }
    if latency:
        from .latency import measure_latency

        lat = measure_latency(cfg, size, batch=batch, threads=threads)
        out["latency_ms"] = {"median": lat.median_ms, "iqr": lat.iqr_ms, "threads": lat.threads, "device": lat.device}
    return out


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB"


def _print(result: dict[str, Any]) -> None:
    c, h, w = result["input"]
    print(f"{result['name']}  input {c}x{h}x{w}, batch {result['batch']}")
    print(f"  params   {result['params']:,}")
    batch = result["batch"]
    total = f"; {result['macs_batch'] / 1e6:.1f} M for the batch of {batch}" if batch > 1 else ""
    print(f"  MACs     {result['macs']:,} ({result['macs'] / 1e6:.1f} M per image{total})")
    print(f"  memory   {_mib(result['memory_bytes'])} peak activations (inference, float32)")
    if "latency_ms" in result:
        lat = result["latency_ms"]
        print(
            f"  latency  {lat['median']:.2f} ms median, IQR {lat['iqr']:.2f} ms "
            f"({lat['device']}, {lat['threads']} thread{'s' if lat['threads'] != 1 else ''}, batch {batch})"
        )
    rows = [("part", "params", "MACs (M) / image", f"peak memory (batch {batch})", "output")]
    for p in result["stages"]:
        shape = "x".join(map(str, p["out_shape"]))
        rows.append((p["name"], f"{p['params']:,}", f"{p['macs'] / 1e6:.2f}", _mib(p["peak_memory_bytes"]), shape))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for i, r in enumerate(rows):
        print(
            "  "
            + "  ".join(
                cell.ljust(wd) if j in (0, 4) else cell.rjust(wd)
                for j, (cell, wd) in enumerate(zip(r, widths, strict=True))
            )
        )
        if i == 0:
            print("  " + "  ".join("-" * wd for wd in widths))


def _run(args: argparse.Namespace) -> int:
    cfg = load_network(args.network)
    result = profile(cfg, input_size=args.input, batch=args.batch, latency=args.latency, threads=args.threads)
    if args.json:
        print(json.dumps(result))
    else:
        _print(result)
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``metablock profile`` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "profile",
        help="params, MACs, memory, optional latency and a per-stage breakdown of a network",
        description="Profile a named network or a NetConfig JSON/YAML file.",
    )
    parser.add_argument("network", help="a named network (metablock.list_models()) or a config .json/.yaml file")
    parser.add_argument(
        "--input",
        type=int,
        default=None,
        help="input height and width (default: the config's resolution, 224 for the named networks)",
    )
    parser.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--latency", action="store_true", help="also measure CPU latency (reparameterized)")
    parser.add_argument("--threads", type=int, default=None, help="threads for --latency (default: torch's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run)
