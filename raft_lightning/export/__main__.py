"""``python -m raft_lightning.export``: the same command as ``raft-export`` (``export.cli``)."""

from raft_lightning.export.cli import main

if __name__ == "__main__":
    main()
