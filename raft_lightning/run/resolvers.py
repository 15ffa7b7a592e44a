"""The config resolvers our YAML uses, registered by the entry points (and by anything else that
composes the configs: the tests, the theory checks, the benchmarks) before composing.

    ${isatty:}                      Lightning's progress bar on interactive runs only (not in logs or CI)
    ${sweep_name:}                  the W&B group: the sweep folder's name (run.tracking)
    ${run_id:${paths.output_dir}}   the W&B run id (run.tracking)
    ${run_name:${seed}}             what tells the run apart within its sweep: W&B and TensorBoard
                                    names (run.tracking); ${run_name:${seed},folder} as a folder name
    ${variant_tags:}                [variant=<row>] when variant= chose one, else [] (W&B tags)
    ${concat:[a,b],${tags}}          lists joined: the W&B tags, ours and the user's
    ${folder_classes:${.root}}      the number of class folders of an image folder (data=image_folder),
                                    so that the probe's num_classes is known before the run (it lists
                                    folders, reads nothing else; null where root is not an image folder)
"""

from __future__ import annotations

import sys
from typing import Any

from omegaconf import ListConfig, OmegaConf

from raft_lightning.data.folder import count_classes
from raft_lightning.run.tracking import run_id, run_name, sweep_name, variant_tags


def concat(*lists: Any) -> ListConfig:
    """A ListConfig, not a list: ``OmegaConf.resolve`` (``--cfg job --resolve``) cannot put a plain
    list where the interpolation was."""
    return OmegaConf.create([x for items in lists for x in items])


def register_resolvers() -> None:
    """Idempotent: registering again replaces the same functions."""
    OmegaConf.register_new_resolver("isatty", stderr_is_a_terminal, replace=True)
    OmegaConf.register_new_resolver("sweep_name", sweep_name, replace=True)
    OmegaConf.register_new_resolver("run_id", run_id, replace=True)
    OmegaConf.register_new_resolver("run_name", run_name, replace=True)
    OmegaConf.register_new_resolver("variant_tags", variant_tags, replace=True)
    OmegaConf.register_new_resolver("concat", concat, replace=True)
    OmegaConf.register_new_resolver("folder_classes", count_classes, replace=True)


def stderr_is_a_terminal() -> bool:
    """False where stderr is closed (``2>&-``: Python's ``sys.stderr`` is then None) or not a tty."""
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):  # replaced by an object without one, or closed
        return False
