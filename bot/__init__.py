"""dockwatch: announces space station dockings, departures and webcast starts from Launch Library 2."""

__version__ = "0.1.0"
