"""Training options of the fast path (channels_last, fused Adam, torch.compile, the batched
pipeline), the GPU preset, and a training step that never reads a tensor on the host."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from raft_lightning.run.build import build, build_objective
from raft_lightning.run.train import train
from raft_lightning.run.validation import config_errors
from tests.conftest import compose_run, run_cli

# The ops that read a tensor's data on the host: on a GPU each one waits for the device.
HOST_READS = {"_local_scalar_dense", "nonzero", "is_nonzero", "equal"}


class HostReads(TorchDispatchMode):
    """Records every op that needs a tensor's value on the host, except reads of ``ignored``."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []
        self.ignored: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.__name__.split(".")[0] in HOST_READS and not (args and id(args[0]) in self.ignored):
            self.reads.append(func.__name__)
        return func(*args, **(kwargs or {}))


class WatchSteps(L.Callback):
    """Watches each training step after the first, from its start to the end of the last
    callback's batch-end hook (this callback comes last): forward, backward, optimiser, EMA,
    probe, guard. Optimisers' step counters are ignored: torch keeps them on the CPU, even when
    training on a GPU, so that reading them never waits for the device."""

    def __init__(self) -> None:
        self.mode, self.steps, self.watching = HostReads(), 0, False

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == 0:
            return
        probe = next(c for c in trainer.callbacks if type(c).__name__ == "OnlineProbe")
        optimizers = [*trainer.optimizers, probe.optimizer]
        self.mode.ignored = {id(s["step"]) for o in optimizers for s in o.state.values() if "step" in s}
        self.watching = True
        self.mode.__enter__()

    def on_train_batch_end(self, *args) -> None:
        if self.watching:
            self.mode.__exit__(None, None, None)
            self.steps += 1
            self.watching = False


def test_training_step_reads_nothing_on_the_host(smoke_cfg):
    # The GPU preset's settings: the divergence check every 100 steps, and at each epoch's last
    # step (the one read of this 3-step epoch); Lightning's logger reads values every
    # log_every_n_steps, after the step.
    cfg = smoke_cfg("data.pipeline=batched", "callbacks.divergence.check_every_n_steps=100", "trainer.max_epochs=1")
    L.seed_everything(0)
    datamodule, model, trainer = build(cfg)
    watch = WatchSteps()
    trainer.callbacks.append(watch)
    trainer.fit(model, datamodule=datamodule)
    assert watch.steps == 3 and watch.mode.reads == ["_local_scalar_dense.default"]
    # The check itself: the default guard reads the loss every step, and it is seen.
    cfg = smoke_cfg("trainer.max_epochs=1")
    datamodule, model, trainer = build(cfg)
    watch = WatchSteps()
    trainer.callbacks.append(watch)
    trainer.fit(model, datamodule=datamodule)
    assert watch.mode.reads.count("_local_scalar_dense.default") >= watch.steps == 3


def test_channels_last_fused_adam_and_batched_pipeline_train(smoke_cfg):
    cfg = smoke_cfg("data.pipeline=batched", "fast.channels_last=true", "optimizer.fused=true", "trainer.max_epochs=1")
    module = build_objective(cfg)
    conv = next(m for m in module.online.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert module.configure_optimizers().defaults["fused"] is True
    summary = train(cfg)
    assert summary["status"] == "ok", summary["error"]


def test_compile_wraps_the_networks_and_keeps_their_names(smoke_cfg):
    cfg = smoke_cfg("fast.compile=eager")  # the eager backend: dynamo's tracing, no code generation
    torch.manual_seed(0)
    compiled = build_objective(cfg)
    torch.manual_seed(0)
    plain = build_objective(smoke_cfg())
    assert compiled.state_dict().keys() == plain.state_dict().keys()
    assert all(net._compiled_call_impl is not None for net in (compiled.online, compiled.target, compiled.predictor))
    x = torch.randn(4, 3, 16, 16)
    compiled.eval(), plain.eval()
    assert torch.allclose(compiled.online(x)[1], plain.online(x)[1], atol=1e-6)
    with torch.no_grad():  # the compiled teacher runs its own weights, not the online network's
        for p in compiled.target.parameters():
            p.add_(1.0)
        assert not torch.allclose(compiled.target(x)[1], compiled.online(x)[1])


def test_bad_fast_path_values_are_named(tmp_path):
    cfg = compose_run("data=synthetic", "fast.compile=turbo", "data.pipeline=gpu", run_dir=tmp_path)
    errors = config_errors(cfg)
    assert len(errors) == 2
    assert errors[0].startswith("fast.compile='turbo': true, false or the name of a torch.compile backend")
    assert errors[1] == "data.pipeline='gpu': choose one of torchvision, batched"


def test_paper_gpu_is_the_paper_plus_speed_settings(tmp_path):
    paper = compose_run("experiment=paper", run_dir=tmp_path)
    fast = compose_run("experiment=paper_gpu", run_dir=tmp_path)
    assert fast.model == paper.model and fast.predictor == paper.predictor
    assert fast.data.image_size == 96 and fast.data.batch_size == 128 and fast.trainer.max_epochs == 300
    assert fast.optimizer.lr == paper.optimizer.lr and fast.teacher == paper.teacher
    assert (fast.data.pipeline, fast.fast.channels_last, fast.optimizer.fused) == ("batched", True, True)
    assert (fast.trainer.accelerator, fast.trainer.precision) == ("gpu", "bf16-mixed")
    assert fast.callbacks.divergence.check_every_n_steps == 100
    assert (paper.data.pipeline, paper.fast.channels_last, paper.fast.compile) == ("torchvision", False, False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_step_has_no_host_sync(tmp_path):
    """On a GPU: CUDA's own sync debug mode, over real steps of the GPU preset (small model)."""
    cfg = compose_run(
        "experiment=paper_gpu",
        "data=synthetic",
        "data.pipeline=batched",
        "model=convnet",
        "data.image_size=32",
        "trainer.max_epochs=1",
        "logger=none",
        run_dir=tmp_path,
    )
    datamodule, model, trainer = build(cfg)

    class Strict(L.Callback):
        def on_train_batch_start(self, trainer, *args):
            if trainer.global_step >= 1:
                torch.cuda.set_sync_debug_mode("error")

        def on_train_batch_end(self, *args):
            torch.cuda.set_sync_debug_mode("default")

    trainer.callbacks.append(Strict())
    trainer.fit(model, datamodule=datamodule)


@pytest.mark.slow
def test_runs_packed_by_the_submitit_local_launcher(tmp_path):
    """The README's packing recipe, on the CPU: both jobs of the batch start together."""
    result = run_cli(
        "-m",
        "experiment=smoke",
        "seed=0,1",
        "trainer.max_epochs=1",
        "data.pipeline=batched",
        "hydra/launcher=submitit_local",
        "hydra.launcher.gpus_per_node=1",
        "hydra.launcher.timeout_min=10",
        "hydra.sweeper.max_batch_size=2",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*/summary.json"))]
    assert [(r["seed"], r["status"]) for r in runs] == [(0, "ok"), (1, "ok")]
    log = result.stdout + result.stderr
    assert log.count("Submitit 'local' sweep output dir") == 1 and "#1 : " in log  # one batch of both jobs
