"""Logging to the platform's log folder, with rotation.

Configured once at start; everything else uses ``logging.getLogger(__name__)``. The log
never holds passwords or tokens (the transport does not log them).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

import platformdirs

LOG_FILENAME = "outpost.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 5


def log_dir() -> Path:
    """Where Outpost writes its log files (platform specific)."""
    return Path(platformdirs.user_log_dir("Outpost", appauthor=False))


def setup_logging(*, verbose: bool = False, directory: Path | None = None) -> Path:
    """Log to a rotating file (and to stderr when ``verbose``); returns the file's path."""
    folder = directory or log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_FILENAME
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_outpost", False):
            root.removeHandler(handler)
            handler.close()
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    file_handler._outpost = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    if verbose:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        stream._outpost = True  # type: ignore[attr-defined]
        root.addHandler(stream)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # httpx logs every request at INFO: useful when verbose, noise otherwise.
    logging.getLogger("httpx").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return path
