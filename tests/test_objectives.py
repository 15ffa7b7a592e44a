from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from raft_lightning.losses import byol_loss, byol_prime_loss, raft_loss
from raft_lightning.models import LinearPredictor, MLPHead, build_backbone
from raft_lightning.objectives import BYOL, RAFT, BYOLPrime

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")


def make(cls, **kwargs):
    torch.manual_seed(0)
    return cls(
        backbone=build_backbone("convnet", width=4),
        projector=functools.partial(MLPHead, hidden_dim=32, output_dim=16),
        predictor=kwargs.pop("predictor", LinearPredictor(16)),
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        **kwargs,
    )


def views(b=6):
    g = torch.Generator().manual_seed(1)
    return torch.randn(b, 3, 16, 16, generator=g), torch.randn(b, 3, 16, 16, generator=g), torch.arange(b) % 2


@pytest.mark.parametrize("cls, loss", [(BYOL, byol_loss), (BYOLPrime, byol_prime_loss), (RAFT, raft_loss)])
def test_training_step_is_algorithm_1(cls, loss):
    module = make(cls)
    x1, x2, y = views()
    out = module.training_step((x1, x2, y), 0)
    # Recompute Algorithm 1 by hand from the same networks (train mode, views separately).
    p1 = module.predictor(module.online.projector(module.online.backbone(x1)))
    p2 = module.predictor(module.online.projector(module.online.backbone(x2)))
    with torch.no_grad():
        z1, z2 = (
            module.target.projector(module.target.backbone(x1)),
            module.target.projector(module.target.backbone(x2)),
        )
    torch.testing.assert_close(out["loss"], loss(p1, p2, z1, z2))
    torch.testing.assert_close(out["features"], module.online.backbone(x1).detach())
    assert not out["features"].requires_grad and torch.equal(out["labels"], y)


def test_objectives_differ_only_in_their_loss():
    byol_prime, raft = make(BYOLPrime), make(RAFT)
    batch = views()
    for a, b in zip(byol_prime.state_dict().values(), raft.state_dict().values()):
        assert torch.equal(a, b)
    assert byol_prime.training_step(batch, 0)["loss"] != raft.training_step(batch, 0)["loss"]


def test_views_pass_separately_through_batchnorm():
    module = make(BYOL)
    sizes = []
    module.online.backbone.register_forward_hook(lambda m, inp, out: sizes.append(len(inp[0])))
    module.target.backbone.register_forward_hook(lambda m, inp, out: sizes.append(len(inp[0])))
    module.training_step(views(6), 0)
    assert sizes == [6, 6, 6, 6]  # online x1, x2, target x1, x2: never a concatenated 12


def test_target_gets_no_gradient_and_is_not_optimised():
    module = make(RAFT)
    module.training_step(views(), 0)["loss"].backward()
    assert all(p.grad is None and not p.requires_grad for p in module.target.parameters())
    optimised = {id(p) for group in module.configure_optimizers().param_groups for p in group["params"]}
    assert optimised == {id(p) for p in [*module.online.parameters(), *module.predictor.parameters()]}


def test_target_starts_as_a_copy_of_the_online_network():
    module = make(BYOL)
    for (name, a), (_, b) in zip(module.online.state_dict().items(), module.target.state_dict().items()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr(), name


def test_byol_rejects_weights_and_every_objective_rejects_negative_ones():
    with pytest.raises(ValueError, match="BYOL's loss has no weights"):
        make(BYOL, alpha=2.0)
    with pytest.raises(ValueError, match=r"beta=-1.0: must be a finite number ≥ 0"):
        make(RAFT, beta=-1.0)
    assert make(BYOLPrime, alpha=0.5, beta=3.0).alpha == 0.5


def test_no_predictor_is_identity():
    module = make(BYOL, predictor=nn.Identity())
    assert list(module.predictor.parameters()) == []
