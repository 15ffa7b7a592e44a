"""What identifies a run and what it measures, declared once: metric names only in measures.py,
the record's window and results from memory, and a config that resolves without writing."""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf

from raft_lightning.files import METRICS_FILE, WANDB_ID_FILE
from raft_lightning.identity import flatten, identity
from raft_lightning.measures import ALIGN, UNIFORM
from raft_lightning.readers import unlike_its_config
from raft_lightning.run.record import RunRecord
from raft_lightning.run.train import train
from raft_lightning.run.validation import check_config
from raft_lightning.summary import FROM_CONFIG
from tests.conftest import ROOT, compose_run, run_cli

SERIES = re.compile(r"""["'](train|val|monitor|train_step)/[a-z_]+["']""")


def test_metric_names_are_declared_only_in_measures():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "raft_lightning").rglob("*.py"))
        if path.name != "measures.py" and "data" not in path.relative_to(ROOT / "raft_lightning").parts[:1]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SERIES.search(line.split("#")[0]) and '"""' not in line
    ]
    assert found == [], "use the constants of raft_lightning/measures.py:\n" + "\n".join(found)


def test_the_identity_leaves_out_the_seed_and_where_a_run_is_written(tmp_path):
    a = compose_run("experiment=smoke", "seed=0", run_dir=tmp_path / "a")
    b = compose_run("experiment=smoke", "seed=1", "data.num_workers=3", run_dir=tmp_path / "b")
    resolved = [OmegaConf.to_container(c, resolve=True) for c in (a, b)]
    assert identity(resolved[0]) == identity(resolved[1])
    c = compose_run("experiment=smoke", "optimizer.weight_decay=0.1", "+loss.new_key=2", run_dir=tmp_path / "c")
    changed = identity(OmegaConf.to_container(c, resolve=True))
    assert changed["optimizer.weight_decay"] == 0.1 and changed["loss.new_key"] == 2.0


def test_resolving_and_validating_a_config_write_nothing(tmp_path):
    run_dir = tmp_path / "run"
    cfg = compose_run("experiment=smoke", "logger=wandb", run_dir=run_dir)
    OmegaConf.to_container(cfg, resolve=True)  # ${run_id:...} among others
    check_config(cfg, {})
    assert not run_dir.exists() or list(run_dir.iterdir()) == []
    result = run_cli("experiment=smoke", f"hydra.run.dir={run_dir}", "--cfg", "job", "--resolve", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not run_dir.exists() or list(run_dir.iterdir()) == []
    assert list(tmp_path.rglob(WANDB_ID_FILE)) == []


def test_the_record_has_its_window_and_its_results_from_memory(tmp_path, monkeypatch):
    """summary.json's align and uniform come from the epoch rows in memory: with metrics.csv never
    written, they are still the means over the recorded last_epochs window."""
    written = []
    monkeypatch.setattr(
        "raft_lightning.callbacks.epoch_metrics.write_csv", lambda path, rows: written.append([dict(r) for r in rows])
    )
    cfg = compose_run("experiment=smoke", "logger=none", "record.last_epochs=1", run_dir=tmp_path / "run")
    summary = train(cfg)
    assert summary["status"] == "ok" and summary["last_epochs"] == 1
    assert not (Path(cfg.paths.output_dir) / METRICS_FILE).exists()
    last = written[-1][-1]
    assert summary["align"] == last[ALIGN] and summary["uniform"] == last[UNIFORM]


def test_the_records_settings_are_the_config_keys_summary_from_config_names(tmp_path):
    """RunRecord.from_config writes each field of summary.FROM_CONFIG from the key the table names
    (readers.unlike_its_config holds a record to its config.yaml by it): with every one of them
    set away from its default, the record and the config agree, and a changed key is named."""
    overrides = [
        "seed=7", "loss.alpha=0.5", "loss.beta=2", "loss.tangential=true", "teacher.tau=0.95",
        "teacher.schedule=cosine", "optimizer.lr=0.002", "data.batch_size=16", "trainer.max_epochs=3",
        "record.last_epochs=2", "data.pipeline=batched", "predictor=linear", "predictor.negate_init=true",
    ]  # fmt: skip
    cfg = compose_run("experiment=smoke", *overrides, run_dir=tmp_path / "run")
    config = flatten(OmegaConf.to_container(cfg, resolve=True))
    record = RunRecord.from_config(cfg, {}).as_dict()
    assert [field for field in FROM_CONFIG if record[field] is None] == []
    assert [key for key in FROM_CONFIG.values() if key not in config] == []  # each names a key there is
    assert unlike_its_config(record, config) == []
    for field, key in FROM_CONFIG.items():
        edited = config | {key: "something else"}
        assert unlike_its_config(record, edited) == [f"{field} {record[field]!r} against {key}='something else'"]
