"""Launch Library 2: HTTP client, call budget and wire-format parsing."""

from dockwatch.bot.ll2.budget import CallBudget
from dockwatch.bot.ll2.client import LL2Client, open_session

__all__ = ["CallBudget", "LL2Client", "open_session"]
