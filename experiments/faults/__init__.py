"""The fault matrix: ``make faults`` (``python -m experiments.faults``). Bad inputs as a user types
them and faults as a cluster causes them, each run as CLI subprocesses on smoke-size runs, with
a table of case, expected and observed, and the counts line."""
