"""``metablock report``: the Pareto-front figures of a study as PNG files and one self-contained HTML page.

The page inlines its images (base64 PNG) and its tables, so it opens anywhere without Jupyter or a
network connection.

Example:
    >>> data = load(storage="runs/search/study.journal")  # doctest: +SKIP
    >>> paths = write_report(data, "runs/report")  # doctest: +SKIP
    >>> paths["html"]  # doctest: +SKIP
    PosixPath('runs/report/report.html')
"""

from __future__ import annotations

import argparse
import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metablock import ConfigError


@dataclass
class StudyData:
    """A study's results and what the figures need besides them.

    Attributes:
        df: :func:`search.results.results` of the study (one row per trial).
        name: the study's name.
        source: where it came from (storage URL or results file).
        space: the study's search space as a dict (``None`` for a results file without ``space``).
        settings: the study's search settings as a dict (score settings, budgets); empty for a results file.
    """

    df: Any
    name: str
    source: str
    space: Any = None
    settings: dict[str, Any] = field(default_factory=dict)


def load(
    *,
    storage: str | None = None,
    study: str | None = None,
    results_file: str | Path | None = None,
    space: Any = None,
) -> StudyData:
    """Load a study from an Optuna storage (URL or journal file) or a ``results.parquet`` written by
    ``metablock search``; ``space`` (a name, dict or ``SearchSpace``) overrides the study's own."""
    import pandas as pd

    from .results import load_study, results

    if (storage is None) == (results_file is None):
        raise ConfigError(
            f"give exactly one of storage and results_file; got storage={storage!r}, results_file={results_file!r}"
        )
    if results_file is not None:
        path = Path(results_file)
        if not path.is_file():
            raise ConfigError(f"results file {str(results_file)!r} does not exist")
        if path.suffix.lower() != ".parquet":
            raise ConfigError(f"results file must be a .parquet file; got results_file={str(results_file)!r}")
        df = pd.read_parquet(path)
        for col in ("number", "state", "feasible", "pareto", "score"):
            if col not in df.columns:
                raise ConfigError(f"results file {str(results_file)!r} has no {col!r} column; is it a study's results?")
        name = str(df.attrs.get("study_name", study or path.stem))
        df.attrs.setdefault("study_name", name)
        return StudyData(df=df, name=name, source=str(path), space=space)
    loaded = load_study(storage, study)
    df = results(loaded)
    return StudyData(
        df=df,
        name=loaded.study_name,
        source=str(storage),
        space=space if space is not None else loaded.user_attrs.get("space"),
        settings=dict(loaded.user_attrs.get("settings") or {}),
    )


def build(data: StudyData, *, compute_references: bool = True) -> tuple[dict[str, Any], Any, Any, list[str]]:
    """Figures by name, the Pareto table, the reference points and notes."""
    from . import plots

    refs = plots.reference_points(data.df, data.space, data.settings or None, compute=compute_references)
    figs, notes = plots.figures(data.df, references=refs, settings=data.settings)
    if data.space is None:
        notes.append("no search space known (results file): named networks come only from baseline trials")
    return figs, plots.pareto_architectures(data.df), refs, [*refs.attrs.get("notes", []), *notes]


def _png(fig: Any, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


CAPTIONS = {
    "front_macs": "Score against MACs. Red: the Pareto front (best score at or below each cost); blue: other "
    "feasible trials; grey ticks: over-budget candidates, never scored (the legend names the budget they "
    "exceed; those far beyond the frame are counted at the right edge); stars: the named networks of the "
    "space; orange rings: candidates trained by --refine, with their trained accuracy.",
    "front_latency": "Score against measured latency, drawn like the MACs plot; the front in this plane.",
    "front_params": "Score against parameters, drawn like the MACs plot; the front in this plane.",
    "hypervolume": "Hypervolume of the feasible front after each trial, as a share of the box between the "
    "study's ideal point and the reference point.",
    "choices": "Per stage, the share of trials with each depth and width and the share of blocks with each "
    "operator, expansion λ and kernel: all sampled trials (grey) against the Pareto-optimal ones (red). "
    "Only choices the space varies have a panel.",
}


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
td:last-child, th:last-child { text-align: left; }
.note { color: #666; font-size: 0.9em; } figcaption { color: #555; font-size: 0.9em; }
"""


def _summary(data: StudyData) -> str:
    df = data.df
    counts = df["status"].value_counts().to_dict() if "status" in df.columns else {}
    space = data.space.get("name") if isinstance(data.space, dict) else getattr(data.space, "name", data.space)
    score = (data.settings.get("score") or {}).get("score")
    items = [
        ("study", data.name),
        ("source", data.source),
        ("trials", f"{len(df)} (" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")"),
        ("objectives", ", ".join(df.attrs.get("objectives", [])) or "-"),
        ("space", space or "-"),
        ("score", score or "-"),
    ]
    for key, label, scale, unit in (
        ("max_macs", "MACs budget", 1e-6, "M"),
        ("max_params", "params budget", 1e-6, "M"),
        ("max_latency_ms", "latency budget", 1, " ms"),
    ):
        if data.settings.get(key):
            items.append((label, f"{data.settings[key] * scale:g}{unit}"))
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in items)
    return f"<table>{rows}</table>"


def render_html(data: StudyData, images: dict[str, bytes], table: Any, refs: Any, notes: list[str]) -> str:
    """One HTML page with every image inlined as base64 PNG and the tables as HTML."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Pareto front: {html.escape(data.name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Pareto front of study {html.escape(data.name)}</h1>",
        _summary(data),
    ]
    if notes:
        parts.append("<ul>" + "".join(f'<li class="note">{html.escape(n)}</li>' for n in notes) + "</ul>")
    for name, png in images.items():
        b64 = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(CAPTIONS.get(name, name))}</figcaption></figure>"
        )
    parts.append(f"<h2>Pareto architectures ({len(table)})</h2>")
    parts.append(table.to_html(index=False, border=0, na_rep="") if len(table) else "<p>no feasible trial yet</p>")
    if len(refs):
        shown = refs.assign(
            **{"MACs (M)": (refs["macs"] / 1e6).round(2), "params (M)": (refs["params"] / 1e6).round(3)}
        )[["name", "score", "MACs (M)", "params (M)", "resolution", "source"]]
        parts.append("<h2>Named networks of the space</h2>")
        parts.append(shown.to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:.4g}"))
    parts.append(
        '<p class="note">MACs are fvcore\'s count (one multiply-add = one MAC). Rebuild a Pareto architecture '
        "with <code>metablock.build(search.results.config_of(row))</code> or from the search's "
        "<code>pareto/trial_NNNN.json</code> files.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    data: StudyData, out: str | Path, *, compute_references: bool = True, dpi: int = 110
) -> dict[str, Path]:
    """Write ``<figure>.png`` for every figure, ``pareto.csv`` and ``report.html`` to ``out``.

    Returns:
        the written paths by name (figure names, ``pareto_csv``, ``html``).
    """
    import matplotlib

    if not isinstance(dpi, int) or isinstance(dpi, bool) or not 20 <= dpi <= 600:
        raise ConfigError(f"dpi must be an integer in [20, 600]; got dpi={dpi!r}")
    matplotlib.use("Agg", force=False)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out {str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    figs, table, refs, notes = build(data, compute_references=compute_references)
    paths: dict[str, Path] = {}
    images: dict[str, bytes] = {}
    for name, fig in figs.items():
        images[name] = _png(fig, dpi)
        paths[name] = out / f"{name}.png"
        paths[name].write_bytes(images[name])
    paths["pareto_csv"] = out / "pareto.csv"
    table.to_csv(paths["pareto_csv"], index=False)
    paths["html"] = out / "report.html"
    paths["html"].write_text(render_html(data, images, table, refs, notes), encoding="utf-8")
    return paths


# ------------------------------------------------------------------------------- command line


DEFAULT_STORAGE = "runs/search/study.journal"  # where 'metablock search' writes by default


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="Pareto-front figures (PNG) and a self-contained HTML page of a study",
        description="Draw a study's Pareto front (score vs MACs and latency, with the space's named networks), "
        "its hypervolume over trials and the choices the front prefers, as PNG files and one HTML page.",
    )
    p.add_argument("--storage", default=None, help=f"Optuna storage URL or journal file (default: {DEFAULT_STORAGE})")
    p.add_argument("--study", default=None, help="study name (needed when the storage holds several)")
    p.add_argument(
        "--results", default=None, help="a results.parquet written by 'metablock search' instead of a storage"
    )
    p.add_argument("--space", default=None, help="space name or file for the named networks (default: the study's)")
    p.add_argument("--out", default="runs/report", help="output directory (default: runs/report)")
    p.add_argument("--dpi", type=int, default=110, help="resolution of the PNG files (default: 110)")
    p.add_argument(
        "--no-compute-references",
        action="store_true",
        help="draw only the named networks the study scored; do not score the others",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.storage is None and args.results is None:
        if not Path(DEFAULT_STORAGE).is_file():
            raise ConfigError(
                f"give --storage URL (with --study NAME) or --results FILE.parquet; "
                f"the default storage {DEFAULT_STORAGE!r} (what 'metablock search' writes) does not exist"
            )
        args.storage = DEFAULT_STORAGE
    if args.storage is not None and args.results is not None:
        raise ConfigError(
            f"give --storage or --results, not both; got --storage={args.storage!r}, --results={args.results!r}"
        )
    space = None
    if args.space is not None:
        from .space import get_space, load_space

        space = (
            load_space(args.space) if Path(args.space).suffix in (".yaml", ".yml", ".json") else get_space(args.space)
        )
    data = load(storage=args.storage, study=args.study, results_file=args.results, space=space)
    paths = write_report(data, args.out, compute_references=not args.no_compute_references, dpi=args.dpi)
    n_front = int(data.df["pareto"].astype(bool).sum()) if len(data.df) else 0
    print(f"study {data.name!r}: {len(data.df)} trials, {n_front} on the Pareto front")
    for name, path in paths.items():
        print(f"{name:14s} {path}")
    return 0
