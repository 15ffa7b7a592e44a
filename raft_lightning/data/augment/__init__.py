"""BYOL's augmentations: one sample at a time with torchvision (per_sample), or whole batches in
tensor ops (batched, batched_ops, batched_params)."""
