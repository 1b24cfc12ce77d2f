"""Re-wrap every data key under a new master key: `complaints-rotate-master-key`.

Two ways:

- With the key file `make run` uses (`--key-file var/master-key`, with the
  services stopped): a fresh key is made, every data key re-wrapped under
  it, and the file rewritten, so the next `make run` starts with the new key.
  The file holds "new,old" while the data keys are re-wrapped, so a crash
  half-way leaves a key file that still opens every data key.
- With the environment (deployments): set `COMPLAINTS_MASTER_KEY="<new>,<old>"`
  (the new key first), run this once, restart the service, then drop the old
  key from the variable. `--new-key` prints a fresh key to start with.

Events are not touched: only the wrapped data keys change.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from services.complaints.settings import ComplaintsSettings
from services.complaints.vault import MasterKeyMissing, Vault, new_master_key
from services.kernel.customer_tokens import split_secrets
from services.kernel.database import create_database_engine
from services.kernel.startup import database_problems, refuse


def _write_private(path: Path, text: str) -> None:
    """Replace the file at once (never half-written), readable by its owner only."""
    fresh = path.with_name(path.name + ".new")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(fresh, path)


def _rewrap(database_url: str, keys: list[str]) -> int:
    engine = create_database_engine(database_url)
    try:
        return Vault(engine, keys).rotate()
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Rotate (from the key file or the environment), or print a new key."""
    parser = argparse.ArgumentParser(
        prog="complaints-rotate-master-key",
        description="Re-wrap every data key under a new master key.",
    )
    parser.add_argument("--new-key", action="store_true", help="print a fresh master key and exit")
    parser.add_argument(
        "--key-file",
        type=Path,
        help="the key file of a local run (var/master-key): rotate to a fresh key and write "
        "it there; stop `make run` first",
    )
    args = parser.parse_args(argv)
    if args.new_key:
        print(new_master_key())
        return 0
    settings = ComplaintsSettings()
    problems = database_problems("COMPLAINTS_DATABASE_URL", settings.database_url)
    if problems:
        refuse("complaints-rotate-master-key", problems)
    if args.key_file is not None:
        return _rotate_file(args.key_file, settings.database_url)
    keys = settings.master_keys()
    if len(keys) < 2:
        parser.exit(
            2,
            "complaints-rotate-master-key: COMPLAINTS_MASTER_KEY: give the new key and the "
            'old one ("<new>,<old>"), or use --key-file var/master-key\n',
        )
    try:
        count = _rewrap(settings.database_url, keys)
    except (MasterKeyMissing, InvalidToken):
        parser.exit(
            2,
            "complaints-rotate-master-key: COMPLAINTS_MASTER_KEY: none of the keys opens "
            "the stored data keys; nothing was changed\n",
        )
    print(f"re-wrapped {count} data keys under the first master key")
    return 0


def _rotate_file(path: Path, database_url: str) -> int:
    name = "complaints-rotate-master-key"
    if not path.is_file():
        print(f"{name}: --key-file: no such file: {path}", file=sys.stderr)
        return 2
    old = split_secrets(path.read_text())
    try:
        for key in old:
            Fernet(key.encode())
    except ValueError:
        print(f"{name}: --key-file: {path} does not hold Fernet keys", file=sys.stderr)
        return 2
    new = new_master_key()
    # Both keys first: whatever happens next, the file opens every data key.
    _write_private(path, ",".join([new, *old]))
    try:
        count = _rewrap(database_url, [new, *old])
    except (MasterKeyMissing, InvalidToken):
        _write_private(path, ",".join(old))
        print(
            f"{name}: --key-file: the keys in {path} do not open the stored data keys; "
            "nothing was changed",
            file=sys.stderr,
        )
        return 2
    _write_private(path, new)
    print(f"re-wrapped {count} data keys under a new master key, now the only key in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
