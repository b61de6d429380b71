"""``outpost``: the desktop app's entry point.

The window itself arrives with the desktop-app issue (#5). Until then ``outpost --demo``
prepares the demo profile — a local replica with demo customers, contacts, follow-ups
and deals — and says how to browse it with ``outpost-cli``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sync import __version__
from sync.profile import PROFILE_ENV, demo_profile_dir, profiles_root


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outpost",
        description="Outpost: an offline-first desktop CRM.",
        epilog=f"Profiles live under {profiles_root()} unless --profile or {PROFILE_ENV} "
        "says otherwise.",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="open the demo profile (created and filled with demo data on first use)",
    )
    parser.add_argument("--profile", metavar="DIR", help="profile directory to open")
    parser.add_argument("--version", action="version", version=f"Outpost {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.demo:
        from sync.demo_data import seed_replica
        from sync.replica import Replica, ReplicaError

        profile = Path(args.profile) if args.profile else demo_profile_dir()
        try:
            with Replica.open(profile) as replica:
                created = seed_replica(replica)
                customers = replica.customers.count()
                first = replica.customers.query(limit=1)
                example = _initials(first[0]["name"]) if first else "zs"
        except ReplicaError as exc:
            print(f"outpost: {exc}", file=sys.stderr)
            return 1
        verb = f"created with {created} demo records" if created else "ready"
        print(f"Outpost {__version__}: demo profile {verb} at {profile} ({customers} customers).")
        print("The desktop window is not built yet (issue #5). Browse the demo data meanwhile:")
        print(f'  outpost-cli --profile "{profile}" customers list --search {example}')
        print(f'  outpost-cli --profile "{profile}" customers list --status active --sort name')
        print(f'  outpost-cli --profile "{profile}" info')
        return 0
    profile = args.profile or os.environ.get(PROFILE_ENV)
    print(
        f"Outpost {__version__}: the desktop window is not built yet (issue #5). "
        "Run `outpost --demo` to prepare the demo profile"
        + (f", or use `outpost-cli --profile {profile}`." if profile else ".")
    )
    return 0


def _initials(name: str) -> str:
    from sync.search import has_han, pinyin_syllables

    if has_han(name):
        return "".join(s[0] for s in pinyin_syllables(name))
    return "".join(word[0] for word in name.lower().split())


if __name__ == "__main__":
    raise SystemExit(main())
