"""The C heap of a long-running chanwatch process: at most two glibc malloc arenas.

glibc gives threads that allocate at once heaps of their own ("arenas"), up to eight per
core, and memory freed in one is not used by another. A `chanwatch run` has threads that
allocate a lot for a while: a SQLite connection each (aiosqlite) and the digest's drawing
(asyncio.to_thread). At full size (issue #16's bench, 10,000 subscribers) the peak resident
set was 527 MB with glibc's default and 455 MB with two arenas; the threads mostly wait on
the GIL anyway, so sharing heaps costs little. An operator's own MALLOC_ARENA_MAX (or
GLIBC_TUNABLES) is left as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ARENAS = 2
M_ARENA_MAX = -8  # glibc's <malloc.h>


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's arenas for the threads started from now on; False where it did not apply
    (not glibc, or the operator set the cap)."""
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
