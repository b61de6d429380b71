"""A burst of edits against a replica, for crash tests: run, then kill -9 at any moment.

    python -m tests.helpers.edit_burst PROFILE_DIR SEED COUNT

After each committed edit it prints one JSON line ``{"mutation_id", "record_id", "op"}``
and flushes, so the parent knows which edits were committed before it killed us.
"""

from __future__ import annotations

import json
import random
import sys

from sync.demo_data import CustomerFactory
from sync.replica import Replica


def main() -> int:
    profile, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rnd = random.Random(seed)
    factory = CustomerFactory(seed)
    replica = Replica.open(profile)
    ids = [r.id for r in replica.customers.query(limit=1000)]
    print(json.dumps({"ready": True}), flush=True)
    for _ in range(count):
        roll = rnd.random()
        if roll < 0.5 or not ids:
            change = replica.customers.create(factory.customer_values())
            ids.append(change.record_id)
        elif roll < 0.9:
            change = replica.customers.update(
                rnd.choice(ids),
                {"city": rnd.choice(["上海", "北京", "深圳"]), "notes": str(rnd.random())},
            )
        else:
            rid = ids.pop(rnd.randrange(len(ids)))
            change = replica.customers.delete(rid)
        if change.mutation_id is not None:
            line = {
                "mutation_id": change.mutation_id,
                "record_id": change.record_id,
                "op": change.op,
            }
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
