"""Weights out of a run (docs/export.md): ``backbone`` is the file's record and its loader
(``load_backbone``), ``run`` makes the record from a run folder, ``cli`` is ``raft-export``."""
