"""The checks no single ``_target_`` can make: values without a target (the linear evaluation,
the record), optimiser ranges (torch's classes only check at their first step), and one key
against another (predictor width and projector output, batch and devices, a variant and the
groups it sets)."""

from __future__ import annotations

import math

from omegaconf import DictConfig, OmegaConf

from raft_lightning.conf import CONF_DIR
from raft_lightning.objectives import SelfSupervised, has_teacher
from raft_lightning.run.schema import target_of
from raft_lightning.run.trainer_rules import accelerator_errors, devices_errors, precision_errors, trainer_errors
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
