"""The trainer's checks: Lightning's settings that would train nothing or not what the record
says (epochs, batch limits, devices, the accelerator and the precision), judged before the run;
``run.rules`` adds them to the checks across keys."""

from __future__ import annotations

import inspect

import torch
from omegaconf import DictConfig, OmegaConf

from raft_lightning.run.schema import target_of
from raft_lightning.values import integer_errors


def trainer_errors(trainer: DictConfig) -> list[str]:
    # 0 would "finish" with no epoch and no result; the untrained encoder is its own row (loss=random).
    errors = [
        e + " (the untrained encoder is loss=random)"
        for e in integer_errors("trainer.max_epochs", trainer.get("max_epochs"), 1)
    ]
    if trainer.get("fast_dev_run"):  # Lightning then saves no checkpoint and logs nothing: no run folder to read
        value = trainer.fast_dev_run
        errors.append(f"trainer.fast_dev_run={value!r}: not for a run; a quick check is experiment=smoke")
    # Lightning takes 0 as "train no batch" and finishes at once: a run with no result recorded ok.
    limit = trainer.get("limit_train_batches")
    if limit is not None and integer_errors("", limit, 1) and not (isinstance(limit, float) and 0 < limit <= 1):
        errors.append(f"trainer.limit_train_batches={limit!r}: an integer ≥ 1 (batches) or a fraction in (0, 1]")
    steps = trainer.get("max_steps")
    if steps is not None and steps != -1:
        errors += [e + " (or -1: no limit)" for e in integer_errors("trainer.max_steps", steps, 1)]
    devices = trainer.get("devices")
    if not (devices == "auto" or not integer_errors("", devices, 1) or device_indices(devices)):
        errors.append(f"trainer.devices={devices!r}: an integer ≥ 1, a list of device indices, or auto")
    if trainer.get("log_every_n_steps") is not None:
        errors += integer_errors("trainer.log_every_n_steps", trainer.log_every_n_steps, 1)
    if trainer.get("sync_batchnorm") and trainer.get("accelerator") == "cpu":
        # torch would raise deep inside the first forward pass ("SyncBatchNorm ... GPU modules").
        errors.append("trainer.sync_batchnorm=True: SyncBatchNorm runs on GPUs only; set trainer.accelerator=gpu")
    return errors


def devices_errors(cfg: DictConfig) -> list[str]:
    devices = cfg.trainer.get("devices")
    batch = cfg.data.get("batch_size")
    if isinstance(devices, int) and devices > 1 and isinstance(batch, int) and batch % devices:
        return [f"data.batch_size={batch}: must divide evenly over trainer.devices={devices} (it is the global batch)"]
    return []


def device_indices(devices: object) -> list[int] | None:
    """``trainer.devices`` as a list of device indices (OmegaConf hands a ListConfig), or None
    where it is none (a count, auto, an empty list, or one with an entry that is no index)."""
    indices = list(devices) if OmegaConf.is_list(devices) or isinstance(devices, list) else []
    return indices if indices and not any(integer_errors("", i, 0) for i in indices) else None


def on_cpu(cfg: DictConfig) -> bool:
    """Whether the run trains on the CPU: asked for, or auto where torch sees no GPU."""
    accelerator = cfg.trainer.get("accelerator")
    return accelerator == "cpu" or (accelerator in (None, "auto") and not torch.cuda.is_available())


def accelerator_errors(cfg: DictConfig) -> list[str]:
    """``trainer.accelerator=gpu`` where torch sees no GPU, and GPU indices for a run on the CPU
    (whose accelerator takes a number of processes): Lightning would stop once the run has begun.
    A sweep sent to SLURM is not judged here: its jobs run on the cluster's machines, and each
    checks again where it runs."""
    if sent_to_slurm(cfg):
        return []
    accelerator = cfg.trainer.get("accelerator")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        return [f"trainer.accelerator={accelerator}: torch sees no GPU here; use trainer.accelerator=cpu (or auto)"]
    indices = device_indices(cfg.trainer.get("devices"))
    if indices and on_cpu(cfg):
        return [f"trainer.devices={indices}: on a CPU, the number of processes (an integer ≥ 1)"]
    return []


def sent_to_slurm(cfg: DictConfig) -> bool:
    """A sweep whose jobs run on the cluster's machines: what this machine has says nothing of theirs."""
    return "Slurm" in str(OmegaConf.select(cfg, "hydra.launcher._target_", default=""))


# The precisions this suite runs (Lightning's names; 16, "16" and "bf16" are its short forms of
# the mixed ones). transformer-engine needs a package and a GPU this suite is not tested on.
PRECISIONS = ("64-true", "64", "32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16", "16-true", "bf16-true")


def _eps(optimizer: DictConfig) -> float | None:
    """The optimizer's eps as configured, else its constructor's default (None: it has none)."""
    if optimizer.get("eps") is not None:
        try:
            return float(optimizer.eps)
        except (TypeError, ValueError):  # not a number: the optimizer's own check names it
            return None
    try:
        default = inspect.signature(target_of(optimizer._target_)).parameters.get("eps")
    except Exception:  # an unknown target: target_errors says so
        return None
    return default.default if default is not None and isinstance(default.default, (int, float)) else None


def precision_errors(cfg: DictConfig) -> list[str]:
    """Precisions that would not run what the record says. A name Lightning does not take (or
    one this suite does not run) is refused first. Float16 weights (16-true) with an optimizer
    whose eps is 0 in float16 (Adam's 1e-8, RMSprop's, Adagrad's…): the first step divides by 0
    and the run would read "diverged", a result about the method. Float16 autocast (16-mixed) on
    a CPU: Lightning runs bf16-mixed instead, while config.yaml and the report's rows say
    16-mixed. A sweep sent to SLURM is judged where its jobs run, as in accelerator_errors."""
    precision = str(cfg.trainer.get("precision"))
    if precision not in PRECISIONS:
        return [f"trainer.precision={precision}: one of {', '.join(PRECISIONS)}"]
    eps = _eps(cfg.optimizer) if OmegaConf.is_dict(cfg.get("optimizer")) else None
    if precision == "16-true" and eps is not None and float(torch.tensor(eps, dtype=torch.float16)) == 0.0:
        name = str(cfg.optimizer._target_).rsplit(".", 1)[-1]
        return [
            f"trainer.precision=16-true: float16 weights with {name}, whose eps ({eps:g}) is 0 in float16 (the "
            "first step divides by zero); use bf16-true, bf16-mixed or 32-true, or an optimizer.eps float16 can hold"
        ]
    if precision in ("16-mixed", "16") and on_cpu(cfg) and not sent_to_slurm(cfg):
        return [
            f"trainer.precision={precision}: float16 autocast needs a GPU; on a CPU Lightning would run bf16-mixed "
            "while the record says 16-mixed: set trainer.precision=bf16-mixed"
        ]
    return []
