from raft_lightning.report.cli import main

raise SystemExit(main())
