"""The checks no single ``_target_`` can make: values without a target (the linear evaluation,
the record), optimiser ranges (torch's classes only check at their first step), and one key
against another (predictor width and projector output, batch and devices, a variant and the
groups it sets)."""

from __future__ import annotations

import inspect
import math

import torch
from omegaconf import DictConfig, OmegaConf

from raft_lightning.conf import CONF_DIR
from raft_lightning.objectives import SelfSupervised, has_teacher
from raft_lightning.run.schema import target_of
from raft_lightning.values import FLOAT32_MAX, integer_errors, number_errors

SEED_MAX = 2**32 - 1  # numpy's generators, which Lightning's seed_everything seeds, take no larger seed


def run_errors(cfg: DictConfig, choices: dict[str, str]) -> list[str]:
    return [
        *trainer_errors(cfg.trainer),
        *eval_errors(cfg.eval),
        *optimizer_errors(cfg.optimizer),
        *(  # a callback's own optimiser (the probe's)
            e
            for name, node in (cfg.get("callbacks") or {}).items()
            if OmegaConf.is_dict(node) and OmegaConf.is_dict(node.get("optimizer"))
            for e in optimizer_errors(node.optimizer, f"callbacks.{name}.optimizer")
        ),
        *predictor_errors(cfg),
        *devices_errors(cfg),
        *accelerator_errors(cfg),
        *precision_errors(cfg),
        *labels_errors(cfg),
        *(tag_errors(cfg.get("tags")) or wandb_tag_errors(cfg)),
        *objective_errors(cfg),
        *teacher_errors(cfg),
        *directpred_errors(cfg, choices),
        *variant_errors(choices),
        *integer_errors("record.last_epochs", cfg.record.last_epochs, 1),
        *(
            []
            if isinstance(cfg.record.get("keep_previous", False), bool)
            else [f"record.keep_previous={cfg.record.keep_previous!r}: must be true or false"]
        ),
        *integer_errors("seed", cfg.seed, 0, SEED_MAX),
        *([] if isinstance(cfg.resume, bool) else [f"resume={cfg.resume!r}: must be true or false"]),
    ]


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
    if limit is not None and not (
        (isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1)
        or (isinstance(limit, float) and 0 < limit <= 1)
    ):
        errors.append(f"trainer.limit_train_batches={limit!r}: an integer ≥ 1 (batches) or a fraction in (0, 1]")
    steps = trainer.get("max_steps")
    if steps is not None and steps != -1:
        errors += [e + " (or -1: no limit)" for e in integer_errors("trainer.max_steps", steps, 1)]
    devices = trainer.get("devices")
    if not (
        devices == "auto"
        or isinstance(devices, list)
        or (isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1)
    ):
        errors.append(f"trainer.devices={devices!r}: an integer ≥ 1, a list of device indices, or auto")
    if trainer.get("log_every_n_steps") is not None:
        errors += integer_errors("trainer.log_every_n_steps", trainer.log_every_n_steps, 1)
    if trainer.get("sync_batchnorm") and trainer.get("accelerator") == "cpu":
        # torch would raise deep inside the first forward pass ("SyncBatchNorm ... GPU modules").
        errors.append("trainer.sync_batchnorm=True: SyncBatchNorm runs on GPUs only; set trainer.accelerator=gpu")
    return errors


def eval_errors(eval_cfg: DictConfig) -> list[str]:
    errors = []
    for key in ("linear", "standardize", "literal"):
        if not isinstance(eval_cfg[key], bool):
            errors.append(f"eval.{key}={eval_cfg[key]!r}: must be true or false")
    errors += integer_errors("eval.epochs", eval_cfg.epochs, 1)
    errors += optimizer_errors(eval_cfg.optimizer, "eval.optimizer")
    errors += integer_errors("eval.batch_size", eval_cfg.batch_size, 1)
    errors += integer_errors("eval.embeddings", eval_cfg.embeddings, 0)
    return errors


def optimizer_errors(optimizer: DictConfig, path: str = "optimizer") -> list[str]:
    """Ranges torch's optimisers only check when they are built, deep inside ``fit``."""
    # At most the largest float32: the optimisers multiply float32 tensors by them, and a larger
    # value fails the first step ("cannot be converted to type float without overflow").
    errors = number_errors(f"{path}.lr", optimizer.get("lr"), 0, FLOAT32_MAX, closed_low=False)
    if "weight_decay" in optimizer:
        errors += number_errors(f"{path}.weight_decay", optimizer.weight_decay, 0, FLOAT32_MAX)
    if "momentum" in optimizer:
        errors += number_errors(f"{path}.momentum", optimizer.momentum, 0, 1)
    if "eps" in optimizer:  # Adam's: torch refuses a negative one only when it is built
        errors += number_errors(f"{path}.eps", optimizer.eps, 0, FLOAT32_MAX)
    checked = ("lr", "weight_decay", "momentum", "betas", "eps")
    for key, value in optimizer.items():  # any other number it takes: a float32 one, as the above
        if key not in checked and isinstance(value, float) and not (math.isfinite(value) and abs(value) <= FLOAT32_MAX):
            errors.append(f"{path}.{key}={value!r}: must be a finite number of at most {FLOAT32_MAX:g} in size")
    if "betas" in optimizer:
        betas = OmegaConf.to_container(optimizer.betas) if OmegaConf.is_config(optimizer.betas) else optimizer.betas
        if not (
            isinstance(betas, (list, tuple)) and len(betas) == 2 and all(not number_errors("b", b, 0, 1) for b in betas)
        ):
            errors.append(f"{path}.betas={betas!r}: two numbers in [0, 1)")
    return errors


def predictor_errors(cfg: DictConfig) -> list[str]:
    """q_w maps a projection to a prediction of a projection: both of the projector's width."""
    width = cfg.model.projector.get("output_dim")
    errors = []
    for key in ("dim", "input_dim", "output_dim"):
        value = cfg.predictor.get(key)
        if value is not None and width is not None and value != width:
            errors.append(
                f"predictor.{key}={value!r}: must equal model.projector.output_dim={width} "
                "(the predictor maps projections to predictions of projections)"
            )
    return errors


def devices_errors(cfg: DictConfig) -> list[str]:
    devices = cfg.trainer.get("devices")
    batch = cfg.data.get("batch_size")
    if isinstance(devices, int) and devices > 1 and isinstance(batch, int) and batch % devices:
        return [f"data.batch_size={batch}: must divide evenly over trainer.devices={devices} (it is the global batch)"]
    return []


def accelerator_errors(cfg: DictConfig) -> list[str]:
    """``trainer.accelerator=gpu`` where torch sees no GPU: Lightning would stop once the run has
    begun. A sweep sent to SLURM is not judged here: its jobs run on the cluster's machines, and
    each checks again where it runs."""
    accelerator = cfg.trainer.get("accelerator")
    if accelerator not in ("gpu", "cuda") or torch.cuda.is_available():
        return []
    if sent_to_slurm(cfg):
        return []
    return [f"trainer.accelerator={accelerator}: torch sees no GPU here; use trainer.accelerator=cpu (or auto)"]


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
    accelerator = cfg.trainer.get("accelerator")
    on_cpu = accelerator == "cpu" or (accelerator in (None, "auto") and not torch.cuda.is_available())
    if precision in ("16-mixed", "16") and on_cpu and not sent_to_slurm(cfg):
        return [
            f"trainer.precision={precision}: float16 autocast needs a GPU; on a CPU Lightning would run bf16-mixed "
            "while the record says 16-mixed: set trainer.precision=bf16-mixed"
        ]
    return []


def labels_errors(cfg: DictConfig) -> list[str]:
    """loss=supervised learns from every training image's label; STL-10's unlabelled images
    (data.unlabeled) have none."""
    supervised = str(cfg.loss.get("_target_", "")).endswith(".Supervised")
    if supervised and cfg.data.get("unlabeled") is True:
        return [
            "data.unlabeled=True: loss=supervised trains on labels, and the unlabelled images have none; "
            "set data.unlabeled=false (the labelled images only)"
        ]
    return []


def tag_errors(tags: object) -> list[str]:
    """``tags`` is a list of labels (strings or numbers): ``tags=ablation`` would be read letter by
    letter wherever the list is read."""
    if tags is None or (OmegaConf.is_list(tags) and all(isinstance(t, (str, int, float)) for t in tags)):
        return []
    shown = OmegaConf.to_container(tags) if OmegaConf.is_config(tags) else tags
    one = f" (tags=[{shown}] for one)" if isinstance(shown, (str, int, float)) else ""
    return [f"tags={shown!r}: a list of labels, e.g. tags=[ablation,v2]{one}"]


WANDB_TAG_MAX = 64  # characters: W&B refuses a longer (or empty) tag when the run starts (a pydantic error)


def wandb_tag_errors(cfg: DictConfig) -> list[str]:
    """Your ``tags=[...]`` become W&B tags where a W&B logger is configured."""
    loggers = cfg.get("logger") or {}
    if not any("WandbLogger" in str(node.get("_target_", "")) for node in loggers.values() if OmegaConf.is_dict(node)):
        return []
    tags = cfg.get("tags") or []
    bad = [str(t) for t in tags if not 1 <= len(str(t)) <= WANDB_TAG_MAX]
    if not bad:
        return []
    shown = bad[0] if len(bad[0]) <= 40 else bad[0][:40] + "…"
    return [f"tags=[{shown}]: a W&B tag has 1 to {WANDB_TAG_MAX} characters; this one has {len(bad[0])}"]


def objective_errors(cfg: DictConfig) -> list[str]:
    """``loss._target_`` names an objective: a ``SelfSupervised`` class with its own step (its
    ``targets`` and ``objective``; a baseline that never trains needs neither)."""
    target = cfg.loss.get("_target_")
    try:
        cls = target_of(str(target))
    except Exception:  # named by validation as a _target_ that cannot be imported
        return []
    if not (isinstance(cls, type) and issubclass(cls, SelfSupervised)):
        return [f"loss._target_={target!r}: not an objective (a subclass of raft_lightning.objectives.SelfSupervised)"]
    own = [m for m in ("targets", "objective") if getattr(cls, m) is not getattr(SelfSupervised, m)]
    if cls.pretrain and len(own) < 2:
        missing = " and ".join(m for m in ("targets", "objective") if m not in own)
        return [f"loss._target_={target!r}: a base class, its {missing} not defined (docs/extending.md: add a method)"]
    return []


def teacher_errors(cfg: DictConfig) -> list[str]:
    """An objective with a mean teacher needs the teacher group (its EMA rule)."""
    target = cfg.loss.get("_target_")
    try:
        with_teacher = has_teacher(target_of(str(target)))
    except Exception:  # named by validation as a _target_ that cannot be imported
        return []
    if with_teacher and cfg.get("teacher") is None:
        options = ", ".join(sorted(p.stem for p in (CONF_DIR / "teacher").glob("*.yaml")))
        return [f"teacher=null: {target.rsplit('.', 1)[-1]} has a mean teacher; choose one of {options}"]
    return []


def directpred_errors(cfg: DictConfig, choices: dict[str, str]) -> list[str]:
    """DirectPred sets a linear predictor W_p from its input's correlation; another q_w has no W."""
    directpred = str(cfg.loss.get("_target_", "")).endswith(".DirectPred")
    if directpred and not str(cfg.predictor.get("_target_", "")).endswith(".LinearPredictor"):
        name = choices.get("predictor") or cfg.predictor.get("_target_")
        return [
            f"predictor={name}: loss=directpred sets a linear predictor from its input's correlation; "
            "use predictor=linear"
        ]
    return []


def variant_groups(variant: str) -> dict[str, str]:
    """The groups a variant sets: ``override /loss: byol`` in conf/variant/<variant>.yaml."""
    path = CONF_DIR / "variant" / f"{variant}.yaml"
    if not path.is_file():
        return {}
    sets: dict[str, str] = {}
    for entry in OmegaConf.load(path).get("defaults") or []:
        for key, value in entry.items() if hasattr(entry, "items") else []:
            sets[str(key).removeprefix("override ").lstrip("/")] = str(value)
    return sets


def variant_errors(choices: dict[str, str]) -> list[str]:
    """A variant names a row of the paper's table; overriding one of its groups as well would
    train another row under its name."""
    variant = choices.get("variant")
    if not variant:
        return []
    return [
        f"variant={variant}: sets {group}={option}, but {group}={choices[group]} was given too; "
        f"drop one of them (or use loss=... predictor=... without a variant)"
        for group, option in variant_groups(variant).items()
        if group in choices and choices[group] != option
    ]
