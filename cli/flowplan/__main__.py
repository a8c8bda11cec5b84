from flowplan.main import main

raise SystemExit(main())
