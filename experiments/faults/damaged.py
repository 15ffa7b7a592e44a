"""Family "damaged readers": every file a run folder holds, damaged as disks, editors and half-copied
downloads damage them. Each is one line naming the file and what was expected, and the caller goes
on where it can (the report lists the run; linear_eval and train fall back to the previous
checkpoint; a damaged summary.json is set aside).

Each case takes a fresh folder and returns ``(expected, observed, held)``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from experiments.faults.harness import SMOKE, run, summary
from experiments.faults.kit import linear_eval, lines_of, one_line, report, run_copy, sweep_copy

Case = Callable[[Path], tuple[str, str, bool]]
RANDOM = bytes((i * 151 + 7) % 256 for i in range(3000))


def _summary_edit(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        record = json.loads(path.read_text())
        path.write_text(json.dumps(change(record)))

    return damage


def _set(key: str, value: object) -> Callable[[dict], dict]:
    return lambda record: {**record, key: value}


def _in_report(name: str, damage: Callable[[Path], None], listed: str) -> Case:
    """Run 0's ``name`` damaged; the report lists ``listed`` in its notes and averages run 1."""

    def case(d: Path) -> tuple[str, str, bool]:
        s = sweep_copy(d / "sweep")
        damage(s / "0" / name)
        done = report(s, "--out", str(d / "out"))
        table = (d / "out" / "table1.md").read_text() if (d / "out" / "table1.md").is_file() else ""
        notes = [x for x in table.splitlines() if name in x and listed in x]
        held = done.returncode == 0 and "Traceback" not in done.stdout and bool(notes)
        return f"listed: {name} {listed}", (notes[0] if notes else f"rc {done.returncode}, not listed")[-110:], held

    return case


def _text(data: bytes | str) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data if isinstance(data, bytes) else data.encode())


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _tensors(payload: dict) -> Callable[[Path], None]:
    return lambda path: torch.save(payload, path)


def _planted(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A checkpoint loaded, one part of its trained state changed, saved again (as a file from
    elsewhere, or an older version's, could be)."""

    def damage(path: Path) -> None:
        state = torch.load(path, weights_only=True)
        change(state)
        torch.save(state, path)

    return damage


def _first_float(tensors: dict) -> str:
    return next(name for name, t in tensors.items() if t.is_floating_point())


def _nan_in_optimizer(state: dict) -> None:
    first = next(iter(state["optimizer_states"][0]["state"].values()))
    first["exp_avg"].view(-1)[0] = float("nan")


def _nan_in_probe(state: dict) -> None:
    state["callbacks"]["OnlineProbe"]["classifier"]["weight"].view(-1)[0] = float("nan")


def _sparse_weight(state: dict) -> None:
    name = _first_float(state["state_dict"])
    state["state_dict"][name] = state["state_dict"][name].to_sparse()


def sweep_named_folder(d: Path) -> tuple[str, str, bool]:
    """A sweep's run folder is named by its overrides (seed=0,variant=byol_lp): = and , are Hydra's
    grammar, and the path is taken as typed."""
    r = run_copy(d / "seed=0,variant=byol_lp")
    done = linear_eval(r)
    held = done.returncode == 0 and "linear_acc" in done.stdout
    last = lines_of(done.stdout)[-1][:120] if lines_of(done.stdout) else ""
    return "evaluated", f"rc {done.returncode}, {last}", held


def odd_labels(d: Path) -> tuple[str, str, bool]:
    """A tag with | and a newline: one table row per setting, whatever the labels hold."""
    s = sweep_copy(d / "sweep")
    for run_dir in ("0", "1"):
        _summary_edit(_set("tags", ["a|b\nc"]))(s / run_dir / "summary.json")
    done = report(s, "--out", str(d / "out"))
    table = (d / "out" / "table1.md").read_text() if (d / "out" / "table1.md").is_file() else ""
    rows = [x for x in table.splitlines() if x.startswith("|")]
    cells = {x.replace("\\|", "").count("|") for x in rows}
    held = done.returncode == 0 and len(rows) >= 3 and len(cells) == 1
    return "the table keeps its columns", f"rc {done.returncode}, cells per row {sorted(cells)}", held


def _linear_eval_with(name: str, damage: Callable[[Path], None], falls_back: bool, *words: str) -> Case:
    def case(d: Path) -> tuple[str, str, bool]:
        r = run_copy(d / "run")
        damage(r / name)
        before = (r / "embeddings.pt").read_bytes()
        done = linear_eval(r)
        if falls_back:
            held = done.returncode == 0 and "last.prev.ckpt" in done.stdout
            return "evaluates last.prev.ckpt", f"rc {done.returncode}, fell back: {held}", held
        clear, line = one_line(done.stdout, *words)
        held = done.returncode == 1 and clear and (r / "embeddings.pt").read_bytes() == before
        return "exit 1, one line naming the file", line, held

    return case


def train_over_damaged_summary(d: Path) -> tuple[str, str, bool]:
    r = run_copy(d / "run")
    (r / "summary.json").write_bytes(RANDOM)
    done = run(*SMOKE, "eval.linear=true", "seed=0", "trainer.max_epochs=3", f"hydra.run.dir={r}")
    s = summary(r)
    kept = (r / "summary.json.damaged").is_file()
    held = done.returncode == 0 and s.get("status") == "ok" and s.get("epochs") == 3 and s.get("resumed_from") and kept
    return (
        "set aside; resumes from the checkpoint",
        f"rc {done.returncode}, {s.get('epochs')} epochs, kept: {kept}",
        bool(held),
    )


def train_over_damaged_config(d: Path) -> tuple[str, str, bool]:
    r = run_copy(d / "run")
    (r / "config.yaml").write_bytes(RANDOM)
    done = run(*SMOKE, "eval.linear=true", "seed=0", "trainer.max_epochs=3", f"hydra.run.dir={r}")
    s = summary(r)
    held = "Traceback" not in done.stdout and (
        (done.returncode == 0 and s.get("epochs") == 3) or (done.returncode == 1 and "config.yaml" in done.stdout)
    )
    return "resumes (the checkpoint carries the config) or one line", f"rc {done.returncode}, {s.get('status')}", held


NAN = _summary_edit(_set("linear_acc", float("nan")))
DAMAGED: dict[str, Case] = {
    "summary.json with NaN, report": _in_report("summary.json", NAN, "unreadable"),
    "summary.json with a string for epochs, report": _in_report(
        "summary.json", _summary_edit(_set("epochs", "two")), "unreadable"
    ),
    "summary.json a list, report": _in_report("summary.json", _text("[1, 2]"), "unreadable"),
    "summary.json missing keys, report": _in_report("summary.json", _text('{"status": "ok"}'), "unreadable"),
    "summary.json empty, report": _in_report("summary.json", _text(b""), "unreadable"),
    "summary.json random bytes, report": _in_report("summary.json", _text(RANDOM), "unreadable"),
    "summary.json nested 10^5 deep, report": _in_report("summary.json", _text("[" * 100_000), "unreadable"),
    "metrics.csv with a word in a number cell, report": _in_report(
        "metrics.csv", _text("epoch,align\n1,abc\n"), "could be read"
    ),
    "metrics.csv truncated mid-row, report": _in_report(
        "metrics.csv", lambda p: p.write_bytes(p.read_bytes()[:-9]), "could be read"
    ),
    "embeddings.pt truncated, report": _in_report("embeddings.pt", _truncate, "embeddings.pt"),
    "embeddings.pt random bytes, report": _in_report("embeddings.pt", _text(RANDOM), "embeddings.pt"),
    "embeddings.pt of the wrong types, report": _in_report(
        "embeddings.pt", _tensors({"projections": [1.0, 2.0], "labels": "cats"}), "embeddings.pt"
    ),
    "embeddings.pt with NaN projections, report": _in_report(
        "embeddings.pt",
        _tensors({"projections": torch.full((8, 4), float("nan")), "labels": torch.zeros(8).long()}),
        "embeddings.pt",
    ),
    "labels with | and a newline, report": odd_labels,
    "multirun.yaml truncated, report": lambda d: _multirun(d, b"hydra:\n  overrides:\n    task: [seed="),
    "multirun.yaml random bytes, report": lambda d: _multirun(d, RANDOM),
    "config.yaml random bytes, linear_eval": _linear_eval_with("config.yaml", _text(RANDOM), False, "config.yaml"),
    "config.yaml a YAML list, linear_eval": _linear_eval_with("config.yaml", _text("- 1\n- 2\n"), False, "config.yaml"),
    "config.yaml with an interpolation, linear_eval": _linear_eval_with(
        "config.yaml",
        lambda p: p.write_text(p.read_text().replace("seed: 0", "seed: ${oc.env:HOME}")),
        False,
        "config.yaml",
        "interpolation",
    ),
    "last.ckpt truncated, linear_eval": _linear_eval_with("checkpoints/last.ckpt", _truncate, True),
    "last.ckpt of another model, linear_eval": _linear_eval_with(
        "checkpoints/last.ckpt", _tensors({"state_dict": {"w": torch.zeros(3)}}), False, "last.ckpt", "do not fit"
    ),
    "both checkpoints damaged, linear_eval": _linear_eval_with(
        "checkpoints", lambda p: [f.write_bytes(RANDOM) for f in p.iterdir()], False, "no readable checkpoint"
    ),
    "last.ckpt with NaN in the optimizer's state, linear_eval": _linear_eval_with(
        "checkpoints/last.ckpt", _planted(_nan_in_optimizer), True
    ),
    "last.ckpt with NaN in the online probe, linear_eval": _linear_eval_with(
        "checkpoints/last.ckpt", _planted(_nan_in_probe), True
    ),
    "last.ckpt with a sparse weight, linear_eval": _linear_eval_with(
        "checkpoints/last.ckpt", _planted(_sparse_weight), True
    ),
    "a folder named like a sweep's run, linear_eval": sweep_named_folder,
    "summary.json damaged, train resumes": train_over_damaged_summary,
    "config.yaml damaged, train resumes": train_over_damaged_config,
}


def _multirun(d: Path, data: bytes) -> tuple[str, str, bool]:
    s = sweep_copy(d / "sweep")
    (s / "multirun.yaml").write_bytes(data)
    done = report(s)
    table = (s / "table1.md").read_text() if (s / "table1.md").is_file() else ""
    held = done.returncode == 0 and "the sweep's size is unknown" in table and "multirun.yaml" in table
    return "the table written, its size noted unknown", f"rc {done.returncode}, noted: {held}", held
