#!/usr/bin/env bash
# Fresh-machine check: runs the README's test command in a bare Debian 12 (bookworm) tree, so that the
# project's own scripts must do ALL of the set-up (apt-get update + install, the .venvs from PyPI). Issue #14
# found a parallel-build ordering bug (nvcc ran before install-deps) that only a machine without the
# dependencies shows; a developer machine or a warm CI runner never does.
#
#   scripts/fresh_machine_check.sh [--head | --worktree] [--ci] [--demo] [--keep] [--variant minbase]
#
#   --head       copy `git archive HEAD` (default: the working tree's tracked + untracked-unignored files,
#                without build/, .venv*, runs/, data/build/)
#   --ci         run .ci/run (make all, then make test) instead of `MAKEFLAGS=-j2 make test`
#   --demo       also run `make demo` after the tests
#   --keep       keep the tree afterwards (for debugging; it is deleted by default)
#   --variant V  debootstrap variant (default minbase: essential packages + apt, the harshest fresh machine)
#
# Needs root (debootstrap, chroot, mounts). Everything lives under $BEOP_FRESH_DIR (default /var/tmp/beop-fresh):
# a cached tarball of the bare debootstrap tree (so reruns skip debootstrap) and one tree per run, unpacked
# from that tarball each time, so every check starts from a bare tree. The Debian mirror comes from this
# host's apt configuration; the host's CUDA toolkit (not a Debian package) is bind-mounted read-only at
# /usr/local/cuda so the nvcc path is built too; the corpora are bind-mounted read-only at ../shared/data.
# Prints each phase's time and the total; exits with `make test`'s status.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

mode=worktree; run_ci=0; run_demo=0; keep=0; variant=minbase
while [ $# -gt 0 ]; do
  case "$1" in
    --head) mode=head ;;
    --worktree) mode=worktree ;;
    --ci) run_ci=1 ;;
    --demo) run_demo=1 ;;
    --keep) keep=1 ;;
    --variant) variant="$2"; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "fresh_machine_check: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "fresh_machine_check: needs root (debootstrap, chroot, mount)" >&2; exit 2; }

SUITE=bookworm
BASE=${BEOP_FRESH_DIR:-/var/tmp/beop-fresh}
CACHE="$BASE/$SUITE-$variant.tar"
ROOT="$BASE/root.$$"
DATA_SRC=${BEOP_DATA:-$(cd .. && pwd)/shared/data}
mkdir -p "$BASE"

t_start=$SECONDS; t_phase=$SECONDS
phases=()
phase_done() { phases+=("$(printf '%-28s %5ds' "$1" $((SECONDS - t_phase)))"); echo "--- $1: $((SECONDS - t_phase))s"; t_phase=$SECONDS; }
report() {
  echo "=== fresh_machine_check phases"
  for p in "${phases[@]}"; do echo "  $p"; done
  echo "  total                        $((SECONDS - t_start))s"
}

# --- mounts and clean-up. Every mount made is recorded; on any exit they are undone in reverse order, and the
# tree is deleted only when nothing is mounted under it any more (a bind-mounted /dev or data dir must never
# meet rm -rf).
mounts=()
mnt() {  # mnt TARGET mount-args...
  local target="$1"; shift
  mkdir -p "$target"
  mount "$@" "$target"
  mounts+=("$target")
}
mnt_ro_bind() {  # mnt_ro_bind SRC TARGET
  mnt "$2" --bind "$1"
  mount -o remount,bind,ro "$2"
}
cleanup() {
  local rc=$?
  set +e
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}"
  done
  if [ -d "$ROOT" ]; then
    if grep -q " $ROOT[/ ]" /proc/mounts; then
      echo "fresh_machine_check: mounts remain under $ROOT; NOT deleting it" >&2
    elif [ "$keep" -eq 1 ]; then
      echo "fresh_machine_check: tree kept at $ROOT"
    else
      rm -rf --one-file-system "$ROOT"
    fi
  fi
  [ ${#phases[@]} -gt 0 ] && report
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the Debian mirror from this host's apt configuration (never written into a file of the repository).
mirror_from_host() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822 stanzas: the first "Types: deb" stanza whose Suites include the release itself.
    awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (deb && hit && uri != "") { print uri; done = 1; exit } deb = 0; hit = 0; uri = ""; next }
      /^Types:/  { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      /^URIs:/   { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
      END        { if (!done && deb && hit && uri != "") print uri }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '$1 == "deb" { s = ($2 ~ /^\[/) ? $4 : $3
                           if (s == suite) { print ($2 ~ /^\[/) ? $3 : $2; exit } }' "$f"
  done
}
# sed, not head: head would close the pipe early and pipefail would turn the SIGPIPE into an exit.
MIRROR=$(mirror_from_host | sed -n 1p)
[ -n "$MIRROR" ] || { echo "fresh_machine_check: no '$SUITE' deb source in this host's apt configuration" >&2; exit 2; }
echo "fresh_machine_check: mirror from host apt configuration: $MIRROR"

# --- phase 1: the bare tree (debootstrap once, then from the cached tarball).
if [ ! -f "$CACHE" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  tmp="$BASE/debootstrap.$$"
  rm -rf --one-file-system "$tmp"
  debootstrap --variant="$variant" "$SUITE" "$tmp" "$MIRROR"
  tar -C "$tmp" --numeric-owner -cpf "$CACHE.part" .
  mv "$CACHE.part" "$CACHE"
  rm -rf --one-file-system "$tmp"
  phase_done "debootstrap + cache tarball"
fi
mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner -xpf "$CACHE"
phase_done "unpack bare tree"

# --- phase 2: host configuration a fresh machine on this network would have: apt sources (the Debian ones
# that are enabled here), DNS, CA certificates (an egress proxy may re-sign TLS), pip's configuration.
rm -f "$ROOT/etc/apt/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && grep -qE '(^URIs:|^deb ).*' "$f" && grep -q "$SUITE" "$f" && cp "$f" "$ROOT$f"
done
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
if [ -d /usr/local/share/ca-certificates ]; then
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  cp -a /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/"
fi
mkdir -p "$ROOT/etc/ssl/certs"
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"
pip_env=()
while IFS= read -r kv; do pip_env+=("$kv"); done < <(env | grep -E '^(PIP_|https?_proxy=|HTTPS?_PROXY=|no_proxy=|NO_PROXY=)' || true)

# The repository at /src/beop, so the default data dir ../shared/data is /src/shared/data.
mkdir -p "$ROOT/src/beop"
if [ "$mode" = head ]; then
  git archive HEAD | tar -C "$ROOT/src/beop" -xf -
else
  git ls-files -z --cached --others --exclude-standard \
    | grep -zvE '^(build/|runs/|data/build/|\.venv)' \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar -C "$REPO" --null -T - -cf - | tar -C "$ROOT/src/beop" -xf -
fi
phase_done "configure + copy repository"

# --- mounts: kernel file systems, the corpora and the CUDA toolkit read-only; /opt/wheels (or any find-links
# dir pip is configured with) read-only if it exists.
mnt "$ROOT/proc" -t proc proc
mnt "$ROOT/sys" -t sysfs sysfs
mnt "$ROOT/dev" --bind /dev
mnt "$ROOT/dev/pts" --bind /dev/pts
[ -d "$DATA_SRC" ] || { echo "fresh_machine_check: no data dir $DATA_SRC (set BEOP_DATA)" >&2; exit 2; }
mnt_ro_bind "$DATA_SRC" "$ROOT/src/shared/data"
cuda_src=""
[ -x /usr/local/cuda/bin/nvcc ] && cuda_src=$(readlink -f /usr/local/cuda)
[ -n "$cuda_src" ] && mnt_ro_bind "$cuda_src" "$ROOT/usr/local/cuda"
for kv in "${pip_env[@]}"; do
  case "$kv" in PIP_FIND_LINKS=/*) d=${kv#PIP_FIND_LINKS=}; [ -d "$d" ] && mnt_ro_bind "$d" "$ROOT$d" ;; esac
done
echo "fresh_machine_check: CUDA toolkit: ${cuda_src:-none (the CPU-only build is checked)}"

# --- phase 3: the test command, as root, with a clean environment (no host PATH, no host venv).
in_chroot() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb BEOP_DATA=/src/shared/data "${pip_env[@]}" \
    /bin/bash -c "cd /src/beop && $1"
}
# Each output line gets the seconds since the phase began, so the log shows where the time goes (install-deps'
# lines mark the dependency install inside make).
stamp() { local t0=$SECONDS line; while IFS= read -r line; do printf '[%5ds] %s\n' $((SECONDS - t0)) "$line"; done; }

# The README's one precondition: `make` itself (Debian installs it only with build-essential; nothing in the
# repository can run before it exists). Everything else must come from `make test` itself.
set +e
in_chroot "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make >/dev/null" 2>&1 | stamp
rc=${PIPESTATUS[0]}
set -e
phase_done "apt-get install make (rc $rc)"
[ "$rc" -eq 0 ] || exit "$rc"
# A second apt-get update inside install-deps is then cheap; remove the lists so it does the full one, as a
# fresh machine would.
find "$ROOT/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock -delete

if [ "$run_ci" -eq 1 ]; then cmd="bash .ci/run"; label=".ci/run"; else cmd="MAKEFLAGS=-j2 make test"; label="make test"; fi
set +e
in_chroot "$cmd" 2>&1 | stamp
rc=${PIPESTATUS[0]}
set -e
phase_done "$label (rc $rc)"
if [ "$run_demo" -eq 1 ] && [ "$rc" -eq 0 ]; then
  set +e; in_chroot "make demo" 2>&1 | stamp; drc=${PIPESTATUS[0]}; set -e
  phase_done "make demo (rc $drc)"
  [ "$drc" -eq 0 ] || rc=$drc
fi
exit "$rc"
