"""The app's preferences, typed, in one place (QSettings underneath).

Per-user and per-machine: the sync interval, the UI language, window geometry and column
layouts. Which server a profile talks to (and its CA file) is a fact of the profile's
replica (``sync.account``), not a preference; credentials live only in the keyring.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "Outpost"
APPLICATION = "Outpost"

LANGUAGES = ("system", "zh_CN", "en")
DEFAULT_SYNC_INTERVAL_S = 300
MIN_SYNC_INTERVAL_S = 30
MAX_SYNC_INTERVAL_S = 24 * 3600


class Preferences:
    """Typed access to the stored preferences."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self._s = settings or QSettings(ORGANIZATION, APPLICATION)

    def sync(self) -> None:
        """Write pending changes to disk now."""
        self._s.sync()

    # --- sync ---------------------------------------------------------------------------

    @property
    def sync_interval_s(self) -> int:
        raw = self._s.value("sync/interval_s", DEFAULT_SYNC_INTERVAL_S)
        try:
            value = int(raw)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return DEFAULT_SYNC_INTERVAL_S
        return min(max(value, MIN_SYNC_INTERVAL_S), MAX_SYNC_INTERVAL_S)

    @sync_interval_s.setter
    def sync_interval_s(self, value: int) -> None:
        self._s.setValue(
            "sync/interval_s", min(max(int(value), MIN_SYNC_INTERVAL_S), MAX_SYNC_INTERVAL_S)
        )

    @property
    def work_offline(self) -> bool:
        return _as_bool(self._s.value("sync/work_offline", False))

    @work_offline.setter
    def work_offline(self, value: bool) -> None:
        self._s.setValue("sync/work_offline", bool(value))

    # --- language -----------------------------------------------------------------------

    @property
    def language(self) -> str:
        value = str(self._s.value("ui/language", "system"))
        return value if value in LANGUAGES else "system"

    @language.setter
    def language(self, value: str) -> None:
        if value not in LANGUAGES:
            raise ValueError(f"unknown language {value!r}")
        self._s.setValue("ui/language", value)

    # --- window layout ------------------------------------------------------------------

    def layout(self, key: str) -> bytes | None:
        """A saved geometry / state blob (``None`` when there is none)."""
        value = self._s.value(f"layout/{key}")
        if isinstance(value, QByteArray):
            return bytes(value.data())
        if isinstance(value, bytes | bytearray):
            return bytes(value)
        return None

    def set_layout(self, key: str, value: bytes | QByteArray) -> None:
        self._s.setValue(f"layout/{key}", QByteArray(bytes(value)))


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
