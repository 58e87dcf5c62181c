"""``metablock export``: a network (named, or a NetConfig file) to ONNX, folded for deployment and
checked against ONNX Runtime.

Example:
    metablock export mobilenet_v2 mobilenet_v2.onnx --input 224
"""

from __future__ import annotations

import argparse
import copy
import warnings
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .network import NetConfig


def export_onnx(
    cfg: NetConfig,
    path: str | Path,
    *,
    input_size: int | None = None,
    opset: int = 17,
    check: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Build ``cfg`` (seeded random weights, BatchNorm statistics of a seeded batch), fold it
    (:func:`metablock.reparameterize`), export it to ONNX at ``path`` with PyTorch's TorchScript-based
    exporter (no ``onnxscript`` needed) and, with ``check``, run the file in ONNX Runtime on a seeded
    input.

    Returns ``path``, ``input`` (C, H, W), ``opset``, the file's ``bytes`` and, when checked, the
    largest absolute difference to PyTorch (``max_abs_diff``) and the output scale (``max_abs_out``).
    """
    import torch

    from .network import build
    from .reparam import reparameterize
    from .testing import calibrate_batchnorm

    size = cfg.resolution if input_size is None else input_size
    if not 8 <= size <= 8192:
        raise ConfigError(f"--input must be in [8, 8192]; got input={size}")
    if not 7 <= opset <= 21:
        raise ConfigError(f"--opset must be in [7, 21]; got opset={opset}")
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ConfigError("metablock export needs onnx: pip install -e '.[onnx]' (onnx and onnxruntime)") from None
    torch.manual_seed(seed)
    model = build(cfg).eval()
    # BatchNorm statistics from a seeded batch: the random network's outputs then depend on every layer,
    # so the comparison with ONNX Runtime checks every layer
    calibrate_batchnorm(model, torch.randn(4, cfg.in_chans, size, size, generator=torch.Generator().manual_seed(seed)))
    model = reparameterize(model)
    x = torch.randn(1, cfg.in_chans, size, size, generator=torch.Generator().manual_seed(seed + 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shapes are fixed but the batch
        expected = model(x)
        torch.onnx.export(
            copy.deepcopy(model),
            (x,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    out: dict[str, Any] = {"path": str(path), "input": [cfg.in_chans, size, size], "opset": opset}
    out["bytes"] = path.stat().st_size
    if check:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError(
                "checking the export needs onnxruntime: pip install -e '.[onnx]', or pass --no-check"
            ) from None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {"input": x.numpy()})
        out["max_abs_diff"] = float((torch.from_numpy(got) - expected).abs().max())
        out["max_abs_out"] = float(expected.abs().max())
    return out


def _run(args: argparse.Namespace) -> int:
    from .profile import load_network

    cfg = load_network(args.network)
    result = export_onnx(cfg, args.output, input_size=args.input, opset=args.opset, check=not args.no_check)
    c, h, w = result["input"]
    line = f"{result['path']}: {cfg.name}, input {c}x{h}x{w} (batch dynamic), opset {result['opset']}, "
    line += f"{result['bytes'] / 2**20:.1f} MiB, folded"
    if "max_abs_diff" in result:
        line += (
            f"; ONNX Runtime vs PyTorch: max |difference| {result['max_abs_diff']:.2e} "
            f"(outputs up to {result['max_abs_out']:.2f})"
        )
    print(line)
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``metablock export`` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "export",
        help="export a network to ONNX (folded) and check it against ONNX Runtime",
        description="Build a named network or a NetConfig JSON/YAML file with seeded weights, fold it for "
        "deployment, export it to ONNX and compare ONNX Runtime's output with PyTorch's.",
    )
    parser.add_argument("network", help="a named network (metablock.list_models()) or a config .json/.yaml file")
    parser.add_argument("output", help="the .onnx file to write")
    parser.add_argument(
        "--input", type=int, default=None, help="input height and width (default: the config's resolution)"
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    parser.add_argument("--no-check", action="store_true", help="do not run the file in ONNX Runtime")
    parser.set_defaults(func=_run)
