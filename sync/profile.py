"""Where profiles live: one directory per (server, user), each with its own replica.

Default root: ``platformdirs.user_data_dir("Outpost")/profiles``. ``--profile DIR`` or the
``OUTPOST_PROFILE`` environment variable point at a profile directory directly.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

APP_NAME = "Outpost"
PROFILE_ENV = "OUTPOST_PROFILE"
LOCAL_PROFILE = "local"
DEMO_PROFILE = "demo"
LAST_PROFILE_FILE = "last_profile"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def data_root() -> Path:
    """Outpost's per-user data directory (profiles, logs, backups)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def profiles_root() -> Path:
    return data_root() / "profiles"


def profile_dir_for(server_url: str, username: str) -> Path:
    """The profile directory of ``username`` on ``server_url``.

    Readable (``crm.example.com_8750_zhangsan``) and unique: a short hash of the exact
    server and user keeps two profiles apart even when their readable parts look alike.
    """
    parts = urlsplit(server_url if "://" in server_url else f"https://{server_url}")
    host = parts.hostname or "server"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    readable = _UNSAFE.sub("-", f"{host}_{port}_{username}").strip("-.")[:80]
    digest = hashlib.sha256(f"{server_url.rstrip('/')}\n{username}".encode()).hexdigest()[:8]
    return profiles_root() / f"{readable}_{digest}"


def resolve_profile_dir(explicit: str | None = None) -> Path:
    """The profile directory to use: ``explicit`` (``--profile``), else ``OUTPOST_PROFILE``,
    else the ``local`` profile under :func:`profiles_root`."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(PROFILE_ENV, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return profiles_root() / LOCAL_PROFILE


def remember_profile(profile_dir: Path) -> None:
    """Note ``profile_dir`` as the last signed-in profile (``outpost-cli login``).

    The pointer file ``last_profile`` in :func:`data_root` holds only the directory's path.
    """
    root = data_root()
    root.mkdir(parents=True, exist_ok=True)
    pointer = root / LAST_PROFILE_FILE
    temporary = pointer.with_name(f".{LAST_PROFILE_FILE}.{os.getpid()}")
    temporary.write_text(f"{profile_dir.expanduser().resolve()}\n", encoding="utf-8")
    os.replace(temporary, pointer)


def last_profile() -> Path | None:
    """The profile :func:`remember_profile` noted, if the pointer and the directory exist."""
    try:
        text = (data_root() / LAST_PROFILE_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text:
        return None
    path = Path(text)
    return path if path.is_dir() else None


def demo_profile_dir() -> Path:
    """The demo profile: next to the user's real profiles, never inside them."""
    return profiles_root() / DEMO_PROFILE
