"""The ``longtail`` command line: one module per subcommand in ``app.cli.commands``."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
