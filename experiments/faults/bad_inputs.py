"""Bad values on the command line: each must be refused before anything trains, with one message
that names the key (``key=value: what is allowed``), and no traceback."""

from __future__ import annotations

from pathlib import Path

from experiments.faults.harness import Outcome, run

BASE = ("experiment=smoke", "logger=none")  # 128 training images, batch 32

# (overrides, the key the message must name)
BAD_INPUTS: list[tuple[tuple[str, ...], str]] = [
    (("loss.alpha=-1",), "loss.alpha"),
    (("loss.alpha=abc",), "loss.alpha"),
    (("loss=raft", "loss.beta=nan"), "loss.beta"),
    (("loss=raft", "loss.beta=inf"), "loss.beta"),
    (("loss.alpha=2",), "loss.alpha"),
    (("loss.tangential=maybe",), "loss.tangential"),
    (("+loss.gamma=1",), "loss.gamma"),
    (("teacher.tau=1.0",), "teacher.tau"),
    (("teacher.tau=-0.5",), "teacher.tau"),
    (("teacher.tau=abc",), "teacher.tau"),
    (("teacher.schedule=linear",), "teacher.schedule"),
    (("teacher.final_tau=2",), "teacher.final_tau"),
    (("callbacks.knn.k=0",), "callbacks.knn.k"),
    (("callbacks.knn.temperature=0",), "callbacks.knn.temperature"),
    (("callbacks.knn.every_n_epochs=0",), "callbacks.knn.every_n_epochs"),
    (("callbacks.probe.optimizer.lr=-1",), "callbacks.probe.optimizer.lr"),
    (("callbacks.probe.optimizer.lr=abc",), "callbacks.probe.optimizer.lr"),
    (("callbacks.divergence.check_every_n_steps=0",), "callbacks.divergence.check_every_n_steps"),
    (("callbacks.preemption.signals=[SIGKILL]",), "callbacks.preemption.signals"),
    (("optimizer.lr=-1",), "optimizer.lr"),
    (("optimizer.lr=abc",), "optimizer.lr"),
    (("optimizer.lr=0",), "optimizer.lr"),
    (("optimizer.weight_decay=-0.1",), "optimizer.weight_decay"),
    (("optimizer=sgd", "optimizer.momentum=1.5"), "optimizer.momentum"),
    (("+optimizer.betas=[0.9,1.5]",), "optimizer.betas"),
    (("optimizer.fused=maybe",), "optimizer.fused"),
    (("data.batch_size=1",), "data.batch_size"),
    (("data.batch_size=abc",), "data.batch_size"),
    (("data.batch_size=1000",), "data.batch_size"),
    (("data.train_size=0",), "data.train_size"),
    (("data.val_size=0",), "data.val_size"),
    (("data.image_size=4",), "data.image_size"),
    (("data.num_workers=-1",), "data.num_workers"),
    (("data.pipeline=gpu",), "data.pipeline"),
    (("data.num_classes=1",), "data.num_classes"),
    (("experiment=demo", "data.root=/nonexistent"), "data.root"),
    (("experiment=demo", "data.train_subset=0"), "data.train_subset"),
    (("experiment=demo", "data.train_subset=100000"), "data.train_subset"),
    (("experiment=demo", "data=cifar10", "data.root=/nonexistent"), "data.root"),
    (("model.backbone.name=vgg",), "model.backbone.name"),
    (("model.backbone.width=0",), "model.backbone.width"),
    (("model.backbone.width=abc",), "model.backbone.width"),
    (("model.projector.hidden_dim=0",), "model.projector.hidden_dim"),
    (("model.projector.output_dim=abc",), "model.projector.output_dim"),
    (("predictor=linear", "predictor.dim=64"), "predictor.dim"),
    (("predictor=linear", "predictor.init=zeros"), "predictor.init"),
    (("predictor=mlp", "predictor.hidden_dim=0"), "predictor.hidden_dim"),
    (("predictor=mlp", "predictor.output_dim=64"), "predictor.output_dim"),
    (("predictor=linear", "predictor.negate_init=maybe"), "predictor.negate_init"),
    (("trainer.max_epochs=-1",), "trainer.max_epochs"),
    (("trainer.max_epochs=abc",), "trainer.max_epochs"),
    (("trainer.log_every_n_steps=0",), "trainer.log_every_n_steps"),
    (("trainer.devices=0",), "trainer.devices"),
    (("trainer.sync_batchnorm=true",), "trainer.sync_batchnorm"),
    (("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=3"), "data.batch_size"),
    (("eval.epochs=-1",), "eval.epochs"),
    (("eval.epochs=0",), "eval.epochs"),
    (("eval.optimizer.lr=0",), "eval.optimizer.lr"),
    (("eval.batch_size=0",), "eval.batch_size"),
    (("eval.embeddings=-1",), "eval.embeddings"),
    (("eval.standardize=maybe",), "eval.standardize"),
    (("eval.linear=maybe",), "eval.linear"),
    (("record.last_epochs=0",), "record.last_epochs"),
    (("seed=-1",), "seed"),
    (("seed=abc",), "seed"),
    (("resume=maybe",), "resume"),
    (("variant=byol_mlp", "predictor=none"), "variant"),
    (("variant=raft_lp", "loss=byol"), "variant"),
    (("fast.compile=turbo",), "fast.compile"),
    (("fast.channels_last=maybe",), "fast.channels_last"),
    (("loss=simclr",), "loss"),
]


def check(overrides: tuple[str, ...], key: str, run_dir: Path) -> Outcome:
    """Refused (exit code ≠ 0), the key named, no traceback, and nothing trained."""
    base = () if any(o.startswith("experiment=") for o in overrides) else BASE  # the demo's data cases
    done = run(*base, *overrides, "logger=none", f"hydra.run.dir={run_dir}", timeout=120)
    out = done.stdout
    named = f"{key}=" in out or f"'{key}/" in out  # Hydra's own: Could not find 'loss/simclr'
    trained = (run_dir / "checkpoints").exists() or (run_dir / "metrics.csv").exists()
    ok = done.returncode != 0 and named and "Traceback" not in out and not trained
    lines = [line.strip() for line in out.splitlines() if key in line or "Could not" in line]
    observed = (lines[0] if lines else out.strip().splitlines()[-1] if out.strip() else "(no output)")[:140]
    if trained:
        observed = "TRAINED: " + observed
    return Outcome(" ".join(overrides), f"refused before training, naming {key}", observed, ok)
