"""``python -m raft_lightning.theory``: the same as the ``raft-theory`` console script."""

import sys

from raft_lightning.theory.cli import main

sys.exit(main())
