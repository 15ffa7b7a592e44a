"""Where the data's randomness comes from: one splitmix64 hash of integer keys, and the sampler.

Every random choice in the data (sample order, per-sample torchvision views, batched views,
synthetic images) is seeded by ``sample_seed`` of its keys, e.g. (seed, epoch, index), never by
a global RNG stream: a run sees the same samples and views whatever the number of workers, the
pipeline's batching, and wherever it resumes.

There is one hash. ``_mix`` is one splitmix64 step written once for both kinds of operand:
Python ints (the per-sample path, the sampler; wrapped to 64 bits after each multiplication)
and int64 tensors (the batched path, on the batch's device; torch's int64 multiplication wraps
by itself). ``sample_seed`` runs it on ints, ``sample_seeds`` on tensors of keys; both give the
same 63-bit values bit for bit (tests/test_batched_augment.py checks it). Computing
``sample_seed`` through tensors instead would cost ~65 µs a call, ~4 % of a per-sample view pair.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Sampler

MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """``value`` modulo 2**64 as a signed int64 (torch has no uint64 arithmetic)."""
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


# splitmix64's constants, as signed int64: int64 tensors take them, and for Python ints the
# product modulo 2**64 is the same.
_GOLDEN = 0x9E3779B97F4A7C15
_M1, _M2 = _signed(0xBF58476D1CE4E5B9), _signed(0x94D049BB133111EB)


def _shr(h: Tensor | int, bits: int) -> Tensor | int:
    """Logical right shift of a 64-bit value (torch's >> on int64 is arithmetic)."""
    return (h >> bits) & ((1 << (64 - bits)) - 1)


def _wrap(h: Tensor | int) -> Tensor | int:
    """A product modulo 2**64: Python ints are masked, int64 tensors have already wrapped."""
    return h & MASK64 if isinstance(h, int) else h


def _mix(h: Tensor | int, key: Tensor | int) -> Tensor | int:
    """One splitmix64 step: h ← mix(h ^ key). Only the low 64 bits of ``key`` matter."""
    h = _wrap((h ^ key) * _M1)
    h = h ^ _shr(h, 31)
    h = _wrap(h * _M2)
    return h ^ _shr(h, 29)


def sample_seed(*keys: int) -> int:
    """A 63-bit seed mixed from integer keys (splitmix64 steps): cheap and collision-poor."""
    h = _GOLDEN
    for key in keys:
        h = _mix(h, key)
    return _shr(h, 1)


def sample_seeds(seed: int, epoch: Tensor, index: Tensor, *keys: Tensor | int) -> Tensor:
    """``sample_seed(seed, epoch, index, *keys)`` for tensors of keys, on their device. The seed's
    step runs on the host (a tensor made from it would be a copy to the device), so the device
    ops see a scalar and nothing is read back."""
    h = _signed(_mix(_GOLDEN, seed))
    for key in (epoch, index, *keys):
        h = _mix(h, key)
    return _shr(h, 1)


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields (epoch, index): the order is a function of (seed, epoch) alone, each rank takes its
    interleaved share (the tail that does not divide evenly is dropped), and the dataset derives
    each sample's augmentation from the same key. Lightning calls ``set_epoch`` every epoch.

    ``resume_at(epoch, start)`` makes the next pass over ``epoch`` begin at this rank's
    ``start``-th sample, so a run restored from a mid-epoch checkpoint sees exactly the samples
    the interrupted run had not reached yet; ``len`` stays the full epoch, as Lightning counts
    the consumed batches itself.
    """

    def __init__(self, size: int, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (epoch, first sample) for one pass

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, start: int) -> None:
        self.epoch, self._resume = epoch, (epoch, start)

    def __len__(self) -> int:
        return self.size // self.world_size

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch))
            order = torch.randperm(self.size, generator=g)
        else:
            order = torch.arange(self.size)
        order = order[: len(self) * self.world_size][self.rank :: self.world_size]
        if self._resume is not None:
            epoch, start = self._resume
            self._resume = None
            if epoch == self.epoch:
                order = order[start:]
        return iter([(self.epoch, i) for i in order.tolist()])
