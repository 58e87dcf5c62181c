"""Eval latency of every named network next to its reference implementation, on CPU.

Each named network with a package reference (torchvision or timm, see
``metablock.tables.package_references``) is timed next to that reference with the reference's weights
copied in (``metablock.from_reference``), so both compute the same function. Four variants per
network and batch size:

- ``ref``: the reference as it ships (eval mode);
- ``ours``: ``from_reference(ref)``, unfused;
- ``ours fused``: after ``metablock.reparameterize``;
- ``ref fused``: the reference after its own fusing, where its package offers one (timm's
  ``timm.utils.reparameterize_model``, which folds RepViT's RepVGG branches and BatchNorms);
- ``ref again``: a second copy of the reference, timed like the others. ``ref again / ref`` is an
  A/A control: it would be 1.00 on a perfect clock, so its distance from 1 is the resolution of the
  run, the margin within which ``ours / ref`` cannot be told from 1.

Networks without a package reference (EMO, MicroNet) are timed alone. Measurements are interleaved
(ref, ours, ours fused, ref fused, then the reverse order, ...) so that load drift and the cache
state left by the previous variant hit every variant alike; a
ratio is the median over rounds of the per-round ratio. Times are medians with their interquartile
range, per forward call.

Example:
    python benchmarks/bench_networks.py                      # every network, batch 1 and 8, 2 threads
    python benchmarks/bench_networks.py --models mobilenet_v2,resnet50 --batch 1 --quick
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.benchmark import Timer

import metablock
from metablock.tables import package_references

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "networks_latency.md"
VARIANTS = ("ref", "ours", "ours_fused", "ref_fused", "ref_again")


@dataclass
class Row:
    name: str
    batch: int
    times: dict[str, list[float]] = field(default_factory=dict)  # seconds per call, one per round
    ref_fusing: str = ""
    max_diff: float = 0.0

    def median(self, key: str) -> float:
        return statistics.median(self.times[key])

    def iqr(self, key: str) -> float:
        q = statistics.quantiles(self.times[key], n=4) if len(self.times[key]) > 1 else [0.0, 0.0, 0.0]
        return q[2] - q[0]

    def ratio(self, num: str, den: str) -> float | None:
        if num not in self.times or den not in self.times:
            return None
        return statistics.median(a / b for a, b in zip(self.times[num], self.times[den], strict=True))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def reference_fusing(name: str) -> tuple[Callable[[nn.Module], nn.Module], str] | None:
    """The reference package's own deploy-time fusing for ``name``, if it has one."""
    if name.startswith("repvit_"):
        from timm.utils import reparameterize_model

        return (lambda m: reparameterize_model(m, inplace=False)), "timm.utils.reparameterize_model"
    return None


@torch.no_grad()
def calibrate(model: nn.Module, size: int) -> None:
    """Set every BatchNorm's running statistics from a few random batches, as training would.

    Freshly initialised networks have unit running variances, so their activations shrink (or grow)
    layer after layer towards values a trained network never sees; calibrated statistics keep them
    at a realistic scale and make the timing representative.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    model.train()
    gen = torch.Generator().manual_seed(1)
    for _ in range(2):
        model(torch.randn(4, 3, size, size, generator=gen))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.eval()


def build_variants(name: str, refs: dict[str, Callable[[], nn.Module]], size: int) -> tuple[dict[str, nn.Module], str]:
    """The eval-mode modules to time for ``name`` and a label of the reference's fusing."""
    torch.manual_seed(0)
    variants: dict[str, nn.Module] = {}
    label = ""
    if name in refs:
        ref = refs[name]()
        calibrate(ref, size)
        # every timed variant holds copied weights (none keeps the tensors allocated at initialisation),
        # so that where the weights sit in memory cannot favour one variant
        variants["ref"] = copy.deepcopy(ref)
        ours = metablock.from_reference(ref).eval()
    else:
        ours = metablock.create_model(name)
        calibrate(ours, size)
    variants["ours"] = ours
    variants["ours_fused"] = metablock.reparameterize(copy.deepcopy(ours)).eval()
    fusing = reference_fusing(name) if name in refs else None
    if fusing is not None:
        fuse, label = fusing
        variants["ref_fused"] = fuse(copy.deepcopy(variants["ref"])).eval()
    if "ref" in variants:
        variants["ref_again"] = copy.deepcopy(ref)
    return variants, label


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def timer(model: nn.Module, x: torch.Tensor, threads: int, clock: str = "wall") -> Timer:
    return Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=threads, timer=CLOCKS[clock])


def measure(
    name: str,
    batch: int,
    variants: dict[str, nn.Module],
    *,
    threads: int,
    size: int,
    rounds: int,
    target: float,
    clock: str = "wall",
) -> Row:
    """Interleaved timing: every round times each variant once for about ``target`` seconds."""
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    row = Row(name, batch)
    with torch.inference_mode():
        outs = {k: m(x) for k, m in variants.items()}
        if "ref" in outs:
            row.max_diff = max(float((outs[k] - outs["ref"]).abs().max()) for k in outs)
        timers = {k: timer(m, x, threads, clock) for k, m in variants.items()}
        # warm-up, and the number of calls per measurement
        number = {}
        for k, t in timers.items():
            warm = t.blocked_autorange(min_run_time=0.2)
            number[k] = max(1, round(target / warm.median))
        for k in timers:
            row.times[k] = []
        order = list(timers)
        for i in range(rounds):
            # odd rounds run the variants in reverse order, so that no variant always follows the same one
            for k in order if i % 2 == 0 else order[::-1]:
                row.times[k].append(timers[k].timeit(number[k]).median)
    return row


def fmt_ms(row: Row, key: str) -> str:
    if key not in row.times:
        return "—"
    return f"{row.median(key) * 1e3:.2f} ± {row.iqr(key) * 1e3:.2f}"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def table(rows: list[Row]) -> str:
    lines = [
        "| network | batch | ref ms | ours ms | ours fused ms | ref fused ms "
        "| ours / ref | ours fused / ref | ours fused / ref fused | ref again / ref (A/A) | max abs diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        diff = f"{r.max_diff:.1e}" if "ref" in r.times else "—"
        lines.append(
            f"| `{r.name}` | {r.batch} | {fmt_ms(r, 'ref')} | {fmt_ms(r, 'ours')} | {fmt_ms(r, 'ours_fused')} "
            f"| {fmt_ms(r, 'ref_fused')} | {fmt_ratio(r.ratio('ours', 'ref'))} "
            f"| {fmt_ratio(r.ratio('ours_fused', 'ref'))} | {fmt_ratio(r.ratio('ours_fused', 'ref_fused'))} "
            f"| {fmt_ratio(r.ratio('ref_again', 'ref'))} | {diff} |"
        )
    return "\n".join(lines)


def load_note(before: tuple[float, float, float], after: tuple[float, float, float], wall: float) -> str:
    cores = os.cpu_count()
    return (
        f"load average (1, 5, 15 min) {before[0]:.2f}, {before[1]:.2f}, {before[2]:.2f} at the start and "
        f"{after[0]:.2f}, {after[1]:.2f}, {after[2]:.2f} at the end, on {cores} logical cores; "
        f"the run took {wall / 60:.1f} min"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="all", help="comma-separated network names, or 'all' (default)")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes (default: 1 8)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    p.add_argument("--size", type=int, default=224, help="input resolution (default: 224)")
    p.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: latency (default); cpu: process CPU time, a cross-check on a loaded machine with --threads 1",
    )
    p.add_argument("--quick", action="store_true", help="fewer, shorter rounds (6 × 0.03 s instead of 20 × 0.05 s)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (overrides the default or --quick)")
    p.add_argument(
        "--min-time",
        type=float,
        help="seconds per variant and round, at least one forward call (overrides the default or --quick)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"markdown file to write (default: {DEFAULT_OUT})")
    return p.parse_args(argv)


def report(args: argparse.Namespace, argv: list[str], rows: list[Row], meta: dict[str, object]) -> str:
    """The markdown report: how it was measured, then the table."""
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/bench_networks.py", *argv])
    fusing: dict[str, str] = meta["fusing"]  # type: ignore[assignment]
    fused_refs = ", ".join(f"`{n}`" for n in fusing) or "none"
    labels = sorted(set(fusing.values()))
    load0: tuple[float, float, float] = meta["load0"]  # type: ignore[assignment]
    start: float = meta["start"]  # type: ignore[assignment]
    done, total = meta["done"], meta["total"]
    notes = [
        f"# Network latency, ours vs reference ({args.size}×{args.size}, CPU, {args.threads} threads)",
        "",
        f"- command: `{command}`",
        f"- torch {torch.__version__}, CPU: {cpu_model()}, Python {platform.python_version()}",
        f"- machine load: {load_note(load0, os.getloadavg(), time.time() - start)}",
        f"- {meta['rounds']} interleaved rounds (variant order reversed every other round) of about "
        f"{meta['target']:.2f} s per variant; times are per forward call ({args.clock} clock), median ± "
        "interquartile range in ms; a ratio is the median over rounds of the per-round ratio",
        "- ref: the torchvision / timm model as it ships (eval); ours: `metablock.from_reference(ref)`; "
        "ours fused: after `metablock.reparameterize`",
        f"- ref fused: the reference after its own fusing ({', '.join(labels) or 'none'}), for {fused_refs}; "
        "torchvision offers none",
        "- ref again / ref (A/A): a second copy of the reference timed like the others; its distance from "
        "1.00 is the run's resolution, within which ours / ref cannot be told from 1",
        "- weights: the reference's random initialisation (seed 0), BatchNorm statistics set from two "
        "random batches so that activations keep a realistic scale; ours gets the same weights",
        "- max abs diff: largest logit difference of any variant from ref on the benchmark input",
    ]
    if done < total:
        notes.append(f"- partial: {done} of {total} networks measured so far")
    return "\n".join([*notes, "", table(rows), ""])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    refs = package_references()
    if args.models == "all":  # networks with a reference first: their ratios are the point
        names = sorted(metablock.list_models(), key=lambda n: n not in refs)
    else:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
    known = set(metablock.list_models())
    for n in names:
        if n not in known:
            raise SystemExit(f"unknown network {n!r}; valid: {', '.join(sorted(known))}")
    rounds, target = (6, 0.03) if args.quick else (20, 0.05)
    rounds = rounds if args.rounds is None else args.rounds
    target = target if args.min_time is None else args.min_time
    if rounds < 1 or not target > 0:
        raise SystemExit(f"--rounds must be >= 1 and --min-time > 0; got {rounds} and {target}")
    meta: dict[str, object] = {
        "start": time.time(),
        "load0": os.getloadavg(),
        "fusing": {},
        "rounds": rounds,
        "target": target,
        "done": 0,
        "total": len(names),
    }
    rows: list[Row] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        variants, label = build_variants(name, refs, args.size)
        if label:
            meta["fusing"][name] = label  # type: ignore[index]
        for batch in args.batch:
            row = measure(
                name,
                batch,
                variants,
                threads=args.threads,
                size=args.size,
                rounds=rounds,
                target=target,
                clock=args.clock,
            )
            rows.append(row)
            print(
                f"{name:24s} b={batch}: ours/ref {fmt_ratio(row.ratio('ours', 'ref'))}, "
                f"fused/ref {fmt_ratio(row.ratio('ours_fused', 'ref'))}, "
                f"fused/ref fused {fmt_ratio(row.ratio('ours_fused', 'ref_fused'))}, "
                f"A/A {fmt_ratio(row.ratio('ref_again', 'ref'))}",
                file=sys.stderr,
                flush=True,
            )
        meta["done"] = int(meta["done"]) + 1  # type: ignore[call-overload]
        args.out.write_text(report(args, argv, rows, meta))  # saved as it goes: a long run can be cut short
    text = report(args, argv, rows, meta)
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
