"""docs/extending.md, followed literally: its ``my_extensions.py`` and ``my_conf/`` blocks are
written to a temporary folder, its one ``MEASURES`` line is added to a copy of the package, and its
commands run as one smoke sweep (the three recipes' overrides together: one sweep of two runs keeps
the suite short). Each test then checks what its recipe promises."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from raft_lightning.data.sources import make_synthetic

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "extending.md"
BIN = Path(sys.executable).parent  # raft-train, raft-report, raft-linear-eval
MEASURES_ANCHOR = "MEASURES: tuple[Measure, ...] = (\n"
# The sweep: every raft-train command of the page is part of it (test_the_pages_commands_are_the_sweeps).
SWEEP = [
    "-m",
    "--config-dir",
    "my_conf",
    "experiment=smoke",
    "loss=mine,byol",
    "data=mine",
    "data.root=DIR",
    "+callbacks.weight_norm._target_=my_extensions.WeightNorm",
    "hydra.sweep.dir=sweep",
]
DATA = {"train": 96, "test": 48}  # images of the page's dataset (its FileSource says so)
CLASSES = 3


def fenced(language: str) -> list[str]:
    """The page's ```<language> blocks, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", PAGE.read_text(), re.S | re.M)


def page_files() -> dict[str, str]:
    """File → text of the code and YAML blocks whose first line names a file of the user's
    (``# my_extensions.py``, ``# my_conf/...``); blocks naming the same file are concatenated."""
    files: dict[str, str] = {}
    for block in fenced("python") + fenced("yaml"):
        first, _, rest = block.partition("\n")
        name = first.removeprefix("# ").split(":")[0]
        if name.startswith(("my_extensions", "my_conf/")):
            files[name] = files.get(name, "") + rest + "\n"
    return files


def measures_line() -> str:
    (block,) = [b for b in fenced("python") if b.startswith("# raft_lightning/measures.py")]
    return block.partition("\n")[2]


def commands(program: str) -> list[list[str]]:
    return [shlex.split(line) for b in fenced("bash") for line in b.splitlines() if line.startswith(program + " ")]


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def write_dataset(root: Path) -> None:
    """The page's dataset files: class-structured generated images, 3 classes."""
    root.mkdir()
    for split, (name, size) in enumerate(DATA.items()):
        images, labels = make_synthetic(CLASSES, size, 16, seed=0, split=split)
        np.savez(root / f"{name}.npz", images=images.numpy(), labels=labels.numpy())


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """The page's files, a package copy with its MEASURES line, the sweep and its report."""
    home = tmp_path_factory.mktemp("extending")
    for name, text in page_files().items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text)
    package = home / "package" / "raft_lightning"
    shutil.copytree(ROOT / "raft_lightning", package, ignore=shutil.ignore_patterns("__pycache__"))
    measures = (package / "measures.py").read_text()
    assert MEASURES_ANCHOR in measures
    (package / "measures.py").write_text(measures.replace(MEASURES_ANCHOR, MEASURES_ANCHOR + measures_line()))
    write_dataset(home / "DIR")
    # The copy first; the repository after it for hydra_plugins; the page's module from home.
    env = {**os.environ, "PYTHONPATH": f"{package.parent}:{home}:{ROOT}", "PATH": f"{BIN}:/usr/bin:/bin"}
    env.pop("HYDRA_FULL_ERROR", None)
    trained = run(["raft-train", *SWEEP], home, env)
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    reported = run(["raft-report", "sweep"], home, env)
    assert reported.returncode == 0, reported.stdout[-3000:] + reported.stderr[-3000:]
    runs = {}
    for path in (home / "sweep").rglob("summary.json"):
        summary = json.loads(path.read_text())
        runs[summary["objective"]] = SimpleNamespace(
            dir=path.parent,
            summary=summary,
            state=torch.load(path.parent / "checkpoints" / "last.ckpt", weights_only=True),
        )
    with open(home / "sweep" / "table1.csv", newline="") as f:
        # by the label's method/predictor: settings that tell rows apart would follow it in brackets
        table = {row["model"].split(" ")[0]: row for row in csv.DictReader(f)}
    return SimpleNamespace(home=home, env=env, runs=runs, table=table)


def test_the_pages_commands_are_the_sweeps():
    """Each raft-train command of the page is part of the sweep the slow tests run (so neither
    can change without the other), and the page's files are the ones the sweep uses."""
    trains = commands("raft-train")
    assert len(trains) == 3
    for command in trains:
        missing = [a for a in command[1:] if a not in SWEEP]
        assert not missing, f"{shlex.join(command)}: not in the test's sweep: {missing}"
    assert any("loss=mine,byol" in c for c in trains) and any("data=mine" in c for c in trains)
    assert any("+callbacks.weight_norm._target_=my_extensions.WeightNorm" in c for c in trains)
    assert commands("raft-report") == [["raft-report", "sweep"]]
    assert set(page_files()) == {"my_extensions.py", "my_conf/loss/mine.yaml", "my_conf/data/mine.yaml"}
    assert measures_line().strip().startswith('Measure("weight_norm", "monitor/weight_norm"')


@pytest.mark.slow
def test_a_new_method_gets_its_own_row(extended):
    """loss=mine trains the page's MyMethod (no teacher in its checkpoint, BYOL's has one) and is
    a row of its own in the report, beside BYOL's."""
    assert set(extended.runs) == {"mine", "byol"}
    for r in extended.runs.values():
        assert r.summary["status"] == "ok", r.summary.get("error")
    mine, byol = extended.runs["mine"], extended.runs["byol"]
    assert "my_extensions.MyMethod" in (mine.dir / "config.yaml").read_text()
    assert not any(k.startswith("target.") for k in mine.state["state_dict"])
    assert any(k.startswith("target.") for k in byol.state["state_dict"])
    assert mine.summary["tau"] is None and byol.summary["tau"] is not None
    assert set(extended.table) == {"mine/mlp", "byol/mlp"}
    assert extended.table["mine/mlp"]["seeds"] == "1"


@pytest.mark.slow
def test_a_new_dataset_trains_and_is_checked_first(extended):
    """data=mine: the runs trained on the page's dataset (3 classes: the online probe's
    classifier has 3 outputs), and a folder without its files stops the run before it trains,
    with one line naming them."""
    for r in extended.runs.values():
        assert r.summary["data"] == "mine" and r.summary["status"] == "ok"
        probes = [v for k, v in r.state["callbacks"].items() if k.startswith("OnlineProbe")]
        assert len(probes) == 1
        weights = [v for k, v in probes[0]["classifier"].items() if k.endswith("weight") and v.ndim == 2]
        assert [w.shape[0] for w in weights] == [CLASSES], list(probes[0]["classifier"])
    (extended.home / "EMPTY").mkdir()
    (command,) = [c for c in commands("raft-train") if "data=mine" in c]
    args = [a.replace("data.root=DIR", "data.root=EMPTY") for a in command[1:]]
    refused = run(["raft-train", *args, "hydra.run.dir=refused"], extended.home, extended.env, timeout=300)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "data.root=" in out and "train.npz and test.npz" in out and "Traceback" not in out, out[-2000:]
    assert not (extended.home / "refused" / "checkpoints").exists()


@pytest.mark.slow
def test_a_new_metric_reaches_summary_and_report(extended):
    """The MEASURES line and the WeightNorm callback: summary.json's weight_norm is ‖θ‖₂ of the
    online network the checkpoint holds (logged as float32: relative error ≤ 2⁻²⁴, plus the
    float64 sum's order), and table1.csv has it as a column."""
    for name, r in extended.runs.items():
        online = [
            v.double().flatten()
            for k, v in r.state["state_dict"].items()
            if k.startswith("online.") and not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
        ]
        expected = torch.cat(online).norm().item()
        assert math.isclose(r.summary["weight_norm"], expected, rel_tol=1e-6), (name, r.summary["weight_norm"])
        row = extended.table[f"{name}/mlp"]
        assert math.isclose(float(row["weight_norm_mean"]), r.summary["weight_norm"], rel_tol=1e-6)


@pytest.mark.slow
def test_linear_eval_builds_your_code_only_when_trusted(extended):
    """raft-linear-eval refuses a folder naming the page's code, and evaluates it with trust=[...]."""
    (command,) = commands("raft-linear-eval")
    run_dir = extended.runs["mine"].dir
    refused = run(["raft-linear-eval", f"run_dir={run_dir}"], extended.home, extended.env, timeout=300)
    assert refused.returncode != 0 and "my_extensions.MyMethod" in refused.stdout + refused.stderr
    args = [a.replace("RUN", str(run_dir)) for a in command[1:]]
    evaluated = run(["raft-linear-eval", *args], extended.home, extended.env, timeout=300)
    assert evaluated.returncode == 0, evaluated.stdout[-2000:] + evaluated.stderr[-2000:]
    assert json.loads((run_dir / "summary.json").read_text())["linear_acc"] is not None
