import sys

from raft_lightning.theory.checks import main

sys.exit(main())
