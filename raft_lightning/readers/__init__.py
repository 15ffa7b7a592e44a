"""The one reader of run folders. A folder may come from anyone (a colleague's results, a
download, a copy on a shared cluster), so what it holds is data, never code:

- checkpoints and tensor files load with ``torch.load(weights_only=True)``: tensors and plain
  Python values only, a pickle that asks for anything else is refused;
- config.yaml is parsed, never resolved (an interpolation in it is damage: a run's config is
  saved resolved) and never instantiated here; ``untrusted_targets`` says which of its
  ``_target_``s are not the package's own, for the callers that build from it;
- paths are taken relative to the folder: a file names nothing outside it;
- an exported backbone (``read_backbone``) is checked key by key against its format;
- anything that does not parse, or does not hold what its writer writes, raises ``DamagedFile``
  naming the file, what is wrong and what was expected, in one line; the caller decides whether
  to go on (the report lists the run, ``train`` falls back to the previous checkpoint).

Names and writers are in ``raft_lightning.files``; summary.json's schema in ``raft_lightning.summary``.
"""

from raft_lightning.readers.backbone import BACKBONE_EXPECTED, read_backbone
from raft_lightning.readers.base import DamagedFile, finite, printable
from raft_lightning.readers.config import (
    package_targets,
    portable,
    read_config,
    rebase,
    unrebased,
    untrusted_targets,
)
from raft_lightning.readers.curves import read_spectra, read_steps
from raft_lightning.readers.records import (
    read_epochs,
    read_summary,
    read_wandb_id,
    unlike_its_config,
    unlike_its_epochs,
)
from raft_lightning.readers.sweep import SizeUnknown, expected_runs, sweep_jobs
from raft_lightning.readers.tensors import (
    CHECKPOINT_EXPECTED,
    checkpoint_data_files,
    checkpoint_epochs,
    describe_tensors,
    non_finite,
    read_checkpoint,
    read_embeddings,
    recorded_data_files,
    trained_tensors,
)

__all__ = [
    "BACKBONE_EXPECTED",
    "CHECKPOINT_EXPECTED",
    "checkpoint_data_files",
    "describe_tensors",
    "non_finite",
    "checkpoint_epochs",
    "trained_tensors",
    "recorded_data_files",
    "DamagedFile",
    "expected_runs",
    "finite",
    "package_targets",
    "portable",
    "printable",
    "read_backbone",
    "read_checkpoint",
    "read_config",
    "unlike_its_config",
    "unlike_its_epochs",
    "read_embeddings",
    "read_epochs",
    "read_spectra",
    "read_steps",
    "read_summary",
    "read_wandb_id",
    "rebase",
    "sweep_jobs",
    "SizeUnknown",
    "unrebased",
    "untrusted_targets",
]
