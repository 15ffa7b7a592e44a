"""experiments/fashion_mnist/keep.py: the claims sweeps' finished runs survive the loss of logs/."""

from __future__ import annotations

import json
from pathlib import Path

from experiments.fashion_mnist.keep import restore, save


def run(folder: Path, status: str, seed: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"status": status, "seed": seed}))
    (folder / "config.yaml").write_text(f"seed: {seed}\n")
    (folder / "metrics.csv").write_text("epoch,train/loss\n1,0.5\n")
    (folder / "embeddings.pt").write_bytes(b"\0" * 8)
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"\0" * 64)
    return folder


def test_finished_runs_are_kept_without_checkpoints_and_come_back(tmp_path):
    logs, kept = tmp_path / "logs", tmp_path / "kept"
    (logs / "table1").mkdir(parents=True)
    (logs / "table1" / "multirun.yaml").write_text("hydra: {}\n")
    run(logs / "table1" / "seed=0,variant=a", "ok", 0)
    run(logs / "table1" / "seed=1,variant=a", "ok", 1)
    run(logs / "table1" / "seed=2,variant=a", "running", 2)
    assert save(logs, kept, ("table3",)) == {} and not kept.exists()  # only the sweeps asked for
    assert save(logs, kept) == {"table1": 2}
    runs = kept / "table1" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["multirun.yaml", "seed=0,variant=a", "seed=1,variant=a"]
    assert not list(runs.rglob("*.ckpt"))  # records only
    assert (runs / "seed=0,variant=a" / "embeddings.pt").is_file()  # the figures' seed
    assert not (runs / "seed=1,variant=a" / "embeddings.pt").exists()

    lost = tmp_path / "lost"
    assert restore(kept, lost) == {"table1": 2}
    back = lost / "table1" / "seed=1,variant=a"
    assert (back / "summary.json").read_text() == (logs / "table1" / "seed=1,variant=a" / "summary.json").read_text()
    assert (back / "config.yaml").is_file() and not (lost / "table1" / "seed=2,variant=a").exists()


def test_restore_never_replaces_a_record_in_logs_and_save_updates_a_changed_one(tmp_path):
    logs, kept = tmp_path / "logs", tmp_path / "kept"
    (logs / "table3").mkdir(parents=True)
    (logs / "table3" / "multirun.yaml").write_text("hydra: {}\n")
    folder = run(logs / "table3" / "seed=0", "ok", 0)
    save(logs, kept)
    (folder / "summary.json").write_text(json.dumps({"status": "ok", "seed": 0, "linear_acc": 0.5}))
    assert restore(kept, logs) == {"table3": 0}  # the folder in logs has its record: left alone
    assert json.loads((folder / "summary.json").read_text())["linear_acc"] == 0.5
    save(logs, kept)  # a re-evaluated run replaces its kept copy
    assert json.loads((kept / "table3" / "runs" / "seed=0" / "summary.json").read_text())["linear_acc"] == 0.5
    assert not list(kept.rglob("*.partial"))


def test_one_save_keeps_every_sweep_asked_for(tmp_path):
    # The sweeps are saved in one call while they run (two were once: the second sweep's runs went
    # to a path under the first one's last record).
    logs, kept = tmp_path / "logs", tmp_path / "kept"
    for sweep in ("table1", "table3"):
        (logs / sweep).mkdir(parents=True)
        (logs / sweep / "multirun.yaml").write_text("hydra: {}\n")
        run(logs / sweep / "seed=0", "ok", 0)
        run(logs / sweep / "seed=1", "ok", 1)
    assert save(logs, kept) == {"table1": 2, "table3": 2}
    for sweep in ("table1", "table3"):
        assert sorted(p.name for p in (kept / sweep / "runs").iterdir()) == ["multirun.yaml", "seed=0", "seed=1"]
