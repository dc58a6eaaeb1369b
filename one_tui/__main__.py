from one_tui.cli import main

raise SystemExit(main())
