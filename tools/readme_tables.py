"""Regenerate the generated tables of README.md (between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``).

Usage:
    python tools/readme_tables.py          # rewrite README.md in place
    python tools/readme_tables.py --check  # exit 1 when README.md is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def tables() -> dict[str, str]:
    from metablock.presets import presets_markdown
    from metablock.tables import networks_markdown
    from search.evaluation import ground_truth_markdown
    from search.space import schema_markdown

    return {
        "space_schema": schema_markdown(),
        "blocks": presets_markdown(),
        "networks": networks_markdown(),
        "scores": ground_truth_markdown(ROOT / "benchmarks" / "results" / "ground_truth.parquet"),
        "short_train": _table_of(ROOT / "benchmarks" / "results" / "scores.md", after="## Short training"),
        "search_quality": _table_of(ROOT / "benchmarks" / "results" / "search_quality.md"),
        "search_quality_paired": _table_of(
            ROOT / "benchmarks" / "results" / "search_quality.md", after="## The search against each arm"
        ),
    }


def _table_of(path: Path, after: str | None = None) -> str:
    """The first Markdown table of a benchmark's saved report (the first after the line starting with
    ``after``, when given)."""
    if not path.exists():
        return f"(no results yet: run python benchmarks/{path.stem.replace('search_', 'bench_search_')}.py)"
    lines = path.read_text().splitlines()
    if after is not None:
        starts = [i for i, line in enumerate(lines) if line.startswith(after)]
        if not starts:
            return f"(no section {after!r} in {path.name} yet: run its benchmark again)"
        lines = lines[starts[0] :]
    table: list[str] = []
    for line in lines:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return "\n".join(table)


def render(text: str) -> str:
    for name, table in tables().items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start --> / <!-- {name}:end --> markers")
        text = pattern.sub(lambda m, t=table: m.group(1) + t + "\n" + m.group(2), text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    old = readme.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print("README.md tables are out of date; run python tools/readme_tables.py")
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
