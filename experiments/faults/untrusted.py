"""Families "untrusted files" and "portability": a run folder is data from anyone (nothing in it
runs, no path in it leads out of it), and it can be copied, moved or linked and still resume.

Each case takes a fresh folder and returns ``(expected, observed, held)``."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from experiments.faults import kit
from experiments.faults.harness import SMOKE, run, summary
from experiments.faults.kit import linear_eval, one_line, plant, report, run_copy, sweep_copy

Case = Callable[[Path], tuple[str, str, bool]]
RESUME = (*SMOKE, "eval.linear=true", "seed=0")  # the template's run 0, as a single run


def _planted_checkpoint(which: str, command: str) -> Case:
    """A pickle that would run code, planted in the checkpoint(s); ``command`` reads the folder."""

    def case(d: Path) -> tuple[str, str, bool]:
        r, marker = run_copy(d / "run"), d / "EXECUTED"
        names = {"last": ["last.ckpt"], "both": ["last.ckpt", "last.prev.ckpt"]}[which]
        for name in names:
            plant(r / "checkpoints" / name, marker)
        if command == "linear_eval":
            done = linear_eval(r)
        else:
            done = run(*RESUME, "trainer.max_epochs=3", f"hydra.run.dir={r}")
        safe = not marker.exists()
        if which == "last":  # the previous checkpoint is good: the command goes on from it
            held = safe and done.returncode == 0 and "Traceback" not in done.stdout
            return "never executed; goes on from last.prev.ckpt", f"rc {done.returncode}, executed: {not safe}", held
        clear, line = one_line(done.stdout, "last.ckpt", "refused, not loaded")
        return "never executed; one line naming the files", line, safe and done.returncode == 1 and clear

    return case


def planted_embeddings(d: Path) -> tuple[str, str, bool]:
    s, marker = sweep_copy(d / "sweep"), d / "EXECUTED"
    plant(s / "0" / "embeddings.pt", marker, shape="embeddings")
    done = report(s, "--out", str(d / "out"))
    table = (d / "out" / "table1.md").read_text() if (d / "out" / "table1.md").is_file() else ""
    held = not marker.exists() and done.returncode == 0 and "embeddings.pt" in table + done.stdout
    return "never executed; the report goes on", f"rc {done.returncode}, executed: {marker.exists()}", held


def _config_target(where: str, target: dict, command: str) -> Case:
    """config.yaml names code that is not the package's at ``where``; ``command`` reads the folder."""

    def case(d: Path) -> tuple[str, str, bool]:
        folder = sweep_copy(d / "sweep") if command == "report" else None
        r = folder / "0" if folder else run_copy(d / "run")
        victim = d / "MADE"
        cfg = yaml.safe_load((r / "config.yaml").read_text())
        node = cfg
        for key in where.split(".")[:-1]:
            node = node.setdefault(key, {})
        node[where.split(".")[-1]] = {k: (str(victim) if v == "VICTIM" else v) for k, v in target.items()}
        (r / "config.yaml").write_text(yaml.safe_dump(cfg))
        if command == "linear_eval":
            done = linear_eval(r)
        elif command == "report":
            done = report(folder, "--out", str(d / "out"))
        else:
            done = run(*RESUME, "trainer.max_epochs=3", f"hydra.run.dir={r}")
        called = victim.exists()
        if command == "report":
            held = not called and done.returncode == 0
            return "nothing built; the report goes on", f"rc {done.returncode}, called: {called}", held
        clear, line = one_line(done.stdout, "config")
        return "nothing called; one line", line, not called and done.returncode == 1 and clear

    return case


def checkpoint_outside(d: Path) -> tuple[str, str, bool]:
    """summary.json's ``checkpoint`` names a planted pickle outside the folder."""
    r, marker, outside = run_copy(d / "run"), d / "EXECUTED", d / "elsewhere.ckpt"
    plant(outside, marker)
    record = json.loads((r / "summary.json").read_text())
    record["checkpoint"] = str(outside)
    (r / "summary.json").write_text(json.dumps(record))
    done = linear_eval(r)
    held = not marker.exists() and "Traceback" not in done.stdout and done.returncode in (0, 1)
    return "the path not followed", f"rc {done.returncode}, executed: {marker.exists()}", held


def checkpoint_climbs_out(d: Path) -> tuple[str, str, bool]:
    s = sweep_copy(d / "sweep")
    record = json.loads((s / "0" / "summary.json").read_text())
    record["checkpoint"] = "../1/checkpoints/last.ckpt"
    (s / "0" / "summary.json").write_text(json.dumps(record))
    done = report(s)
    table = (s / "table1.md").read_text() if (s / "table1.md").is_file() else ""
    held = done.returncode == 0 and "inside the run folder" in table
    return "listed: a path inside the run folder expected", f"rc {done.returncode}, listed: {held}", held


def _linked_lock(command: str) -> Case:
    def case(d: Path) -> tuple[str, str, bool]:
        r, victim = run_copy(d / "run"), d / "precious.txt"
        victim.write_text("precious\n")
        (r / ".lock").symlink_to(victim)
        done = (
            linear_eval(r) if command == "linear_eval" else run(*RESUME, "trainer.max_epochs=3", f"hydra.run.dir={r}")
        )
        intact = victim.read_text() == "precious\n"
        held = intact and "Traceback" not in done.stdout and (done.returncode == 0 or ".lock" in done.stdout)
        return "the file it points at untouched", f"rc {done.returncode}, target intact: {intact}", held

    return case


def _linked_out(name: str, command: str) -> Case:
    """A file of run 0 is a link to a file outside the folder (here, run 1's)."""

    def case(d: Path) -> tuple[str, str, bool]:
        s = sweep_copy(d / "sweep")
        outside = d / f"outside-{Path(name).name}"
        shutil.copy(s / "1" / name, outside)
        before = outside.read_bytes()
        (s / "0" / name).unlink()
        (s / "0" / name).symlink_to(outside)
        if command == "report":
            done = report(s, "--out", str(d / "out"))
            notes = (d / "out" / "table1.md").read_text() if (d / "out" / "table1.md").is_file() else ""
            listed = "outside the run folder" in notes + done.stdout
            held = done.returncode == 0 and listed and outside.read_bytes() == before
            return "listed as a link out of the folder; not read", f"rc {done.returncode}, listed: {listed}", held
        done = linear_eval(s / "0")
        held = outside.read_bytes() == before and "Traceback" not in done.stdout
        held = held and ("outside the run folder" in done.stdout or "last.prev.ckpt" in done.stdout)
        return "not read; the file outside untouched", one_line(done.stdout, "run_dir")[1], held

    return case


def escape_sequences(d: Path) -> tuple[str, str, bool]:
    s = sweep_copy(d / "sweep")
    record = json.loads((s / "0" / "summary.json").read_text())
    record["tags"] = ["\x1b]0;owned\x07\x1b[2J"]
    record["error"] = "\x1b[31mred\x1b[0m"
    (s / "0" / "summary.json").write_text(json.dumps(record))
    done = report(s, "--out", str(d / "out"))
    files = "".join(p.read_text() for p in (d / "out").glob("*.md")) if (d / "out").is_dir() else ""
    held = done.returncode == 0 and "\x1b" not in done.stdout + files
    return "printed and tabled without control characters", f"rc {done.returncode}, escapes: {not held}", held


# --- portability ---------------------------------------------------------------------------------


def _moved(how: str) -> Case:
    def case(d: Path) -> tuple[str, str, bool]:
        r = run_copy(d / "original")
        target = {"copied": d / "copy", "moved": d / "moved", "symlinked": d / "link", "spaces": d / "a b ü,="}.get(how)
        target = Path("/dev/shm") / f"raft-faults-{os.getpid()}-{d.name}" if how == "another filesystem" else target
        if how == "moved":
            r.rename(target)
        elif how == "symlinked":
            target.symlink_to(r, target_is_directory=True)
        else:
            shutil.copytree(r, target, symlinks=True)
        try:
            done = run(*RESUME, "trainer.max_epochs=3", f"hydra.run.dir='{target}'")
            s = summary(target)
        finally:
            if how == "another filesystem":
                shutil.rmtree(target, ignore_errors=True)
        held = done.returncode == 0 and s.get("status") == "ok" and s.get("epochs") == 3 and s.get("resumed_from")
        return (
            "resumes: 3 epochs, from its checkpoint",
            f"rc {done.returncode}, {s.get('status')}, {s.get('epochs')}",
            bool(held),
        )

    return case


def nothing_pins_the_folder(d: Path) -> tuple[str, str, bool]:
    import torch

    r = run_copy(d / "run")
    template = str(kit.template())
    texts = {name: (r / name).read_text() for name in ("config.yaml", "summary.json", "metrics.csv")}
    texts["last.ckpt"] = repr(torch.load(r / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu"))
    pinned = [name for name, text in texts.items() if template in text]
    return "no file names the folder it was made in", f"pinned: {pinned}", not pinned


def deleted_config_in_a_copy(d: Path) -> tuple[str, str, bool]:
    r = run_copy(d / "run")
    (r / "config.yaml").unlink()
    done = run(*RESUME, "trainer.max_epochs=3", "loss=raft", "predictor=linear", f"hydra.run.dir={r}")
    clear, line = one_line(done.stdout, "another config")
    held = done.returncode == 1 and clear and summary(r).get("objective") == "byol"
    return "refused: the checkpoint carries the config", line, held


def eval_a_copy(d: Path) -> tuple[str, str, bool]:
    a = run_copy(d / "a")
    shutil.copytree(a, d / "b")
    before = (a / "summary.json").read_bytes(), (a / "embeddings.pt").read_bytes()
    done = linear_eval("b", cwd=d)  # a relative run_dir, from another working directory
    after = (a / "summary.json").read_bytes(), (a / "embeddings.pt").read_bytes()
    held = done.returncode == 0 and before == after and summary(d / "b").get("linear_acc") is not None
    return (
        "evaluates the copy; the original untouched",
        f"rc {done.returncode}, original intact: {before == after}",
        held,
    )


def report_a_moved_sweep(d: Path) -> tuple[str, str, bool]:
    s = sweep_copy(d / "sweep")
    s.rename(d / "moved")
    done = report(d / "moved")
    table = (d / "moved" / "table1.md").read_text() if (d / "moved" / "table1.md").is_file() else ""
    held = done.returncode == 0 and "2 run(s) found (2 ok); the sweep has 2" in table
    return "reports both runs", f"rc {done.returncode}, found: {'2 run(s) found' in table}", held


UNTRUSTED: dict[str, Case] = {
    "a planted pickle in last.ckpt, linear_eval": _planted_checkpoint("last", "linear_eval"),
    "a planted pickle in both checkpoints, linear_eval": _planted_checkpoint("both", "linear_eval"),
    "a planted pickle in last.ckpt, train resumes": _planted_checkpoint("last", "train"),
    "a planted pickle in both checkpoints, train resumes": _planted_checkpoint("both", "train"),
    "a planted pickle in embeddings.pt, report": planted_embeddings,
    "config.yaml's backbone is os.makedirs, linear_eval": _config_target(
        "model.backbone", {"_target_": "os.makedirs", "name": "VICTIM"}, "linear_eval"
    ),
    "config.yaml's callback is os.makedirs, linear_eval": _config_target(
        "callbacks.evil", {"_target_": "os.makedirs", "name": "VICTIM"}, "linear_eval"
    ),
    "config.yaml's data is torch.load(weights_only=false), linear_eval": _config_target(
        "data", {"_target_": "torch.load", "f": "VICTIM", "weights_only": False}, "linear_eval"
    ),
    "config.yaml's backbone is os.makedirs, report": _config_target(
        "model.backbone", {"_target_": "os.makedirs", "name": "VICTIM"}, "report"
    ),
    "config.yaml's backbone is os.makedirs, train resumes": _config_target(
        "model.backbone", {"_target_": "os.makedirs", "name": "VICTIM"}, "train"
    ),
    "summary.json's checkpoint outside the folder, linear_eval": checkpoint_outside,
    "summary.json's checkpoint climbs out with .., report": checkpoint_climbs_out,
    ".lock a symlink to another file, train": _linked_lock("train"),
    ".lock a symlink to another file, linear_eval": _linked_lock("linear_eval"),
    "summary.json a symlink out of the folder, report": _linked_out("summary.json", "report"),
    "embeddings.pt a symlink out of the folder, report": _linked_out("embeddings.pt", "report"),
    "last.ckpt a symlink out of the folder, linear_eval": _linked_out("checkpoints/last.ckpt", "linear_eval"),
    "terminal escapes in summary.json, report": escape_sequences,
}

PORTABILITY: dict[str, Case] = {
    "a copied run folder resumes": _moved("copied"),
    "a moved run folder resumes": _moved("moved"),
    "a run folder reached through a symlink resumes": _moved("symlinked"),
    "a copy on another filesystem resumes": _moved("another filesystem"),
    "a copy under a path with spaces, unicode, , and = resumes": _moved("spaces"),
    "no file names the folder it was made in": nothing_pins_the_folder,
    "a copy without config.yaml refuses another loss": deleted_config_in_a_copy,
    "linear_eval of a copy, by a relative path": eval_a_copy,
    "report over a moved sweep": report_a_moved_sweep,
}
