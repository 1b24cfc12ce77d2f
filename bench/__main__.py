"""Run every benchmark module of this package in turn."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main() -> int:
    """Import each `bench.<module>` and call its `main()` with no arguments."""
    for module in pkgutil.iter_modules(bench.__path__):
        if module.name.startswith("_"):
            continue
        print(f"== bench.{module.name}", flush=True)
        importlib.import_module(f"bench.{module.name}").main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
