"""Keep freed memory in the process for reuse: a speed switch for batched simulation on Linux.

A step of a large batch makes and drops many tensors of a few MiB. glibc's malloc hands memory of that
size back to the operating system when it is freed, so the next step's tensors start as fresh pages and
every 4 KiB page costs a page fault on first touch (``benchmarks/economy_speed.py`` measures the
difference). :func:`keep_freed_memory` raises glibc's thresholds so that freed blocks stay in the heap.
It changes the whole process, so nothing in ``ermas`` calls it by itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc's mallopt parameters
_MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's upper limit for M_MMAP_THRESHOLD on 64-bit systems


def keep_freed_memory(keep_mib: int = 1024) -> bool:
    """Ask glibc to serve blocks under 32 MiB from the heap and to keep up to ``keep_mib`` MiB of freed heap.

    Returns True if the settings took effect, False where they do not apply (not Linux, or not glibc).
    """
    if keep_mib < 0:
        raise ValueError(f"keep_mib must be >= 0, got {keep_mib}")
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    settings = [
        (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX),
        (_M_TRIM_THRESHOLD, keep_mib * 2**20),
        (_M_TOP_PAD, 64 * 2**20),
    ]
    return all(mallopt(param, value) == 1 for param, value in settings)
