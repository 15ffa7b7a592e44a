from raft_lightning.models.backbones import BACKBONES, ConvNet, build_backbone, resnet18, resnet18_cifar
from raft_lightning.models.heads import Encoder, LinearPredictor, MLPHead

__all__ = [
    "BACKBONES",
    "ConvNet",
    "Encoder",
    "LinearPredictor",
    "MLPHead",
    "build_backbone",
    "resnet18",
    "resnet18_cifar",
]
