"""What a researcher sees: step-level curves, a W&B run with the results, one line per run, the
project's --help, and a linear evaluation that a constant feature cannot blow up."""

from __future__ import annotations

import csv
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from raft_lightning.evaluation.linear import linear_accuracy
from raft_lightning.run.provenance import code_version
from raft_lightning.run.tracking import SUMMARY_KEYS
from raft_lightning.run.train import train
from tests.conftest import ROOT, run_cli
from tests.wandb_records import offline_runs

SMALL = ("experiment=smoke", "data.train_size=64", "data.val_size=32", "data.batch_size=16")  # 4 steps an epoch
STEP_SERIES = ("train_step/loss", "train_step/align", "train_step/uniform", "train_step/cross", "train_step/probe_loss")


def test_csv_log_has_step_level_series_every_log_every_n_steps(smoke_cfg):
    # Past the monitors' dense window (none here): every log_every_n_steps-th step only.
    cfg = smoke_cfg(
        *SMALL[1:],
        "logger=csv",
        "trainer.log_every_n_steps=2",
        "trainer.max_epochs=2",
        "callbacks.monitors.dense_steps=0",
    )
    assert train(cfg)["status"] == "ok"
    rows = list(csv.DictReader(open(f"{cfg.paths.output_dir}/csv/metrics.csv")))
    stepped = [r for r in rows if r.get("train_step/loss")]
    assert [int(r["step"]) for r in stepped] == [1, 3, 5, 7]  # Lightning's 0-based step of every 2nd step
    assert all(r[key] for r in stepped for key in STEP_SERIES)
    assert len([r for r in rows if r.get("train/align")]) == 2  # the epoch means as before


@pytest.mark.slow
def test_wandb_run_has_step_rows_final_results_and_a_new_id_in_a_cleaned_folder(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    sweep = tmp_path / "sweep"
    args = ("-m", *SMALL, "logger=[csv,wandb]", "trainer.log_every_n_steps=1", "tags=[ablation]", "eval.linear=true")
    first = run_cli(*args, "eval.epochs=2", f"hydra.sweep.dir={sweep}")
    assert first.returncode == 0, first.stderr[-3000:]
    (run,) = offline_runs(sweep / "0")
    assert len([h for h in run["history"] if "train_step/loss" in h]) == 8  # every step of 2 epochs
    assert "ablation" in run["tags"] and "objective=byol" in run["tags"]
    final = {k.removeprefix("final/"): v for k, v in run["summary"].items() if k.startswith("final/")}
    assert final["status"] == "ok" and final["epochs"] == 2
    assert {"align", "uniform", "probe_acc", "knn_acc", "linear_acc"} <= set(final)
    assert (sweep / "0" / "csv" / "metrics.csv").is_file()  # logger=[csv,wandb]: both
    shutil.rmtree(sweep)  # what `make demo` does before it runs
    again = run_cli(*args, "eval.epochs=2", f"hydra.sweep.dir={sweep}")
    assert again.returncode == 0, again.stderr[-3000:]
    (rerun,) = offline_runs(sweep / "0")
    assert rerun["id"] != run["id"]  # a new run, not merged into the old one when synced


def test_each_run_prints_one_result_line_with_its_numbers(smoke_cfg, caplog):
    cfg = smoke_cfg("trainer.max_epochs=1", "eval.linear=true", "eval.epochs=2")
    with caplog.at_level("INFO", logger="raft_lightning.run.train"):
        summary = train(cfg)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("run finished:")]
    assert f"L_align {summary['align']:.3f}" in line and f"linear {100 * summary['linear_acc']:.1f}%" in line
    assert str(cfg.paths.output_dir) in line


@pytest.mark.slow
def test_a_sweep_ends_with_its_runs_and_no_lightning_boilerplate(tmp_path):
    result = run_cli("-m", *SMALL, "loss=byol,raft", "trainer.max_epochs=1", f"hydra.sweep.dir={tmp_path}")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert f"sweep {tmp_path}: 2 run(s): 2 ok" in out and f"raft-report {tmp_path}" in out
    assert "💡 Tip" not in out and "LeafSpec" not in out and "The `srun` command" not in out


def test_help_lists_the_groups_the_card_command_and_the_presets():
    done = subprocess.run(
        [sys.executable, "-m", "raft_lightning.train", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    for text in ("predictor=mlp,linear,none", "experiment=smoke"):
        assert text in done.stdout, text
    losses = sorted(p.stem for p in (ROOT / "raft_lightning" / "conf" / "loss").glob("*.yaml"))
    assert f"loss: {', '.join(losses)}" in done.stdout  # every option of the group, as the help lists them


def test_a_constant_feature_is_not_blown_up_by_standardisation():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 2
    informative = labels[:, None].float() + 0.3 * torch.randn(400, 1, generator=g)
    constant = torch.zeros(400, 1)  # constant on the training split...
    train_x = torch.cat([informative, constant], 1)
    test_x = torch.cat([informative, torch.full((400, 1), 0.01)], 1)  # ...and 0.01 on the test split
    accuracy = linear_accuracy(train_x, labels, test_x, labels, num_classes=2, epochs=30, lr=1e-2)
    clean = linear_accuracy(train_x[:, :1], labels, test_x[:, :1], labels, num_classes=2, epochs=30, lr=1e-2)
    assert accuracy > 0.8 and abs(accuracy - clean) < 0.05  # with std + 1e-6 the 0.01 became 10 000


LOGGERS_DOC = ROOT / "docs" / "loggers.md"


def doc_command(start: str) -> list[str]:
    """The arguments of the command in docs/loggers.md that starts with ``start``, as a shell splits them."""
    (line,) = [line for line in LOGGERS_DOC.read_text().splitlines() if line.startswith(start)]
    return shlex.split(line)[1:]  # without `raft-train`


def recipe(table: str) -> list[str]:
    """The config fields docs/loggers.md says to group ``table``'s W&B runs by."""
    (row,) = [line for line in LOGGERS_DOC.read_text().splitlines() if line.startswith(f"| {table} |")]
    return re.findall(r"`([^`]+)`", row.split("|")[3])


def field(config: dict, dotted: str):
    for part in dotted.split("."):
        config = config[part]
    return config


def tensorboard_scalars(run_dir: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Per TensorBoard run folder (its name), every scalar series as (step, value) pairs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found = {}
    for folder in sorted((run_dir / "tensorboard").iterdir()):
        events = EventAccumulator(str(folder))
        events.Reload()
        found[folder.name] = {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"]}
    return found


def tensorboard_hparams(folder: Path) -> tuple[dict[str, object], list[str]]:
    """The hyperparameters tab of a TensorBoard run folder: its hyperparameters and metric tags."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(folder))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    values = {k: v.string_value or v.number_value or v.bool_value for k, v in start.hparams.items()}
    return values, [m.name.tag for m in experiment.metric_infos]


def check_distinct_names(sweep: Path, expected: list[str]) -> list[dict]:
    """W&B records and TensorBoard folders of runs #0, #1, … named ``expected``; the W&B runs."""
    runs = []
    for num, name in enumerate(expected):
        (run,) = offline_runs(sweep / str(num))
        assert run["name"] == name and run["group"] == sweep.name
        assert list(tensorboard_scalars(sweep / str(num))) == [name]
        runs.append(run)
    return runs


@pytest.mark.slow
def test_a_batch_sweep_logs_each_epoch_and_names_every_run(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    pytest.importorskip("tensorboard")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    sweep = tmp_path / "table1"
    log = tmp_path / "nohup.out"
    with open(log, "w") as out:  # as under nohup or SLURM: stdout and stderr a file, no terminal
        done = subprocess.run(
            [sys.executable, "-m", "raft_lightning.train", *doc_command("raft-train -m experiment=smoke variant=")]
            + [f"hydra.sweep.dir={sweep}"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
    text = log.read_text()
    assert done.returncode == 0, text[-3000:]
    for num in ("0", "1"):  # each run: what it is, once; then one line per epoch
        run_text = text.split(f"run {sweep / num}: overrides ")[1].split("run finished:")[0]
        assert text.count(f"run {sweep / num}: overrides ") == 1
        assert re.findall(r"epoch (\d)/2: loss ", run_text) == ["1", "2"], run_text
    for banner in ("GPU available", "Seed set to", "💡 Tip", "Previous log files"):
        assert text.count(banner) <= (banner in ("GPU available", "Seed set to")), banner
    closing = [line for line in text.splitlines() if line.startswith("  #")]
    assert [line.split(":")[0] for line in closing] == ["  #0 variant=byol_lp", "  #1 variant=tanbyol_lp"]
    assert closing[0].endswith("[0]") and closing[1].endswith("[1]")

    runs = check_distinct_names(sweep, ["variant=byol_lp", "variant=tanbyol_lp"])
    assert ["variant=byol_lp" in runs[0]["tags"], "variant=tanbyol_lp" in runs[1]["tags"]] == [True, True]
    # The dashboard recipe: Table 1 grouped by its fields puts the two rows apart; the core
    # grid's fields (loss, predictor) would merge them, as the doc says.
    fields = recipe("Table 1")
    assert [tuple(field(r["config"], f) for f in fields) for r in runs] == [("byol_lp",), ("tanbyol_lp",)]
    core = [tuple(field(r["config"], f) for f in recipe("Table 1's core grid")) for r in runs]
    assert core[0] == core[1] == ("byol", "linear")
    columns = re.findall(r"`final/(\w+)`", LOGGERS_DOC.read_text())
    assert columns and set(columns) <= set(SUMMARY_KEYS)

    # TensorBoard: the CSV log's step and epoch series, at the same steps; the hyperparameters tab
    # holds the config beside the record's results.
    (series,) = tensorboard_scalars(sweep / "0").values()
    summary = json.loads((sweep / "0" / "summary.json").read_text())
    hparams, metrics = tensorboard_hparams(next((sweep / "0" / "tensorboard").iterdir()))
    assert hparams["choices/variant"] == "byol_lp" and hparams["loss/beta"] == 1.0
    assert {"final/align", "final/uniform", "final/epochs"} <= set(metrics)
    assert series["final/align"] == [(summary["epochs"], pytest.approx(summary["align"]))]
    rows = list(csv.DictReader(open(sweep / "0" / "csv" / "metrics.csv")))
    for key in [k for k in rows[0] if k not in ("step",)]:
        expected = [(int(r["step"]), float(np.float32(r[key]))) for r in rows if r[key]]
        assert series[key] == expected, key


@pytest.mark.slow
def test_runs_that_differ_only_in_beta_get_their_own_names(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    pytest.importorskip("tensorboard")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    sweep = tmp_path / "table3"
    done = run_cli(*doc_command("raft-train -m experiment=smoke loss=raft loss.beta="), f"hydra.sweep.dir={sweep}")
    assert done.returncode == 0, done.stderr[-3000:]
    runs = check_distinct_names(sweep, ["loss.beta=0.1", "loss.beta=1"])
    groups = [tuple(field(r["config"], f) for f in recipe("Table 3")) for r in runs]
    assert groups == [("mlp", 0.1), ("mlp", 1)]  # two rows of Table 3
    assert [line.split(":")[0] for line in done.stdout.splitlines() if line.startswith("  #")] == [
        "  #0 loss.beta=0.1",
        "  #1 loss.beta=1",
    ]


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=400))
@settings(max_examples=300, deadline=None)
def test_a_run_name_as_a_folder_is_one_path_component_within_the_limit(name):
    from raft_lightning.files import NAME_MAX
    from raft_lightning.run.tracking import folder_name

    folder = folder_name(name)
    assert "/" not in folder and len(folder.encode()) <= NAME_MAX
    assert folder == folder_name(name)  # the same run gets the same folder on resume
    if len(name.encode()) <= NAME_MAX:
        assert folder == name.replace("/", "_")  # what the closing line says, readable
    else:  # cut, with a hash of the whole name: two long names that share a start stay apart
        assert folder != folder_name(name + "x") and folder.encode()[:100] == name.replace("/", "_").encode()[:100]


@pytest.mark.slow
def test_long_swept_settings_name_tensorboard_folders_within_the_limit_as_the_closing_lines(tmp_path):
    """Runs told apart by long settings (here folders): each TensorBoard folder is a name the
    system takes (it once failed every run, "File name too long"), and reads as its closing line."""
    pytest.importorskip("tensorboard")
    roots = [tmp_path / ("d" * 240 + "1"), tmp_path / "d2"]
    for root in roots:
        root.mkdir()
    sweep = tmp_path / "s"
    done = run_cli(
        "-m", "experiment=smoke", "logger=[csv,tensorboard]", "trainer.max_epochs=1", "seed=0,1",
        f"paths.data_dir={roots[0]},{roots[1]}", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    closing = {line.split()[-1][1:-1]: line[2:].split(": ")[0].split(" ", 1)[1] for line in done.stdout.splitlines()
               if line.startswith("  #")}  # fmt: skip
    assert len(closing) == 4
    for num, name in closing.items():
        (folder,) = [p.name for p in (sweep / num / "tensorboard").iterdir()]
        assert name.count("=") == 2 and "," in name  # both swept keys, joined as W&B and TensorBoard join them
        if "d2" in name:
            assert folder == name.replace("/", "_")
        else:
            assert len(folder.encode()) <= 255 and folder.startswith(name.replace("/", "_")[:200])


def test_the_commit_is_recorded_only_for_a_checkout_and_says_when_its_code_differs(tmp_path):
    """summary.json's git_sha is raft-lightning's commit where the package is a checkout, with
    git_dirty saying whether its code (not its README) differs from it; installed inside another
    repository (a virtual environment in your project), neither is known: never your commit."""

    def git(cwd: Path, *args: str) -> str:
        done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, capture_output=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.decode().strip()

    checkout = tmp_path / "checkout"
    package = checkout / "raft_lightning"
    package.mkdir(parents=True)
    (package / "losses.py").write_text("x = 1\n")
    (checkout / "README.md").write_text("read me\n")
    git(checkout, "init", "-q")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-qm", "first")
    sha = git(checkout, "rev-parse", "HEAD")
    assert code_version(package) == (sha, False)
    (checkout / "README.md").write_text("changed\n")
    assert code_version(package) == (sha, False)
    (package / "losses.py").write_text("x = 2\n")
    assert code_version(package) == (sha, True)
    git(checkout, "checkout", "-q", "--", "raft_lightning")
    (package / "mine.py").write_text("")  # a new module of yours
    assert code_version(package) == (sha, True)

    yours = tmp_path / "your_project"
    installed = yours / ".venv" / "lib" / "python3.11" / "site-packages" / "raft_lightning"
    installed.mkdir(parents=True)
    (yours / "notes.txt").write_text("yours\n")
    git(yours, "init", "-q")
    git(yours, "add", "notes.txt")
    git(yours, "commit", "-qm", "yours")
    assert code_version(installed) == (None, None)
    nowhere = tmp_path / "unpacked" / "raft_lightning"
    nowhere.mkdir(parents=True)
    assert code_version(nowhere) == (None, None)
