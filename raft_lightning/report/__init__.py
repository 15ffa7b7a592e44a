"""Tables and figures from run folders: ``raft-report <sweep dir>`` (``python -m raft_lightning.report``).
Reads files only: it imports nothing that builds or trains a run."""
