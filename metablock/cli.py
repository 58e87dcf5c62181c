"""The metablock command line: build, profile and search mobile vision blocks and networks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from .errors import ConfigError, StoppedError


def _tour(args: argparse.Namespace) -> int:
    import torch

    from .block import MetaMobileBlock
    from .presets import block_config, block_info, list_blocks
    from .reparam import reparameterize

    rows = []
    for name in list_blocks():
        cfg = block_config(name)
        block = MetaMobileBlock(cfg).eval()
        x = torch.randn(1, cfg.in_chs, args.size, args.size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            y = block(x)
            params = sum(p.numel() for p in block.parameters())
            fused = reparameterize(block)
            diff = (fused(x) - y).abs().max().item()
        ref = block_info(name)["reference"]
        rows.append(
            (
                name,
                f"{cfg.in_chs}->{cfg.out_chs}",
                str(cfg.stride),
                cfg.mixer,
                cfg.shortcut,
                f"{params:,}",
                "x".join(str(s) for s in y.shape[1:]),
                f"{diff:.1e}",
                ref,
            )
        )
    head = ("preset", "chs", "s", "F", "shortcut", "params", f"out@{args.size}", "fused Δ", "reference")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (``metablock search: error: ...``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Subcommands that live in their own modules: each module has ``add_parser(subparsers)`` and sets
# ``func`` on its parser. Modules are imported when the parser is built, so they keep heavy imports
# (optuna, matplotlib) inside their functions.
SUBCOMMAND_MODULES = ("metablock.profile", "metablock.export", "search.cli", "search.report")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from . import __version__

    parser = _Parser(prog="metablock", description=__doc__)
    parser.add_argument("--version", action="version", version=f"metablock {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    tour = sub.add_parser(
        "tour",
        help="build every block preset, run it and print a table",
        description="Build every block preset, run it on a random input, fold it for deployment and print "
        "one row per preset: widths, stride, operator, shortcut, parameters, output shape, the largest "
        "difference after folding and the reference implementation.",
    )
    tour.add_argument("--size", type=int, default=32, help="input height and width (default 32)")
    tour.set_defaults(func=_tour)
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.add_parser(sub)
    return parser


def _quiet_warnings() -> None:
    """Keep the libraries' import-time notices (fvcore's use of ``torch.jit.script``, a missing CUDA
    runtime on a CPU machine) out of the command's output."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated")
    warnings.filterwarnings("ignore", message=r".*No CUDA runtime is found.*")
    warnings.filterwarnings("ignore", message=r".*CUDA initialization.*", category=UserWarning)
    import logging

    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "No CUDA runtime is found"


def _fail(message: str) -> int:
    lines = str(message).strip().splitlines() or ["unknown error"]
    print(f"metablock: error: {lines[0]}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand. Bad input (configs, files, arguments, storage URLs) ends with one line
    ``metablock: error: ...`` on stderr and exit code 2; Ctrl-C with exit code 130."""
    _quiet_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        return _fail(str(exc))
    except StoppedError as exc:  # not bad input: exit 1, one line
        print(f"metablock: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("metablock: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``metablock profile ... | head``)
        sys.stderr.close()
        return 0
    except OSError as exc:  # a missing or unreadable file, a directory where a file belongs
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}")
    except Exception as exc:
        # malformed JSON/YAML read outside our loaders, and storage errors (the CLI does not import
        # optuna or sqlalchemy just to name their exception classes)
        import json

        import yaml

        if isinstance(exc, (json.JSONDecodeError, yaml.YAMLError)) or type(exc).__module__.startswith(
            ("optuna", "sqlalchemy")
        ):
            return _fail(f"{type(exc).__name__}: {exc}")
        raise


if __name__ == "__main__":
    sys.exit(main())
