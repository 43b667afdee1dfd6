"""train and infer spin briefly (GOMP_SPINCOUNT=10000), then sleep, in OpenMP unless the user chose (issue 17,
item 6; cli/omp_policy.h).

libgomp prints its settings at load with OMP_DISPLAY_ENV=verbose, GOMP_SPINCOUNT among them: 300000 (its default:
spin, then sleep), 0 under OMP_WAIT_POLICY=passive, 30000000000 under active. The program sets the policy and
re-executes itself, so the last block printed is the one the run uses. Checks ./infer and ./train (--help: no
model needed): no user setting -> 10000; the user's OMP_WAIT_POLICY=active or GOMP_SPINCOUNT wins and nothing is
re-executed (one block); BEOP_OMP_DEFAULTS=0 -> libgomp's default. Exit status 0 = pass."""
import os
import re
import subprocess
import sys


def spincounts(exe, extra):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "BEOP_OMP_DEFAULTS")}
    env.update(extra, OMP_DISPLAY_ENV="verbose")
    p = subprocess.run([exe, "--help"], env=env, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        sys.exit(f"FAIL: {exe} --help exited {p.returncode}: {p.stderr[-400:]!r}")
    return re.findall(r"GOMP_SPINCOUNT = '(\d+)'", p.stderr)


def main():
    for exe in ("./infer", "./train"):
        cases = [({}, ["300000", "10000"]),                             # default: set 10000, re-exec once
                 ({"OMP_WAIT_POLICY": "active"}, ["30000000000"]),      # the user's choice, no re-exec
                 ({"GOMP_SPINCOUNT": "1000"}, ["1000"]),
                 ({"BEOP_OMP_DEFAULTS": "0"}, ["300000"])]              # opted out
        for extra, want in cases:
            got = spincounts(exe, extra)
            if got != want:
                sys.exit(f"FAIL: {exe} with {extra}: GOMP_SPINCOUNT blocks {got}, want {want}")
    print("ok")


if __name__ == "__main__":
    main()
