"""The command line as a researcher types it: real subprocesses, real multiruns."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import CARD, ROOT, run_cli

pytestmark = pytest.mark.slow
# A short linear evaluation after each run: it writes embeddings.pt, which representations.png reads
# (the report reads files only: it never rebuilds a model from a checkpoint).
LINEAR_EVAL = ["eval.linear=true", "eval.epochs=2"]


def summaries(sweep_dir):
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/summary.json")}


def test_card_command_runs_the_27_run_grid(tmp_path):
    result = run_cli("-m", *CARD, "experiment=smoke", *LINEAR_EVAL, f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    runs = summaries(tmp_path)
    assert len(runs) == 27
    assert {r["status"] for r in runs.values()} == {"ok"}
    grid = {(r["objective"], r["predictor"], r["seed"]) for r in runs.values()}
    assert grid == {
        (o, p, s) for o in ("byol", "byol_prime", "raft") for p in ("mlp", "linear", "none") for s in (0, 1, 2)
    }

    # The report on that sweep: Table 1 with 9 rows × 3 seeds, and the figures.
    out = tmp_path / "report"
    report = subprocess.run(
        [sys.executable, "-m", "raft_lightning.report", str(tmp_path), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    rows = list(csv.DictReader(open(out / "table1.csv")))
    assert len(rows) == 9 and {int(r["seeds"]) for r in rows} == {3}
    assert "27 run(s) found (27 ok); the sweep has 27" in (out / "table1.md").read_text()
    for name in ("trajectories.png", "representations.png"):
        png = (out / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 20_000, name


def test_card_command_without_cifar10_fails_fast_with_one_message(tmp_path):
    result = run_cli("-m", *CARD, f"hydra.sweep.dir={tmp_path}", env={"RAFT_DATA_DIR": str(tmp_path / "nothing")})
    assert result.returncode == 2
    assert result.stderr.count("CIFAR-10 not found") == 1, result.stderr
    assert "(every run)" in result.stderr and "Traceback" not in result.stderr
    assert not summaries(tmp_path)  # nothing was started


def test_a_failing_run_does_not_take_down_the_sweep(tmp_path):
    # Run #1 raises at its first step, inside training (what no check before the run can see).
    boom = ["+callbacks.boom._target_=tests.helpers.RaiseAt", "+callbacks.boom.step=1000,1,1000"]
    result = run_cli("-m", "experiment=smoke", *boom, f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 1
    runs = summaries(tmp_path)
    assert {k: r["status"] for k, r in runs.items()} == {"0": "ok", "1": "failed", "2": "ok"}
    assert runs["1"]["error"] == "RuntimeError: injected failure at step 1"
    assert "1 run(s) did not finish" in result.stderr


def test_a_diverged_run_is_a_result_not_an_error(tmp_path):
    result = run_cli("-m", "experiment=smoke", "loss=raft", "loss.beta=1.0,3e38", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert {k: r["status"] for k, r in summaries(tmp_path).items()} == {"0": "ok", "1": "diverged"}


def test_invalid_values_in_a_sweep_are_reported_before_anything_starts(tmp_path):
    result = run_cli(
        "-m", "experiment=smoke", "teacher.tau=0.9,1.5", "data.batch_size=1", f"hydra.sweep.dir={tmp_path}"
    )
    assert result.returncode == 2
    assert "teacher.tau=1.5: must be in [0, 1)   (runs #1)" in result.stderr
    assert "data.batch_size=1: must be an integer ≥ 2" in result.stderr and "(every run)" in result.stderr
    assert not summaries(tmp_path)


def test_unknown_option_lists_the_choices(tmp_path):
    result = run_cli("loss=simclr", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2  # a bad command line: nothing was started
    losses = sorted(p.stem for p in (Path(__file__).parents[1] / "raft_lightning" / "conf" / "loss").glob("*.yaml"))
    assert "Could not find 'loss/simclr'" in result.stderr and ", ".join(losses) in result.stderr  # every option
    assert len(result.stderr.strip().splitlines()) == 1


def test_linear_eval_command_line_is_composed_first(tmp_path):
    """A key linear_eval's config does not have is one line (exit 2 in main), not Hydra's error."""
    from raft_lightning.run.command_line import compose_problems

    assert compose_problems([f"run_dir={tmp_path}", "eval.epochs=5", "trust=[a.B]"], "linear_eval") == []
    (line,) = compose_problems([f"run_dir={tmp_path}", "eval.lr=-1"], "linear_eval")
    assert "eval.lr" in line and "\n" not in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["optimizer.lrr=1"], "optimizer.lrr=1: not a setting; optimizer has _target_, _partial_, lr, weight_decay"),
        (["optimizer.lr.x=1"], "optimizer.lr.x=1: not a setting; optimizer.lr is a value, not a group of settings"),
        (["-m", "seed=0,1", "lrr=1"], "lrr=1: not a setting; the config has seed, tags"),
        (["foo.bar=3"], "foo.bar=3: not a setting; the config has seed, tags"),  # the nearest group that exists
        (["hydra.run.dirr=/x"], "hydra.run.dirr=/x: not a setting; hydra.run has dir"),
        (["--cfg", "job", "foo=1"], "foo=1: not a setting; the config has seed"),  # printing composes it too
        # where adding is meaningful, how: an argument of the group's class, an entry of an open map
        (["optimizer.eps=1e-7"], "optimizer.eps=1e-7: not a setting; optimizer has _target_, _partial_, lr"),
        (["hydra.job.env_set.FOO=1"], "hydra.job.env_set.FOO=1: not a setting; hydra.job.env_set has nothing"),
    ],
)
def test_a_key_the_config_lacks_names_what_is_there(argv, expected):
    """Hydra's own message ("Could not override …, use +key") points at adding a setting that
    nothing would read; the line names the keys the group has instead."""
    from raft_lightning.run.command_line import problems

    (line,) = problems(argv)
    assert line.startswith(expected), line
    hint = "torch.optim.Adam the config does not list: +optimizer" in line or "(a new entry: +hydra" in line
    assert hint == ("optimizer has" in expected or "env_set" in expected), line  # no "+key" where nothing reads it
    assert "hydra" in expected or "hydra" not in line.split("has", 1)[-1]  # Hydra's own settings are not the run's
    sweep = problems(["-m", "seed=0,1", "optimizer.lrr=1,2"])  # swept: each job composed, the same line
    assert sweep[1].strip().startswith("optimizer.lrr=1: not a setting; optimizer has _target_"), sweep


def test_linear_eval_reads_run_dir_as_typed():
    """A sweep's run folders are named like `seed=0,variant=byol_lp`: `=` and `,` are Hydra's
    grammar, so `run_dir=` and `data_root=` are quoted before Hydra parses them, and read back
    exactly (no interpolation either), whatever the name holds."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from raft_lightning.linear_eval import quote_paths

    parser = OverridesParser.create()

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(st.sampled_from(["\\", "'", '"', "$", "{", "}", "${", "=", ",", " ", "[", "a", "é", "/"]), max_size=10)
    )
    def round_trip(parts):
        path = "/tmp/" + "".join(parts)
        (arg,) = quote_paths([f"run_dir={path}"])
        value = parser.parse_overrides([arg])[0].value()
        assert OmegaConf.create({"run_dir": value}).run_dir == path

    round_trip()
    # the folder typed, quotes included; data_root=null (its default) stays null; ++ too
    assert quote_paths(["run_dir='/a b'", "eval.epochs=3", "data_root=7", "data_root=null", "++run_dir=x,y"]) == [
        "run_dir='\\'/a b\\''",
        "eval.epochs=3",
        "data_root='7'",
        "data_root=null",
        "++run_dir='x,y'",
    ]


@pytest.mark.slow
def test_a_sweep_without_a_sweep_dir_lands_in_logs_multiruns(tmp_path):
    """The card command as a user types it: no hydra.sweep.dir, so the default
    ${paths.log_dir}/multiruns/<time>, whose ${hydra:runtime.cwd} needs HydraConfig while the
    sweeper starts (the command-line check before Hydra leaves it unset: every such sweep once
    failed with "HydraConfig was not set" before its first run, while the tests all named a dir)."""
    result = run_cli("-m", "experiment=smoke", "logger=none", "seed=0,1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    sweeps = list((tmp_path / "logs" / "multiruns").iterdir())
    assert len(sweeps) == 1
    assert sorted(p.parent.name for p in sweeps[0].rglob("summary.json")) == ["0", "1"]
    assert f"raft-report {sweeps[0]}" in result.stdout + result.stderr


def test_two_modes_at_once_are_one_line_not_hydras_traceback():
    from raft_lightning.run.command_line import problems

    (line,) = problems(["-m", "--cfg", "job", "experiment=smoke"])
    assert line.startswith("-m and --cfg: one of them at a time")
    assert problems(["--cfg", "job", "experiment=smoke"]) == []  # one mode: Hydra prints the config


def test_a_sweep_sent_to_a_slurm_that_does_not_answer_is_one_line(monkeypatch):
    import subprocess

    from raft_lightning.run import command_line

    argv = ["-m", "experiment=smoke", "launcher=slurm_local", "seed=0"]
    monkeypatch.setattr(command_line.shutil, "which", lambda name: None)
    (line,) = command_line.scheduler_errors(argv)
    assert line.startswith("launcher=slurm_local: no SLURM here (sbatch not found)")
    monkeypatch.setattr(command_line.shutil, "which", lambda name: f"/usr/bin/{name}")
    down = subprocess.CompletedProcess(["scontrol", "ping"], 1, "Slurmctld(primary) at vm is DOWN\n", "")
    monkeypatch.setattr(command_line.subprocess, "run", lambda *a, **k: down)
    (line,) = command_line.scheduler_errors(argv)
    assert "the SLURM controller does not answer (scontrol ping: Slurmctld(primary) at vm is DOWN)" in line
    up = subprocess.CompletedProcess(["scontrol", "ping"], 0, "Slurmctld(primary) at vm is UP\n", "")
    monkeypatch.setattr(command_line.subprocess, "run", lambda *a, **k: up)
    assert command_line.scheduler_errors(argv) == []
    assert command_line.scheduler_errors(argv[1:]) == []  # a single run does not use the launcher


def test_a_glob_over_a_group_sweeps_its_matching_options(tmp_path):
    """`variant=glob(byol_p*)` is Hydra's way to sweep a group's options by pattern: its runs are
    listed (the check before Hydra once refused it, "ConfigLoader is not set"), and the report reads
    the sweep's multirun.yaml back to the same count."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from raft_lightning.readers import expected_runs, sweep_jobs
    from raft_lightning.run.command_line import problems
    from raft_lightning.run.resolvers import register_resolvers

    register_resolvers()  # as raft-train's entry point does before checking
    variants = sorted(p.stem for p in (ROOT / "raft_lightning" / "conf" / "variant").glob("byol_p*.yaml"))
    assert len(variants) > 1
    assert problems(["-m", "experiment=smoke", "variant=glob(byol_p*)", f"hydra.sweep.dir={tmp_path}"]) == []
    (line,) = problems(["-m", "experiment=smoke", "variant=glob(nothing_*)", f"hydra.sweep.dir={tmp_path}"])
    assert line.startswith("variant=glob(nothing_*): matches no option")  # Hydra would start nothing, say nothing
    overrides = ["experiment=smoke", "variant=glob(byol_p*)", "seed=0,1"]
    with initialize_config_module("raft_lightning.conf", version_base="1.3"):
        cfg = compose("train", overrides=overrides[:1], return_hydra_config=True)  # the fixed part
    jobs = sweep_jobs(cfg, overrides)
    assert sorted({o for job in jobs for o in job if o.startswith("variant=")}) == [f"variant={v}" for v in variants]
    assert len(jobs) == 2 * len(variants)
    record = OmegaConf.to_container(cfg)  # what Hydra's multirun.yaml records: the task, the config sources
    record["hydra"]["overrides"]["task"] = overrides
    record["hydra"]["runtime"]["config_sources"] = [{"path": "raft_lightning.conf", "schema": "pkg", "provider": "x"}]
    OmegaConf.save(OmegaConf.create(record), tmp_path / "multirun.yaml")
    assert expected_runs(tmp_path) == 2 * len(variants)


def test_a_tag_w_and_b_would_refuse_is_one_line_before_anything_starts(tmp_path):
    """W&B takes tags of 1 to 64 characters and says so with a pydantic error once the run has
    started; without a W&B logger any tag is a label of summary.json."""
    from raft_lightning.run.command_line import problems
    from raft_lightning.run.resolvers import register_resolvers

    register_resolvers()
    run = ["experiment=smoke", f"hydra.run.dir={tmp_path}"]
    (line,) = problems([*run, "logger=[csv,wandb]", f"tags=[ok,{'x' * 65}]"])
    assert line.startswith("tags=[xxxx") and "1 to 64 characters; this one has 65" in line
    assert problems([*run, "logger=wandb", f"tags=[{'x' * 64}]"]) == []
    assert problems([*run, "logger=csv", f"tags=[{'x' * 65}]"]) == []


@pytest.mark.parametrize(
    "overrides, message",
    [  # issue 20, finding 9: each of these was a raw traceback (or, for width, a failure at build)
        (["loss=null"], "loss=null: a run needs a loss; choose one of"),
        (["~loss"], "~loss: a run needs a loss; choose one of"),
        (["seed=${seed}"], "seed=${seed}: cannot be resolved (Recursive interpolation"),
        (["model=resnet18_cifar", "+model.backbone.width=8"], "model.backbone.width=8: not a setting of the resnet18"),
        (["FOLDER"], "a folder name of 300 bytes; at most 255"),
    ],
)
def test_what_was_a_traceback_is_one_line_before_anything_starts(tmp_path, overrides, message):
    run = tmp_path / "run"
    overrides = [f"hydra.run.dir={tmp_path / ('a' * 300)}" if o == "FOLDER" else o for o in overrides]
    result = run_cli("experiment=smoke", "data=synthetic", "logger=none", f"hydra.run.dir={run}", *overrides)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("raft-train: ") and message in line, line
    assert list(tmp_path.iterdir()) == []  # nothing was made, nothing started


def test_a_rerun_asking_for_fewer_epochs_than_trained_is_refused_and_the_record_kept(tmp_path):
    """Issue 20, finding 7: a resume with a smaller trainer.max_epochs rewrote the record's
    max_epochs (the report then filed the run as a shorter one)."""
    run = tmp_path / "run"
    args = ["experiment=smoke", "data=synthetic", "logger=none", f"hydra.run.dir={run}"]
    assert run_cli(*args, "trainer.max_epochs=2").returncode == 0
    record = (run / "summary.json").read_bytes()
    result = run_cli(*args, "trainer.max_epochs=1")
    assert result.returncode == 1
    assert "trainer.max_epochs=1: the run in" in result.stdout and "has trained 2 epochs already" in result.stdout
    assert (run / "summary.json").read_bytes() == record and json.loads(record)["max_epochs"] == 2


def test_a_sweep_whose_runs_are_all_refused_leaves_the_folders_multirun_yaml(tmp_path):
    """The folder's multirun.yaml says what its runs are (the report counts them from it): a sweep
    of other runs into the same folder, each refused, does not replace it."""
    first = run_cli("-m", "experiment=smoke", "trainer.max_epochs=1", f"hydra.sweep.dir={tmp_path}")
    assert first.returncode == 0, first.stderr[-3000:]
    before = (tmp_path / "multirun.yaml").read_bytes()
    other = run_cli("-m", "experiment=smoke", "trainer.max_epochs=1", "loss=raft", f"hydra.sweep.dir={tmp_path}")
    assert other.returncode == 1 and "refused" in other.stderr, other.stderr[-3000:]
    assert (tmp_path / "multirun.yaml").read_bytes() == before
    assert summaries(tmp_path)["0"]["objective"] == "byol"


@pytest.mark.parametrize("name", ["seed=0,variant=byol_lp", "x${y", "'quoted'"])
def test_linear_eval_takes_a_sweeps_run_folder_by_its_name(tmp_path, name):
    """The command as a user types it on a sweep's run folder (or one named with an unclosed
    ${, or quotes): the folder is read (here its damaged record is named, exit 1), not refused
    as a bad command line (exit 2) nor read again by Hydra as grammar (a traceback)."""
    run = tmp_path / name
    run.mkdir()
    (run / "config.yaml").write_text("not: [a run\n")
    (run / "summary.json").write_text("{}")
    result = subprocess.run(
        [sys.executable, "-m", "raft_lightning.linear_eval", f"run_dir={run}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"raft-linear-eval: run_dir={run}: ") and "mismatched input" not in line
