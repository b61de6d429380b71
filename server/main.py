"""``outpost-server``: the central server's entry point.

The server (FastAPI on SQLite or PostgreSQL: accounts, change feed, idempotent push)
arrives with the server issue (#3); this command exists now so that packaging, the README
and scripts can name it.
"""

from __future__ import annotations

import argparse
import sys

from sync import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outpost-server", description="Outpost central sync server."
    )
    parser.add_argument("--version", action="version", version=f"outpost-server {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="run the server (not built yet: issue #3)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    print(
        f"outpost-server {__version__}: '{args.command}' is not built yet (issue #3).",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
