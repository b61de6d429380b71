"""The three commands exist, answer --help, and `outpost --demo` prepares a usable profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.slow
def test_outpost_demo_starts_the_window_and_quits_cleanly(tmp_path: Path) -> None:
    """The README's run command, as a real process: the window paints its list, the demo
    server and the sync start in the background, and the app quits with status 0."""
    profile = tmp_path / "demo"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "app.main", "--demo", "--profile", str(profile),
         "--measure-startup"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("startup-ms "), done.stdout
    assert (profile / "replica.sqlite3").is_file()
    logs = list((tmp_path / "state").rglob("outpost.log"))
    assert logs and "Outpost" in logs[0].read_text()


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


@pytest.mark.slow
def test_self_test_passes_from_source(tmp_path: Path) -> None:
    """``outpost --self-test`` (what a packaged build is checked with) passes, and leaves
    nothing in the user's folders."""
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "app.main", "--self-test"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["ok"] * 4, done.stdout
    assert lines[-1].startswith("self-test passed")
    assert not any(tmp_path.rglob("*.sqlite3"))
