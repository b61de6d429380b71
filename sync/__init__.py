"""Outpost's offline-first core: entity schema, local replica, outbox and sync.

Nothing in this package imports Qt; the desktop app, the command-line client and the
server all build on it.
"""

from __future__ import annotations

__version__ = "0.1.0"
