"""Backbones: the encoder without its classifier. Each exposes ``out_dim``."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torchvision
from torch import Tensor, nn

from raft_lightning.values import integer_errors


def resnet18() -> nn.Module:
    """torchvision ResNet-18 without fc (7×7 stem, max-pool): the paper's encoder, fed
    CIFAR-10 resized to 96×96 (Appendix C)."""
    net = torchvision.models.resnet18(weights=None)
    net.fc = nn.Identity()
    net.out_dim = 512
    return net


def resnet18_cifar() -> nn.Module:
    """ResNet-18 with a 3×3 stride-1 stem and no max-pool: the usual variant for 32×32 inputs,
    which the 7×7 stem and max-pool would shrink to 8×8 before the first block."""
    net = resnet18()
    net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


class ConvNet(nn.Module):
    """Three conv–BN–ReLU blocks and global average pooling: small enough for a CPU."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"ConvNet width must be ≥ 1, got {width}")
        layers: list[nn.Module] = []
        channels = [3, width, 2 * width, 4 * width]
        for i, (c_in, c_out) in enumerate(zip(channels, channels[1:])):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            if i < 2:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_dim = channels[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)  # (B, 4·width)


BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "resnet18_cifar": resnet18_cifar,
    "convnet": ConvNet,
}


def build_backbone(name: str, **kwargs) -> nn.Module:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name](**kwargs)


def _backbone_config_errors(name: object = None, **kwargs: object) -> list[str]:
    if name not in BACKBONES:
        return [f"name={name!r}: unknown backbone; choose one of {', '.join(BACKBONES)}"]
    takes = [p for p in inspect.signature(BACKBONES[name]).parameters if p != "self"]
    unknown = [key for key in kwargs if key not in takes]
    if unknown:
        which = ", ".join(takes) if takes else "nothing but its name"
        return [f"{key}={kwargs[key]!r}: not a setting of the {name} backbone (it takes {which})" for key in unknown]
    # The keyword arguments of BACKBONES[name] are widths and counts.
    return [e for key, value in kwargs.items() for e in integer_errors(key, value, 1)]


# validation.config_errors looks for this on every ``_target_``.
build_backbone.config_errors = _backbone_config_errors
