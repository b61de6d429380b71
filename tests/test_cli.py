"""The ``outpost-cli`` command, run in-process through :func:`sync.cli.main`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync.cli import (
    EXIT_CORRUPT,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    display_width,
    main,
    resolve_profile_dir,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


class Result:
    """What one run of the command gave."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Result]


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return tmp_path / "profile"


@pytest.fixture
def cli(profile: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``outpost-cli --profile <tmp> ARGS...`` and capture its output."""

    def run(*args: str) -> Result:
        code = main(["--profile", str(profile), *args])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return Result(code, out, err)

    return run


def add_customer(cli: Cli, name: str, *extra: str) -> str:
    result = cli("--json", "customers", "add", "--name", name, *extra)
    assert result.code == EXIT_OK, result.err
    record_id: str = result.json()["id"]
    return record_id


def pending_rows(cli: Cli) -> list[dict[str, Any]]:
    result = cli("--json", "pending")
    assert result.code == EXIT_OK, result.err
    rows: list[dict[str, Any]] = result.json()
    return rows


# --- customers ----------------------------------------------------------------------------


def test_add_list_show_edit_delete_round_trip(cli: Cli) -> None:
    added = cli("customers", "add", "--name", "张三", "--company", "星辰科技", "--set", "city=杭州")
    assert added.code == EXIT_OK, added.err
    match = re.search(r"Created customer ([0-9a-f-]{36})", added.out)
    assert match, added.out
    record_id = match.group(1)
    assert re.search(r"Mutation: \S+:1$", added.out, re.M)

    listed = cli("customers", "list")
    assert listed.code == EXIT_OK
    assert record_id in listed.out
    assert "张三" in listed.out and "星辰科技" in listed.out and "杭州" in listed.out
    assert "pending" in listed.out
    assert "1 customer" in listed.out

    shown = cli("customers", "show", record_id)
    assert shown.code == EXIT_OK
    assert re.search(r"^Name:\s+张三$", shown.out, re.M)
    assert re.search(r"^Company:\s+星辰科技$", shown.out, re.M)
    assert re.search(r"^Status:\s+lead$", shown.out, re.M)  # the default
    assert re.search(r"^Version:\s+0$", shown.out, re.M)
    assert re.search(r"^Sync state:\s+pending$", shown.out, re.M)

    edited = cli(
        "customers", "edit", record_id, "--set", "email=zhang@EXAMPLE.com", "--set", "level=A"
    )
    assert edited.code == EXIT_OK, edited.err
    assert f"Updated customer {record_id}: email, level" in edited.out
    assert re.search(r"Mutation: \S+:2$", edited.out, re.M)

    shown = cli("customers", "show", record_id)
    assert re.search(r"^Email:\s+zhang@example.com$", shown.out, re.M)
    assert re.search(r"^Level:\s+A$", shown.out, re.M)

    deleted = cli("customers", "delete", record_id)
    assert deleted.code == EXIT_OK, deleted.err
    assert f"Deleted customer {record_id}" in deleted.out

    assert cli("customers", "show", record_id).code == EXIT_FAILURE
    assert "No customers found." in cli("customers", "list").out


def test_json_output_parses_and_holds_the_fields(cli: Cli) -> None:
    record_id = add_customer(
        cli,
        "李四",
        "--company",
        "Acme",
        "--set",
        "tags=vip，重点",
        "--set",
        "next_follow_up_at=2025-03-01T09:30:00+08:00",
    )
    records = cli("customers", "list", "--json").json()  # --json after the subcommand
    assert len(records) == 1
    record = records[0]
    assert record["id"] == record_id
    assert record["name"] == "李四"
    assert record["company"] == "Acme"
    assert record["tags"] == ["vip", "重点"]
    assert record["next_follow_up_at"] == "2025-03-01T01:30:00.000000Z"
    assert record["status"] == "lead"
    assert record["version"] == 0
    assert record["sync_state"] == "pending"
    assert record["deleted"] is False
    datetime.fromisoformat(record["created_at"])

    shown = cli("--json", "customers", "show", record_id).json()
    assert shown == record


def test_search_finds_chinese_name_by_pinyin_initials(cli: Cli) -> None:
    zhang = add_customer(cli, "张三")
    add_customer(cli, "李四")
    add_customer(cli, "Acme Trading")

    found = cli("--json", "customers", "list", "--search", "zs").json()
    assert [r["id"] for r in found] == [zhang]

    table = cli("customers", "list", "--search", "zs")
    assert "张三" in table.out and "李四" not in table.out

    assert cli("--json", "customers", "list", "--search", "zhangsan").json()[0]["id"] == zhang


def test_list_filters_sort_and_paging(cli: Cli) -> None:
    for name, level in (("Alpha", "A"), ("Bravo", "B"), ("Charlie", "A")):
        add_customer(cli, name, "--set", f"level={level}")

    def names(*args: str) -> list[str]:
        return [r["name"] for r in cli("--json", "customers", "list", *args).json()]

    assert names() == ["Alpha", "Bravo", "Charlie"]
    assert names("--level", "A") == ["Alpha", "Charlie"]
    assert names("--desc") == ["Charlie", "Bravo", "Alpha"]
    assert names("--sort", "level", "--desc") == ["Bravo", "Alpha", "Charlie"]
    assert names("--limit", "2", "--offset", "1") == ["Bravo", "Charlie"]
    assert names("--status", "active") == []

    page = cli("customers", "list", "--limit", "2")
    assert "1-2 of 3 customers" in page.out


def test_table_columns_line_up_with_chinese_text(cli: Cli) -> None:
    add_customer(cli, "张三丰", "--company", "星辰科技有限公司", "--set", "city=杭州")
    add_customer(cli, "Bob", "--company", "Acme", "--set", "city=Paris")
    lines = cli("customers", "list").out.splitlines()
    header, _rule, *rows = lines[:4]

    def column_of(line: str, text: str) -> int:
        return display_width(line[: line.index(text)])

    for heading, values in (("Company", ("星辰科技有限公司", "Acme")), ("City", ("杭州", "Paris"))):
        start = column_of(header, heading)
        for value in values:
            row = next(r for r in rows if value in r)
            assert column_of(row, value) == start, (heading, value, lines)


def test_invalid_email_exits_2_and_writes_nothing(cli: Cli) -> None:
    result = cli("customers", "add", "--name", "王五", "--set", "email=not-an-email")
    assert result.code == EXIT_USAGE
    assert "email: 'not-an-email' is not an email address" in result.err.splitlines()
    assert result.out == ""
    assert pending_rows(cli) == []
    assert cli("--json", "customers", "list").json() == []


def test_all_field_errors_are_reported_together(cli: Cli) -> None:
    record_id = add_customer(cli, "王五")
    result = cli(
        "customers",
        "edit",
        record_id,
        "--set",
        "email=bad",
        "--set",
        "level=Z",
        "--set",
        "version=3",
        "--set",
        "nope=1",
    )
    assert result.code == EXIT_USAGE
    fields = {line.split(":", 1)[0] for line in result.err.splitlines()[1:]}
    assert fields == {"email", "level", "version", "nope"}
    assert len(pending_rows(cli)) == 1  # only the create


def test_unknown_id_exits_1(cli: Cli) -> None:
    missing = str(uuid.uuid4())
    cases: list[tuple[str, tuple[str, ...]]] = [
        ("customer", ("customers", "show", missing)),
        ("customer", ("customers", "edit", missing, "--set", "city=Shanghai")),
        ("customer", ("customers", "delete", missing)),
        ("customer", ("customers", "show", missing.upper())),  # ids are case-insensitive
        ("deal", ("deals", "edit", missing, "--set", "stage=won")),
        ("customer", ("followups", "list", "--customer", missing)),
    ]
    for entity, args in cases:
        result = cli(*args)
        assert result.code == EXIT_FAILURE, args
        assert result.err == f"outpost-cli: error: no {entity} with id {missing}\n", args
    assert cli("customers", "show", "not-an-id").code == EXIT_FAILURE


def test_corrupt_replica_exits_6_and_is_left_untouched(cli: Cli, profile: Path) -> None:
    profile.mkdir()
    replica_file = profile / "replica.sqlite3"
    garbage = b"this is not a database\x00" + bytes(range(256)) * 16
    replica_file.write_bytes(garbage)
    for args in (("customers", "list"), ("info",), ("customers", "add", "--name", "x")):
        result = cli(*args)
        assert result.code == EXIT_CORRUPT, args
        assert "damaged" in result.err
        assert str(replica_file) in result.err
        assert result.out == ""
    assert replica_file.read_bytes() == garbage
    assert sorted(os.listdir(profile)) == ["replica.sqlite3"]


def test_delete_with_children_needs_cascade(cli: Cli) -> None:
    customer = add_customer(cli, "赵六")
    assert cli("contacts", "add", "--customer", customer, "--name", "小赵").code == EXIT_OK
    assert cli("deals", "add", "--customer", customer, "--title", "Pumps").code == EXIT_OK

    refused = cli("customers", "delete", customer)
    assert refused.code == EXIT_FAILURE
    assert "--cascade" in refused.err

    done = cli("--json", "customers", "delete", customer, "--cascade").json()
    assert done["op"] == "delete"
    assert sorted(c["entity"] for c in done["children"]) == ["contact", "deal"]
    ops = [(r["entity"], r["op"]) for r in pending_rows(cli)]
    assert ops[-3:] == [("contact", "delete"), ("deal", "delete"), ("customer", "delete")]


# --- other entities -----------------------------------------------------------------------


def test_contacts_followups_and_deals(cli: Cli) -> None:
    customer = add_customer(cli, "孙七")

    contact = cli(
        "--json",
        "contacts",
        "add",
        "--customer",
        customer,
        "--name",
        "小孙",
        "--set",
        "is_primary=yes",
    )
    assert contact.code == EXIT_OK, contact.err
    assert set(contact.json()["fields"]) >= {"customer_id", "name", "is_primary"}

    before = datetime.now(UTC)
    first = cli("followups", "add", "--customer", customer, "--kind", "call", "--content", "打电话")
    assert first.code == EXIT_OK, first.err
    second = cli(
        "follow-ups",
        "add",
        "--customer",
        customer,
        "--kind",
        "visit",
        "--content",
        "拜访",
        "--set",
        "done=yes",
        "--set",
        "happened_at=2024-01-02T10:00:00+08:00",
    )
    assert second.code == EXIT_OK, second.err

    listed = cli("--json", "followups", "list", "--customer", customer).json()
    assert [r["content"] for r in listed] == ["打电话", "拜访"]  # newest first
    happened = datetime.fromisoformat(listed[0]["happened_at"])
    assert happened.tzinfo is not None
    assert before - timedelta(seconds=1) <= happened <= datetime.now(UTC)
    assert listed[1]["happened_at"] == "2024-01-02T02:00:00.000000Z"

    open_only = cli("--json", "followups", "list", "--open").json()
    assert [r["content"] for r in open_only] == ["打电话"]
    table = cli("followups", "list")
    assert "孙七" in table.out and "打电话" in table.out and "2 follow-ups" in table.out

    deal = cli(
        "--json",
        "deals",
        "add",
        "--customer",
        customer,
        "--title",
        "Big order",
        "--set",
        "amount=12,345.5",
        "--set",
        "expected_close=2025-06-30",
    ).json()
    edited = cli("deals", "edit", deal["id"], "--set", "stage=won", "--set", "probability=90")
    assert edited.code == EXIT_OK, edited.err
    assert f"Updated deal {deal['id']}: stage, probability" in edited.out
    mutations = pending_rows(cli)
    deal_create = next(m for m in mutations if m["record_id"] == deal["id"])
    assert deal_create["fields"]["amount"]["new"] == "12345.50"
    assert deal_create["fields"]["expected_close"]["new"] == "2025-06-30"


def test_child_of_unknown_customer_is_a_field_error(cli: Cli) -> None:
    result = cli("contacts", "add", "--customer", str(uuid.uuid4()), "--name", "nobody")
    assert result.code == EXIT_USAGE
    assert any(line.startswith("customer_id: no customer") for line in result.err.splitlines())
    assert pending_rows(cli) == []


# --- outbox and replica -------------------------------------------------------------------


def test_pending_lists_one_row_per_edit(cli: Cli) -> None:
    assert cli("pending").out.strip() == "No queued edits."
    record_id = add_customer(cli, "周八")
    assert cli("customers", "edit", record_id, "--set", "city=Beijing").code == EXIT_OK
    assert cli("customers", "edit", record_id, "--set", "mobile=13800138000").code == EXIT_OK
    unchanged = cli("customers", "edit", record_id, "--set", "city=Beijing")
    assert unchanged.code == EXIT_OK
    assert "No change" in unchanged.out

    rows = pending_rows(cli)
    assert [(r["seq"], r["op"], r["record_id"]) for r in rows] == [
        (1, "create", record_id),
        (2, "update", record_id),
        (3, "update", record_id),
    ]
    assert rows[1]["fields"] == {"city": {"new": "Beijing", "base": None}}
    assert all(r["status"] == "pending" for r in rows)

    table = cli("pending").out.splitlines()
    body = [line for line in table if record_id in line]
    assert len(body) == 3
    assert "city" in body[1] and "mobile" in body[2]
    for row in rows:
        assert any(row["mutation_id"] in line for line in body)


def test_info_reports_counts_and_integrity_ok(cli: Cli, profile: Path) -> None:
    add_customer(cli, "吴九")
    text = cli("info")
    assert text.code == EXIT_OK, text.err
    assert re.search(r"^Integrity:\s+ok$", text.out, re.M)
    assert re.search(r"^Customers:\s+1$", text.out, re.M)
    assert re.search(r"^Pending edits:\s+1$", text.out, re.M)
    assert str(profile / "replica.sqlite3") in text.out

    data = cli("--json", "info").json()
    assert data["integrity"] == {"ok": True, "problems": []}
    assert data["records"] == {"customer": 1, "contact": 0, "follow_up": 0, "deal": 0}
    assert data["outbox"] == {"pending": 1, "failed": 0}
    assert data["schema_version"] >= 1
    assert data["client_id"]
    assert data["replica"] == str(profile / "replica.sqlite3")


@pytest.mark.usefixtures("shanghai_time")
def test_datetimes_print_in_local_time(cli: Cli) -> None:
    record_id = add_customer(cli, "郑十", "--set", "next_follow_up_at=2025-03-01T01:00:00Z")
    shown = cli("customers", "show", record_id)
    assert re.search(r"^Next follow-up:\s+2025-03-01T09:00:00\+08:00$", shown.out, re.M)
    # A time typed without a zone is local time.
    cli("customers", "edit", record_id, "--set", "next_follow_up_at=2025-03-02 08:00")
    data = cli("--json", "customers", "show", record_id).json()
    assert data["next_follow_up_at"] == "2025-03-02T00:00:00.000000Z"


# --- command line -------------------------------------------------------------------------


def test_usage_errors_exit_2(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == EXIT_USAGE
    assert "required" in capsys.readouterr().err
    assert cli("customers", "list", "--limit", "0").code == EXIT_USAGE
    assert cli("customers", "add").code == EXIT_USAGE  # --name is required
    assert cli("customers", "add", "--name", "x", "--set", "novalue").code == EXIT_USAGE
    assert cli("customers", "list", "--sort", "nope").code == EXIT_USAGE
    assert cli("customers", "frobnicate").code == EXIT_USAGE


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out.startswith("outpost-cli ")


def test_profile_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main(["--profile", str(not_a_dir), "info"]) == EXIT_USAGE
    assert not_a_dir.read_text() == "x"


def test_resolve_profile_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OUTPOST_PROFILE", str(tmp_path / "from-env"))
    assert resolve_profile_dir(str(tmp_path / "explicit")) == tmp_path / "explicit"
    assert resolve_profile_dir(None) == tmp_path / "from-env"
    monkeypatch.delenv("OUTPOST_PROFILE")
    default = resolve_profile_dir(None)
    assert default.parts[-3:] == ("Outpost", "profiles", "local")


def test_profile_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OUTPOST_PROFILE", str(tmp_path / "env-profile"))
    assert main(["customers", "add", "--name", "钱十一"]) == EXIT_OK
    capsys.readouterr()
    assert (tmp_path / "env-profile" / "replica.sqlite3").exists()


@pytest.mark.slow
def test_help_through_the_console_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sync.cli", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: outpost-cli")
    for word in ("customers", "pending", "info", "exit codes", "--profile", "--json"):
        assert word in done.stdout
    assert done.stderr == ""
