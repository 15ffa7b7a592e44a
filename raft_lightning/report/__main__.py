from raft_lightning.report.cli import main

main()
