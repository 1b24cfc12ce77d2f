"""Re-wrap every data key under a new master key: `python -m services.complaints.rotate_master_key`.

Set `COMPLAINTS_MASTER_KEY="<new>,<old>"` (the new key first), run this once,
then drop the old key from the variable. Events are not touched: only the
wrapped data keys change. `--new-key` prints a fresh key to start with.
"""

from __future__ import annotations

import argparse

from services.complaints.settings import ComplaintsSettings
from services.complaints.vault import Vault, new_master_key
from services.kernel.database import create_database_engine


def main() -> None:
    """Rotate, or print a new key."""
    parser = argparse.ArgumentParser(prog="python -m services.complaints.rotate_master_key")
    parser.add_argument("--new-key", action="store_true", help="print a fresh master key and exit")
    args = parser.parse_args()
    if args.new_key:
        print(new_master_key())
        return
    settings = ComplaintsSettings()
    engine = create_database_engine(settings.database_url)
    try:
        count = Vault(engine, settings.master_keys()).rotate()
    finally:
        engine.dispose()
    print(f"re-wrapped {count} data keys under the first master key")


if __name__ == "__main__":
    main()
