"""Scripts around the package: the benchmark (``python -m experiments.bench``), the SLURM test cluster."""
