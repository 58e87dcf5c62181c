"""Pareto-front analysis: plot helpers, ``metablock report`` and the notebook, on a small real study."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from test_search import FAST, TINY

import metablock
from metablock import ConfigError
from metablock.cli import main
from search import get_space, plots
from search.driver import SearchSettings, run_search
from search.report import load
from search.results import results, write_results
from search.scores import compute_score, seeded_build

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "pareto_front.ipynb"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six trials of the tiny space under a 1M-MACs budget: some scored, some over budget."""
    out = tmp_path_factory.mktemp("study")
    run_search(SearchSettings(space=TINY, score=FAST, trials=6, out=str(out), progress=False, seed=0, max_macs=1e6))
    return out


@pytest.fixture(scope="module")
def df(study_dir: Path) -> pd.DataFrame:
    frame = results(str(study_dir / "study.journal"))
    assert frame["pareto"].any() and (frame["status"] == "ok").sum() >= 2
    return frame


# ------------------------------------------------------------------------------ plot helpers
def test_front_is_drawn_as_a_step_line_through_the_pareto_trials(df: pd.DataFrame) -> None:
    fig = plots.plot_front(df, "macs", score_name="naswot", budget=1e6)
    ax = fig.axes[0]
    fronts = [line for line in ax.get_lines() if line.get_label().startswith("Pareto front")]
    assert len(fronts) == 1
    front = df[df["pareto"]].sort_values("macs")
    np.testing.assert_allclose(fronts[0].get_xdata(), front["macs"].to_numpy() / 1e6)
    np.testing.assert_allclose(fronts[0].get_ydata(), front["score"].to_numpy())
    assert fronts[0].get_drawstyle() == "steps-post"
    assert (np.diff(front["score"].to_numpy()) > 0).all()  # cheaper front points score lower
    assert "MACs (M" in ax.get_xlabel() and "naswot" in ax.get_ylabel()
    assert ax.get_title().startswith("metablock:")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("over the MACs budget") for t in legend), legend
    # the 2-D front of (score, MACs) is the study's own Pareto flag
    assert plots.front_mask(df, "macs").tolist() == df["pareto"].tolist()


def test_over_budget_trials_are_grey_ticks_inside_the_frame_or_counted_beyond_it(df: pd.DataFrame) -> None:
    over = df[df["status"] == "over_budget"]
    assert len(over), "the fixture study should have over-budget trials"
    fig = plots.plot_front(df, "macs", budget=1e6)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    ok = df[df["status"] == "ok"]
    assert lo <= ok["macs"].min() / 1e6 and max(ok["macs"].max() / 1e6, 1.0) <= hi  # feasible and budget framed
    ticks = [c for c in ax.collections if c.get_label().startswith("over the MACs budget")]
    shown = len(ticks[0].get_offsets()) if ticks else 0
    beyond = int((over["macs"] / 1e6 > hi).sum())
    assert shown + beyond == len(over)
    if beyond:
        assert any(t.get_text().startswith(f"{beyond} more over budget") for t in ax.texts)
    assert any(line.get_xdata()[0] == 1.0 for line in ax.get_lines() if line.get_linestyle() == "--")


def _synthetic_study(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A study shaped like the unified one: feasible candidates up to a 300M budget, a few far over it."""
    rng = np.random.default_rng(seed)
    macs = np.r_[rng.uniform(60e6, 300e6, n), rng.uniform(305e6, 400e6, 3), rng.uniform(500e6, 9_000e6, n // 4)]
    feasible = macs <= 300e6
    score = np.where(feasible, np.log10(macs) + rng.normal(0, 0.05, len(macs)), np.nan)
    df = pd.DataFrame({"number": range(len(macs)), "state": "complete", "feasible": feasible, "score": score,
                       "macs": macs, "params": macs / 50, "constraint_macs": macs - 300e6})  # fmt: skip
    df["status"] = np.where(feasible, "ok", "over_budget")
    df["pareto"] = plots.front_mask(df, "macs")
    return df


def test_the_front_frames_the_budget_not_the_costliest_candidate() -> None:
    df = _synthetic_study()
    ax = plots.plot_front(df, "macs", budget=300e6).axes[0]
    lo, hi = ax.get_xlim()
    near = df.loc[(df.macs > 300e6) & (df.macs <= 450e6), "macs"].max() / 1e6  # just over budget: shown
    assert near <= hi < 500 and lo < df.loc[df.feasible, "macs"].min() / 1e6  # not stretched to ~9,000M
    n_beyond = int((df["macs"] > 500e6).sum())
    assert any(t.get_text().startswith(f"{n_beyond} more over budget") for t in ax.texts)


def _boxes(fig, artists):  # noqa: ANN001, ANN202
    renderer = plots._renderer(fig)
    return [a.get_window_extent(renderer) for a in artists if a.get_text()]


def _overlapping(boxes) -> list[tuple[int, int]]:  # noqa: ANN001
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if plots._overlap(boxes[i], boxes[j])]


def test_labels_of_close_named_networks_do_not_overlap() -> None:
    df = _synthetic_study()
    # emo_5m and emo_6m sit close together in score and MACs, as in the emo study
    names = ["emo_1m", "emo_2m", "emo_5m", "emo_6m", "mobilenet_v2"]
    refs = pd.DataFrame({"name": names, "score": [8.43, 8.65, 8.96, 8.99, 8.50]})
    refs["macs"] = [267e6, 448e6, 915e6, 974e6, 300e6]
    scaled = df.assign(macs=df.macs * 3, constraint_macs=df.macs * 3 - 1e9)
    fig = plots.plot_front(scaled, "macs", references=refs, budget=1e9)
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text() in set(refs["name"])]
    assert len(labels) == 5
    assert _overlapping(_boxes(fig, labels)) == []
    frame = ax.get_window_extent(plots._renderer(fig))
    for box in _boxes(fig, labels):
        assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1 and frame.y0 - 1 <= box.y0 and box.y1 <= frame.y1 + 1
    legend = fig.legends[0].get_window_extent(plots._renderer(fig))
    assert not plots._overlap(legend, frame)  # the legend sits outside the axes


def test_choices_chart_shows_depth_and_width_and_readable_operator_names() -> None:
    space = get_space("unified")
    rows = []
    for seed in range(40):
        cand = space.random(seed)
        rows.append({"number": seed, "state": "complete", "feasible": True, "score": float(seed % 7), **cand.arch,
                     "macs": 1e6 * (seed + 1)})  # fmt: skip
    df = pd.DataFrame(rows)
    df["pareto"] = plots.front_mask(df, "macs")
    freq = plots.choice_frequencies(df)
    assert {"depth", "width", "operator", "expansion λ", "kernel"} <= set(freq["choice"])
    depth = freq[(freq["stage"] == 1) & (freq["choice"] == "depth")]
    assert depth["count_all"].sum() == len(df)  # one depth per trial, not per block
    fig = plots.plot_choice_frequencies(df)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:2] == ["depth", "width"] and "expansion λ" in titles and "kernel" in titles
    renderer = plots._renderer(fig)
    page = fig.get_window_extent(renderer)
    for ax in fig.axes:  # every panel title lies inside the figure and over its own panel
        box, panel = ax.title.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and panel.x0 - 20 <= box.x0 and box.x1 <= panel.x1 + 20
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        assert _overlapping(boxes) == [], [t.get_text() for t in ax.get_xticklabels()]
    # a stage whose choices are all fixed gets no row of panels
    fixed = df.copy()
    constant = {"depth": 2, "width": 32, "op": "ir", "exp": 4.0, "kernel": 3}
    for col in [c for c in df.columns if c.startswith("s0.")]:
        kind = col.rsplit(".", 1)[1]
        if kind in constant:
            fixed[col] = fixed[col].where(fixed[col].isna() | (col in ("s0.depth", "s0.width")), constant[kind])
            fixed[col] = constant[kind] if col in ("s0.depth", "s0.width") else fixed[col]
    fixed_fig = plots.plot_choice_frequencies(fixed)
    assert not any(ax.get_ylabel() == "stage s0" for ax in fixed_fig.axes)


def test_a_latency_study_draws_its_front_in_latency_first() -> None:
    df = _synthetic_study()
    df["latency_ms"] = df["macs"] / 30e6
    df["constraint_latency_ms"] = df["latency_ms"] - 10.0
    df = df.drop(columns="constraint_macs")
    df.attrs["objectives"] = ["score", "latency_ms"]
    figs, _ = plots.figures(df, settings={"objectives": ["score", "latency_ms"], "max_latency_ms": 10.0})
    assert list(figs)[:2] == ["front_latency", "front_macs"]
    lat = figs["front_latency"].axes[0]
    assert any(line.get_xdata()[0] == 10.0 for line in lat.get_lines() if line.get_linestyle() == "--")
    macs = figs["front_macs"]
    legend = [t.get_text() for t in macs.legends[0].get_texts()]
    assert any(t.startswith("over the latency budget") for t in legend), legend
    assert not [line for line in macs.axes[0].get_lines() if line.get_linestyle() == "--"]  # no MACs budget


def test_named_networks_from_baseline_trials_are_labelled(df: pd.DataFrame) -> None:
    marked = df.copy()
    row = marked.index[marked["status"] == "ok"][0]
    marked.loc[row, "baseline"] = "tiny_ref"
    refs = plots.reference_points(marked)
    assert refs["name"].tolist() == ["tiny_ref"] and refs["source"].tolist() == ["study"]
    ax = plots.plot_front(marked, references=refs).axes[0]
    labels = {t.get_text(): t for t in ax.texts}
    assert "tiny_ref" in labels
    assert labels["tiny_ref"].xy == pytest.approx((marked.loc[row, "macs"] / 1e6, marked.loc[row, "score"]))


def test_named_networks_missing_from_the_study_are_computed(df: pd.DataFrame) -> None:
    space = get_space("micronet").replace(contains_models=("micronet_m0",))
    settings = {"score": FAST.to_dict(), "seed": 0}
    refs = plots.reference_points(df, space, settings)
    assert refs["name"].tolist() == ["micronet_m0"] and refs["source"].tolist() == ["computed"]
    ref = refs.iloc[0]
    assert ref["params"] == 1_019_590  # README network table
    assert ref["macs"] / 1e6 == pytest.approx(5.7, abs=0.05)
    cand = space.from_params(space.baselines()["micronet_m0"])
    assert ref["score"] == pytest.approx(compute_score(seeded_build(cand.net, 0), FAST, cand.resolution))
    # without score settings nothing is scored, and a note says why
    bare = plots.reference_points(df, space)
    assert bare.empty and "no score settings" in bare.attrs["notes"][0]


def test_hypervolume_2d_by_hand() -> None:
    # (score, cost); the reference is score 0, cost 4
    assert plots.hypervolume_2d([(2, 1), (3, 2)], (0, 4)) == pytest.approx(1 * 2 + 2 * 3)
    assert plots.hypervolume_2d([(2, 1), (3, 2), (1, 3)], (0, 4)) == pytest.approx(8)  # dominated: no area
    assert plots.hypervolume_2d([(5, 5)], (0, 4)) == 0.0  # beyond the reference cost
    assert plots.hypervolume_2d([], (0, 4)) == 0.0


def test_hypervolume_history_is_non_decreasing_and_ends_at_the_whole_front(df: pd.DataFrame) -> None:
    hv = plots.hypervolume_history(df)
    assert hv["number"].tolist() == sorted(df["number"])
    assert (np.diff(hv["hypervolume"]) >= 0).all()
    assert hv["hypervolume"].iloc[-1] > 0 and 0 < hv["normalized"].iloc[-1] <= 1
    ok = df[(df["status"] == "ok")]
    ref = hv.attrs["reference"]
    assert ref[0] < ok["score"].min() and ref[1] > ok["macs"].max()
    assert hv["hypervolume"].iloc[-1] == pytest.approx(plots.hypervolume_2d(ok[["score", "macs"]].values, ref))
    line = plots.plot_hypervolume(df).axes[0].get_lines()[0]
    assert (np.diff(line.get_ydata()) >= 0).all()


def test_choice_frequencies_compare_the_front_with_all_trials(df: pd.DataFrame) -> None:
    freq = plots.choice_frequencies(df)
    assert {"operator", "expansion λ", "kernel"} <= set(freq["choice"])
    for _, group in freq.groupby(["stage", "choice"]):
        assert group["share_all"].sum() == pytest.approx(1.0)
        assert group["share_pareto"].sum() == pytest.approx(1.0)
    ops = freq[(freq["stage"] == 0) & (freq["choice"] == "operator")]
    front = df[df["pareto"]]
    blocks = [front[f"s0.b{b}.op"] for b in range(2) if f"s0.b{b}.op" in df.columns]
    assert ops["count_pareto"].sum() == sum(int(col.notna().sum()) for col in blocks)
    fig = plots.plot_choice_frequencies(df)
    assert len(fig.axes) >= 2 and "Pareto" in fig.legends[0].get_texts()[1].get_text()


def test_pareto_table_lists_the_front_cheapest_first(df: pd.DataFrame) -> None:
    table = plots.pareto_architectures(df)
    assert len(table) == int(df["pareto"].sum())
    assert table["MACs (M)"].is_monotonic_increasing
    assert set(table["trial"]) == set(df.loc[df["pareto"], "number"])
    assert all(s.count("|") == 1 for s in table["stages (depth×width ops)"])  # two stages in TINY


def test_latency_plot_is_skipped_with_a_note_when_not_measured(df: pd.DataFrame) -> None:
    figs, notes = plots.figures(df)
    assert set(figs) == {"front_macs", "hypervolume", "choices"}
    assert any("latency" in n for n in notes)


def test_bad_arguments_name_the_field(df: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="cost must be one of .*got cost='flops'"):
        plots.plot_front(df, "flops")
    with pytest.raises(ConfigError, match="reference must be"):
        plots.hypervolume_history(df, reference=(1.0,))
    with pytest.raises(ConfigError, match="exactly one of storage and results_file"):
        load()


# ------------------------------------------------------------------------------ report
def _check_png(path: Path, min_size: tuple[int, int] = (300, 200)) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    image = mpimg.imread(path)
    assert image.shape[:2] == (height, width) and width >= min_size[0] and height >= min_size[1]
    pixels = image[..., :3].reshape(-1, 3)
    assert pixels.var() > 0 and len(np.unique(pixels, axis=0)) > 10, f"{path.name} looks blank"


def _check_html(path: Path, pngs: list[Path]) -> None:
    text = path.read_text(encoding="utf-8")
    srcs = re.findall(r'\bsrc\s*=\s*"([^"]*)"', text)
    assert len(srcs) == len(pngs)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"<link|<script|@import|url\(", text, re.I)
    for png in pngs:
        assert base64.b64encode(png.read_bytes()).decode() in text
    assert "<table" in text and "Pareto architectures" in text


def test_report_writes_valid_pngs_and_a_self_contained_page(
    study_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert (
        main(["report", "--storage", str(study_dir / "study.journal"), "--study", "metablock", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    pngs = sorted(out.glob("*.png"))
    assert {p.stem for p in pngs} == {"front_macs", "hypervolume", "choices"}
    for png in pngs:
        assert str(png) in printed
        _check_png(png)
    _check_html(out / "report.html", pngs)
    assert (
        pd.read_csv(out / "pareto.csv")["trial"].tolist()
        == plots.pareto_architectures(results(str(study_dir / "study.journal")))["trial"].tolist()
    )


def test_report_from_a_results_file(df: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = write_results(df, tmp_path / "res")
    out = tmp_path / "report"
    assert main(["report", "--results", str(paths["parquet"]), "--out", str(out), "--dpi", "60"]) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3
    for png in pngs:
        _check_png(png)
    _check_html(out / "report.html", pngs)
    assert "no search space known" in (out / "report.html").read_text(encoding="utf-8")


def test_report_defaults_to_the_main_jobs_storage(
    study_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "runs" / "search").mkdir(parents=True)
    shutil.copy(study_dir / "study.journal", tmp_path / "runs" / "search" / "study.journal")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--dpi", "40", "--no-compute-references"]) == 0
    assert "runs/report/report.html" in capsys.readouterr().out
    _check_png(tmp_path / "runs" / "report" / "front_macs.png", min_size=(200, 150))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report"], "give --storage URL"),
        (["report", "--storage", "a.journal", "--results", "b.parquet"], "not both"),
        (["report", "--results", "missing.parquet"], "results file 'missing.parquet' does not exist"),
        (["report", "--storage", "missing.journal"], "storage file 'missing.journal' does not exist"),
    ],
)
def test_report_rejects_bad_input_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


# ------------------------------------------------------------------------------ notebook
def test_notebook_is_committed_without_outputs() -> None:
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])
    assert "STORAGE" in code[0].source and "RESULTS" in code[0].source


def test_notebook_runs_headless_on_a_study(study_dir: Path, tmp_path: Path) -> None:
    # README's headless command: jupyter nbconvert --to notebook --execute (nbconvert is in the test extra)
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(
        f"STORAGE = {str(study_dir / 'study.journal')!r}\nSTUDY = 'metablock'",
        metadata={"tags": ["injected-parameters"]},
    )
    nb.cells.insert(params + 1, injected)
    given, done = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, given)
    start = time.perf_counter()
    command = [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", str(given), "--output", str(done)]
    run = subprocess.run(command, capture_output=True, text=True, cwd=study_dir, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    took = time.perf_counter() - start
    assert took < 120, f"notebook took {took:.0f}s"
    nb = nbformat.read(done, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    noise = [o.get("text", "") for o in outputs if o.get("name") == "stderr"]
    assert not [t for t in noise if "Warning" in t], noise  # no TqdmWarning or other library noise
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # front, hypervolume, choices
    text = "".join(o.get("text", "") for o in outputs)
    assert "same as the study: True" in text
    best = results(str(study_dir / "study.journal"))
    best = best[best["pareto"]].sort_values("score").iloc[-1]
    assert f"trial {int(best['number'])}:" in text
    config_json = nb.cells[-1].outputs[0]["text"]
    assert (
        metablock.NetConfig.from_json(config_json).to_json() == metablock.NetConfig.from_json(best["config"]).to_json()
    )


def test_notebook_finds_a_relative_storage_from_a_subfolder(study_dir: Path) -> None:
    # Jupyter started in notebooks/ while the study lies under the repository root: the relative default
    # path is looked up through the parent folders
    import nbformat
    from nbclient import NotebookClient

    sub = study_dir / "notebooks"
    sub.mkdir(exist_ok=True)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = "STORAGE = 'study.journal'\nSTUDY = 'metablock'\nCOMPUTE_REFERENCES = False"
    nb.cells.insert(params + 1, nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}))
    nb.cells = nb.cells[: params + 3]  # the parameters and the loading cell
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(sub)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "study 'metablock':" in text and "Pareto-optimal" in text
    assert not (sub / "study.journal").exists()  # nothing created where the study is not
