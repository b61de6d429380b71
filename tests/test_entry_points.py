"""The three commands exist, answer --help, and `outpost --demo` prepares a usable profile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import main as app_main
from server import main as server_main
from sync.profile import profile_dir_for, profiles_root, resolve_profile_dir
from sync.replica import Replica

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("module", ["app.main", "server.main", "sync.cli"])
def test_each_command_answers_help(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_demo_prepares_a_seeded_profile_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "demo"
    assert app_main.main(["--demo", "--profile", str(profile)]) == 0
    first = capsys.readouterr().out
    assert "demo profile created" in first and "outpost-cli" in first
    with Replica.open(profile) as replica:
        customers = replica.customers.count()
        assert customers > 50
        assert replica.contacts.count() > 0 and replica.deals.count() > 0
        example = first.split("--search ")[1].split()[0]
        assert replica.customers.query(search=example), "the suggested search finds nothing"
        assert replica.check_integrity() == []
    assert app_main.main(["--demo", "--profile", str(profile)]) == 0  # second run: no reseed
    assert "ready" in capsys.readouterr().out
    with Replica.open(profile) as replica:
        assert replica.customers.count() == customers


def test_server_command_without_a_command_shows_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """``outpost-server`` alone prints its help (exit 2); a usage error says what is wrong.
    (Serving and administering are covered by tests/server.)"""
    assert server_main.main([]) == 2
    assert "serve" in capsys.readouterr().out
    assert server_main.main(["serve", "--tls-cert", "cert.pem"]) == 2
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err


def test_profile_directories(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a = profile_dir_for("https://crm.example.com", "zhangsan")
    b = profile_dir_for("https://crm.example.com:8443", "zhangsan")
    c = profile_dir_for("https://crm.example.com", "lisi")
    assert len({a, b, c}) == 3
    assert a.parent == profiles_root() and a.name.startswith("crm.example.com_443_zhangsan_")
    assert profile_dir_for("https://crm.example.com/", "zhangsan") == a
    monkeypatch.setenv("OUTPOST_PROFILE", str(tmp_path / "env"))
    assert resolve_profile_dir(None) == tmp_path / "env"
    assert resolve_profile_dir(str(tmp_path / "flag")) == tmp_path / "flag"
    monkeypatch.delenv("OUTPOST_PROFILE")
    assert resolve_profile_dir(None) == profiles_root() / "local"


def test_a_profile_directory_with_dots_in_its_name_is_a_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    profile = profile_dir_for("https://crm.example.com", "zhangsan")
    assert "." in profile.name
    with Replica.open(profile) as replica:
        assert replica.path == profile / "replica.sqlite3"
    assert profile.is_dir()
