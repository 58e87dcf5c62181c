"""Check scores, training and a study on an accelerator against the CPU.

Runs, on ``--device`` (default ``auto``: CUDA when there) and on the CPU:

1. every training-free proxy on a few candidates of two spaces (values must agree within ``--rtol``,
   ZiCo within ``--zico-rtol``; NASWOT and SWAP count sign patterns, so an activation within rounding
   of 0 can flip a bit). Scores are computed so that they do not depend on the device
   (``search.scores.device_independent``: dropout masks drawn on the host, no TF32, deterministic
   cuDNN). ZiCo divides each gradient's mean by its spread over two batches, and a weight whose two
   gradients nearly agree dominates the sum, so float rounding alone moves it: 0.03% to 0.64% between
   the CPU and an H200 with TF32 off and no dropout (``benchmarks/results/check_device.md``);
2. one training with the ground-truth recipe for ``--steps`` steps (accuracies must agree within
   ``--acc-tol``: kernels differ between devices, so the runs are not bitwise equal);
3. a 4-trial study with the default score on the device, whose stored scores are then recomputed on
   the CPU.

Prints a table with timings, saves it (``--out``) and exits 1 when a check fails, 0 otherwise.
With no accelerator it says so and exits 0 without checking anything.

Usage:
    python benchmarks/check_device.py                  # auto: CUDA (or MPS) when available
    python benchmarks/check_device.py --device cuda --out benchmarks/results/check_device.md
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import processor, save  # noqa: E402

from search import get_space  # noqa: E402
from search import ground_truth as gt  # noqa: E402
from search.driver import SearchSettings, run_search  # noqa: E402
from search.results import config_of, results  # noqa: E402
from search.scores import ScoreSettings, compute_score, seeded_build  # noqa: E402
from search.training import resolve_device, train_network  # noqa: E402

PROXIES = ("naswot", "synflow", "grad_norm", "zen", "zico", "meco", "swap")


def timed(fn: object, *args: object, **kwargs: object) -> tuple[float, float]:
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)  # type: ignore[operator]
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return float(value if not hasattr(value, "val_acc") else value.val_acc), time.perf_counter() - t0


def close(a: float, b: float, rtol: float) -> bool:
    if not (math.isfinite(a) and math.isfinite(b)):
        return a == b
    return abs(a - b) <= rtol * max(1.0, abs(a), abs(b))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--rtol", type=float, default=2e-3, help="relative tolerance of proxy values")
    p.add_argument("--zico-rtol", type=float, default=1e-2, help="relative tolerance of ZiCo (ill-conditioned)")
    p.add_argument("--acc-tol", type=float, default=0.05, help="largest accuracy difference of the training")
    p.add_argument("--steps", type=int, default=150, help="training steps of the training check")
    p.add_argument("--out", default=None, help="save the report here")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    if device == "cpu":
        print("no accelerator here (device auto resolved to cpu): nothing to check")
        return 0
    lines = [
        f"# Device check: {device} ({torch.cuda.get_device_name() if device.startswith('cuda') else device}) "
        f"against the CPU ({processor()})",
        "",
        "| check | candidate | cpu | device | cpu s | device s | ok |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    failures = 0
    cands = [(s, get_space(s).random(k)) for s in ("mobilenet", "emo") for k in range(2)]
    for name in PROXIES:
        for space, cand in cands:
            settings = replace(gt.SCORE_SETTINGS, score=name)
            model = seeded_build(cand.net, 0)
            on_cpu, t_cpu = timed(compute_score, model, replace(settings, device="cpu"), cand.resolution)
            on_dev, t_dev = timed(compute_score, model, replace(settings, device=device), cand.resolution)
            ok = close(on_cpu, on_dev, args.zico_rtol if name == "zico" else args.rtol)
            failures += not ok
            lines.append(
                f"| {name} | {space} {cand.resolution}px | {on_cpu:.6g} | {on_dev:.6g} | {t_cpu:.2f} | {t_dev:.2f} | "
                f"{'yes' if ok else '**no**'} |"
            )
            print(lines[-1], flush=True)
    space, cand = cands[0]
    acc_cpu, t_cpu = timed(
        train_network, cand.net, gt.RECIPE, seed=0, input_resolution=cand.resolution, device="cpu", max_steps=args.steps
    )
    acc_dev, t_dev = timed(
        train_network,
        cand.net,
        gt.RECIPE,
        seed=0,
        input_resolution=cand.resolution,
        device=device,
        max_steps=args.steps,
    )
    ok = abs(acc_cpu - acc_dev) <= args.acc_tol
    failures += not ok
    lines.append(
        f"| train {args.steps} steps | {space} {cand.resolution}px | {acc_cpu:.3f} | {acc_dev:.3f} | {t_cpu:.1f} | "
        f"{t_dev:.1f} | {'yes' if ok else '**no**'} |"
    )
    print(lines[-1], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        score = ScoreSettings(score="naswot", batch_size=16, resolution=64, device=device)
        t0 = time.perf_counter()
        study = run_search(SearchSettings(space="emo", score=score, trials=4, out=tmp, progress=False))
        t_study = time.perf_counter() - t0
        df = results(study)
        for _, row in df[df.state == "complete"].iterrows():
            model = seeded_build(config_of(row), 0)
            on_cpu = compute_score(model, replace(score, device="cpu"), int(row.resolution))
            ok = close(on_cpu, float(row.score), args.rtol)
            failures += not ok
            lines.append(
                f"| study trial {row.number} | emo {row.resolution}px | {on_cpu:.6g} | {row.score:.6g} | – | "
                f"{t_study / len(df):.2f} | {'yes' if ok else '**no**'} |"
            )
            print(lines[-1], flush=True)
    lines += ["", f"{failures} check(s) failed." if failures else "Every check passed."]
    text = "\n".join(lines) + "\n"
    if args.out:
        save(text, args.out)
    else:
        print(lines[-1])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
