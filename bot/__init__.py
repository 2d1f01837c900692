"""Orchestration: the LL2 client, change detection and planning, the poll loop, delivery and the CLI."""
