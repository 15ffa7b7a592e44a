"""kNN and linear evaluation on data whose answer is known, and end to end on a real run."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from raft_lightning.evaluation.features import extract
from raft_lightning.evaluation.knn import knn_accuracy
from raft_lightning.evaluation.linear import evaluate, linear_accuracy
from raft_lightning.files import EMBEDDINGS_FILE
from raft_lightning.linear_eval import evaluate_run
from raft_lightning.run.train import train
from tests.conftest import CONF

ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 5e-4}


def blobs(n: int, dim: int, classes: int, seed: int, spread: float = 0.3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(99)) * 3
    labels = torch.arange(n) % classes
    return centres[labels] + spread * torch.randn(n, dim, generator=g), labels


def test_linear_accuracy_separates_separable_classes():
    x, y = blobs(600, 16, 5, seed=0)
    xt, yt = blobs(300, 16, 5, seed=1)
    assert linear_accuracy(x, y, xt, yt, num_classes=5, epochs=20, lr=1e-2) > 0.97


def test_linear_accuracy_is_chance_on_noise_and_deterministic():
    g = torch.Generator().manual_seed(0)
    x, xt = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    y, yt = torch.randint(0, 4, (400,), generator=g), torch.randint(0, 4, (400,), generator=g)
    acc = linear_accuracy(x, y, xt, yt, num_classes=4, epochs=5)
    assert acc < 0.4 and acc == linear_accuracy(x, y, xt, yt, num_classes=4, epochs=5)


def test_knn_votes_by_cosine_similarity():
    bank = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    bank_labels = torch.tensor([0, 0, 1, 1])
    queries = torch.tensor([[5.0, 0.2], [0.3, 4.0], [-1.0, 0.05]])
    # The third query (label 0) points away from class 0: its two nearest neighbours in angle
    # are class 1's, so it is misclassified.
    assert knn_accuracy(bank, bank_labels, queries, torch.tensor([0, 1, 0]), num_classes=2, k=2) == pytest.approx(2 / 3)
    x, y = blobs(400, 16, 4, seed=0)
    xt, yt = blobs(200, 16, 4, seed=1)
    assert knn_accuracy(x, y, xt, yt, num_classes=4, k=20) > 0.97


def test_extract_keeps_the_network_mode_and_returns_every_output():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    net.train()
    batches = [(torch.randn(5, 3), torch.arange(5)) for _ in range(2)]
    out, labels = extract(net, batches)
    assert out.shape == (10, 4) and labels.tolist() == list(range(5)) * 2 and net.training


def test_linear_eval_of_a_run_writes_linear_acc_and_embeddings(smoke_cfg, tmp_path):
    cfg = smoke_cfg("trainer.max_epochs=1", "data.val_size=48")
    run_dir = tmp_path / "run0"
    assert train(cfg)["linear_acc"] is None
    summary = evaluate_run(
        run_dir,
        OmegaConf.create({"epochs": 3, "optimizer": ADAM, "batch_size": 64, "embeddings": 40, "standardize": True}),
    )
    assert 0 <= summary["linear_acc"] <= 1
    assert json.loads((run_dir / "summary.json").read_text())["linear_acc"] == summary["linear_acc"]
    saved = torch.load(run_dir / EMBEDDINGS_FILE)
    assert saved["projections"].shape == (40, 32) and saved["labels"].shape == (40,)
    again = evaluate_run(
        run_dir,
        OmegaConf.create({"epochs": 3, "optimizer": ADAM, "batch_size": 64, "embeddings": 40, "standardize": True}),
    )
    assert again["linear_acc"] == summary["linear_acc"]  # deterministic


def test_linear_eval_of_a_run_that_did_not_end_ok_says_which_weights_it_evaluates(smoke_cfg, tmp_path, caplog):
    import logging

    cfg = smoke_cfg("trainer.max_epochs=1", "data.val_size=48")
    run_dir = tmp_path / "run0"
    train(cfg)
    record = json.loads((run_dir / "summary.json").read_text())  # as a run that diverged in its 2nd epoch
    record |= {"status": "diverged", "error": "loss became nan at epoch 2, step 5"}
    (run_dir / "summary.json").write_text(json.dumps(record))
    settings = {"epochs": 1, "optimizer": ADAM, "batch_size": 64, "embeddings": 40, "standardize": True}
    with caplog.at_level(logging.WARNING, logger="raft_lightning.linear_eval"):
        evaluate_run(run_dir, OmegaConf.create(settings))
    assert f"{run_dir} is diverged, not ok: evaluating its last checkpoint, after 1 epoch(s)" in caplog.text


def test_eval_literal_adds_the_papers_protocol_beside_the_standardised_one():
    """linear_acc_literal is the probe on the raw features, beside the standardised linear_acc.
    Features a thousand times too small tell the two apart (the fixed-lr probe cannot learn on
    them raw, test_standardizing_makes_the_probe_blind_to_feature_scale)."""
    x, y = blobs(600, 16, 5, seed=0)
    xt, yt = blobs(300, 16, 5, seed=1)

    class Scale(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(1e-3), requires_grad=False)

        def forward(self, images):
            return images * self.scale

    class Online(torch.nn.Module):  # f_θ: backbone = × 1e-3, projector = identity
        def __init__(self) -> None:
            super().__init__()
            self.backbone = Scale()

        def forward(self, images):
            h = self.backbone(images)
            return h, h

    class Data:
        num_classes = 5

        def plain_train_dataloader(self):
            return [(x[i : i + 100], y[i : i + 100]) for i in range(0, 600, 100)]

        def plain_val_dataloader(self):
            return [(xt, yt)]

    model = torch.nn.Module()
    model.online = Online()
    cfg = {"epochs": 20, "optimizer": {**ADAM, "lr": 1e-2}, "batch_size": 256, "embeddings": 10}
    both, _ = evaluate(model, Data(), OmegaConf.create({**cfg, "standardize": True, "literal": True}))
    raw, _ = evaluate(model, Data(), OmegaConf.create({**cfg, "standardize": False, "literal": True}))
    plain, _ = evaluate(model, Data(), OmegaConf.create({**cfg, "standardize": True, "literal": False}))
    assert both["linear_acc"] > 0.97 > 0.9 > both["linear_acc_literal"]  # the two protocols, each measured
    assert both["linear_acc_literal"] == raw["linear_acc"] == raw["linear_acc_literal"]
    assert plain == {"linear_acc": both["linear_acc"]}


def test_a_new_linear_evaluation_replaces_the_literal_accuracy_too(smoke_cfg, tmp_path):
    run_dir = tmp_path / "run0"
    train(smoke_cfg("trainer.max_epochs=1", "data.val_size=48"))

    def settings(**kw):
        return OmegaConf.create({"epochs": 3, "optimizer": ADAM, "batch_size": 64, "embeddings": 4, **kw})

    assert evaluate_run(run_dir, settings(standardize=True, literal=True))["linear_acc_literal"] is not None
    assert evaluate_run(run_dir, settings(standardize=True))["linear_acc_literal"] is None
    assert json.loads((run_dir / "summary.json").read_text())["linear_acc_literal"] is None


def test_eval_linear_true_runs_after_pretraining(smoke_cfg):
    summary = train(smoke_cfg("trainer.max_epochs=1", "eval.linear=true", "eval.epochs=2"))
    assert summary["status"] == "ok" and 0 <= summary["linear_acc"] <= 1 and 0 <= summary["knn_acc"] <= 1


def test_features_that_are_not_finite_give_no_accuracy_and_no_embeddings(smoke_cfg):
    """Finite weights can overflow (a run that diverged in its last update): the evaluation stops
    with DivergedError (the run is recorded diverged; raft-linear-eval exits 1) instead of fitting
    a classifier on infinities and saving embeddings every reader refuses."""
    from raft_lightning.contracts import DivergedError
    from raft_lightning.run.build import build

    cfg = smoke_cfg("data.val_size=48")
    datamodule, model, _ = build(cfg)
    datamodule.setup("fit")
    with torch.no_grad():
        for p in model.online.parameters():
            p.mul_(1e30)
    settings = OmegaConf.create(
        {"epochs": 1, "optimizer": ADAM, "batch_size": 64, "embeddings": 40, "standardize": True}
    )
    with pytest.raises(DivergedError, match="linear evaluation: the online network's .* are not finite"):
        evaluate(model, datamodule, settings)


def test_linear_eval_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        evaluate_run(
            tmp_path,
            OmegaConf.create({"epochs": 1, "optimizer": ADAM, "batch_size": 8, "embeddings": 1, "standardize": True}),
        )


def test_random_baseline_is_untrained_and_evaluated(smoke_cfg, tmp_path):
    cfg = smoke_cfg("loss=random", "eval.linear=true", "eval.epochs=2")
    summary = train(cfg)
    assert summary["status"] == "ok" and summary["epochs"] == 0 and summary["probe_acc"] is None
    assert summary["knn_acc"] is not None and summary["linear_acc"] is not None
    ckpt = torch.load(tmp_path / "run0" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    torch.manual_seed(cfg.seed)
    from raft_lightning.run.build import build_objective

    fresh = build_objective(cfg).state_dict()
    assert all(torch.equal(ckpt[k], fresh[k]) for k in fresh)  # the weights as initialised


def test_supervised_baseline_learns_the_labels(smoke_cfg):
    summary = train(smoke_cfg("loss=supervised", "trainer.max_epochs=6", "data.train_size=256"))
    assert summary["status"] == "ok" and summary["objective"] == "supervised"
    assert summary["probe_acc"] > 0.5  # 4 classes: chance is 0.25


def test_standardizing_makes_the_probe_blind_to_feature_scale():
    x, y = blobs(600, 16, 5, seed=0)
    xt, yt = blobs(300, 16, 5, seed=1)
    tiny = linear_accuracy(x * 1e-3, y, xt * 1e-3, yt, num_classes=5, epochs=20, lr=1e-2, standardize=False)
    assert tiny < 0.9  # a fixed-lr probe cannot scale up to features a thousand times smaller ...
    scaled = [linear_accuracy(x * s, y, xt * s, yt, num_classes=5, epochs=20, lr=1e-2) for s in (1e-3, 1.0, 1e3)]
    assert min(scaled) > 0.97 and max(scaled) - min(scaled) < 1e-6  # ... a standardised one sees the same data


@pytest.mark.parametrize(
    ("node", "lr"), [("eval/default.yaml:optimizer", 5e-4), ("callbacks/default.yaml:probe", 1e-3)]
)
def test_the_configured_optimisers_are_the_adam_the_code_used_to_build(node, lr):
    """eval.optimizer and callbacks.probe.optimizer are _partial_ nodes; built, they are Adam with
    the learning rate and every other default the hard-coded Adam had, so the numbers are the same."""
    from hydra.utils import instantiate

    file, key = node.split(":")
    config = OmegaConf.load(CONF / file)[key]
    config = config.optimizer if "optimizer" in config else config
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert instantiate(config)(params).defaults == torch.optim.Adam(params, lr=lr).defaults


def test_the_linear_evaluation_uses_its_optimizer_factory():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 6, generator=g), torch.arange(40) % 4
    default = linear_accuracy(x, y, x, y, num_classes=4, epochs=3, lr=5e-4)
    from hydra.utils import instantiate

    configured = linear_accuracy(x, y, x, y, num_classes=4, epochs=3, optimizer=instantiate(OmegaConf.create(ADAM)))
    assert configured == default  # bitwise: the same optimiser
    frozen = linear_accuracy(x, y, x, y, num_classes=4, epochs=3, optimizer=lambda p: torch.optim.SGD(p, lr=0.0))
    assert frozen == linear_accuracy(x, y, x, y, num_classes=4, epochs=0)  # lr 0: the classifier as initialised
