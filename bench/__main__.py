"""`python -m bench` runs every benchmark; `python -m bench NAME --quick` one, in under a minute.

Each prints its headline as `BENCH <name> <value> <unit> ratio=<r> vs <limit or baseline>`.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time

BENCHMARKS = {
    "delivery": "bench.delivery",
    "latency": "bench.latency",
    "collector": "bench.collector",
    "digest": "bench.digest",
    "media": "bench.media",
    "archive": "bench.archive",
    "webpreview": "bench.webpreview",
    "memory": "bench.memory",
    "scaleout": "bench.scaleout",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        choices=[*BENCHMARKS, []],
        metavar="NAME",
        help=f"one or more of: {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute each")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    print(
        f"# machine: {platform.node()} {platform.machine()} {platform.processor() or ''} "
        f"python {platform.python_version()} cpus={_cpus()}",
        flush=True,
    )
    for name in names:
        started = time.perf_counter()
        module = importlib.import_module(BENCHMARKS[name])
        module.main(quick=args.quick)
        print(f"# {name} took {time.perf_counter() - started:.1f} s", flush=True)
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
