"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<script>.py``)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def processor() -> str:
    """The processor name Python reports, or the machine type where it reports none."""
    return platform.processor() or platform.machine()


def save(text: str, out: str | os.PathLike[str]) -> None:
    """Print a results report and write it to ``out``, creating its folder."""
    print(text)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text)
