"""``python -m dockwatch`` is the same as the ``dockwatch`` console script."""

from dockwatch.bot.cli import main

raise SystemExit(main())
