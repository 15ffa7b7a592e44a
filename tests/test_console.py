"""What a batch log shows (one line per epoch, the run's settings at its start, a closing list
that tells runs apart), and the command line's help and config printing."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from raft_lightning.run import command_line
from raft_lightning.run.sweep import Outcome, closing_lines
from raft_lightning.run.train import train
from tests.conftest import ROOT, compose_run

EPOCH_LINE = re.compile(
    r"epoch (\d+)/(\d+): loss -?\d+\.\d{3}, L_align -?\d+\.\d{3}, L_uniform -?\d+\.\d{3}(, kNN [\d.]+%)?, "
)


def cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_closing_list_is_in_job_order_with_each_runs_folder_and_what_differs(tmp_path, capsys):
    betas = ["0.01", "0.1", "0.5", "1.0", "2.0", "5.0", "10.0"]
    jobs = [(n, beta, seed) for n, (beta, seed) in enumerate((b, s) for s in (0, 1) for b in betas)]  # 14 jobs
    outcomes = [  # in the order they ended: folder-name order, as a SLURM array may end
        Outcome(n, "failed", tmp_path / str(n), "boom", ("loss=raft", f"loss.beta={beta}", f"seed={seed}"))
        for n, beta, seed in sorted(jobs, key=lambda j: str(j[0]))
    ]
    closing_lines(outcomes, tmp_path)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  #")]
    assert [int(line.split()[0][1:]) for line in lines] == list(range(14))  # 0, 1, 2, …, 10, not 0, 1, 10
    for line, (n, beta, seed) in zip(lines, jobs):
        assert f"loss.beta={beta},seed={seed}:" in line and line.endswith(f"[{n}]")  # named as W&B and TB name it
        assert "loss=raft" not in line  # the same in every run: tells nothing apart
    assert len(set(lines)) == len(lines)


def test_a_sweep_of_one_names_its_run_as_w_and_b_and_tensorboard_do(tmp_path):
    from raft_lightning.run.console import sweep_lines

    summary = {"status": "ok", "variant": None, "objective": "byol", "predictor": "mlp", "seed": 0, "epochs": 1}
    for key in ("align", "uniform", "probe_acc", "knn_acc", "linear_acc"):
        summary[key] = None
    outcome = Outcome(0, "ok", tmp_path / "0", None, ("variant=byol_lpi",))  # glob(byol_lpi): one run
    (line,) = [line for line in sweep_lines([(outcome, summary)], tmp_path) if line.startswith("  #")]
    assert line.startswith("  #0 byol-mlp-seed0: ")  # nothing differs: the single run's name
    summary["variant"] = "byol_lpi"
    (line,) = [line for line in sweep_lines([(outcome, summary)], tmp_path) if line.startswith("  #")]
    assert line.startswith("  #0 byol_lpi-seed0: ")


def test_a_sweep_without_an_ok_run_does_not_point_to_a_report_it_cannot_make(tmp_path):
    from raft_lightning.run.console import sweep_lines

    summary = {"status": "diverged", "objective": "byol", "predictor": "mlp", "seed": 0, "error": "loss became nan"}
    outcome = Outcome(0, "diverged", tmp_path / "0", None, ("seed=0",))
    assert not any("raft-report" in line for line in sweep_lines([(outcome, summary)], tmp_path))
    ok = Outcome(1, "ok", tmp_path / "1", None, ("seed=1",))
    lines = sweep_lines([(outcome, summary), (ok, {**summary, "status": "ok", "seed": 1})], tmp_path)
    assert lines[-1] == f"tables and figures: raft-report {tmp_path}"


@pytest.mark.slow
def test_each_epoch_is_one_line_and_a_resumed_run_warns_of_nothing_false(smoke_cfg, caplog):
    first = smoke_cfg("logger=csv", "trainer.max_epochs=2", "callbacks.knn.every_n_epochs=2")
    with caplog.at_level("INFO"):
        assert train(first)["status"] == "ok"
    lines = [r.getMessage() for r in caplog.records if r.name == "raft_lightning.callbacks.progress"]
    assert [EPOCH_LINE.match(line).group(1, 2) for line in lines] == [("1", "2"), ("2", "2")], lines
    assert "kNN" not in lines[0] and "kNN" in lines[1]  # measured at epoch 2 only
    assert all(re.search(r", \d+:\d\d elapsed, ETA \d+:\d\d$", line) for line in lines) and lines[1].endswith(
        "ETA 0:00"
    )
    (start,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"run {first.paths.output_dir}:")]
    assert "options " in start and "loss=byol" in start and "seed 0, 2 epochs" in start

    caplog.clear()
    resumed = compose_run(
        "experiment=smoke",
        "logger=csv",
        "trainer.max_epochs=3",
        "callbacks.knn.every_n_epochs=2",
        run_dir=Path(first.paths.output_dir),
    )
    with warnings.catch_warnings(record=True) as caught, caplog.at_level("INFO"):
        warnings.simplefilter("always")
        assert train(resumed)["status"] == "ok"
    assert not [w for w in caught if "Previous log files" in str(w.message)]  # the step log is kept
    assert not [w for w in caught if "exists and is not empty" in str(w.message)]  # its own checkpoint folder
    lines = [r.getMessage() for r in caplog.records if r.name == "raft_lightning.callbacks.progress"]
    assert [EPOCH_LINE.match(line).group(1, 2) for line in lines] == [("3", "3")]
    assert not [r for r in caplog.records if "💡 Tip" in r.getMessage()]


def test_a_checkpoint_saved_on_a_signal_or_for_a_baseline_logs_no_lightning_internals(smoke_cfg, caplog, tmp_path):
    """The two saves that are ours to make (a run stopped by a signal, a baseline's one
    checkpoint) print nothing about how Lightning saves ("`weights_only` was not set ...")."""
    interrupted = smoke_cfg(
        "+callbacks.kill._target_=tests.helpers.SignalAt",
        "+callbacks.kill.step=2",
        f"+callbacks.kill.marker={tmp_path}/m",
    )
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # the shell's handler, as in test_resume
    try:
        with caplog.at_level("INFO"):
            assert train(interrupted)["status"] == "interrupted"
            assert train(smoke_cfg("loss=random"))["status"] == "ok"
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not [r.getMessage() for r in caplog.records if "weights_only" in r.getMessage()]


def test_the_wandb_entity_is_set_without_a_plus(tmp_path):
    cfg = compose_run("experiment=smoke", "logger=wandb", "logger.wandb.entity=my-team", run_dir=tmp_path)
    assert cfg.logger.wandb.entity == "my-team"
    assert compose_run("experiment=smoke", "logger=wandb", run_dir=tmp_path).logger.wandb.entity is None
    assert command_line.problems(["experiment=smoke", "logger=wandb", "logger.wandb.entity=my-team"]) == []


def test_cfg_job_resolve_prints_the_wandb_config_without_a_traceback():
    done = cli("raft_lightning.train", "--cfg", "job", "--resolve", "logger=wandb", "logger.wandb.entity=my-team")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "entity: my-team" in done.stdout and "- objective=byol" in done.stdout  # tags, resolved
    assert "name: byol-mlp-seed0" in done.stdout


def test_linear_eval_help_lists_only_what_it_takes_and_refuses_the_rest_in_one_line(tmp_path):
    done = cli("raft_lightning.linear_eval", "--help")
    assert done.returncode == 0
    assert "run_dir=" in done.stdout and "eval.<key>=" in done.stdout and "trust=" in done.stdout
    assert "Configuration groups" not in done.stdout and "variant:" not in done.stdout and "data:" not in done.stdout
    assert "hydra.<key>=" in done.stdout and "epochs: 100" in done.stdout  # Hydra's keys are taken; the defaults
    assert "linear:" not in done.stdout  # eval.linear is raft-train's switch: it does nothing here
    (line,) = cli("raft_lightning.linear_eval", f"run_dir={tmp_path}", "eval.linear=true").stderr.strip().splitlines()
    assert line.startswith("raft-linear-eval: eval.linear=true: not taken by raft-linear-eval (raft-train's switch")
    refused = cli("raft_lightning.linear_eval", f"run_dir={tmp_path}", "data=cifar10")
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("raft-linear-eval: data=cifar10: not accepted; raft-linear-eval takes run_dir=, eval.<key>=")


def test_help_quotes_no_running_time_and_names_the_loggers():
    done = cli("raft_lightning.train", "--help")
    assert done.returncode == 0
    # A time measured on one machine goes stale on the next: --help quotes none.
    assert not re.search(r"\b\d+(\.\d+)?\s*(s|sec|seconds|min|minutes|h|hours)\b", done.stdout), done.stdout
    assert "logger=tensorboard" in done.stdout and "logger.wandb.entity=NAME" in done.stdout


@pytest.mark.parametrize(
    "arg, says",
    [
        ("~eval.epochs", "~eval.epochs: the evaluation needs it"),
        ("+eval.epoch=3", "eval.epoch: not a setting of the evaluation (linear, epochs,"),  # a typo: not the default
        ("eval.optimizer._target_=os.system", "not a parameter of system"),
        ("eval.optimizer.lr=-1", "eval.optimizer.lr=-1"),
        ("data_root=/nonexistent/images", "data_root=/nonexistent/images: no such folder"),
        ("data_root=7", "data_root=7: no such folder"),  # the folder named 7, taken as typed (not the number)
    ],
)
def test_linear_eval_refuses_settings_it_does_not_have_in_one_line(tmp_path, arg, says):
    for name in ("config.yaml", "summary.json"):  # a folder that passes the first check: refused before it is read
        (tmp_path / name).write_text("{}\n")
    done = cli("raft_lightning.linear_eval", f"run_dir={tmp_path}", arg)
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("raft-linear-eval: ") and says in line


def test_linear_eval_takes_hydras_groups_as_its_help_says():
    from raft_lightning.linear_eval import run_dir_error

    assert run_dir_error(["run_dir=/nowhere", "hydra/job_logging=disabled"]).startswith("run_dir=/nowhere: not a run")
    assert "hydra.<key>=" in run_dir_error(["run_dir=/nowhere", "seed=1"])
