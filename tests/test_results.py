"""The published Fashion-MNIST results (results/fashion_mnist): the report over the committed run
records rebuilds the committed tables byte for byte, the sweeps are complete, and the docs show
those tables."""

from __future__ import annotations

import json
import re
import shutil
import zlib
from collections import Counter
from pathlib import Path

import matplotlib
import pytest
import yaml
from omegaconf import OmegaConf

from experiments.fashion_mnist.__main__ import CLAIMS_FILE, TABLES, provenance
from experiments.fashion_mnist.claims import claims
from raft_lightning.files import SUMMARY_FILE
from raft_lightning.identity import flatten
from raft_lightning.readers import expected_runs, read_config, read_summary
from raft_lightning.report.cli import DEFAULT_CONFIG, report
from raft_lightning.report.rows import load_run

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "fashion_mnist"
PUBLISHED = list(TABLES)
SEEDS = {
    "table1": 3,
    "table3": 2,
    "byol_lpi_long": 1,
    "demo": 1,
    "claims/table1": 3,
    "claims/table3": 3,
    "claims/claim3": 3,
    "claims/tangential": 3,
    "claims/fig5a": 3,
    "claims/long": 3,
}  # the issue's: 3 for Table 1, ≥ 2 for Table 3


def summaries(table: str) -> list[dict]:
    return [read_summary(p.parent) or {} for p in sorted((RESULTS / table / "runs").rglob(SUMMARY_FILE))]


PDF_POINTS = 1e-6  # see pdf_drawing


def pdf_drawing(data: bytes) -> tuple[bytes, list[list[bytes | float]]]:
    """A PDF figure as what it draws: the file with its streams cut out, its stream lengths (in
    place or as objects of their own) and cross-reference offsets dropped (they follow from the
    streams' compressed bytes), and each stream inflated and split into tokens, numbers as
    numbers. Matplotlib prints a coordinate with 10 decimals, so a last-bit difference of a
    float64 (a sum another CPU or library build orders otherwise: about 1e-13 of a page coordinate below
    10^3 pt) can print one digit apart; the test allows PDF_POINTS = 1e-6 pt (0.35 nm on paper),
    far above that and far below anything drawn."""
    streams, skeleton, start = [], [], 0
    for match in re.finditer(rb"stream\r?\n", data):
        if match.start() < start or not data[max(0, match.start() - 16) : match.start()].rstrip().endswith(b">>"):
            continue
        end = data.index(b"endstream", match.end())
        skeleton.append(data[start : match.start()])
        raw = data[match.end() : end]
        try:
            raw = zlib.decompress(raw)
        except zlib.error:
            pass  # not deflated
        streams.append([_number(t) for t in raw.split()])
        start = end
    skeleton.append(data[start : data.rindex(b"\nxref\n")])
    skeleton = re.sub(rb"/Length \d+( \d+ R)?", b"/Length", b"".join(skeleton))
    return re.sub(rb"(\d+ 0 obj\n)\d+(\nendobj)", rb"\1\2", skeleton), streams  # a length as its own object


def _number(token: bytes) -> bytes | float:
    return float(token) if re.fullmatch(rb"-?\d+(\.\d*)?|-?\.\d+", token) else token


def same_drawing(a: bytes, b: bytes) -> bool:
    (skeleton_a, streams_a), (skeleton_b, streams_b) = pdf_drawing(a), pdf_drawing(b)
    return (
        skeleton_a == skeleton_b
        and [len(s) for s in streams_a] == [len(s) for s in streams_b]
        and all(
            x == y or (isinstance(x, float) and isinstance(y, float) and abs(x - y) <= PDF_POINTS)
            for sa, sb in zip(streams_a, streams_b)
            for x, y in zip(sa, sb)
        )
    )


def drawn_by(png: Path) -> str | None:
    """The matplotlib version a PNG names (its "Software" text chunk), None if it names none: a
    figure saved by anything else (an image editor drops the chunk) is no figure the report drew."""
    found = re.search(rb"tEXtSoftware\x00Matplotlib version([0-9][\w.+-]*),", png.read_bytes())
    return found.group(1).decode() if found else None


@pytest.mark.parametrize("table", PUBLISHED)
def test_report_over_the_committed_runs_rebuilds_the_committed_tables_and_figures(table, tmp_path):
    """The tables byte for byte; the figures too, PNG byte for byte and PDF drawing for drawing
    (``pdf_drawing``), where this matplotlib is the one that drew them (its version is in each
    file: another draws its own way, and its figures are checked by tests/test_figures.py)."""
    report(RESULTS / table / "runs", tmp_path, OmegaConf.load(DEFAULT_CONFIG))
    for name in [k for k in TABLES[table][1] if k.endswith((".md", ".csv"))]:
        committed = (RESULTS / table / name).read_text()
        assert (tmp_path / name).read_text() == committed, f"{table}/{name} differs from the report over {table}/runs"
    drawn = [f"{table}/{stem}{suffix}" for stem in TABLES[table][1] if "." not in stem for suffix in (".png", ".pdf")]
    drew = {name: drawn_by(RESULTS / name) for name in drawn if name.endswith(".png")}
    assert None not in drew.values(), f"not drawn by matplotlib (no version in the file): {drew}"
    if set(drew.values()) != {matplotlib.__version__}:
        pytest.skip(f"the committed figures were drawn by matplotlib {drew}, not {matplotlib.__version__}")
    for name in drawn:
        new, old = (tmp_path / Path(name).name).read_bytes(), (RESULTS / name).read_bytes()
        assert new == old if name.endswith(".png") else same_drawing(new, old), f"{name} is not what its runs draw"


def test_a_pdf_drawing_is_compared_to_the_last_point_only():
    page = (RESULTS / "table1" / "representations.pdf").read_bytes()
    assert same_drawing(page, page)
    first = re.search(rb"stream\r?\n", page[page.index(b"/Filter /FlateDecode") :])
    start = page.index(b"/Filter /FlateDecode") + first.end()
    end = page.index(b"endstream", start)
    content = zlib.decompress(page[start:end])

    def with_content(text: bytes) -> bytes:
        return page[:start] + zlib.compress(text) + page[end:]

    number = re.search(rb"\d+\.\d{6,}", content)
    value = float(number.group())
    for shift, same in ((PDF_POINTS / 2, True), (PDF_POINTS * 2, False)):
        moved = content[: number.start()] + f"{value + shift:.10f}".encode() + content[number.end() :]
        assert same_drawing(with_content(moved), page) is same, shift
    assert not same_drawing(with_content(content.replace(b" m", b" l", 1)), page)  # a move drawn as a line


@pytest.mark.parametrize("table", PUBLISHED)
def test_every_committed_runs_record_is_what_its_epochs_give(table):
    """summary.json's epochs and each result summarised from them (raft_lightning.measures) are
    its metrics.csv's, exactly, in every committed run (readers.unlike_its_epochs): an edited
    number in either is named; and each run reads whole."""
    runs = [load_run(p.parent) for p in sorted((RESULTS / table / "runs").rglob(SUMMARY_FILE))]
    assert [(run.path.name, run.problem) for run in runs if run.problem] == []
    assert sum(1 for run in runs if run.epochs) >= len(runs) - 3  # all but the random encoders trained


def folder_disagrees(run: Path) -> list[str]:
    """Each ``key=value`` of a sweep job's folder name (Hydra's override_dirname) that its
    config.yaml (a config key) or, for a config group's option, its summary.json does not hold."""
    config = flatten(read_config(run, portable_form=True))
    summary = read_summary(run) or {}
    wrong = []
    for pair in run.name.split(","):
        key, _, text = pair.partition("=")
        value = yaml.safe_load(text)
        held = config[key] if key in config else summary.get(key, "<missing>")
        if _setting(held) != _setting(value):
            wrong.append(f"{pair}: {held!r}")
    return wrong


def _setting(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


KEPT_SWEEPS = [  # those with a finished run kept (keep.py makes a sweep's folder before its first)
    f"claims/{p.name}" for p in sorted((RESULTS / "claims").iterdir()) if any((p / "runs").rglob(SUMMARY_FILE))
]


@pytest.mark.parametrize("sweep", sorted({*PUBLISHED, *KEPT_SWEEPS}))
def test_every_committed_runs_folder_name_is_what_it_ran(sweep):
    """A job's folder is named by its overrides: a run copied or renamed into another's place, or
    a config.yaml or summary.json edited away from its job, is named."""
    runs = sorted(p.parent for p in (RESULTS / sweep / "runs").rglob(SUMMARY_FILE))
    assert runs and [(run.name, folder_disagrees(run)) for run in runs if folder_disagrees(run)] == []


def test_a_run_in_another_runs_folder_is_named(tmp_path):
    runs = RESULTS / "table3" / "runs"
    moved = tmp_path / "loss.alpha=1.0,loss.beta=0.5,predictor=none,seed=1"
    shutil.copytree(runs / "loss.alpha=1.0,loss.beta=0.01,predictor=linear,seed=1", moved)
    assert folder_disagrees(moved) == ["loss.beta=0.5: 0.01", "predictor=none: 'linear'"]


@pytest.mark.parametrize("sweep", KEPT_SWEEPS)
def test_every_kept_claims_runs_record_is_what_its_epochs_give(sweep):
    runs = [load_run(p.parent) for p in sorted((RESULTS / sweep / "runs").rglob(SUMMARY_FILE))]
    assert runs and [(run.path.name, run.problem) for run in runs if run.problem] == []


@pytest.mark.parametrize("table", PUBLISHED)
def test_every_run_of_the_sweep_is_committed_and_ok(table):
    runs = summaries(table)
    assert len(runs) == expected_runs(RESULTS / table / "runs")
    assert Counter(r["status"] for r in runs) == {"ok": len(runs)}
    # a row is what differs between runs but the seed: a variant, or (Tables 3, Figure 5a) a predictor and β
    seeds = Counter((r["variant"], r["predictor"], r["negate_init"], r["beta"]) for r in runs)
    assert set(seeds.values()) == {SEEDS[table]}, seeds


@pytest.mark.parametrize("table", PUBLISHED)
def test_the_committed_figures_exist(table):
    kept = TABLES[table][1]
    for stem in [k for k in kept if "." not in k]:
        for suffix in (".png", ".pdf"):
            assert (RESULTS / table / stem).with_suffix(suffix).stat().st_size > 10_000


def test_the_claims_numbers_are_the_ones_the_committed_runs_give():
    assert claims(RESULTS) == (RESULTS / CLAIMS_FILE).read_text()


def test_the_provenance_page_is_the_committed_runs():
    """results/fashion_mnist/README.md (commands, runs, wall time, code, versions and devices of
    each table) is what the collect step writes from the committed records."""
    assert provenance(RESULTS) == (RESULTS / "README.md").read_text()


def test_every_table_is_published():
    assert [t for t in TABLES if not (RESULTS / t / "runs").is_dir()] == []


def shown_tables(page: str) -> list[list[str]]:
    """Each Markdown table of ``page``: its consecutive lines that start with "|"."""
    blocks: list[list[str]] = []
    previous = False
    for line in page.splitlines():
        table = line.startswith("|")
        if table and not previous:
            blocks.append([])
        if table:
            blocks[-1].append(line)
        previous = table
    return blocks


def assert_pasted(page_path: Path, committed: Path) -> None:
    """The committed table is on the page whole: one of its tables is exactly the committed rows
    (no row added, dropped, changed or hidden beside it), and its "All rows:" line is there."""
    text, page = committed.read_text(), page_path.read_text()
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows and rows in shown_tables(page), f"{page_path.name} does not show {committed.name}'s table as it is"
    settings = [line for line in text.splitlines() if line.startswith("All rows:")]
    assert all(line in page.splitlines() for line in settings), f"{page_path.name} lacks {settings}"


@pytest.mark.parametrize(
    "table",
    [
        "table1/table1.md",
        "table3/table3.md",
        "claims/table1/table1.md",
        "claims/table3/table3.md",
        "claims/claim3/table1.md",
        "claims/tangential/table1.md",
        "claims/fig5a/table3.md",
        "claims/long/table1.md",
    ],
)
def test_the_docs_show_the_committed_tables(table):
    """docs/results.md pastes the tables; they must be the committed ones, whole."""
    assert_pasted(ROOT / "docs" / "results.md", RESULTS / table)


def test_a_table_with_a_row_more_or_an_edited_one_is_not_the_committed_one(tmp_path):
    committed = RESULTS / "table1" / "table1.md"
    rows = [line for line in committed.read_text().splitlines() if line.startswith("|")]
    page = tmp_path / "page.md"
    for shown in (rows + ["| invented | row |"], rows[:-1], [*rows[:-1], rows[-1].replace("7", "8")]):
        page.write_text("text\n\n" + "\n".join(shown) + "\n\nmore\n" + "\n".join(rows[:2]) + "\n")
        with pytest.raises(AssertionError):
            assert_pasted(page, committed)


def test_the_demo_page_shows_the_committed_demo():
    """docs/demo.md pastes the demo's table (results/fashion_mnist/demo, `make demo`'s runs),
    whole, and each figure it describes is one the report drew from those runs."""
    page = (ROOT / "docs" / "demo.md").read_text()
    assert_pasted(ROOT / "docs" / "demo.md", RESULTS / "demo" / "table1.md")
    for stem in TABLES["demo"][1]:
        if "." not in stem:
            assert f"{stem}.png" in page, stem


def test_the_readme_quotes_the_demos_recorded_time():
    """`make demo`'s time in the README is the committed demo runs' own wall time (summary.json's
    wall_time_s, training and linear evaluation of each run), in whole minutes."""
    runs = [read_summary(p.parent) for p in sorted((RESULTS / "demo" / "runs").rglob(SUMMARY_FILE))]
    minutes = round(sum(s["wall_time_s"] for s in runs) / 60)
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"on the CPU ({minutes} min on 2 cores)" in readme


def test_the_demo_pages_figure_numbers_are_the_committed_runs():
    """The numbers docs/demo.md reads off the figures, first → last, from the runs' own files."""
    import csv

    page = " ".join((ROOT / "docs" / "demo.md").read_text().split())
    runs = RESULTS / "demo" / "runs"

    def series(variant: str, name: str, column: str) -> list[float]:
        rows = csv.DictReader(open(runs / f"seed=0,variant={variant}" / name))
        return [float(r[column]) for r in rows if r.get(column)]

    def ends(values: list[float], fmt: str, at: int = -1) -> str:
        return f"{values[0]:{fmt}} → {values[at]:{fmt}}"

    knn = {v: [100 * x for x in series(v, "metrics.csv", "val/knn_acc")] for v in ("byol_np", "byol_mlp", "raft_lp")}
    expected = [f"{knn[v][0]:.2f} % → {knn[v][-1]:.2f} %" for v in knn]
    expected += [
        ends(series("byol_np", "metrics.csv", f"monitor/rank_{layer}"), ".2f") for layer in ("projector", "backbone")
    ]
    expected += [
        ends(series("byol_mlp", "metrics.csv", f"monitor/rank_{layer}"), ".2f") for layer in ("backbone", "projector")
    ]
    expected += [ends(series("raft_lp", "metrics.csv", "monitor/rank_backbone"), ".2f")]
    expected += [ends(series(v, "steps.csv", "uniform"), ".2f", 499) for v in ("byol_np", "byol_mlp")]
    expected += [ends(series("raft_lp", "steps.csv", "predictor_identity_distance"), ".3f", 499)]
    missing = [e for e in expected if e not in page]
    assert not missing, f"docs/demo.md does not quote these from results/fashion_mnist/demo/runs: {missing}"


def test_the_demo_pages_reading_of_its_table_is_the_committed_runs():
    """The paragraph under docs/demo.md's table reads numbers off it: each is the committed runs' own."""
    page = " ".join((ROOT / "docs" / "demo.md").read_text().split())
    runs = {s["variant"]: s for s in summaries("demo")}

    def minus(x: float, fmt: str) -> str:
        return f"{x:{fmt}}".replace("-", "−")

    expected = [
        f"L_uniform of z at {minus(runs['byol_np']['uniform_projector'], '.3f')} and an effective rank of z of "
        f"{runs['byol_np']['rank_projector']:.1f}",
        f"(rank of z {runs['byol_mlp']['rank_projector']:.0f}) and RAFT with the linear predictor "
        f"({runs['raft_lp']['rank_projector']:.0f})",
        f"L_uniform {minus(runs['random']['uniform_projector'], '.3f')} and an effective rank of "
        f"{runs['random']['rank_projector']:.1f}",
        f"still reads {100 * runs['random']['linear_acc']:.2f} % from them",
    ]
    missing = [e for e in expected if e not in page]
    assert not missing, f"docs/demo.md does not quote these from results/fashion_mnist/demo/runs: {missing}"


def test_the_readme_table_is_the_committed_table1():
    """The README's headline table is results/fashion_mnist/claims/table1/table1.md's (issue 23's
    Table 1: the monitors, both linear protocols), whole."""
    assert_pasted(ROOT / "README.md", RESULTS / "claims" / "table1" / "table1.md")


UNCHANGED = ROOT / "experiments" / "demo_unchanged" / "runs_1806061"


def test_the_demo_numbers_are_the_ones_the_code_before_issues_20_to_24_gave():
    """Issue 21: "the demo's numbers are unchanged (same seed, same machine)". The committed demo
    (this code) and the same sweep made by commit 1806061 on the same machine record the same
    numbers, bit for bit: every result both summaries hold, and every per-epoch cell of
    metrics.csv's shared columns (experiments/demo_unchanged/README.md)."""
    import csv

    runs = sorted(p.parent.name for p in UNCHANGED.rglob(SUMMARY_FILE))
    assert runs == sorted(p.parent.name for p in (RESULTS / "demo" / "runs").rglob(SUMMARY_FILE)) and len(runs) == 4
    cells = 0
    for run in runs:
        old, new = read_summary(UNCHANGED / run), read_summary(RESULTS / "demo" / "runs" / run)
        assert old["git_sha"].startswith("1806061") and old["seed"] == new["seed"]
        shared = [k for k in ("align", "uniform", "probe_acc", "knn_acc", "linear_acc") if old.get(k) is not None]
        assert {k: old[k] for k in shared} == {k: new[k] for k in shared}, run
        assert "linear_acc" in shared and "knn_acc" in shared
        if not (UNCHANGED / run / "metrics.csv").is_file():
            assert new["objective"] == "random"  # it never trains: no epochs to compare
            continue
        rows = [list(csv.DictReader(open(d / run / "metrics.csv"))) for d in (UNCHANGED, RESULTS / "demo" / "runs")]
        assert len(rows[0]) == len(rows[1]) == new["epochs"]
        columns = [c for c in rows[0][0] if c in rows[1][0]]
        for a, b in zip(*rows):
            for c in columns:
                if a[c] != "" and b[c] != "":
                    assert float(a[c]) == float(b[c]), (run, a["epoch"], c)
                    cells += 1
    assert cells > 3 * 30 * 5


def test_results_page_quotes_the_random_encoders_batchnorm_measurement():
    """docs/results.md's L_uniform(z) of the untrained encoders, both ways, are the committed
    random_batchnorm.json's (experiments.fashion_mnist.batchnorm), seed by seed."""
    measured = json.loads((ROOT / "results" / "fashion_mnist" / "claims" / "random_batchnorm.json").read_text())
    text = " ".join((ROOT / "docs" / "results.md").read_text().split())
    for way, said in (("eval_mode", "in eval mode"), ("batch_statistics", "with each BatchNorm")):
        values = ", ".join(f"{s[way]:.3f}".replace("-", "−") for s in measured["seeds"])
        assert f"{values} {said}" in text, (way, values)
    assert [s["seed"] for s in measured["seeds"]] == [0, 1, 2]


def test_the_batchnorm_measurement_in_eval_mode_is_the_kept_random_runs_monitor():
    """random_batchnorm.json's eval-mode L_uniform(z) is the measurement the claims' random runs
    recorded (summary.json's uniform_projector, the collapse monitor on the same held-out batch),
    seed by seed: the monitor computes in float32, batchnorm.py in float64, so they agree to
    float32 round-off (a few ulps of 1e-8 at these magnitudes; 1e-6 allows a hundred), far below
    the three decimals the results page shows."""
    measured = json.loads((RESULTS / "claims" / "random_batchnorm.json").read_text())
    for seed in measured["seeds"]:
        run = read_summary(RESULTS / "claims" / "table1" / "runs" / f"seed={seed['seed']},variant=random")
        assert run is not None and abs(run["uniform_projector"] - seed["eval_mode"]) < 1e-6, seed


def test_the_collect_step_into_an_empty_folder_publishes_nothing_and_says_so(tmp_path, capsys):
    """With no finished sweep under --logs, every table reads "not published", claims.md (which
    reads the earlier Table 1) is not written, and the provenance page says what is missing: it
    was a KeyError traceback where --out held no earlier Table 1."""
    from experiments.fashion_mnist.__main__ import main as collect

    assert collect(["--logs", str(tmp_path / "logs"), "--out", str(tmp_path / "out")]) == 2  # no such folder
    assert capsys.readouterr().err.startswith(f"--logs={tmp_path / 'logs'}: not a folder")
    (tmp_path / "logs").mkdir()
    (tmp_path / "a_file").write_text("x")
    assert collect(["--logs", str(tmp_path / "logs"), "--out", str(tmp_path / "a_file")]) == 2
    assert capsys.readouterr().err.startswith(f"--out={tmp_path / 'a_file'}: not a folder")
    assert collect(["--logs", str(tmp_path / "logs"), "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr().out
    assert all(f"{table}: not published" in said for table in TABLES), said
    assert f"{CLAIMS_FILE}: not written" in said and not (tmp_path / "out" / CLAIMS_FILE).exists()
    assert "Not published yet" in (tmp_path / "out" / "README.md").read_text()


def test_the_docs_count_each_claims_sweeps_runs_as_committed():
    """A heading "… (N runs of M, k seeds)" on the results page counts the ok runs, the sweep's
    runs and the seeds of the claims sweep its section names (results/fashion_mnist/claims/<s>)."""
    page = (ROOT / "docs" / "results.md").read_text()
    sections = re.split(r"^### ", page, flags=re.M)[1:]
    counted = 0
    for section in sections:
        heading = re.search(r"\((\d+) runs of (\d+), (\d+) seeds\)", section.splitlines()[0])
        if heading is None:
            continue
        table = "claims/" + re.search(r"results/fashion_mnist/claims/(\w+)", section).group(1)
        ok = sum(r["status"] == "ok" for r in summaries(table))
        said = tuple(int(x) for x in heading.groups())
        assert said == (ok, expected_runs(RESULTS / table / "runs"), SEEDS[table]), (section.splitlines()[0], table)
        counted += 1
    assert counted >= 3
