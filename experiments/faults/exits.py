"""Families "exit codes" and "signals": the exit status is the outcome, for every command; every
signal that ends a process cleanly checkpoints (or writes nothing) and records ``interrupted``.

Each case takes a fresh folder and returns ``(expected, observed, held)``."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

from experiments.faults import cases
from experiments.faults.harness import SMOKE, inject, kill, run, signal_name, start, summary
from experiments.faults.kit import linear_eval, one_line, report, run_copy, sweep_copy

Case = Callable[[Path], tuple[str, str, bool]]
S = signal.Signals
BOOM = inject("boom", "RaiseAt", step=2)


def failed_run(d: Path) -> tuple[str, str, bool]:
    done = run(*SMOKE, "trainer.max_epochs=1", *BOOM, f"hydra.run.dir={d}")
    s = summary(d)
    return (
        "exit 1, recorded failed",
        f"rc {done.returncode}, {s.get('status')}",
        done.returncode == 1 and s.get("status") == "failed",
    )


def failed_run_default_folder(d: Path) -> tuple[str, str, bool]:
    """No hydra.run.dir: Hydra's default output folder, under the working directory."""
    d.mkdir(parents=True)
    done = run(*SMOKE, "trainer.max_epochs=1", *BOOM, cwd=d)
    noise = [w for w in ("InterpolationResolutionError", "HydraConfig was not set", "Traceback") if w in done.stdout]
    found = [json.loads(p.read_text()).get("status") for p in d.rglob("summary.json")]
    held = done.returncode == 1 and not noise and found == ["failed"]
    return "exit 1, one run recorded failed, no other error", f"rc {done.returncode}, {found}, {noise}", held


def sweep_with_a_failed_job(d: Path) -> tuple[str, str, bool]:
    done = run("-m", *SMOKE, "trainer.max_epochs=1", *BOOM[:1], "+callbacks.boom.step=2,1000", f"hydra.sweep.dir={d}")
    states = {p.name: summary(p).get("status") for p in sorted(d.iterdir()) if p.is_dir() and p.name.isdigit()}
    held = done.returncode == 1 and states == {"0": "failed", "1": "ok"}
    return "exit 1; the other job still runs", f"rc {done.returncode}, {states}", held


def finished_run_again(d: Path) -> tuple[str, str, bool]:
    r = run_copy(d / "run")
    before = (r / "checkpoints" / "last.ckpt").read_bytes()
    done = run(*SMOKE, "eval.linear=true", "seed=0", "trainer.max_epochs=2", f"hydra.run.dir={r}")
    same = (r / "checkpoints" / "last.ckpt").read_bytes() == before
    return "exit 0, not trained again", f"rc {done.returncode}, untouched: {same}", done.returncode == 0 and same


def _linear_eval_exit(how: str) -> Case:
    def case(d: Path) -> tuple[str, str, bool]:
        r = run_copy(d / "run")
        if how == "no checkpoint":
            for p in (r / "checkpoints").iterdir():
                p.unlink()
            done, want, words = linear_eval(r), 1, ("no checkpoint",)
        else:
            done, want, words = linear_eval(r, "eval.lr=-1"), 2, ("eval.lr",)
        clear, line = one_line(done.stdout, *words)
        return f"exit {want}, one line", line, done.returncode == want and clear

    return case


def _report_exit(how: str) -> Case:
    def case(d: Path) -> tuple[str, str, bool]:
        if how == "empty folder":
            (d / "empty").mkdir(parents=True)
            done, want, words = report(d / "empty"), 1, ("no summary.json",)
        elif how == "nothing readable":
            s = sweep_copy(d / "sweep")
            for p in s.rglob("summary.json"):
                p.write_text("{")
            done, want, words = report(s), 1, ("none readable",)
        elif how == "--out is a file":
            s = sweep_copy(d / "sweep")
            (d / "file").write_text("x")
            done, want, words = report(s, "--out", str(d / "file")), 1, ("file",)
        else:
            s = sweep_copy(d / "sweep")
            (d / "bad.yaml").write_text("collapse: [unclosed")
            done, want, words = report(s, "--config", str(d / "bad.yaml")), 2, ("--config",)
        clear, line = one_line(done.stdout, *words)
        return f"exit {want}, one line", line, done.returncode == want and clear

    return case


def _signal_in_linear_eval(sig: S) -> Case:
    """The standalone linear evaluation: stopped, it writes nothing and exits 128 + n."""

    def case(d: Path) -> tuple[str, str, bool]:
        r = run_copy(d / "run")
        before = (r / "summary.json").read_bytes(), (r / "embeddings.pt").read_bytes()
        proc = start(f"run_dir={r}", "eval.epochs=100000", module="raft_lightning.linear_eval")
        deadline = time.monotonic() + 300
        while not ((r / ".lock").is_file() and (r / ".lock").read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # inside the evaluation (it takes the lock, then builds the run)
        rc, out = kill(proc, sig)
        after = (r / "summary.json").read_bytes(), (r / "embeddings.pt").read_bytes()
        clear, line = one_line(out, "nothing was written")
        if sig == S.SIGHUP:  # the terminal is gone: output goes to /dev/null (preemption.detach_if_hung_up)
            clear, line = out == "", out or "(no output: detached on hangup)"
        held = rc == 128 + sig and before == after and clear
        return f"exit {128 + sig}, nothing written", f"{signal_name(rc) if rc < 0 else f'rc {rc}'}: {line[-60:]}", held

    return case


def signal_under_nohup(d: Path) -> tuple[str, str, bool]:
    """SIGHUP where the run was started ignoring it (nohup): the run goes on and ends ok."""
    args = (*SMOKE, "trainer.max_epochs=1", *inject("kill", "SignalAt", step=2, marker=d / "marker", signal="SIGHUP"))
    import subprocess

    done = run(*args, f"hydra.run.dir={d}", preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    s = summary(d)
    held = isinstance(done, subprocess.CompletedProcess) and done.returncode == 0 and s.get("status") == "ok"
    return "ignored as nohup asked; ends ok", f"rc {done.returncode}, {s.get('status')}", held


EXIT_CODES: dict[str, Case] = {
    "a failed single run": failed_run,
    "a failed single run in the default output folder": failed_run_default_folder,
    "a sweep with one failed job": sweep_with_a_failed_job,
    "a finished run started again": finished_run_again,
    "linear_eval of a folder without checkpoints": _linear_eval_exit("no checkpoint"),
    "linear_eval with a bad eval value": _linear_eval_exit("bad value"),
    "report over an empty folder": _report_exit("empty folder"),
    "report with nothing readable": _report_exit("nothing readable"),
    "report --out onto a file": _report_exit("--out is a file"),
    "report with a broken --config": _report_exit("bad config"),
}

SIGNALS: dict[str, Case] = {
    **{f"{s.name} mid-epoch": cases._signal_mid_epoch(s) for s in (S.SIGHUP, S.SIGQUIT)},
    **{f"{s.name} at start-up": cases._signal_at_startup(s) for s in (S.SIGHUP, S.SIGQUIT, S.SIGUSR2)},
    **{f"{s.name} during train's linear evaluation": cases._signal_in_linear_eval(s) for s in (S.SIGHUP, S.SIGQUIT)},
    **{
        f"{s.name} during a standalone linear_eval": _signal_in_linear_eval(s)
        for s in (S.SIGTERM, S.SIGINT, S.SIGHUP, S.SIGQUIT, S.SIGUSR1, S.SIGUSR2)
    },
    "SIGHUP under nohup": signal_under_nohup,
}
