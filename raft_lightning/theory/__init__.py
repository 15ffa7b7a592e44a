"""The paper's three mathematical claims as numerical checks: ``raft-theory`` (``python -m raft_lightning.theory``)."""
