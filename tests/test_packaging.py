"""Packaging, checked fast (no PyInstaller run here: `make package-check` does that).

The spec is executed with stand-ins for PyInstaller's build targets, in a copy of the
tree with its own pyproject.toml, to see what it would build; the build script's command
line, the systemd unit, the Dockerfile and the operations page are checked against the
real `outpost-server` command line.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import re
import shlex
import shutil
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from server import main as server_main

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "build" / "outpost.spec"


# --- the spec ---------------------------------------------------------------------------


class _Recorder:
    """Stand-ins for PyInstaller's Analysis/PYZ/EXE/COLLECT/BUNDLE: record their calls."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {}

    def target(self, name: str) -> Any:
        def build(*args: Any, **kwargs: Any) -> Any:
            self.calls.setdefault(name, []).append((args, kwargs))
            return SimpleNamespace(
                name=name,
                datas=list(kwargs.get("datas", [])),
                binaries=[],
                pure=[],
                scripts=[],
            )

        return build


def _run_spec(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    version: str = "9.8.7",
    args: tuple[str, ...] = (),
    platform: str = "linux",
    with_qm: bool = True,
) -> _Recorder:
    """Execute a copy of the spec in a tree whose pyproject.toml says ``version``."""
    (tmp_path / "build").mkdir()
    shutil.copy(SPEC, tmp_path / "build" / "outpost.spec")
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    text, count = re.subn(r'(?m)^version = "[^"]+"', f'version = "{version}"', text)
    assert count == 1
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    translations = tmp_path / "resources" / "translations"
    translations.mkdir(parents=True)
    (translations / "outpost_zh_CN.ts").write_text("<TS/>", encoding="utf-8")
    if with_qm:
        (translations / "outpost_zh_CN.qm").write_bytes(b"qm")
    shutil.copytree(
        ROOT / "server" / "migrations",
        tmp_path / "server" / "migrations",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    recorder = _Recorder()
    hooks = ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package: [f"{package}.stub"]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "argv", ["outpost.spec", *args])
    monkeypatch.setattr(sys, "platform", platform)
    namespace = {
        "SPECPATH": str(tmp_path / "build"),
        "__file__": str(tmp_path / "build" / "outpost.spec"),
        **{n: recorder.target(n) for n in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")},
    }
    code = compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec")
    exec(code, namespace)
    return recorder


def test_spec_builds_one_folder_named_from_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _run_spec(tmp_path, monkeypatch).calls
    ((analysis_args, analysis),) = calls["Analysis"]
    assert analysis_args[0] == [str(tmp_path / "app" / "main.py")]
    dests = {dest for _src, dest in analysis["datas"]}
    assert "resources/translations" in dests
    assert "server/migrations/versions" in dests  # Alembic reads them from disk
    for excluded in ("tkinter", "PySide6.QtQml", "PySide6.QtWebEngineCore", "pytest"):
        assert excluded in analysis["excludes"]
    assert "server.stub" in analysis["hiddenimports"]
    ((_exe_args, exe),) = calls["EXE"]
    assert exe["name"] == "outpost"
    assert exe["exclude_binaries"] is True
    assert exe["version"] is None  # Windows only
    ((_collect_args, collect),) = calls["COLLECT"]
    assert collect["name"] == "outpost"
    assert "BUNDLE" not in calls


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_spec_onefile_has_no_collect(
    platform: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _run_spec(tmp_path, monkeypatch, args=("--onefile",), platform=platform).calls
    assert "BUNDLE" not in calls  # one-file .app bundles are deprecated by PyInstaller
    assert "COLLECT" not in calls
    ((exe_args, exe),) = calls["EXE"]
    assert len(exe_args) == 5  # pyz, scripts, binaries, datas, options: all in one file
    assert "exclude_binaries" not in exe


def test_spec_macos_bundle_carries_the_pyproject_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _run_spec(tmp_path, monkeypatch, version="2.3.4", platform="darwin").calls
    ((_args, bundle),) = calls["BUNDLE"]
    assert bundle["name"] == "Outpost.app"
    assert bundle["version"] == "2.3.4"
    assert bundle["info_plist"]["CFBundleShortVersionString"] == "2.3.4"
    assert "zh_CN" in bundle["info_plist"]["CFBundleLocalizations"]
    assert calls["EXE"][0][1]["console"] is False


class _Struct:
    """Stand-in for the classes of PyInstaller.utils.win32.versioninfo (which needs pefile,
    installed with PyInstaller on Windows only)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"{self.args!r} {self.kwargs!r}"


def test_spec_windows_version_info(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versioninfo = ModuleType("PyInstaller.utils.win32.versioninfo")
    for name in [
        "VSVersionInfo",
        "FixedFileInfo",
        "StringFileInfo",
        "StringTable",
        "StringStruct",
        "VarFileInfo",
        "VarStruct",
    ]:
        setattr(versioninfo, name, type(name, (_Struct,), {}))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.win32.versioninfo", versioninfo)
    importlib.import_module("PyInstaller.utils.win32")  # on Linux terms, before pretending
    calls = _run_spec(tmp_path, monkeypatch, version="1.2.3", platform="win32").calls
    exe = calls["EXE"][0][1]
    assert exe["console"] is False
    info = exe["version"]
    assert type(info).__name__ == "VSVersionInfo"
    assert info.kwargs["ffi"].kwargs == {"filevers": (1, 2, 3, 0), "prodvers": (1, 2, 3, 0)}
    assert "'ProductVersion', '1.2.3'" in repr(info)
    assert "'OriginalFilename', 'outpost.exe'" in repr(info)


def test_spec_refuses_to_build_without_compiled_translations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit, match=r"build/build\.py"):
        _run_spec(tmp_path, monkeypatch, with_qm=False)


# --- build/build.py ---------------------------------------------------------------------


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("outpost_build", ROOT / "build" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script_paths_and_options() -> None:
    build = _build_module()
    assert build.WORK == ROOT / "build" / "work"
    assert build.DIST == ROOT / "dist"
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "/build/work/" in ignored and "/dist/" in ignored
    args = build.build_parser().parse_args(["--onefile", "--check"])
    assert args.onefile and args.check and not args.console
    if sys.platform.startswith("linux"):
        assert build.output_path(False) == ROOT / "dist" / "outpost" / "outpost"
        assert build.output_path(True) == ROOT / "dist" / "onefile" / "outpost"


@pytest.mark.parametrize("onefile", [False, True])
def test_build_script_runs_pyinstaller_on_the_spec(
    onefile: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = _build_module()
    seen: list[list[str]] = []
    monkeypatch.setattr(build.subprocess, "run", lambda cmd, **kw: seen.append(cmd))
    monkeypatch.setattr(build, "output_path", lambda onefile: SPEC)  # "exists"
    build.run_pyinstaller(onefile=onefile, console=False, clean=False)
    (command,) = seen
    assert command[:3] == [sys.executable, "-m", "PyInstaller"]
    assert command[command.index("--workpath") + 1].startswith(str(ROOT / "build" / "work"))
    dist = command[command.index("--distpath") + 1]
    assert dist == str(ROOT / "dist" / "onefile" if onefile else ROOT / "dist")
    separator = command.index("--")
    assert command[separator - 1] == str(SPEC)
    assert command[separator + 1 :] == (["--onefile"] if onefile else [])


def test_build_script_draws_the_icon(tmp_path: Path, qapp: Any) -> None:
    from PySide6.QtGui import QImage

    written = _build_module().draw_icons(tmp_path)
    image = QImage(str(tmp_path / "outpost.png"))
    assert (image.width(), image.height()) == (256, 256)
    assert image.pixelColor(128, 128).alpha() == 255  # drawn, not blank
    assert image.pixelColor(0, 0).alpha() == 0  # rounded corners
    assert tmp_path / "outpost.png" in written


def test_make_targets_call_the_build_script() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    package = re.search(r"(?m)^package: .*\n\t(.+)", makefile)
    check = re.search(r"(?m)^package-check: .*\n\t(.+)", makefile)
    assert package and package.group(1).endswith("build/build.py")
    assert check and check.group(1).endswith("build/build.py --check")
    assert "offscreen" in check.group(1)


# --- the server for operators -----------------------------------------------------------


def _parse_server_command(words: list[str]) -> Any:
    """``outpost-server`` arguments as the real parser reads them (fails on invented flags)."""
    try:
        return server_main.build_parser().parse_args(words)
    except SystemExit as exc:
        if exc.code == 0:  # --version, --help
            return None
        raise AssertionError(f"outpost-server rejects {words}") from exc


def test_systemd_unit_runs_the_server_unprivileged() -> None:
    unit = configparser.RawConfigParser(strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "outpost-server.service", encoding="utf-8")
    service = unit["Service"]
    assert service["User"] not in ("", "root")
    assert "EnvironmentFile" in service
    words = shlex.split(service["ExecStart"])
    assert Path(words[0]).name == "outpost-server"
    args = _parse_server_command(words[1:])
    assert args.command == "serve"
    # stop must outlast the graceful shutdown of requests in flight
    assert int(service["TimeoutStopSec"]) > args.graceful_timeout
    assert service["RestartPreventExitStatus"] == str(server_main.EXIT_NOT_READY)
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_dockerfile_is_minimal_and_runs_as_a_user() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    lines = [
        line.strip()
        for line in re.sub(r"(?m)^\s*#.*\n", "", text).replace("\\\n", " ").splitlines()
        if line.strip()
    ]
    assert lines[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any(line.startswith("ENV OUTPOST_SERVER_DB=postgresql+psycopg://") for line in lines)
    assert any('pip install "/src[server]"' in line for line in lines)
    entry = next(line for line in lines if line.startswith("ENTRYPOINT"))
    cmd = next(line for line in lines if line.startswith("CMD"))
    words = [*json.loads(entry.split(None, 1)[1]), *json.loads(cmd.split(None, 1)[1])]
    assert words[:2] == ["outpost-server", "serve"]
    assert _parse_server_command(words[1:]).host == "0.0.0.0"
    # what it copies exists and is not kept out of the build context
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
                assert source not in ignored


def test_operations_page_uses_real_server_commands() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for topic in ("pg_dump", "pg_restore", "db upgrade", "user add", "nginx", "--tls-cert"):
        assert topic in text
    commands = []
    in_shell_block = False
    for line in text.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("```"):
            in_shell_block = not in_shell_block and line.strip() == "```sh"
            continue
        line = line.split("#")[0].split("|")[-1].strip()
        if in_shell_block and "outpost-server " in line:
            commands.append(shlex.split(line[line.index("outpost-server ") :])[1:])
    assert len(commands) >= 8
    for words in commands:
        _parse_server_command([w for w in words if "$" not in w] if words else words)
