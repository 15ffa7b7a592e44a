from __future__ import annotations

import pytest
import torch
from torch import nn

from raft_lightning.models import BACKBONES, Encoder, LinearPredictor, MLPHead, build_backbone


@pytest.mark.parametrize("name, size", [("resnet18", 64), ("resnet18_cifar", 32), ("convnet", 16)])
def test_backbones_give_out_dim_features(name, size):
    net = build_backbone(name)
    assert net(torch.randn(2, 3, size, size)).shape == (2, net.out_dim)


def test_resnet18_variants_differ_only_in_stem():
    plain, cifar = build_backbone("resnet18"), build_backbone("resnet18_cifar")
    assert plain.conv1.kernel_size == (7, 7) and isinstance(plain.maxpool, nn.MaxPool2d)
    assert cifar.conv1.kernel_size == (3, 3) and cifar.conv1.stride == (1, 1) and isinstance(cifar.maxpool, nn.Identity)
    assert isinstance(plain.fc, nn.Identity) and plain.out_dim == cifar.out_dim == 512


def test_unknown_backbone_is_named():
    with pytest.raises(ValueError, match="unknown backbone 'vgg'; choose one of resnet18, resnet18_cifar, convnet"):
        build_backbone("vgg")
    assert build_backbone.config_errors(name="vgg") and not build_backbone.config_errors(name="convnet")
    assert set(BACKBONES) == {"resnet18", "resnet18_cifar", "convnet"}


def test_projector_is_appendix_c():
    head = MLPHead(input_dim=512, hidden_dim=512, output_dim=128, batch_norm=True)
    kinds = [type(m) for m in head.net]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert head.net[0].out_features == 512 and head.net[-1].out_features == 128


def test_mlp_predictor_has_no_batchnorm():
    head = MLPHead(input_dim=128, hidden_dim=512, output_dim=128, batch_norm=False)
    assert [type(m) for m in head.net] == [nn.Linear, nn.ReLU, nn.Linear]


def test_linear_predictor_is_a_square_matrix_without_bias():
    q = LinearPredictor(dim=128)
    assert q.linear.weight.shape == (128, 128) and q.linear.bias is None
    assert not torch.allclose(q.linear.weight, torch.eye(128))
    identity = LinearPredictor(dim=128, init="identity")
    x = torch.randn(4, 128)
    torch.testing.assert_close(identity(x), x)
    with pytest.raises(ValueError, match="init must be 'random' or 'identity'"):
        LinearPredictor(dim=4, init="zeros")


@pytest.mark.parametrize(
    "make", [lambda **k: MLPHead(8, 16, 8, batch_norm=False, **k), lambda **k: LinearPredictor(8, **k)]
)
def test_negate_init_flips_the_output_for_the_same_seed(make):
    x = torch.randn(5, 8)
    torch.manual_seed(3)
    plain = make()
    torch.manual_seed(3)
    negated = make(negate_init=True)
    torch.testing.assert_close(negated(x), -plain(x))


def test_encoder_returns_features_and_projection():
    backbone = build_backbone("convnet", width=4)
    enc = Encoder(backbone, MLPHead(backbone.out_dim, 32, 8))
    h, z = enc(torch.randn(3, 3, 16, 16))
    assert h.shape == (3, 16) and z.shape == (3, 8)
