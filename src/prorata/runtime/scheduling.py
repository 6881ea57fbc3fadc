"""How the web process asks Linux to run it first when a request arrives.

The worker yields the CPU (`jobs.yield_cpu`: niceness, batch scheduling); that gives the web
process the larger share, but not the CPU at once. Since Linux 6.6 (EEVDF) a task that wakes up
preempts the running one only when its deadline is earlier, and a running task keeps the CPU
until its slice is used ("run to parity"): a request arriving while the worker's backends
ingest waited up to a slice (1.4 ms here) before its first instruction. A task may ask for a
shorter slice (`sched_setattr`, `sched_runtime` for SCHED_OTHER, Linux 6.12+): its deadlines
come sooner, and a waking short-slice task preempts a longer one. No privilege is needed and
no extra CPU is granted — the share stays what weights say; only the wait shrinks.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys

# sched_setattr(2) by architecture (no libc wrapper); elsewhere we do nothing.
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}
SHORT_SLICE_NS = 100_000  # the kernel's floor: 0.1 ms


def request_short_slice(pid: int = 0, slice_ns: int = SHORT_SLICE_NS) -> bool:
    """Ask for a short scheduling slice for `pid` (0: this process); False where the kernel
    or the platform has no such request (older kernels accept and ignore it)."""
    number = _SCHED_SETATTR.get(platform.machine())
    if number is None or not hasattr(os, "getpriority"):
        return False
    # struct sched_attr: size, policy (SCHED_OTHER), flags, nice, priority, runtime (the
    # slice), deadline, period, util_min, util_max.
    nice = os.getpriority(os.PRIO_PROCESS, pid)
    attr = struct.pack("IIQiIQQQII", 56, 0, 0, nice, 0, slice_ns, 0, 0, 0, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.syscall(number, pid, ctypes.create_string_buffer(attr), 0)) == 0


# Seconds a thread holding the GIL keeps it while another waits for it (CPython's default is
# 5 ms). The worker's event loop shares the interpreter with CPU-bound threads (a workbook's
# reader, holding the GIL in long regular-expression passes; the CSV amounts' rewriter): at
# 5 ms the loop, woken by the database, waited that long at each await — a COPY batch fed while
# the reader read took ~0.35 s instead of ~0.07 s. At 1 ms a million-row workbook imported
# ~1-2 s sooner; at 0.2 ms another ~0.3 s (psycopg sends COPY data 128 KiB an await: the
# loop's share of a million rows went from ~1.9 to ~1.6 s; docs/benchmarks.md, the ingest
# section). The cost is more switches per second, and only while two threads both want to run.
WORKER_SWITCH_INTERVAL = 0.0002
# A process exporting spans: the batch processor's thread against the event loop
# (`cli._configure_telemetry`).
SPAN_EXPORT_SWITCH_INTERVAL = 0.001


def switch_threads_briskly(seconds: float) -> None:
    """Make the GIL change hands at least every `seconds` (never less often than it does)."""
    sys.setswitchinterval(min(sys.getswitchinterval(), seconds))
