"""An exported backbone (``raft-export``, docs/export.md): one ``torch.load(weights_only=True)``
of a plain dict, checked key by key before anything is built from it.

    format        "raft-lightning-backbone"
    version       1
    architecture  {"name": one of the package's backbones, its keyword arguments (integers)}
    state_dict    {name: tensor}: the online backbone's weights and buffers, torchvision's names for ResNets
    out_dim       the feature width (512 for the ResNets, 4·width for the convnet)
    image_size    the side of the square images the run trained on
    in_channels   3
    normalization {"mean": [3 floats], "std": [3 floats > 0]}: x ↦ (x − mean) / std on [0, 1] images
    config        the run's resolved config, paths inside its folder as <run_dir>/…
    results       the run's measures as its summary.json holds them (null: not measured; all null
                  where last.ckpt was damaged and last.prev.ckpt exported: they are not its weights)
    status        the run's status when it was exported (ok, interrupted, …)
    epochs        the epochs it had completed

The file only describes an architecture by name; which code builds it is the loader's choice
(``export.backbone.load_backbone``), never the file's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raft_lightning.files import BACKBONE_FORMAT, BACKBONE_VERSION
from raft_lightning.readers.base import DamagedFile, finite, short
from raft_lightning.readers.tensors import _torch_load, tensors_problem

BACKBONE_EXPECTED = f"a backbone file written by raft-export (format {BACKBONE_FORMAT!r}, version {BACKBONE_VERSION})"


def _integer(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def problems(saved: Any) -> list[str]:
    """What in ``saved`` is not a backbone record of this version (empty: it is one)."""
    import torch

    if not isinstance(saved, dict):
        return [f"a {type(saved).__name__}, not a dict"]
    if saved.get("format") != BACKBONE_FORMAT:
        hint = " (a Lightning checkpoint: export it with raft-export run_dir=...)" if "state_dict" in saved else ""
        return [f"format={short(saved.get('format'))}{hint}"]
    if saved.get("version") != BACKBONE_VERSION:
        return [f"version={short(saved.get('version'))}, this raft-lightning reads version {BACKBONE_VERSION}"]
    found = []
    weights = saved.get("state_dict")
    if not isinstance(weights, dict) or not weights:
        found.append("no state_dict")
    elif not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        found.append("a state_dict with other values than named tensors")
    elif problem := tensors_problem(weights):  # as a checkpoint's: plain, real, finite in float32
        found.append(problem)
    architecture = saved.get("architecture")
    if not isinstance(architecture, dict) or not isinstance(architecture.get("name"), str):
        found.append(f"architecture={short(architecture)}: no name")
    elif not all(_integer(v, 1) for k, v in architecture.items() if k != "name"):
        found.append(f"architecture={short(architecture)}: settings that are not integers ≥ 1")
    for key, low in (("out_dim", 1), ("image_size", 1), ("in_channels", 1)):
        if not _integer(saved.get(key), low):
            found.append(f"{key}={short(saved.get(key))}")
    norm = saved.get("normalization")
    stats = [norm.get(k) for k in ("mean", "std")] if isinstance(norm, dict) else [None, None]
    channels = saved.get("in_channels")
    if not all(isinstance(s, list) and len(s) == channels and all(finite(v) for v in s) for s in stats):
        found.append(f"normalization={short(norm)}: needs mean and std, one finite number per channel")
    elif min(stats[1]) <= 0:
        found.append(f"normalization.std={short(stats[1])}: must be > 0")
    for key in ("config", "results"):
        if not isinstance(saved.get(key), dict):
            found.append(f"{key}={short(saved.get(key))}: not a mapping")
    return found


def read_backbone(path: str | Path) -> dict[str, Any]:
    """An exported backbone record, checked (``DamagedFile`` names the file and what is wrong)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing")
    saved = _torch_load(path, BACKBONE_EXPECTED)
    found = problems(saved)
    if found:
        raise DamagedFile(path, "; ".join(found[:3]), BACKBONE_EXPECTED)
    return saved
