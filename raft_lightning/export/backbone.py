"""The exported backbone: a plain dict (schema: ``readers.backbone``) and ``load_backbone``, which
builds the network with the package's own model code from the file's architecture *name*. The
file never says which code to run: an architecture that is not one of ``models.BACKBONES`` is a
damaged file, as is a ``state_dict`` that does not fit it exactly (``strict=True``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor, nn

from raft_lightning.files import BACKBONE_FORMAT, BACKBONE_VERSION
from raft_lightning.models import BACKBONES, build_backbone
from raft_lightning.readers import BACKBONE_EXPECTED, DamagedFile, read_backbone

# SelfSupervised.online (objectives/base.py) is an Encoder whose .backbone (models/heads.py) is
# the encoder without its projector: the weights worth taking elsewhere.
ONLINE_BACKBONE = "online.backbone."


def online_backbone(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """The online backbone's weights and buffers of a Lightning ``state_dict``, prefix removed.
    For the ResNets these are torchvision's own names (``models.backbones`` keeps its module
    tree; its fc is an Identity, which has none)."""
    return {
        key[len(ONLINE_BACKBONE) :]: value.detach().contiguous()  # channels_last runs: plain layout
        for key, value in state_dict.items()
        if key.startswith(ONLINE_BACKBONE)
    }


def backbone_record(
    weights: dict[str, Tensor],
    architecture: dict[str, Any],
    source: Path,
    **about: Any,
) -> dict[str, Any]:
    """The file's content, plain types only: ``weights`` checked to load strictly into the
    ``architecture`` (``DamagedFile`` naming ``source`` otherwise), ``out_dim`` and ``in_channels``
    read off that network, and ``about`` (image_size, normalization, config, results, status,
    epochs: readers.backbone) as given."""
    record = {"format": BACKBONE_FORMAT, "version": BACKBONE_VERSION, "architecture": dict(architecture)}
    record["state_dict"] = weights
    net = build(record, source)
    return record | {"out_dim": int(net.out_dim), "in_channels": first_conv_channels(weights)} | about


def build(record: dict[str, Any], source: Path) -> nn.Module:
    """The network of ``record``'s architecture with its weights, strictly; ``DamagedFile``
    (naming ``source``) when the architecture is not the package's or the weights do not fit."""
    settings = dict(record["architecture"])
    name = settings.pop("name", None)
    errors = build_backbone.config_errors(name=name, **settings)
    if errors:
        raise DamagedFile(source, f"architecture {errors[0]}", BACKBONE_EXPECTED)
    net = build_backbone(name, **settings)
    # The weights' own float type: a run trained in float64 (trainer.precision=64-true) stays float64.
    net.to(next((w.dtype for w in record["state_dict"].values() if w.is_floating_point()), None))
    try:
        net.load_state_dict(record["state_dict"], strict=True)
    except RuntimeError as e:  # missing, unexpected or misshapen tensors
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        why = lines[1] if len(lines) > 1 else lines[0] if lines else type(e).__name__
        problem = f"weights that do not fit the {name} backbone ({why[:200]})"
        raise DamagedFile(source, problem, BACKBONE_EXPECTED) from None
    return net


def first_conv_channels(weights: dict[str, Tensor]) -> int:
    """The input channels of the first convolution: the images the network takes."""
    return next(int(w.shape[1]) for w in weights.values() if w.ndim == 4)


def load_backbone(path: str | Path) -> nn.Module:
    """The backbone a ``raft-export`` file holds, ready for use: built by ``models.build_backbone``
    (torchvision's ResNet-18 for ``resnet18`` / ``resnet18_cifar``) from the file's architecture
    name, its weights loaded strictly, in eval mode, on the CPU. Its output is the (B, out_dim)
    feature vector of images of ``record["image_size"]`` normalised with ``record["normalization"]``.

    Raises ``FileNotFoundError``, or ``DamagedFile`` (one line: the file, what is wrong, what was
    expected) for anything but such a file: nothing in the file is run or imported."""
    path = Path(path)
    record = read_backbone(path)
    net = build(record, path)
    if net.out_dim != record["out_dim"] or first_conv_channels(record["state_dict"]) != record["in_channels"]:
        found = f"out_dim={record['out_dim']}, in_channels={record['in_channels']}"
        raise DamagedFile(path, f"{found}, which these weights do not have", BACKBONE_EXPECTED)
    return net.eval()


__all__ = ["BACKBONES", "ONLINE_BACKBONE", "backbone_record", "build", "load_backbone", "online_backbone"]
