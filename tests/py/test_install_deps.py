"""Every command-line tool the tests and scripts run, that a bare Debian lacks, is installed by install-deps.

scripts/fresh_machine_check.sh (a debootstrapped Debian 12) found test_infer_cli's `curl` call failing with
exit 127: curl is on every developer machine and CI runner, but not on a fresh Debian, and install-deps did not
install it. This test scans the sources that run shell commands (tests/*.cpp|h, tests/py, scripts/*.sh,
tests/run_all.sh, .ci/run) for tools outside Debian's essential set, at a command position (start of a string
or line, or after ; | & ( $( ), and requires each one's package in scripts/install-deps.sh's DEB_PACKAGES.
scripts/fresh_machine_check.sh is left out: it runs on the host (git, debootstrap) and installs what it needs.
"""
import glob
import os
import re
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Tool -> Debian package, for tools not in a minimal (debootstrap --variant=minbase) Debian 12. (Not `file`:
# the word is too common in strings to tell a call from a message.)
TOOLS = {
    "curl": "curl", "wget": "wget", "git": "git", "xxd": "xxd", "jq": "jq", "unzip": "unzip", "zstd": "zstd",
    "nc": "netcat-openbsd", "lsof": "lsof", "bc": "bc", "rsync": "rsync", "valgrind": "valgrind", "gdb": "gdb",
    "strace": "strace", "cmake": "cmake", "pkg-config": "pkg-config", "g++": "g++",
    "mpirun": "openmpi-bin",
}
COMMAND = re.compile(r"""(?:^|["'`;|&(]|\$\()\s*(%s)\s+[-\w/$."']""" % "|".join(re.escape(t) for t in TOOLS),
                     re.M)
HOST_ONLY = {"scripts/fresh_machine_check.sh"}


def deb_packages():
    text = open(os.path.join(REPO, "scripts/install-deps.sh")).read()
    m = re.search(r"^DEB_PACKAGES=\((.*?)^\)", text, re.S | re.M)
    if not m:
        sys.exit("FAIL: scripts/install-deps.sh: no DEB_PACKAGES=( ... ) list")
    return {w for line in m.group(1).splitlines() for w in line.split("#")[0].split()}


def main():
    pkgs = deb_packages()
    if "g++" not in pkgs or "make" not in pkgs:
        sys.exit("FAIL: could not read DEB_PACKAGES (got %s)" % sorted(pkgs))
    files = []
    for pat in ("tests/*.cpp", "tests/*.h", "tests/py/*.py", "scripts/*.sh", "tests/run_all.sh", ".ci/run"):
        files += glob.glob(os.path.join(REPO, pat))
    used = {}
    for path in sorted(set(files)):
        rel = os.path.relpath(path, REPO)
        if rel in HOST_ONLY or rel == "tests/py/test_install_deps.py":
            continue
        for n, line in enumerate(open(path, errors="replace"), 1):
            if line.lstrip().startswith(("//", "#")):
                continue  # comments name tools without running them
            for m in COMMAND.finditer(line):
                used.setdefault(m.group(1), "%s:%d" % (rel, n))
    # Self-check: the scanner must see a tool called the way the tests call them.
    if not COMMAND.search('sh("curl -s -S http://x")'):
        sys.exit("FAIL: self-check: the scanner does not see a curl call")
    missing = ["%s (used at %s): add Debian package '%s'" % (t, where, TOOLS[t])
               for t, where in sorted(used.items()) if TOOLS[t] not in pkgs]
    if missing:
        sys.exit("FAIL: scripts/install-deps.sh does not install tools the tests run (a fresh machine fails with "
                 "exit 127):\n  " + "\n  ".join(missing))
    print("ok: tools run by tests/scripts, all installed by install-deps: %s" % ", ".join(sorted(used)))


if __name__ == "__main__":
    main()
