"""The collapse monitors: each formula against an independent reference, then inside real runs
(every key and file written, and training unchanged by them, bitwise)."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import open_dict

from raft_lightning.callbacks import CollapseMonitors
from raft_lightning.callbacks.monitors import eval_mode
from raft_lightning.evaluation import spectrum
from raft_lightning.files import SPECTRA_FILE, STEPS_FILE
from raft_lightning.measures import LAYER_MONITORS, LAYERS, MEASURES, MONITOR_KEYS, STEP_PREDICTOR_MONITORS
from raft_lightning.readers import read_checkpoint, read_epochs, read_spectra, read_summary
from raft_lightning.run.build import build
from raft_lightning.run.train import train
from raft_lightning.run.validation import config_errors

EPS = spectrum.RANKME_EPS


def with_singular_values(s: np.ndarray, n: int, d: int, seed: int = 0) -> torch.Tensor:
    """An (n, d) float64 matrix U diag(s) Vᵀ with random orthonormal U, V: its spectrum is s."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((n, len(s))))
    v, _ = np.linalg.qr(rng.standard_normal((d, len(s))))
    return torch.from_numpy(u @ np.diag(s) @ v.T)


def rankme_reference(s: np.ndarray) -> float:
    """Garrido et al. 2023, Eq. 1, written out in numpy."""
    p = s / np.sum(s) + EPS
    return float(np.exp(-np.sum(p * np.log(p))))


@pytest.mark.parametrize("k", [1, 3, 16])
def test_rankme_of_rank_k_data_is_k(k):
    n, d = 64, 32
    s = np.zeros(d)
    s[:k] = 2.5
    z = with_singular_values(s, n, d, seed=k)
    rank = float(spectrum.effective_rank(spectrum.singular_values(z)))
    # ε moves the entropy by at most d·ε·(|log ε| + log k + 1) (each p_k shifts by ε), so RankMe
    # from k by a factor exp of that; float64's SVD adds ~d·2⁻⁵² relative, far below.
    bound = k * math.expm1(d * EPS * (abs(math.log(EPS)) + math.log(k) + 1))
    assert abs(rank - k) <= bound
    # and exactly the formula, with its ε, on the known spectrum (not the SVD's)
    assert rank == pytest.approx(rankme_reference(s), rel=1e-9)


def test_rankme_is_the_formula_on_any_spectrum():
    s = np.sort(np.random.default_rng(1).exponential(size=20))[::-1].copy()
    z = with_singular_values(s, 50, 20, seed=2)
    got = spectrum.singular_values(z).numpy()
    np.testing.assert_allclose(got, s, rtol=1e-10, atol=1e-12)
    assert float(spectrum.effective_rank(torch.from_numpy(s))) == pytest.approx(rankme_reference(s), rel=1e-12)


def test_uniformity_is_wang_and_isola_reference_code():
    z = torch.randn(200, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = F.normalize(z, dim=1)
    t = 2.0
    reference = torch.pdist(x, p=2).pow(2).mul(-t).exp().mean().log()  # Wang & Isola 2020, their code
    # float64, a sum of ~2·10⁴ terms in different orders: relative rounding ≲ 10⁴·2⁻⁵² ≈ 2·10⁻¹²
    assert float(spectrum.uniformity(z, t)) == pytest.approx(float(reference), rel=1e-11)


def test_normalized_std_is_one_over_root_d_for_isotropic_data_and_zero_collapsed():
    n, d = 4096, 64
    z = torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    # A coordinate of a uniform unit vector has variance exactly 1/d and kurtosis ≈ 3, so each
    # sample std has relative standard error ≈ 1/√(2n); the mean over d dimensions ≈ 1/√(2nd).
    # Six standard errors, plus the sample std's bias (≈ 1/(4n) relative).
    tolerance = 6 / math.sqrt(2 * n * d) + 1 / (4 * n)
    assert float(spectrum.normalized_std(z)) == pytest.approx(1 / math.sqrt(d), rel=tolerance)
    collapsed = torch.rand(n, 1, dtype=torch.float64) * z[:1]  # one direction, many lengths
    assert float(spectrum.normalized_std(collapsed)) < 1e-12


def correlation_with_eigenvectors(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs f whose correlation E[f fᵀ] has distinct eigenvalues, and its eigenvectors Q."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64, generator=g))
    scales = torch.diag(torch.linspace(0.5, 3, d, dtype=torch.float64))  # distinct: F's eigenvectors are unique
    f = torch.randn(4 * d, d, dtype=torch.float64, generator=g) @ scales @ q.T
    _, phi = torch.linalg.eigh(spectrum.correlation(f))
    return f, phi, g


def test_eigen_alignment_is_one_for_a_predictor_sharing_the_eigenvectors_and_below_for_a_rotated_one():
    d = 16
    f, phi, g = correlation_with_eigenvectors(d, seed=0)
    signs = torch.tensor([(-1.0) ** j for j in range(d)], dtype=torch.float64)  # signs do not matter: |cos|
    eigenvalues = torch.linspace(0.1, 2, d, dtype=torch.float64) * signs
    w = phi @ torch.diag(eigenvalues) @ phi.T
    # Each cosine is exact up to float64 rounding of a d-term product: ≲ d·2⁻⁵².
    assert float(spectrum.eigen_alignment(w, f)) == pytest.approx(1.0, abs=1e-12)
    rotation, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64, generator=g))
    assert float(spectrum.eigen_alignment(rotation @ w, f)) < 0.5


def test_predictor_distances():
    d = 8
    eye = torch.eye(d, dtype=torch.float64)
    assert float(spectrum.identity_distance(eye)) == 0
    assert float(spectrum.identity_distance(torch.zeros(d, d, dtype=torch.float64))) == pytest.approx(1.0)
    assert float(spectrum.asymmetry(eye)) == 0
    a = torch.triu(torch.ones(d, d, dtype=torch.float64), 1)
    assert float(spectrum.asymmetry(a - a.T)) == 2  # antisymmetric: W − Wᵀ = 2W


def test_monitors_of_features_that_are_not_finite_are_nan():
    z = torch.randn(10, 4, dtype=torch.float64)
    z[3, 1] = math.nan
    w = torch.full((4, 4), math.inf, dtype=torch.float64)
    for value in (
        spectrum.effective_rank(spectrum.singular_values(z)),
        spectrum.uniformity(z),
        spectrum.normalized_std(z),
        spectrum.identity_distance(w),
        spectrum.asymmetry(w),
        spectrum.eigen_alignment(w, z),
        spectrum.effective_rank(torch.zeros(4, dtype=torch.float64)),  # everything at the origin
    ):
        assert math.isnan(float(value))


def test_the_held_out_batch_leaves_randomness_and_modes_alone(smoke_cfg):
    cfg = smoke_cfg("predictor=mlp_bn")
    datamodule, model, _ = build(cfg)
    datamodule.setup("fit")
    model.target.eval()  # a submodule in eval mode stays there
    modes = {name: m.training for name, m in model.named_modules()}
    before = torch.get_rng_state()
    monitors = CollapseMonitors(dir=str(cfg.paths.output_dir), samples=50)
    x = monitors.held_out(SimpleNamespace(datamodule=datamodule))
    assert x.shape[0] == 50
    assert torch.equal(monitors.held_out(SimpleNamespace(datamodule=datamodule)), x)  # drawn once
    with torch.no_grad(), eval_mode(model):
        assert not model.online.training
        model.online(x)
    assert torch.equal(torch.get_rng_state(), before)
    assert {name: m.training for name, m in model.named_modules()} == modes
    again = CollapseMonitors(dir=str(cfg.paths.output_dir), samples=50).held_out(SimpleNamespace(datamodule=datamodule))
    assert torch.equal(again, x)  # the same images for every run


def test_more_samples_than_test_images_says_how_many_are_used(smoke_cfg, caplog):
    cfg = smoke_cfg()
    datamodule, _, _ = build(cfg)
    datamodule.setup("fit")
    size = len(datamodule.plain_val_dataloader().dataset)
    with caplog.at_level(logging.WARNING, logger="raft_lightning.callbacks.monitors"):
        x = CollapseMonitors(dir=str(cfg.paths.output_dir), samples=size + 7).held_out(
            SimpleNamespace(datamodule=datamodule)
        )
    assert x.shape[0] == size
    assert f"callbacks.monitors.samples={size + 7}, but the test set holds {size} images: all {size} are used" in (
        caplog.text
    )


def test_monitor_settings_are_checked_before_a_run(smoke_cfg):
    errors = config_errors(smoke_cfg("callbacks.monitors.samples=1", "callbacks.monitors.dense_steps=-1"))
    assert "callbacks.monitors.samples=1: must be an integer ≥ 2" in errors
    assert "callbacks.monitors.dense_steps=-1: must be an integer ≥ 0" in errors


DENSE, EVERY = 5, 3  # smoke: 8 optimiser steps (2 epochs × 4)
SMOKE = ("predictor=linear", f"trainer.log_every_n_steps={EVERY}", f"callbacks.monitors.dense_steps={DENSE}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same smoke run (linear predictor) with the monitors and without."""
    from tests.conftest import compose_run

    out = {}
    for name, extra in (("on", ()), ("off", ("callbacks.monitors=null",))):
        run_dir = tmp_path_factory.mktemp(name)
        cfg = compose_run("experiment=smoke", "logger=none", *SMOKE, *extra, run_dir=run_dir)
        assert train(cfg)["status"] == "ok"
        out[name] = run_dir
    return out


@pytest.mark.slow
def test_a_linear_predictor_run_writes_every_monitor(runs):
    run_dir = runs["on"]
    summary = read_summary(run_dir)
    for measure in MEASURES:
        if measure.series and measure.series.startswith("monitor/"):
            assert math.isfinite(summary[measure.key]), measure.key
    rows = read_epochs(run_dir)
    assert [r["epoch"] for r in rows] == [1, 2]
    targets = [f"target_{name}_{layer}" for name in LAYER_MONITORS for layer in LAYERS]
    for row in rows:
        for key in (*MONITOR_KEYS, *targets):
            assert math.isfinite(row[f"monitor/{key}"]), key
    assert summary["uniform_projector"] == rows[-1]["monitor/uniform_projector"]
    assert summary["uniform_projector_last"] == pytest.approx(sum(r["monitor/uniform_projector"] for r in rows) / 2)
    spectra = read_spectra(run_dir)
    assert set(spectra) == {(n, layer) for n in ("online", "target") for layer in LAYERS}
    assert all(set(by_epoch) == {1, 2} for by_epoch in spectra.values())
    s = spectra[("online", "projector")][2]
    assert s == sorted(s, reverse=True)
    assert rows[-1]["monitor/rank_projector"] == pytest.approx(rankme_reference(np.array(s)), rel=1e-5)
    steps = read_epochs(run_dir, STEPS_FILE)
    recorded = [*range(DENSE), *(s for s in range(DENSE, 8) if (s + 1) % EVERY == 0)]
    assert [int(r["step"]) for r in steps] == recorded
    for row in steps:
        assert {"loss", "align", "uniform", *STEP_PREDICTOR_MONITORS} <= set(row)
    assert (run_dir / SPECTRA_FILE).is_file()


@pytest.mark.slow
def test_monitors_do_not_change_training(runs):
    on, off = (read_epochs(runs[k]) for k in ("on", "off"))
    for a, b in zip(on, off, strict=True):
        for key in ("train/loss", "train/align", "train/uniform", "train/cross"):
            assert a[key] == b[key], key  # bitwise: the CSV holds each float's repr
    weights = [read_checkpoint(runs[k] / "checkpoints" / "last.ckpt")["state_dict"] for k in ("on", "off")]
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name  # parameters and BatchNorm buffers
    assert not (runs["off"] / STEPS_FILE).exists()


@pytest.mark.slow
def test_the_random_baseline_is_measured_once(smoke_cfg):
    cfg = smoke_cfg("loss=random", "predictor=linear")
    assert train(cfg)["status"] == "ok"
    run_dir = cfg.paths.output_dir
    summary = read_summary(run_dir)
    for key in ("uniform_backbone", "uniform_projector", "rank_backbone", "rank_projector", "std_projector"):
        assert math.isfinite(summary[key]), key
    assert summary["uniform_projector_last"] == summary["uniform_projector"]
    assert {e for by_epoch in read_spectra(run_dir).values() for e in by_epoch} == {0}


@pytest.mark.slow
def test_measurements_every_few_epochs_are_recorded_at_their_own_epochs_only(tmp_path):
    """Monitors and kNN every 2 epochs of 4: metrics.csv leaves their cells of epochs 1 and 3 empty
    (Lightning keeps the last logged values, and epoch 3 repeated epoch 2's), the window mean counts
    measured epochs only, and the report's figures put each value at its own epoch."""
    from raft_lightning.report.plot import epochs_of
    from raft_lightning.report.rows import load_run
    from tests.conftest import compose_run

    every = ("callbacks.monitors.every_n_epochs=2", "callbacks.knn.every_n_epochs=2")
    run_dir = tmp_path / "run"
    cfg = compose_run("experiment=smoke", "logger=none", *every, "trainer.max_epochs=4", run_dir=run_dir)
    assert train(cfg)["status"] == "ok"
    rows = read_epochs(run_dir)
    measured = [int(r["epoch"]) for r in rows if "monitor/uniform_projector" in r]
    assert measured == [2, 4] and {e for by in read_spectra(run_dir).values() for e in by} == {2, 4}
    values = [r["monitor/uniform_projector"] for r in rows if "monitor/uniform_projector" in r]
    assert read_summary(run_dir)["uniform_projector_last"] == pytest.approx(sum(values) / 2)
    knn = [(int(r["epoch"]), r["val/knn_acc"]) for r in rows if "val/knn_acc" in r]
    assert [epoch for epoch, _ in knn] == [2, 4]  # kNN too: empty cells where it did not measure
    assert epochs_of(load_run(run_dir), "val/knn_acc") == knn
    assert [x for x, _ in epochs_of(load_run(run_dir), "monitor/rank_projector")] == [2, 4]


MAX_STEPS = 6


@pytest.mark.slow
def test_a_run_that_stops_at_max_steps_is_measured_at_its_last_epoch(tmp_path):
    """+trainer.max_steps ends the run inside an epoch before max_epochs: that epoch is its last,
    and the monitors and kNN measure it, as at max_epochs."""
    from tests.conftest import compose_run

    every = ("callbacks.monitors.every_n_epochs=5", "callbacks.knn.every_n_epochs=5")
    cfg = compose_run("experiment=smoke", "logger=none", *every, "trainer.max_epochs=5", run_dir=tmp_path / "run")
    with open_dict(cfg):
        cfg.trainer.max_steps = MAX_STEPS  # inside epoch 2 of smoke's 4 steps per epoch
    summary = train(cfg)
    assert summary["status"] == "ok", summary
    rows = read_epochs(tmp_path / "run")
    last = rows[-1]
    assert int(last["epoch"]) < 5 and "monitor/uniform_projector" in last, rows
    assert summary["knn_acc"] is not None and summary["uniform_projector"] == last["monitor/uniform_projector"]
    assert max(e for by in read_spectra(tmp_path / "run").values() for e in by) == int(last["epoch"])


@pytest.mark.slow
def test_a_diverged_runs_error_names_the_step_as_steps_csv_counts_it_and_keeps_its_row(tmp_path):
    """The guard counts steps from 0, as steps.csv does, and the step it names is steps.csv's last
    row, with the loss that was not finite and the W that produced it (the guard stops the run
    before the monitors' own batch end would have written that row)."""
    import re

    from tests.conftest import compose_run

    cfg = compose_run(
        "experiment=smoke", "logger=none", "loss=byol", "predictor=linear", "optimizer.lr=1e12",
        "trainer.max_epochs=3", run_dir=tmp_path / "run",
    )  # fmt: skip
    summary = train(cfg)
    assert summary["status"] == "diverged", summary
    step = int(re.search(r"step (\d+)", summary["error"]).group(1))
    epoch = int(re.search(r"epoch (\d+)", summary["error"]).group(1))
    steps = read_epochs(tmp_path / "run", STEPS_FILE)
    assert [int(row["step"]) for row in steps] == list(range(step + 1)), (summary["error"], steps)
    last = steps[-1]
    assert int(last["epoch"]) == epoch and not math.isfinite(last["loss"]), last
    assert "predictor_identity_distance" in last and all(math.isfinite(row["loss"]) for row in steps[:-1]), steps
