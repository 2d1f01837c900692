"""dockwatch: announces space station dockings, departures and webcast starts from Launch Library 2.

The repository keeps ``bot/``, ``notifiers/`` and ``storage/`` at its top; they install as
``dockwatch.bot``, ``dockwatch.notifiers`` and ``dockwatch.storage``, so the distribution adds one
import name to site-packages. ``dockwatch`` on PyPI is an unrelated project: ours is
``dockwatch-ll2``.
"""

__version__ = "0.2.0"
DISTRIBUTION = "dockwatch-ll2"
