"""experiments/bench (``python -m experiments.bench``): the JSON it writes (its structure, not the speeds it
measures), and the plain step of the Lightning-overhead benchmark is the real step."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from experiments import bench
from tests.conftest import ROOT

PAIR_FIELDS = {"baseline", "candidate", "unit", "ratio", "repeats", "device", "torch", "threads"}


@pytest.mark.slow
def test_quick_bench_writes_every_entry(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        # One thread, as the whole suite (conftest): with two on a 2-core machine beside anything
        # else, torch's spinning threads made this run ten minutes instead of about three.
        [sys.executable, "-m", "experiments.bench", "--quick", "--threads", "1", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert {"augment", "lightning_overhead", "ema"} <= set(result)
    for name in ("augment", "lightning_overhead", "ema"):
        entry = result[name]
        assert PAIR_FIELDS <= set(entry), name
        assert entry["baseline"] > 0 and entry["candidate"] > 0 and entry["threads"] >= 1
        assert len(entry["repeats"]["baseline"]) == len(entry["repeats"]["candidate"]) >= 3
    assert result["augment"]["unit"] == "samples/s" and result["augment"]["image_size"] == 96
    # ratio > 1 means the new path is faster, whichever way the unit points.
    aug, ema, lit = result["augment"], result["ema"], result["lightning_overhead"]
    assert aug["ratio"] == pytest.approx(aug["candidate"] / aug["baseline"])
    assert ema["ratio"] == pytest.approx(ema["baseline"] / ema["candidate"]) and ema["unit"] == "ms/update"
    assert ema["candidate_gb_per_s"] == pytest.approx(ema["bytes_per_update"] / ema["candidate"] / 1e6)
    assert lit["unit"] == "ms/step"
    assert lit["overhead_pct"] == pytest.approx(100 * (lit["candidate"] / lit["baseline"] - 1))
    settings = result["run_settings"]["settings"]
    assert set(settings) == set(bench.run_settings.SETTINGS)
    assert settings["default"]["speedup"] == 1.0 and len(settings["default"]["seconds"]) == 2
    assert settings["fast.compile=true"] == {"unavailable": "skipped: --quick"}
    fastest = result["run_settings"]["fastest_repeatable"]
    assert settings[fastest]["repeatable"] and all(
        s["speedup"] <= settings[fastest]["speedup"] for s in settings.values() if s.get("repeatable")
    )
    assert "train_step" not in result  # --device cuda only
    assert result["command"] == f"python -m experiments.bench --quick --threads 1 --out {out}"


def test_train_step_entry_runs_on_the_cpu_too(one_thread):
    """The GPU-only entries' code, on a tiny configuration on the CPU (no GPU here to run it)."""
    step = bench.bench_train_step(
        torch.device("cpu"),
        steps=4,
        warmup=2,
        overrides=[
            "model=convnet",
            "model.backbone.width=4",
            "data.image_size=16",
            "data.batch_size=16",
            "trainer.accelerator=cpu",
            "trainer.precision=32-true",
        ],
    )
    assert step["ms_per_step"] > 0 and step["flops_per_step"] > 0 and step["host_syncs_per_step"] is None
    assert step["projected_300_epoch_min"] == pytest.approx(300 * (50_000 // 16) * step["ms_per_step"] / 60_000)
    device = bench.bench_augment_device(torch.device("cpu"), size=256, repeats=1, batch=64)
    assert device["candidate"] > 0 and device["unit"] == "samples/s"


def test_plain_step_is_the_real_step(one_thread, tmp_path):
    """The overhead benchmark's plain step runs the objective's own training_step and the real
    divergence guard and probe, and the module's own EMA: the epoch means, the teacher and the
    probe all move."""
    import warnings

    from experiments.bench.harness import compose
    from experiments.bench.overhead import PlainStep, demo_batches
    from raft_lightning.callbacks import DivergenceGuard, OnlineProbe

    cfg = compose(["experiment=demo", "model.backbone.width=4", "data.batch_size=8"], str(tmp_path))
    plain = PlainStep(cfg, demo_batches(cfg, 2))
    assert [type(c) for c in plain.callbacks] == [DivergenceGuard, OnlineProbe]
    probe = plain.callbacks[1]
    target = [p.clone() for p in plain.module.target.parameters()]
    classifier = probe.classifier.weight.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the only warning, self.log outside a Trainer, is silenced
        plain()
        plain()
    assert plain.loop.global_step == 2 and plain.module.current_tau == cfg.teacher.tau
    assert plain.module.epoch_means["loss"].weight == 2 * cfg.data.batch_size
    assert probe.loss_mean.weight == 2 * cfg.data.batch_size
    assert any(not torch.equal(a, b) for a, b in zip(target, plain.module.target.parameters()))
    assert not torch.equal(classifier, probe.classifier.weight)


def test_the_docs_quote_the_measured_monitors_overhead():
    """docs/instruments.md quotes experiments/bench/measured/monitors.json, as measured."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    measured = json.loads((root / "experiments" / "bench" / "measured" / "monitors.json").read_text())["monitors"]
    page = " ".join((root / "docs" / "instruments.md").read_text().split())
    quoted = (
        f"{measured['baseline']:.2f} s per 3-epoch fit without the monitors, {measured['candidate']:.2f} s with them"
    )
    assert quoted in page and f"an overhead of {measured['overhead_pct']:.1f} %" in page
    readme = " ".join((root / "README.md").read_text().split())  # issue 22: "written in the README"
    assert f"for {measured['overhead_pct']:.1f} % of a run's time" in readme
    assert measured["epochs"] == 3 and measured["overhead_pct"] <= 3  # the target
