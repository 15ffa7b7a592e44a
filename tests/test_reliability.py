"""Nothing lost on a cluster: atomic checkpoints and their fallback, signals outside training,
guarded run folders. Each test breaks one thing the way a cluster does."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from raft_lightning.lock import FolderLock as RunLock
from raft_lightning.run import checkpoints
from raft_lightning.run.checkpoints import AtomicCheckpointIO, NoReadableCheckpoint, previous_of, resumable
from raft_lightning.run.guard import config_changes
from raft_lightning.run.record import RunRecord
from raft_lightning.run.train import train
from tests.conftest import ROOT, compose_run

SMOKE = ("experiment=smoke", "logger=none", "data.train_size=64", "data.val_size=32", "data.batch_size=16")


def run(tmp_path: Path, *overrides: str, name: str = "run") -> dict:
    return train(compose_run(*SMOKE, *overrides, run_dir=tmp_path / name))


# --- checkpoints ---------------------------------------------------------------------------------


def test_a_save_killed_midway_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    good = path.read_bytes()

    def dies_midway(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")  # a full disk; a kill stops at the same point

    monkeypatch.setattr(checkpoints.torch, "save", dies_midway)
    with pytest.raises(checkpoints.CheckpointNotSaved, match="no space left on the device; .* intact"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, path)
    assert path.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_a_checkpoint_names_no_folder_and_loads_with_the_one_it_is_in(tmp_path):
    """ModelCheckpoint's state holds its dirpath: saved as <run_dir>/…, loaded as the folder's
    path now (a copy of the folder resumes as itself; nothing pins where it was made)."""
    made, copy = tmp_path / "made", tmp_path / "copy"
    state = {"dirpath": str(made / "checkpoints"), "best_model_path": str(made / "checkpoints" / "last.ckpt")}
    checkpoint = {"state_dict": {"w": torch.zeros(2)}, "callbacks": {"ModelCheckpoint{}": state}}
    AtomicCheckpointIO().save_checkpoint(checkpoint, made / "checkpoints" / "last.ckpt")
    assert str(made).encode() not in (made / "checkpoints" / "last.ckpt").read_bytes()
    (copy / "checkpoints").mkdir(parents=True)
    (copy / "checkpoints" / "last.ckpt").write_bytes((made / "checkpoints" / "last.ckpt").read_bytes())
    loaded = AtomicCheckpointIO().load_checkpoint(copy / "checkpoints" / "last.ckpt")["callbacks"]["ModelCheckpoint{}"]
    assert loaded == {"dirpath": str(copy / "checkpoints"), "best_model_path": str(copy / "checkpoints" / "last.ckpt")}


def test_each_save_keeps_the_one_before(tmp_path):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    for value in (1.0, 2.0):
        io.save_checkpoint({"state_dict": {"w": torch.full((2,), value)}}, path)
    assert torch.load(path)["state_dict"]["w"][0] == 2 and torch.load(previous_of(path))["state_dict"]["w"][0] == 1


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_no_checkpoint_of_weights_that_are_not_finite_is_written_and_none_is_read(tmp_path, value):
    """Every save of a run goes through AtomicCheckpointIO: weights that diverged are refused
    there (the run is recorded diverged), and a checkpoint holding them (an older version's, or
    planted) is damaged to every reader, so a resume falls back to the one before."""
    from raft_lightning.contracts import DivergedError
    from raft_lightning.readers import DamagedFile, read_checkpoint

    io, path = AtomicCheckpointIO(), tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}, "epoch": 0, "global_step": 4}, path)
    bad = {"state_dict": {"w": torch.tensor([1.0, value]), "n": torch.tensor(3)}, "epoch": 1, "global_step": 8}
    # the last step that ran, and the steps since the state was last seen finite (the save after 4)
    where = r"at step 7, in epoch 2 \(first seen there, by the checkpoint writer: .* any step from 4, "
    with pytest.raises(DivergedError, match=where + r".*\): 1 tensor\(s\), w; no") as caught:
        io.save_checkpoint(bad, path)
    assert caught.value.step is None  # no step of steps.csv is the diverged one: the monitors add no row
    assert torch.load(path)["state_dict"]["w"].tolist() == [1.0, 1.0] and not previous_of(path).exists()
    torch.save(bad, path.with_name("planted.ckpt"))
    with pytest.raises(DamagedFile, match="planted.ckpt: weights not finite: 1 tensor"):
        read_checkpoint(path.with_name("planted.ckpt"))
    os.replace(path, previous_of(path))
    os.replace(path.with_name("planted.ckpt"), path)
    assert resumable(path) == previous_of(path)


def _state(**parts):
    return {"state_dict": {"w": torch.ones(2), "n": torch.tensor(3)}, "epoch": 0, "global_step": 4, **parts}


TRAINED_STATE = {
    # where a run keeps trained state besides its weights: each part refused when not finite
    "optimizer": lambda v: _state(optimizer_states=[{"state": {0: {"exp_avg": torch.tensor([1.0, v])}}}]),
    "online probe": lambda v: _state(callbacks={"OnlineProbe": {"classifier": {"weight": torch.tensor([v])}}}),
    "probe loss": lambda v: _state(callbacks={"OnlineProbe": {"loss_mean": {"mean_value": torch.tensor(v)}}}),
    # a plain number a resume restores: the optimiser's learning rate
    "optimizer's lr": lambda v: _state(optimizer_states=[{"state": {}, "param_groups": [{"lr": v, "params": [0]}]}]),
    "probe's lr": lambda v: _state(callbacks={"OnlineProbe": {"optimizer": {"param_groups": [{"lr": v}]}}}),
    # an int a resume would turn into an infinite float (it failed the run mid-training)
    "optimizer's int lr": lambda v: _state(optimizer_states=[{"state": {}, "param_groups": [{"lr": 10**400}]}]),
}


def test_a_run_stopped_before_its_first_step_is_failed_not_ok(tmp_path):
    """A limit validation cannot judge (a time of 0) ends fit before any batch: no result, so not ok."""
    summary = run(tmp_path, "+trainer.max_time=00:00:00:00")
    assert summary["status"] == "failed" and summary["epochs"] == 0, summary
    assert summary["error"].startswith("NothingTrained: training stopped before its first optimiser step")


@pytest.mark.parametrize("part", sorted(TRAINED_STATE))
def test_trained_state_besides_the_weights_is_checked_too(tmp_path, part):
    """A probe or an optimiser whose state diverged is the run's divergence (recorded so, no
    checkpoint), and a checkpoint holding it is damaged; Lightning's own bookkeeping is not
    trained state (a ModelCheckpoint that monitors nothing keeps kth_value = inf)."""
    from raft_lightning.contracts import DivergedError
    from raft_lightning.readers import DamagedFile, read_checkpoint

    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    bookkeeping = {"ModelCheckpoint{'monitor': None}": {"kth_value": torch.tensor(math.inf)}}
    io.save_checkpoint(_state(callbacks=bookkeeping), path)
    assert read_checkpoint(path)["callbacks"] == bookkeeping
    with pytest.raises(DivergedError, match="weights not finite at step 3"):
        io.save_checkpoint(TRAINED_STATE[part](math.nan), path)
    torch.save(TRAINED_STATE[part](math.inf), path)
    with pytest.raises(DamagedFile, match="weights not finite: 1 tensor"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    ("planted", "problem"),
    [
        (lambda w: w.to_sparse(), "not dense CPU data"),
        (lambda w: w.to("meta"), "not dense CPU data"),
        (lambda w: torch.nested.nested_tensor([w, w[:1]]), "not dense CPU data"),
        (lambda w: w.to(torch.complex64), "complex tensors"),
        (lambda w: w.double() * 1e300, "beyond float32's range (infinite once in a float32 network): 1 tensor(s), w"),
    ],
)
def test_a_tensor_training_never_writes_is_a_damaged_checkpoint(tmp_path, planted, problem):
    """Sparse, nested, meta or complex tensors would crash the finiteness check (or be cast
    silently), and a float64 value beyond float32 turns infinite in a float32 network: each is
    damage, named. Float64 weights (trainer.precision=64-true) beside float32 metric states are not."""
    from raft_lightning.readers import DamagedFile, read_checkpoint

    state = {"state_dict": {"w": planted(torch.ones(2)), "v": torch.ones(2), "u": torch.ones(1)}}
    torch.save(state, tmp_path / "last.ckpt")
    with pytest.raises(DamagedFile, match=re.escape(problem)):
        read_checkpoint(tmp_path / "last.ckpt")
    torch.save({"state_dict": {"w": torch.ones(2, dtype=torch.float64) * 1e30, "m": torch.ones(1)}}, tmp_path / "f64")
    read_checkpoint(tmp_path / "f64")


def test_a_kill_leaves_no_temp_file_behind_after_the_rerun(tmp_path):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, path)
    (tmp_path / f"last.ckpt.{os.getpid() + 1}.tmp").write_bytes(b"partial")  # what a kill mid-write leaves
    assert resumable(path) == path and not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 garbage", None])
def test_a_damaged_last_checkpoint_resumes_from_the_previous_one(tmp_path, damage):
    # A finished run drops last.prev.ckpt unless asked to keep it (record.keep_previous).
    first = run(tmp_path, "trainer.max_epochs=2", "record.keep_previous=true")
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert first["status"] == "ok" and previous_of(last).is_file()
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2] if damage is None else damage)  # truncated, garbage, empty
    longer = run(tmp_path, "trainer.max_epochs=3")
    assert longer["status"] == "ok" and longer["resumed_from"] == "checkpoints/last.prev.ckpt", longer["error"]
    assert longer["epochs"] == 3 and (last.parent / "last.ckpt.damaged").is_file()


def test_evaluation_and_export_of_a_damaged_last_checkpoint_take_the_one_before_and_say_so(tmp_path, caplog):
    """last.ckpt with weights that are not finite: the evaluation takes last.prev.ckpt (the log
    says "evaluating", not "resuming") and the record then names that file, not the one set
    aside; the export, which moves nothing, takes it too, with the epochs it holds (red team 36)."""
    import logging

    from raft_lightning.export.run import export_record
    from raft_lightning.linear_eval import evaluate_run

    assert run(tmp_path, "trainer.max_epochs=2", "record.keep_previous=true")["status"] == "ok"
    folder = tmp_path / "run"
    last = folder / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True)
    next(v for v in state["state_dict"].values() if v.is_floating_point()).view(-1)[0] = math.nan
    torch.save(state, last)
    with caplog.at_level(logging.WARNING):
        exported = export_record(folder)
    assert exported["epochs"] == 1 and "weights not finite" in caplog.text and "exporting last.prev.ckpt" in caplog.text
    assert set(exported["results"].values()) == {None}  # the summary's measures are last.ckpt's weights
    assert last.is_file()  # an export only reads
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        summary = evaluate_run(folder, OmegaConf.load(folder / "config.yaml").eval)
    assert "evaluating" in caplog.text and "resuming" not in caplog.text
    assert summary["checkpoint"] == "checkpoints/last.prev.ckpt" and (folder / summary["checkpoint"]).is_file()
    assert export_record(folder)["epochs"] == 1 and "set aside as last.ckpt.damaged" in caplog.text


def test_no_readable_checkpoint_is_one_message_not_the_same_crash_forever(tmp_path):
    run(tmp_path, "trainer.max_epochs=2")
    folder = tmp_path / "run" / "checkpoints"
    for name in ("last.ckpt", "last.prev.ckpt"):
        (folder / name).write_bytes(b"\x00" * 100)
    with pytest.raises(NoReadableCheckpoint, match="no readable checkpoint: .*last.ckpt.*last.prev.ckpt.*resume=false"):
        resumable(folder / "last.ckpt")
    before = (tmp_path / "run" / "summary.json").read_bytes()
    from raft_lightning.linear_eval import evaluate_run

    with pytest.raises(NoReadableCheckpoint) as evaluating:  # the way out is not a resume's
        evaluate_run(tmp_path / "run", OmegaConf.load(tmp_path / "run" / "config.yaml").eval)
    assert "last.prev.ckpt" in str(evaluating.value) and "resume=false" not in str(evaluating.value)
    assert str(evaluating.value).endswith("Nothing to evaluate: restore a checkpoint, or train the run again")
    refused = run(tmp_path, "trainer.max_epochs=3")  # refused: the finished record is kept, not failed over
    assert refused["status"] == "refused" and "resume=false" in refused["error"]
    assert (tmp_path / "run" / "summary.json").read_bytes() == before
    over = run(tmp_path, "trainer.max_epochs=3", "resume=false")
    assert over["status"] == "ok" and over["epochs"] == 3


@pytest.mark.parametrize(
    "kind, says", [("folder", "a folder"), ("link", "a broken link"), ("fifo", "not a regular file")]
)
def test_a_checkpoint_that_is_not_a_file_is_damaged_not_absent(tmp_path, kind, says):
    # Absent, the run would have started over without a word; a folder there made the first save
    # of a longer run fail with IsADirectoryError after an epoch.
    run(tmp_path, "trainer.max_epochs=2")
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    before = (tmp_path / "run" / "summary.json").read_bytes()
    last.unlink()
    {"folder": last.mkdir, "link": lambda: last.symlink_to(last.parent / "gone.ckpt"), "fifo": lambda: os.mkfifo(last)}[
        kind
    ]()
    refused = run(tmp_path, "trainer.max_epochs=3")
    assert refused["status"] == "refused" and f"last.ckpt ({says})" in refused["error"], refused["error"]
    assert (tmp_path / "run" / "summary.json").read_bytes() == before
    over = run(tmp_path, "trainer.max_epochs=3", "resume=false")  # starting over puts it aside
    assert over["status"] == "ok" and over["epochs"] == 3 and os.path.lexists(last.parent / "last.ckpt.damaged")


def test_a_finished_run_keeps_its_record_when_its_checkpoint_is_damaged_later(tmp_path):
    # Its summary is the result: a rerun of the same config skips it, as when checkpoints/ is gone,
    # instead of recording a failed attempt over the finished one.
    first = run(tmp_path, "trainer.max_epochs=2")
    summary = tmp_path / "run" / "summary.json"
    before = summary.read_bytes()
    (tmp_path / "run" / "checkpoints" / "last.ckpt").write_bytes(b"\x00" * 100)
    again = run(tmp_path, "trainer.max_epochs=2")
    assert first["status"] == "ok" and again == first
    assert summary.read_bytes() == before


# --- signals -------------------------------------------------------------------------------------


class SignalDuring:
    """Sends ``signum`` to this process when ``target`` (a dotted function) is first called."""

    def __init__(self, monkeypatch, where, name: str, signum: int) -> None:
        original = getattr(where, name)

        @functools.wraps(original)  # its signature too: validation reads a target's parameters
        def wrapped(*args, **kwargs):
            os.kill(os.getpid(), signum)
            return original(*args, **kwargs)

        monkeypatch.setattr(where, name, wrapped)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1])
def test_a_signal_during_the_linear_evaluation_interrupts_and_the_rerun_evaluates(tmp_path, monkeypatch, signum):
    from raft_lightning.run import train as recipe

    SignalDuring(monkeypatch, recipe, "evaluate", signum)
    stopped = run(tmp_path, "trainer.max_epochs=1", "eval.linear=true", "eval.epochs=2")
    assert stopped["status"] == "interrupted" and stopped["signal"] == signal.Signals(signum).name
    assert stopped["linear_acc"] is None and stopped["epochs"] == 1
    monkeypatch.undo()
    again = run(tmp_path, "trainer.max_epochs=1", "eval.linear=true", "eval.epochs=2")
    assert again["status"] == "ok" and again["linear_acc"] is not None  # not skipped as "already finished"


def test_a_signal_at_start_up_interrupts_before_anything_trains(tmp_path, monkeypatch):
    from raft_lightning.run import train as recipe

    SignalDuring(monkeypatch, recipe, "build", signal.SIGTERM)
    before = signal.getsignal(signal.SIGTERM)
    stopped = run(tmp_path)
    assert stopped["status"] == "interrupted" and stopped["signal"] == "SIGTERM" and stopped["epochs"] == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "interrupted"
    assert signal.getsignal(signal.SIGTERM) is before  # handed back as it was


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_inside_a_target_being_built_interrupts_not_fails(tmp_path, monkeypatch, signum):
    """Hydra's instantiate wraps whatever its target raises (InstantiationException): a signal
    that lands while the data module is built is still the signal, not a failed run."""
    from raft_lightning.data import SyntheticDataModule

    SignalDuring(monkeypatch, SyntheticDataModule, "__init__", signum)
    stopped = run(tmp_path)
    assert stopped["status"] == "interrupted" and stopped["signal"] == signal.Signals(signum).name
    assert not (tmp_path / "run" / "traceback.txt").exists()


def test_a_signal_during_the_baselines_validation_interrupts(tmp_path, monkeypatch):
    from raft_lightning.evaluation import knn

    SignalDuring(monkeypatch, knn, "knn_accuracy", signal.SIGTERM)
    monkeypatch.setattr("raft_lightning.callbacks.knn.knn_accuracy", knn.knn_accuracy)
    stopped = run(tmp_path, "loss=random")
    assert stopped["status"] == "interrupted" and stopped["signal"] == "SIGTERM"


@pytest.mark.parametrize(
    "hook, swallow",
    [("on_train_end", False), ("on_fit_end", True)],
    ids=["after-trainings-last-check", "swallowed-where-it-landed"],
)
def test_a_signal_nothing_acted_on_still_stops_the_sweep_after_the_run_is_recorded(tmp_path, hook, swallow):
    """A SIGTERM after the last batch's check (only recorded: training then ends normally), or
    one whose exception code swallows: the run finishes and is recorded ok, and the signal still
    does what it does, so the sweep stops there (it once went on and exited 0)."""
    marker = tmp_path / "fired"
    inject = ["+callbacks.sig._target_=tests.helpers.SignalOnHook", f"+callbacks.sig.hook={hook}"]
    inject += [f"+callbacks.sig.marker={marker}", f"+callbacks.sig.swallow={str(swallow).lower()}"]
    sweep = ["-m", *SMOKE, "trainer.max_epochs=1", "seed=0,1", *inject, f"hydra.sweep.dir={tmp_path / 's'}"]
    done = subprocess.run(
        [sys.executable, "-m", "raft_lightning.train", *sweep], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert marker.exists() and done.returncode == -signal.SIGTERM, done.stderr[-3000:]
    assert json.loads((tmp_path / "s" / "0" / "summary.json").read_text())["status"] == "ok"
    assert not (tmp_path / "s" / "1").exists()  # the sweep stopped after the recorded run
    again = subprocess.run(
        [sys.executable, "-m", "raft_lightning.train", *sweep], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0 and json.loads((tmp_path / "s" / "1" / "summary.json").read_text())["status"] == "ok"


def run_until_step_3(tmp_path, *overrides: str) -> subprocess.Popen:
    """A CLI run in its own session (as a shell's job, or a SLURM step), returned once it waits at
    step 3 for a signal from outside. SIGINT at its default: a test run started in the background
    (`cmd &`, nohup) inherits it ignored, and Python keeps it ignored."""
    marker = tmp_path / "marker"
    command = [
        *(sys.executable, "-m", "raft_lightning.train", *SMOKE, *overrides, "trainer.max_epochs=50"),
        f"hydra.run.dir={tmp_path / 'run'}",
        "+callbacks.kill._target_=tests.helpers.SignalAt",
        "+callbacks.kill.step=3",
        f"+callbacks.kill.marker={marker}",
        "+callbacks.kill.external=true",
    ]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.05)
    return proc


@pytest.mark.slow
def test_ctrl_c_in_a_shell_run_ends_interrupted_not_running(tmp_path):
    proc = run_until_step_3(tmp_path)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == -signal.SIGINT and "Traceback" not in out, out[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGINT"


@pytest.mark.slow
def test_a_signal_to_the_whole_job_step_with_dataloader_workers_ends_interrupted(tmp_path):
    """scancel and SLURM's preemption signal every process of the step, the DataLoader's workers
    too: the run must still checkpoint and end interrupted, not fail on a killed worker."""
    proc = run_until_step_3(tmp_path, "data.num_workers=1")
    os.killpg(proc.pid, signal.SIGTERM)  # the run and its worker, as slurmstepd signals a step
    out = proc.communicate(timeout=120)[0]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM", out[-3000:]


# --- run folders ---------------------------------------------------------------------------------


def test_a_changed_config_is_refused_with_the_keys_and_the_record_stays(tmp_path):
    first = run(tmp_path, "loss=byol", "trainer.max_epochs=1")
    refused = run(tmp_path, "loss=byol_prime", "loss.beta=2", "trainer.max_epochs=1")
    assert refused["status"] == "refused"
    assert "loss._target_: raft_lightning.objectives.BYOL → raft_lightning.objectives.BYOLPrime" in refused["error"]
    assert "loss.beta: 1.0 → 2" in refused["error"] and "resume=false" in refused["error"]
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == first
    overrides = (tmp_path / "run" / ".hydra" / "overrides.yaml").read_text().splitlines()
    assert "- loss=byol" in overrides and "- loss=byol_prime" not in overrides  # Hydra's record not rewritten
    seed = run(tmp_path, "loss=byol", "seed=1", "trainer.max_epochs=1")
    assert seed["status"] == "refused" and "seed: 0 → 1" in seed["error"]
    longer = run(tmp_path, "loss=byol", "trainer.max_epochs=2")  # continuing longer is what resume is for
    assert longer["status"] == "ok" and longer["epochs"] == 2
    over = run(tmp_path, "loss=byol_prime", "trainer.max_epochs=1", "resume=false")
    assert over["status"] == "ok" and over["objective"] == "byol_prime"


def test_a_hydra_folder_planted_as_a_link_is_set_aside_not_written_through(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.yaml").write_text("precious\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".hydra").symlink_to(elsewhere, target_is_directory=True)
    assert run(tmp_path, "trainer.max_epochs=1")["status"] == "ok"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["config.yaml"]
    assert (elsewhere / "config.yaml").read_text() == "precious\n"
    hydra = tmp_path / "run" / ".hydra"
    assert hydra.is_dir() and not hydra.is_symlink() and (hydra / "overrides.yaml").is_file()
    assert (tmp_path / "run" / ".hydra.damaged").is_symlink()  # kept for a person to look at


def test_a_folder_with_only_its_record_is_finished_for_its_own_setting_only(tmp_path):
    """config.yaml and checkpoints/ deleted (say, to save space): summary.json still says what
    run the folder holds, so another config is refused, not told "already finished" (red team X1)."""
    folder = tmp_path / "run"
    cfg = compose_run(*SMOKE, "loss=byol", "trainer.max_epochs=1", run_dir=folder)
    record = RunRecord.from_config(cfg, dict(HydraConfig.get().runtime.choices))
    record.status, record.epochs, record.results["linear_acc"] = "ok", 1, 0.5
    folder.mkdir()
    record.save(folder)  # what a finished run leaves, less config.yaml and checkpoints/
    kept = (folder / "summary.json").read_text()
    for other, change in [("loss=raft", "objective: byol → raft"), ("seed=1", "seed: 0 → 1"),
                          ("optimizer.lr=0.5", "lr: ")]:  # fmt: skip
        refused = run(tmp_path, "loss=byol", "trainer.max_epochs=1", other)
        assert refused["status"] == "refused" and change in refused["error"], refused
        assert "summary.json records it" in refused["error"] and (folder / "summary.json").read_text() == kept
    assert run(tmp_path, "loss=byol", "trainer.max_epochs=1")["status"] == "ok"  # its own: finished, not trained
    assert (folder / "summary.json").read_text() == kept and not (folder / "checkpoints").exists()
    longer = run(tmp_path, "loss=byol", "trainer.max_epochs=2")  # nothing to continue: refused, not started over
    assert longer["status"] == "refused" and "there is none to continue from" in longer["error"], longer
    assert (folder / "summary.json").read_text() == kept and not (folder / "checkpoints").exists()
    assert run(tmp_path, "loss=byol", "trainer.max_epochs=2", "resume=false")["epochs"] == 2


def test_an_interrupted_run_whose_checkpoint_is_gone_is_refused_not_started_over(tmp_path):
    """Stopped by a signal in its first epoch (a checkpoint saved, no epoch finished), then
    checkpoints/ deleted: the rerun started over without a word and replaced the record (red team)."""
    folder = tmp_path / "run"
    cfg = compose_run(*SMOKE, "trainer.max_epochs=2", run_dir=folder)
    record = RunRecord.from_config(cfg, dict(HydraConfig.get().runtime.choices))
    record.status, record.epochs, record.checkpoint = "interrupted", 0, "checkpoints/last.ckpt"
    folder.mkdir()
    record.save(folder)
    kept = (folder / "summary.json").read_text()
    again = run(tmp_path, "trainer.max_epochs=2")
    assert again["status"] == "refused" and "resume=false" in again["error"], again
    assert (folder / "summary.json").read_text() == kept


def test_keys_a_continued_run_may_change_are_not_differences():
    old = {"trainer": {"max_epochs": 1, "devices": 1}, "eval": {"linear": False}, "paths": {"root_dir": "/a"}}
    new = {"trainer": {"max_epochs": 9, "devices": 1}, "eval": {"linear": True}, "paths": {"root_dir": "/b"}}
    assert config_changes(old, new) == []
    assert config_changes(old, {**new, "trainer": {"max_epochs": 9, "devices": 2}}) == ["trainer.devices: 1 → 2"]


def test_a_second_process_in_a_live_run_folder_is_refused(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "from raft_lightning.lock import FolderLock as RunLock; from pathlib import Path\n"
         "import time\n"
         f"with RunLock(Path({str(folder)!r})):\n    print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        refused = run(tmp_path)
        assert refused["status"] == "refused" and f"is in use by pid {holder.pid}" in refused["error"]
        assert not (folder / "summary.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert run(tmp_path)["status"] == "ok"  # a dead holder leaves nothing stuck
    with RunLock(folder):
        pass


@pytest.mark.parametrize("ending", ["ok", "diverged"])
def test_a_signal_that_comes_as_a_run_ends_by_itself_is_in_its_record(tmp_path, ending):
    """SIGTERM while a run's weights are already not finite (the signal's checkpoint is refused,
    the run is recorded diverged), or after training's last check (recorded ok): the signal is
    handed on after (exit 128 + n), and the record says which came, so the two agree (red team 36)."""
    from raft_lightning.callbacks.preemption import note_received, take_received
    from raft_lightning.contracts import DivergedError

    folder = tmp_path / "run"
    folder.mkdir()
    cfg = compose_run(*SMOKE, "trainer.max_epochs=1", run_dir=folder)
    record = RunRecord.from_config(cfg, dict(HydraConfig.get().runtime.choices))
    with record.attempt(folder, cfg):
        note_received(signal.SIGTERM)  # what Preemption's handler does when the signal lands
        if ending == "diverged":
            raise DivergedError("weights not finite at step 3")
    saved = json.loads((folder / "summary.json").read_text())
    assert saved["status"] == ending and saved["signal"] == "SIGTERM"
    came = "weights not finite at step 3; SIGTERM came too (handed on once recorded)"
    assert ending == "ok" or saved["error"] == came
    assert take_received() == signal.SIGTERM  # still there for train's hand_back


def test_a_bf16_mixed_run_on_cpu_finishes_and_resumes(tmp_path):
    """trainer.precision=bf16-mixed without a GPU: a researcher's laptop. Every such run failed in
    its first step (pdist has no bfloat16 kernel on CPU) until the uniformity measure computed in
    float32."""
    first = run(tmp_path, "trainer.precision=bf16-mixed", "trainer.max_epochs=1")
    assert first["status"] == "ok", first["error"]
    longer = run(tmp_path, "trainer.precision=bf16-mixed", "trainer.max_epochs=2")
    assert longer["status"] == "ok" and longer["resumed_from"] == "checkpoints/last.ckpt", longer["error"]


def test_a_float64_run_resumes(tmp_path):
    """trainer.precision=64-true: float64 weights beside the float32 states of the epoch means
    are what training writes, not damage (a one-float-type rule refused every such checkpoint)."""
    assert run(tmp_path, "trainer.precision=64-true", "trainer.max_epochs=1")["status"] == "ok"
    longer = run(tmp_path, "trainer.precision=64-true", "trainer.max_epochs=2")
    assert longer["status"] == "ok" and longer["resumed_from"] == "checkpoints/last.ckpt", longer["error"]
