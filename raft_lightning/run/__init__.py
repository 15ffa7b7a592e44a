"""A run's life: checked (validation, schema, rules), built (build), trained and recorded (train,
record, checkpoints, signals, guard), in sweeps (sweep), on several devices (ddp), logged (tracking)."""
