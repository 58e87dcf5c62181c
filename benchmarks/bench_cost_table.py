"""Cost-table throughput: candidates per second, warm and cold, versus a whole-model fvcore trace.

Candidates are random points of every built-in search space (``search.space.random_config``) at
224×224, or seeded random networks (``metablock.random_nets``) when the ``search`` package is not
importable. For each candidate the table answers params, MACs and peak activation memory.

- ``cold``: an empty table backed by a fresh SQLite file; every new part is traced once.
- ``warm (memory)``: the same table object again (what one search worker sees after a while).
- ``warm (file)``: a new ``CostTable`` on the filled file (what a new worker process sees first).
- ``whole-model fvcore``: ``count_macs`` + ``count_params`` on the built network, the way costs
  are counted without the table (on a subset); the table's answers are checked equal on it.

Usage:
    python benchmarks/bench_cost_table.py                  # 10 candidates per space
    python benchmarks/bench_cost_table.py --per-space 3    # quick
    python benchmarks/bench_cost_table.py --out benchmarks/results/cost_table.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from _report import processor, save

import metablock
from metablock.costs import count_macs, count_params

SIZE = (3, 224, 224)


def candidates(per_space: int) -> tuple[str, list[metablock.NetConfig]]:
    try:
        from search.space import list_spaces, random_config
    except ImportError:
        from metablock.random_nets import random_net_config

        n = 6 * per_space
        return "metablock.random_nets.random_net_config", [random_net_config(s) for s in range(n)]
    nets = [random_config(space, seed) for space in list_spaces() for seed in range(per_space)]
    return f"search.space.random_config over {', '.join(list_spaces())}", nets


def rate(fn, items, repeats: int = 1) -> float:
    """Items per second (best of ``repeats`` passes over ``items``)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - t0)
    return len(items) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-space", type=int, default=10, help="candidates per search space (default 10)")
    parser.add_argument("--whole", type=int, default=20, help="candidates traced whole (default 20)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "cost_table.md"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    source, nets = candidates(args.per_space)
    # fresh objects for every pass, as a search makes them: parse them from JSON outside the timing
    texts = [n.to_json() for n in nets]

    def fresh() -> list[metablock.NetConfig]:
        return [metablock.NetConfig.from_json(t) for t in texts]

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "costs.sqlite")
        table = metablock.CostTable(path)
        t0 = time.perf_counter()
        answers = [table.network(n, SIZE) for n in fresh()]
        cold_s = time.perf_counter() - t0
        parts = table.misses
        warm_mem = rate(lambda n: table.network(n, SIZE), fresh(), repeats=5)
        from_file = metablock.CostTable(path)
        t0 = time.perf_counter()
        for n in fresh():
            from_file.network(n, SIZE)
        file_first = len(nets) / (time.perf_counter() - t0)
        assert from_file.misses == 0
        warm_file = rate(lambda n: from_file.network(n, SIZE), fresh(), repeats=5)
        file_bytes = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))

    subset = list(range(0, len(nets), max(1, len(nets) // args.whole)))[: args.whole]
    t0 = time.perf_counter()
    for i in subset:
        model = metablock.build(nets[i])
        macs, params = count_macs(model, SIZE), count_params(model)
        if (macs, params) != (answers[i].macs, answers[i].params):
            raise SystemExit(f"table and whole-model count differ for candidate {i}: {answers[i]} vs {macs}, {params}")
    whole = len(subset) / (time.perf_counter() - t0)
    load_after = os.getloadavg()

    blocks = sum(s.depth for n in nets for s in n.stages)
    rows = [
        ("cold (empty table, parts traced)", len(nets) / cold_s),
        ("warm (memory)", warm_mem),
        ("warm (file, new table object, first pass)", file_first),
        ("warm (file, later passes)", warm_file),
        ("whole-model fvcore trace (count_macs + count_params)", whole),
    ]
    command = "python benchmarks/bench_cost_table.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    lines = [
        "# Cost table throughput",
        "",
        f"Command: `{command}`",
        "",
        f"{len(nets)} candidates ({source}), {blocks} blocks in all, input {SIZE[1]}×{SIZE[2]}, batch 1; "
        f"{parts} distinct parts traced cold; cache file and its WAL {file_bytes / 1024:.0f} KiB. Whole-model trace on "
        f"{len(subset)} of them, each equal to the table's params and MACs.",
        "",
        "| query | candidates/s | vs whole-model trace |",
        "|---|---:|---:|",
        *(f"| {name} | {r:,.1f} | {r / whole:,.0f}× |" for name, r in rows),
        "",
        f"Machine: {processor()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"1 intra-op thread; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        "(shared machine, other jobs running).",
        "",
    ]
    save("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
