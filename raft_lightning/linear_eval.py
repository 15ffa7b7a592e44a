"""Offline linear evaluation (Appendix C): ``raft-linear-eval run_dir=<run dir>``
(or ``python -m raft_lightning.linear_eval``).

Freezes the online encoder of the run's last checkpoint, extracts backbone features of the
training images (all of them, un-augmented) and the test images once, trains a linear classifier
on the cached features for 100 epochs with lr 5e-4 (Adam: the paper names no optimiser) and
records the test accuracy as ``linear_acc`` in the run's summary.json, with the settings it used.
It also saves the test projections f_θ(x) of up to ``eval.embeddings`` images to embeddings.pt
for the report's figures.

The folder is data (``raft_lightning.readers``): its checkpoint loads with ``weights_only=True``
(falling back to last.prev.ckpt when last.ckpt is damaged), its config is built only if it
names the package's own code (or what ``trust=[...]`` lists). The evaluation holds the folder's
lock, so it never interleaves with a training of the same run.

Exit status: 0 evaluated and recorded; 1 the folder could not be evaluated (damaged or missing
files, untrusted config, in use, a full disk: one line says which); 2 a bad command line;
128 + n stopped by signal n (nothing written).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from raft_lightning.callbacks import interruption
from raft_lightning.conf import CONF_DIR, SEARCH_PATH
from raft_lightning.contracts import DivergedError
from raft_lightning.data import DataCorruptError, DataNotFoundError
from raft_lightning.data.image_folder import DataChanged
from raft_lightning.data.workers import error_message, workers_ended
from raft_lightning.evaluation.linear import evaluate
from raft_lightning.files import CONFIG_FILE, SUMMARY_FILE, NotWritten
from raft_lightning.lock import FolderBusy, FolderLock
from raft_lightning.readers import DamagedFile, read_checkpoint, recorded_data_files
from raft_lightning.run.build import UntrustedConfig, build_data, load_run
from raft_lightning.run.checkpoints import NoReadableCheckpoint
from raft_lightning.run.command_line import compose_problems
from raft_lightning.run.record import RunRecord
from raft_lightning.run.resolvers import register_resolvers
from raft_lightning.run.rules import eval_errors
from raft_lightning.run.signals import interruptible
from raft_lightning.run.train import evaluation_settings
from raft_lightning.run.validation import ConfigError, target_errors

log = logging.getLogger(__name__)
FAILURES = (
    DivergedError,  # features that are not numbers: nothing recorded
    DamagedFile,
    UntrustedConfig,
    ConfigError,
    NoReadableCheckpoint,
    FileNotFoundError,
    FolderBusy,
    OSError,
    DataCorruptError,  # an image file that cannot be decoded: named, one line
    DataNotFoundError,
    DataChanged,  # an image folder that holds other images than when the run trained
)


def evaluate_run(
    run_dir: str | Path, eval_cfg: DictConfig, trusted: frozenset[str] = frozenset(), data_root: str | None = None
) -> dict[str, Any]:
    """Evaluate the run in ``run_dir`` and record the result there (holding its lock); its data
    from ``data_root`` where they moved (an image folder: the images its record names, checked)."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file() or not (run_dir / SUMMARY_FILE).is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory: it needs {CONFIG_FILE} and {SUMMARY_FILE}")
    with FolderLock(run_dir), interruptible():
        record = RunRecord.load(run_dir)
        if record is None:
            raise FileNotFoundError(f"{run_dir / SUMMARY_FILE}: missing or damaged (set aside): no record to add to")
        cfg, model, checkpoint = load_run(run_dir, trusted, data_root)
        trained_on = recorded_data_files(record.data_files, read_checkpoint(checkpoint, mmap=True), checkpoint)
        datamodule = build_data(cfg, trained_on)
        # Data whose files can change (an image folder, whatever its config is named) moved without
        # a recorded digest: nothing tells whether the folder named now holds the run's images.
        if data_root is not None and trained_on is None and datamodule.files_record() is not None:
            raise DataChanged(
                f"data_root={data_root}: the run recorded no digest of its images (data_files: it predates "
                "them), so another folder cannot be checked to hold them; evaluate it where its config says"
            )
        if record.status != "ok":  # e.g. diverged: the weights are those of its last epoch that ended
            log.warning(
                "%s is %s, not ok: evaluating its last checkpoint, after %d epoch(s)",
                run_dir,
                record.status,
                record.epochs,
            )
        try:
            accuracies, embeddings = evaluate(model, datamodule, eval_cfg, seed=cfg.seed)
        except DivergedError as e:  # which weights gave features that are not numbers
            raise DivergedError(f"{e} (the weights of {checkpoint})") from None
        # The record names the checkpoint the accuracy is of: where last.ckpt was damaged (and is
        # now set aside) that is the one before it, and the record must not name a file that is gone.
        record.checkpoint = checkpoint.relative_to(run_dir).as_posix()
        record.save_linear_evaluation(run_dir, accuracies, embeddings, evaluation_settings(eval_cfg))
    for key, accuracy in accuracies.items():
        log.info("%s %.4f (weights of %s) written to %s", key, accuracy, checkpoint.name, run_dir / SUMMARY_FILE)
    return record.as_dict()


def settings_errors(eval_cfg: DictConfig) -> list[str]:
    """The evaluation's settings are conf/eval/default.yaml's keys, each with a value: a key added
    (``+eval.epoch=3``, a typo that would evaluate with the default) or removed (``~eval.epochs``)
    is one line; then the values (``rules.eval_errors``) and the optimiser's target."""
    settings = OmegaConf.load(CONF_DIR / "eval" / "default.yaml")
    added = [
        f"eval.{k}: not a setting of the evaluation ({', '.join(settings)})" for k in eval_cfg if k not in settings
    ]
    removed = [f"~eval.{k}: the evaluation needs it; give a value instead" for k in settings if k not in eval_cfg]
    if added or removed:
        return added + removed
    return eval_errors(eval_cfg) + target_errors(eval_cfg.optimizer, "eval.optimizer")


@hydra.main(version_base="1.3", config_path=SEARCH_PATH, config_name="linear_eval")
def hydra_main(cfg: DictConfig) -> None:
    errors = settings_errors(cfg.eval) + _trust_errors(cfg.trust)
    errors += data_root_errors(cfg.data_root)
    if errors:
        print("raft-linear-eval: " + "\n  ".join(errors), file=sys.stderr)
        raise SystemExit(2)
    try:
        with workers_ended():  # a stopped loader's workers would hold the exit forever
            summary = evaluate_run(cfg.run_dir, cfg.eval, frozenset(cfg.trust), cfg.data_root)
    except Exception as e:
        if (stopped := interruption(e)) is not None:  # a signal, even where a library's call wrapped it
            print(f"raft-linear-eval: run_dir={cfg.run_dir}: {stopped}; nothing was written", file=sys.stderr)
            raise SystemExit(128 + stopped.signum) from None
        if not isinstance(e, FAILURES):
            raise
        reason = e.strerror if isinstance(e, OSError) and not isinstance(e, NotWritten) and e.strerror else e
        reason = error_message(reason) if isinstance(reason, BaseException) else reason
        if isinstance(e, ConfigError):  # the run's config.yaml as it reads now: its problems on one line
            reason = "its config is not valid here: " + "; ".join(e.errors)
            if cfg.data_root is None and any(error.startswith("data.root=") for error in e.errors):
                reason += "; if the data moved, data_root=<folder> says where they are now"
        print(f"raft-linear-eval: run_dir={cfg.run_dir}: {reason}", file=sys.stderr)
        raise SystemExit(1) from None
    literal = summary.get("linear_acc_literal")
    print(
        f"{cfg.run_dir}: linear_acc = {summary['linear_acc']:.4f}"
        + (f", linear_acc_literal = {literal:.4f}" if literal is not None else "")
    )


def data_root_errors(data_root: Any) -> list[str]:
    """``data_root``: unset, or a folder that exists (a number Hydra parsed needs quotes)."""
    if data_root is None:
        return []
    if not (isinstance(data_root, str) and data_root.strip()):
        quote = " (a name Hydra reads as a number needs quotes: data_root='7')"
        return [f"data_root={data_root!r}: the folder where the run's data are now{quote}"]
    if not os.path.isdir(data_root):
        return [f"data_root={data_root}: {'a file, not a folder' if os.path.exists(data_root) else 'no such folder'}"]
    return []


def _trust_errors(trust: Any) -> list[str]:
    values = OmegaConf.to_container(trust) if OmegaConf.is_config(trust) else trust
    if isinstance(values, list) and all(isinstance(v, str) for v in values):
        return []
    return [f"trust={values!r}: a list of _target_ names, e.g. trust=[mypackage.MyMethod]"]


ACCEPTED = ("run_dir", "trust", "eval", "data_root")  # and eval.<key>, hydra.<key>: what --help lists
# eval.<key>s that are raft-train's, not the evaluation's: refused here, left out of --help.
TRAIN_ONLY = {"eval.linear": "raft-train's switch to evaluate right after pretraining; here the evaluation always runs"}


def help_text() -> str:
    """--help: conf/linear_eval.yaml's template with its defaults, less the keys it does not take."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module("raft_lightning.conf", version_base="1.3"):
        cfg = compose("linear_eval", return_hydra_config=True)
    GlobalHydra.instance().clear()
    template = str(cfg.hydra.help.template)
    shown = {key: value for key, value in OmegaConf.to_container(cfg).items() if key != "hydra"}
    for key in TRAIN_ONLY:
        group, _, name = key.partition(".")
        shown[group].pop(name, None)
    return template.replace("$CONFIG", OmegaConf.to_yaml(OmegaConf.create(shown)))


def run_dir_error(argv: list[str]) -> str | None:
    """One line for an argument it does not take, or a missing or wrong ``run_dir``, checked
    before Hydra starts (it would print a long traceback for the first two, and create the
    folder for the last)."""
    if any(a.startswith(("-h", "--help", "--hydra-help", "--cfg", "--info", "--shell-completion")) for a in argv):
        return None
    for arg in argv:
        key = arg.partition("=")[0].lstrip("+~")
        if key in TRAIN_ONLY:
            return f"{arg}: not taken by raft-linear-eval ({TRAIN_ONLY[key]})"
        accepted = key in ACCEPTED or key.startswith(("eval.", "hydra.", "hydra/"))
        if "=" in arg and not arg.startswith("-") and not accepted:
            takes = "run_dir=, eval.<key>=, trust=, data_root= and hydra.<key>="
            return f"{arg}: not accepted; raft-linear-eval takes {takes} (see --help)"
    given = [a.split("=", 1)[1] for a in argv if a.lstrip("+").startswith("run_dir=")]
    if not given:
        return "run_dir: missing; give a run's folder: raft-linear-eval run_dir=<folder with summary.json>"
    folder = Path(given[-1])
    if not (folder / CONFIG_FILE).is_file() or not (folder / SUMMARY_FILE).is_file():
        return f"run_dir={given[-1]}: not a run folder (it needs {CONFIG_FILE} and {SUMMARY_FILE})"
    return None


# Keys whose value is a path, taken as typed: a sweep's run folders are named like
# `seed=0,variant=byol_lp`, which Hydra's override grammar would read as more than a value.
PATH_KEYS = ("run_dir", "data_root")


def hydra_quoted(value: str) -> str:
    """``value`` as a quoted string of Hydra's override grammar that reads back as ``value``:
    backslashes doubled where the grammar unescapes them (before a quote, before ``${``, at the
    end), quotes and ``${`` escaped, so nothing in a folder's name is grammar or interpolation."""
    value = re.sub(r"\\+(?='|\$\{|$)", lambda m: m.group(0) * 2, value)
    return "'" + value.replace("'", "\\'").replace("${", "\\${") + "'"


def quote_paths(argv: list[str]) -> list[str]:
    """Each ``run_dir=`` and ``data_root=`` value (``+``/``++`` too) quoted for Hydra: the folder
    is the one typed, quotes included; ``data_root=null`` (its default) stays null."""
    quoted = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and key.lstrip("+") in PATH_KEYS and value and not (key.lstrip("+") == "data_root" and value == "null"):
            arg = f"{key}={hydra_quoted(value)}"
        quoted.append(arg)
    return quoted


def main() -> None:
    """``raft-linear-eval``: Hydra's command line over conf/linear_eval.yaml."""
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(help_text(), end="")
        return
    error = run_dir_error(sys.argv[1:])
    sys.argv[1:] = quote_paths(sys.argv[1:])  # what Hydra reads below
    error = error or "\n  ".join(compose_problems(sys.argv[1:], "linear_eval"))
    if error:
        print(f"raft-linear-eval: {error}", file=sys.stderr)
        raise SystemExit(2)
    register_resolvers()
    hydra_main()


if __name__ == "__main__":
    main()
