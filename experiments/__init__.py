"""Scripts around the package: the benchmark (``python -m experiments.bench``), the fault matrix
(``python -m experiments.faults``), the Fashion-MNIST results (``experiments/fashion_mnist``), the
SLURM test cluster (``experiments/slurm``)."""
