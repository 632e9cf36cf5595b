"""The ``modelyard`` command line: Typer commands, one module per command group.

Only the root app is imported here; each command group's module (and the heavy libraries it
needs) loads when that group runs, so ``modelyard --help`` stays fast.
"""

from __future__ import annotations

from modelyard.cli._app import app, main

__all__ = ["app", "main"]
