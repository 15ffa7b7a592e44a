"""The published Fashion-MNIST results (``results/fashion_mnist/``): the paper's Table 1 and Table 3
as two sweeps, then every run's record copied out of ``logs/`` and the report run over the copies.

    experiments/fashion_mnist/run.sh          # the three sweeps (rerun to continue), then the collect step
    python -m experiments.fashion_mnist       # the collect step alone: logs/ → results/fashion_mnist/

The report runs over the committed copies, not over ``logs/``, so that ``tests/test_results.py``
can rebuild the tables from what is in the repository and compare them byte for byte.
"""
