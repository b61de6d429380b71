"""A client that syncs once, for crash tests: run it, then SIGKILL it at any moment.

    python -m tests.helpers.sync_child PROFILE_DIR URL USER PASSWORD PULL_LIMIT

Signs in (its own device), then runs one ``sync_once`` with ``pull_limit`` records per
page, printing one JSON line per applied page (``{"page": n, "pulled": m}``, flushed) and
``{"done": true, ...}`` at the end.
"""

from __future__ import annotations

import json
import sys

from sync.engine import SyncEngine, SyncState, SyncStatus
from sync.replica import Replica
from sync.transport import ServerClient, ServerConfig


def main() -> int:
    profile, url, user, password, limit = sys.argv[1:6]
    replica = Replica.open(profile)
    client = ServerClient(ServerConfig(url))
    client.login(user, password, "sync-child")
    engine = SyncEngine(replica, client, pull_limit=int(limit))
    pages = 0

    def on_status(status: SyncStatus) -> None:
        nonlocal pages
        if status.state == SyncState.SYNCING and status.done:
            pages += 1
            print(json.dumps({"page": pages, "pulled": status.done}), flush=True)

    engine.add_listener(on_status)
    report = engine.sync_once()
    print(json.dumps({"done": True, "pages": report.pages, "pulled": report.pulled}), flush=True)
    client.close()
    replica.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
