"""Test set-up shared by the whole suite.

The environment is fixed *before* anything imports Qt or keyring: Qt draws offscreen,
the UI language is English, keyring uses a file backend in a throwaway directory, and
user data directories point into a temporary folder so no test touches a real profile.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.replica import Replica

_SANDBOX = Path(tempfile.mkdtemp(prefix="outpost-tests-"))
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["LANG"] = "en_US.UTF-8"
os.environ["LANGUAGE"] = "en"
os.environ["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
os.environ["XDG_DATA_HOME"] = str(_SANDBOX / "data")
os.environ["XDG_CONFIG_HOME"] = str(_SANDBOX / "config")
os.environ["XDG_CACHE_HOME"] = str(_SANDBOX / "cache")
os.environ.pop("OUTPOST_PROFILE", None)

PG_URL_VARIABLE = "OUTPOST_TEST_PG_URL"


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The real PostgreSQL to test against.

    Locally the PostgreSQL tests are skipped when the variable is unset; in CI (``CI`` set)
    a missing variable fails them, so they can never silently skip there.
    """
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_URL_VARIABLE} must be set in CI: PostgreSQL tests cannot skip")
        pytest.skip(f"set {PG_URL_VARIABLE} to run the PostgreSQL tests")
    return url


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Replica]:
    """A fresh replica in a temporary profile directory."""
    opened = Replica.open(tmp_path / "profile")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def shanghai_time() -> Iterator[None]:
    """Run the test with the process's local time zone set to Asia/Shanghai (UTC+8)."""
    if not hasattr(time, "tzset"):
        pytest.skip("needs time.tzset")
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
