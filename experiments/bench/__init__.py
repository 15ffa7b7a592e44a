"""Benchmarks of the fast path against the usual way, each pair measured in the same run.

    python -m experiments.bench --out bench.json [--quick] [--device cuda] [--threads N]

Entries (each: ``baseline``, ``candidate``, ``unit``, ``ratio`` > 1 when the new path is faster,
the raw ``repeats`` of both, the medians as the figures, and the device, torch version and
threads it ran with):

- ``augment`` (``augment.py``): BYOL's two views with torchvision on PIL images, one sample at
  a time, vs ``BatchedViews`` on whole batches; both in a DataLoader with the same number of
  workers (samples/s, a sample = one image's two views at the paper's 96×96).
- ``lightning_overhead`` (``overhead.py``): the demo configuration's training step in plain
  PyTorch (the module's own ``training_step`` and the real callbacks' per-step updates) vs in
  Lightning with the demo's callbacks and logger, alternating step by step on pre-built batches
  (ms/step); ``overhead_pct`` = (Lightning / plain − 1)·100 of the medians.
- ``ema`` (``ema.py``): the mean-teacher update of the paper's ResNet-18 encoder, the
  per-parameter out-of-place loop peers use vs ``ema_update_`` (in-place
  ``torch._foreach_lerp_``), in ms/update, with the achieved memory bandwidth of each.
- ``monitors`` (``monitors.py``): fits at the demo's scale with the collapse monitors and
  without, alternating in one process (s/fit); ``overhead_pct`` = (with / without − 1)·100 of
  the medians (target: ≤ 3 %; docs/instruments.md). Measured: ``measured/monitors.json``.
- ``run_settings`` (``run_settings.py``): a demo-scale fit under each CPU speed setting (threads,
  data pipeline, channels_last, compile), twice each: s/fit, the speedup over the default, and
  whether the setting repeats bitwise; the fastest repeatable one is what issue 23's sweeps use.
- with ``--device cuda``: ``augment_device`` (the PIL pipeline on all host cores vs
  ``BatchedViews`` on the GPU), ``ema_device``, and ``train_step`` (``train_step.py``: the paper
  configuration, ``experiment=paper_gpu``: images/s, achieved TFLOP/s from a FLOP count of one
  step, host syncs per step (``syncs.py``), and the projected time of a 300-epoch run).

``harness.py`` holds what they share (environment, entry, timing, the composed config);
``__main__.py`` the command line.
"""

from experiments.bench.augment import bench_augment, bench_augment_device
from experiments.bench.ema import bench_ema
from experiments.bench.monitors import bench_monitors
from experiments.bench.overhead import PlainStep, bench_lightning_overhead
from experiments.bench.run_settings import bench_run_settings
from experiments.bench.train_step import bench_train_step

__all__ = [
    "PlainStep",
    "bench_augment",
    "bench_augment_device",
    "bench_ema",
    "bench_lightning_overhead",
    "bench_monitors",
    "bench_run_settings",
    "bench_train_step",
]
