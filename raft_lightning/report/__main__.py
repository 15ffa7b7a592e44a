from raft_lightning.report.tables import main

main()
