"""The command line: thin commands over :class:`selfsim.Collection` (typer + rich)."""
