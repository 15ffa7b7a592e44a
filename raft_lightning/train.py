"""``python -m raft_lightning.train``: the card's command line (the recipe is ``run/train.py``)."""

from raft_lightning.run.train import main

if __name__ == "__main__":
    main()
