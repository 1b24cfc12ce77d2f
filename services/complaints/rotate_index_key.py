"""Re-compute every customer-history token with the current index key.

`python -m services.complaints.rotate_index_key`: set
`COMPLAINTS_INDEX_KEYS="2:<new>,1:<old>"` (new version first) on every
replica, run this once, then drop the old key. While both are in the ring a
search tries both, so no customer is hidden while tokens are re-computed. The
clear identifiers are opened with each complaint's data key (the master key
is needed too); events are never touched. `--new-key` prints a fresh key.
"""

from __future__ import annotations

import argparse

from services.complaints.application import ComplaintsApplication
from services.complaints.blind_index import new_index_key
from services.complaints.customer_index import CustomerIndex
from services.complaints.event_store import event_store_env
from services.complaints.policy_archive import PolicyArchive
from services.complaints.settings import ComplaintsSettings
from services.complaints.vault import Vault
from services.kernel.database import create_database_engine


def rotate(settings: ComplaintsSettings) -> int:
    """Re-compute the tokens made by older keys; returns how many complaints changed."""
    keys = settings.index_key_ring()
    if keys is None:
        raise SystemExit("Set COMPLAINTS_INDEX_KEYS (new version first) before rotating.")
    engine = create_database_engine(settings.database_url)
    app = ComplaintsApplication(
        event_store_env(settings.database_url, settings.postgres_lock_timeout_seconds),
        PolicyArchive(engine).open_book(settings.policy_dir, settings.default_policy),
        Vault(engine, settings.master_keys()),
        default_policy=settings.default_policy,
    )
    try:
        index = CustomerIndex(engine, app, keys)
        index.catch_up_fully()  # nothing recorded meanwhile is left under an old key
        return index.rotate()
    finally:
        app.close()
        engine.dispose()


def main() -> None:
    """Rotate, or print a new key."""
    parser = argparse.ArgumentParser(prog="python -m services.complaints.rotate_index_key")
    parser.add_argument("--new-key", action="store_true", help="print a fresh index key and exit")
    args = parser.parse_args()
    if args.new_key:
        print(new_index_key())
        return
    count = rotate(ComplaintsSettings())
    print(f"re-computed the customer-history tokens of {count} complaints with the current key")


if __name__ == "__main__":
    main()
