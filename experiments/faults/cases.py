"""Faults a cluster and its users cause, each followed by what a user does next (run the same
command again). Survived means: nothing written before the fault is lost, the rerun ends ``ok``
(or the refusal says why in one message), and no summary says ``running`` once its process is gone.

Each case takes a fresh folder and returns ``(expected, observed, survived)``.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from experiments.faults.harness import SMOKE, inject, kill, run, signal_name, start, steps_of, summary, wait_for

Case = Callable[[Path], tuple[str, str, bool]]
EPOCHS = ("trainer.max_epochs=2",)


def _damage(how: str) -> Case:
    def case(d: Path) -> tuple[str, str, bool]:
        # record.keep_previous: a finished run otherwise drops last.prev.ckpt, the copy this case needs
        first = run(*SMOKE, *EPOCHS, "record.keep_previous=true", f"hydra.run.dir={d}")
        last = d / "checkpoints" / "last.ckpt"
        data = last.read_bytes()
        last.write_bytes(
            {"truncated": data[: len(data) // 3], "random bytes": bytes(range(256)) * 40, "empty": b""}[how]
        )
        again = run(*SMOKE, "trainer.max_epochs=3", f"hydra.run.dir={d}")
        s = summary(d)
        ok = first.returncode == 0 and again.returncode == 0 and s["status"] == "ok" and s["epochs"] == 3
        return (
            "resumes from last.prev.ckpt",
            f"{s['status']}, resumed from {s['resumed_from']}, {s['epochs']} epochs",
            ok,
        )

    return case


def both_damaged(d: Path) -> tuple[str, str, bool]:
    run(*SMOKE, *EPOCHS, f"hydra.run.dir={d}")
    for name in ("last.ckpt", "last.prev.ckpt"):
        (d / "checkpoints" / name).write_bytes(b"\0" * 64)
    before = summary(d)
    again = run(*SMOKE, "trainer.max_epochs=3", f"hydra.run.dir={d}")
    message = next((line for line in again.stdout.splitlines() if "no readable checkpoint" in line), "")
    kept = summary(d) == before  # refused: the finished record is not failed over
    over = run(*SMOKE, "trainer.max_epochs=3", "resume=false", f"hydra.run.dir={d}")
    ok = again.returncode == 1 and kept and "resume=false" in message
    ok = ok and over.returncode == 0 and summary(d)["status"] == "ok"
    return "refused in one message naming both files, the record kept; resume=false starts over", message[:110], ok


def kill_during_write(d: Path) -> tuple[str, str, bool]:
    """The run folder on another filesystem than /tmp (/dev/shm), SIGKILL halfway through a save."""
    folder = Path("/dev/shm") / f"raft-faults-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    tmp_before = set(Path("/tmp").iterdir())
    args = (*SMOKE, "trainer.max_epochs=3", *inject("die", "KillDuringSave", epoch=2, marker=d.parent / f"{d.name}-m"))
    died = run(*args, f"hydra.run.dir={folder}")
    leftovers = [p.name for p in (folder / "checkpoints").iterdir() if p.suffix == ".tmp"]
    again = run(*args, f"hydra.run.dir={folder}")
    s, after = summary(folder), (folder / "checkpoints")
    new_tmp = [p for p in set(Path("/tmp").iterdir()) - tmp_before if "tmp" in p.name and p.is_file()]
    ok = died.returncode == -signal.SIGKILL and s.get("status") != "running" and s.get("epochs") == 3
    ok = ok and not list(after.glob("*.tmp")) and not new_tmp
    shutil.rmtree(folder, ignore_errors=True)
    return (
        "rerun resumes; no temp file left anywhere",
        f"{signal_name(died.returncode)}, partial {leftovers} → rerun {s.get('status')} {s.get('epochs')} epochs",
        ok and again.returncode == 0,
    )


def _signal_mid_epoch(sig: signal.Signals) -> Case:
    def case(d: Path) -> tuple[str, str, bool]:
        marker, steps = d / "marker", d / "steps.txt"
        args = (*SMOKE, *EPOCHS, *inject("kill", "SignalAt", step=6, marker=marker, external="true"))
        args = (*args, *inject("steps", "StepLog", path=steps), f"hydra.run.dir={d}")
        proc = start(*args)
        wait_for(marker, proc)
        rc, _ = kill(proc, sig)
        stopped = summary(d)
        again = run(*args)
        ok = rc == -sig and stopped["status"] == "interrupted" and again.returncode == 0
        ok = ok and summary(d)["status"] == "ok" and steps_of(steps) == list(range(1, 9))
        return "interrupted at the batch, rerun trains only the rest", f"{signal_name(rc)}, {stopped['status']}", ok

    return case


def sigkill_mid_epoch(d: Path) -> tuple[str, str, bool]:
    marker, steps = d / "marker", d / "steps.txt"
    args = (*SMOKE, *EPOCHS, *inject("kill", "SignalAt", step=6, marker=marker, external="true"))
    args = (*args, *inject("steps", "StepLog", path=steps), f"hydra.run.dir={d}")
    proc = start(*args)
    wait_for(marker, proc)
    rc, _ = kill(proc, signal.SIGKILL)
    again = run(*args)
    # The rerun resumes from the end of epoch 1: steps 5 and 6 are trained twice, nothing is lost.
    ok = rc == -signal.SIGKILL and again.returncode == 0 and summary(d)["status"] == "ok"
    ok = ok and steps_of(steps)[-4:] == [5, 6, 7, 8]
    return "rerun resumes from the last epoch's checkpoint", f"{signal_name(rc)} → rerun {summary(d)['status']}", ok


def _signal_at_startup(sig: signal.Signals) -> Case:
    def case(d: Path) -> tuple[str, str, bool]:
        args = (*SMOKE, *inject("kill", "SignalOnHook", hook="setup", marker=d / "marker", signal=sig.name))
        first = run(*args, f"hydra.run.dir={d}")
        stopped = summary(d)
        again = run(*args, f"hydra.run.dir={d}")
        ok = first.returncode == -sig and stopped.get("status") == "interrupted" and stopped.get("epochs") == 0
        ok = ok and again.returncode == 0 and summary(d)["status"] == "ok"
        return "interrupted before training, rerun ok", f"{signal_name(first.returncode)}, {stopped.get('status')}", ok

    return case


def _signal_in_linear_eval(sig: signal.Signals) -> Case:
    def case(d: Path) -> tuple[str, str, bool]:
        args = (*SMOKE, "trainer.max_epochs=1", "eval.linear=true", "eval.epochs=3000")
        args = (*args, *inject("mark", "MarkAt", marker=d / "marker"), f"hydra.run.dir={d}")
        proc = start(*args)
        wait_for(d / "marker", proc)
        rc, _ = kill(proc, sig)
        stopped = summary(d)
        again = run(*args)
        s = summary(d)
        ok = rc == -sig and stopped["status"] == "interrupted" and stopped["linear_acc"] is None
        ok = ok and again.returncode == 0 and s["status"] == "ok" and s["linear_acc"] is not None
        return (
            "interrupted; the rerun computes linear_acc",
            f"{signal_name(rc)}, {stopped['status']} → {s['linear_acc']}",
            ok,
        )

    return case


def signal_in_baseline_validation(d: Path) -> tuple[str, str, bool]:
    args = (*SMOKE, "loss=random", *inject("kill", "SignalOnHook", hook="on_validation_start", marker=d / "m"))
    first = run(*args, f"hydra.run.dir={d}")
    stopped = summary(d)
    again = run(*args, f"hydra.run.dir={d}")
    ok = first.returncode == -signal.SIGTERM and stopped["status"] == "interrupted" and again.returncode == 0
    return "interrupted; rerun ok", f"{signal_name(first.returncode)}, {stopped['status']} → {summary(d)['status']}", ok


def _sweep(d: Path, *extra: str) -> tuple[str, ...]:
    return ("-m", *SMOKE, "seed=0,1,2", f"hydra.sweep.dir={d}", *extra)


def signal_between_sweep_jobs(d: Path) -> tuple[str, str, bool]:
    proc = start(*_sweep(d))
    wait_for(d / "1", proc)  # job 1's folder: job 0 is done, job 1 is starting
    rc, _ = kill(proc, signal.SIGTERM)
    states = {p.name: summary(p).get("status") for p in d.iterdir() if p.is_dir() and p.name.isdigit()}
    again = run(*_sweep(d))
    final = {p.name: summary(p).get("status") for p in d.iterdir() if p.is_dir() and p.name.isdigit()}
    ok = rc == -signal.SIGTERM and "running" not in states.values() and again.returncode == 0
    ok = ok and final == {"0": "ok", "1": "ok", "2": "ok"}
    return "the sweep stops; rerun finishes it", f"{signal_name(rc)}, {states} → {final}", ok


def signal_in_later_sweep_job(d: Path) -> tuple[str, str, bool]:
    marker = d.parent / f"{d.name}-marker"
    args = _sweep(d, *inject("kill", "SignalAt", step=3, marker=marker, external="true"))
    proc = start(*args)
    wait_for(marker, proc)  # job 0's step 3: the signal lands in the sweep's first job...
    rc, _ = kill(proc, signal.SIGTERM)
    stopped = {p.name: summary(p).get("status") for p in d.iterdir() if p.is_dir() and p.name.isdigit()}
    again = run(*args)
    final = {p.name: summary(p).get("status") for p in d.iterdir() if p.is_dir() and p.name.isdigit()}
    ok = rc == -signal.SIGTERM and stopped == {"0": "interrupted"} and again.returncode == 0
    return (
        "the sweep stops at once; rerun finishes it",
        f"{signal_name(rc)}, {stopped} → {final}",
        ok and set(final.values()) == {"ok"},
    )
