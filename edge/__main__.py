"""``python -m edge --config FILE``: run the agent of one device."""

from edge.main import main

raise SystemExit(main())
