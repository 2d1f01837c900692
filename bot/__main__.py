"""``python -m bot`` is the same as the ``dockwatch`` console script."""

from bot.cli import main

raise SystemExit(main())
