"""Latency predictor accuracy: calibrated sums of per-part latencies versus measured whole networks.

Architectures are random points of every built-in search space (``search.space.random_config``),
or seeded random networks (``metablock.random_nets``) when ``search`` is not importable. A
calibration set (other seeds) fits the linear correction; the test set is held out. Every distinct
part (stem, block at its input size, head) is timed reparameterized with ``torch.utils.benchmark``
in ``--part-rounds`` rounds that interleave all parts (``LatencyTable.prefetch``), median per part;
whole networks are timed in ``--rounds`` rounds that interleave the networks, median per network.

Reported: median absolute % error, share within ±10%, Kendall τ of predicted vs measured, for the
calibrated predictor and for the plain sum of parts.

Usage:
    python benchmarks/bench_latency_predictor.py                       # 30 test + 18 calibration
    python benchmarks/bench_latency_predictor.py --per-space 1 --calib-per-space 1   # quick
    python benchmarks/bench_latency_predictor.py --out benchmarks/results/latency_predictor.md
    python benchmarks/bench_latency_predictor.py --device cuda --out benchmarks/results/latency_predictor_cuda.md
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from _report import processor, save

import metablock
from metablock.latency import FULL_FIT_MIN_NETWORKS, LatencyTable, measure_networks


def architectures(per_space: int, first_seed: int) -> tuple[str, list[metablock.NetConfig]]:
    try:
        from search.space import list_spaces, random_config
    except ImportError:
        from metablock.random_nets import random_net_config

        seeds = range(first_seed, first_seed + 6 * per_space)
        nets = [random_net_config(s, widths=(32, 64, 96, 128), max_stages=5) for s in seeds]
        return "metablock.random_nets.random_net_config", nets
    nets = [random_config(space, first_seed + i) for space in list_spaces() for i in range(per_space)]
    return f"search.space.random_config over {', '.join(list_spaces())}", nets


def kendall_tau(a: list[float], b: list[float]) -> float:
    """Kendall's τ-b."""
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    n = concordant + discordant
    return (concordant - discordant) / (((n + ties_a) * (n + ties_b)) ** 0.5 or 1.0)


def metrics(predicted: list[float], measured: list[float]) -> tuple[float, float, float]:
    errors = [abs(p - m) / m * 100 for p, m in zip(predicted, measured, strict=True)]
    within = sum(e <= 10 for e in errors) / len(errors) * 100
    return statistics.median(errors), within, kendall_tau(predicted, measured)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-space", type=int, default=5, help="test architectures per space (default 5)")
    parser.add_argument("--calib-per-space", type=int, default=3, help="calibration architectures per space (3)")
    parser.add_argument("--input", type=int, default=160, help="input height and width (default 160)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N: where parts and networks are timed")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of whole-network timing")
    parser.add_argument("--part-time", type=float, default=0.3, help="seconds of timing per part, over all rounds")
    parser.add_argument("--part-rounds", type=int, default=3, help="interleaved rounds of part timing")
    parser.add_argument("--net-time", type=float, default=0.3, help="min_run_time per network and round, seconds")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "latency_predictor.md"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    size = (3, args.input, args.input)
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    source, test = architectures(args.per_space, 0)
    _, calib = architectures(args.calib_per_space, 1000)

    table = LatencyTable(device=args.device, threads=args.threads, min_run_time=args.part_time, rounds=args.part_rounds)
    kw = dict(device=args.device, threads=args.threads, min_run_time=args.net_time, rounds=args.rounds)
    # calibration and test networks are timed together, interleaved in a shuffled order, so that a
    # change of machine load hits both sets alike; then every part is timed
    everything = calib + test
    order = list(range(len(everything)))
    random.Random(0).shuffle(order)
    timed = measure_networks([everything[i] for i in order], size, **kw)  # type: ignore[arg-type]
    latency = dict(zip(order, timed, strict=True))
    measured_calib = [latency[i] for i in range(len(calib))]
    measured = [latency[len(calib) + i] for i in range(len(test))]
    table.prefetch(everything, size, progress=True)
    features = [table.summed(n, size) for n in calib]
    summed = [table.summed(n, size) for n in test]
    plain = [f[0] for f in summed]
    rows = []
    auto = "full" if len(calib) >= FULL_FIT_MIN_NETWORKS else "affine"
    for terms in ("scale", "affine", "auto"):  # the default (auto) last, so it is the one stored
        fit = table.fit(features, measured_calib, terms=terms)
        rows.append((f"calibrated, terms={terms}" + (f" (default: {auto})" if terms == "auto" else ""), fit))
    predicted = [fit.apply(*f) for f in summed]
    load_after = os.getloadavg()
    minutes = (time.perf_counter() - t_start) / 60

    scored = [(name, *metrics([f.apply(*x) for x in summed], measured)) for name, f in rows]
    scored.append(("plain sum of parts", *metrics(plain, measured)))
    command = "python benchmarks/bench_latency_predictor.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    targets = "targets: ≥ 90% within ±10%, τ ≥ 0.85"
    where = (
        f"CPU, {args.threads} thread(s)"
        if table.device == "cpu"
        else f"{table.device} ({torch.cuda.get_device_name(table.device)}, timed with CUDA synchronisation)"
    )
    lines = [
        "# Latency predictor accuracy",
        "",
        f"Command: `{command}`",
        "",
        f"{len(test)} test architectures and {len(calib)} calibration architectures ({source}), input "
        f"{args.input}×{args.input}, batch 1, {where}, reparameterized; {table.misses} parts "
        f"timed; measured latencies {min(measured):.1f}–{max(measured):.1f} ms. Fits (latency ≈ a · Σ parts + "
        "b · parts + d · MiB of part inputs + c): "
        + "; ".join(
            f"{n.split(',')[1].split()[0]}: a={f.scale:.3f}, b={f.per_part:.3f}, d={f.per_mib:.3f}, c={f.offset:.2f}"
            for n, f in rows
        )
        + ".",
        "",
        f"| predictor | median abs. error | within ±10% | Kendall τ |  ({targets})",
        "|---|---:|---:|---:|",
        *(f"| {name} | {med:.1f}% | {within:.0f}% | {tau:.3f} |" for name, med, within, tau in scored),
        "",
        f"Machine: {processor()}, {os.cpu_count()} CPUs, torch {torch.__version__}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, {minutes:.0f} min in all. "
        "Other load on the machine changes the timings; the figures are what this run measured.",
        "",
        "Per test architecture, default predictor:",
        "",
        "| # | parts | measured ms | predicted ms | error |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {i} | {n} | {m:.2f} | {p:.2f} | {(p - m) / m * 100:+.1f}% |"
            for i, ((_, n, _), m, p) in enumerate(zip(summed, measured, predicted, strict=True))
        ),
        "",
    ]
    save("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
