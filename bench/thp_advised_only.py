#!/usr/bin/env python3
"""Runs a command as if the machine's transparent-huge-page policy were "madvise" (Ubuntu's default): huge pages
only where the program asked for them with madvise(MADV_HUGEPAGE). On a machine set to "always" every large
anonymous buffer gets huge pages, which hides what cpu/host_memory.h's advice is for; this is how
docs/PERFORMANCE.md ("Huge pages") compared builds with and without it, without touching the machine's setting.

    python3 bench/thp_advised_only.py build/bench/bench_train --dtype fp32 --no-torch

Needs Linux 6.18+ (prctl PR_SET_THP_DISABLE with PR_THP_DISABLE_EXCEPT_ADVISED; the setting is inherited across
exec). On an older kernel it says so and exits 2.
"""
import ctypes
import os
import sys

PR_SET_THP_DISABLE = 41
PR_THP_DISABLE_EXCEPT_ADVISED = 1 << 1

if len(sys.argv) < 2:
    sys.exit("usage: thp_advised_only.py COMMAND [ARG...]")
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_THP_DISABLE, *(ctypes.c_ulong(v) for v in (1, PR_THP_DISABLE_EXCEPT_ADVISED, 0, 0))) != 0:
    err = ctypes.get_errno()
    print(f"thp_advised_only: prctl(PR_SET_THP_DISABLE, except advised) failed: {os.strerror(err)} "
          "(needs Linux 6.18+)", file=sys.stderr)
    sys.exit(2)
try:
    os.execvp(sys.argv[1], sys.argv[1:])
except OSError as e:
    sys.exit(f"thp_advised_only: cannot run {sys.argv[1]}: {e.strerror}")
