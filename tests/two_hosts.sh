#!/usr/bin/env bash
# Two "hosts" on one machine, for the multi-node tests (tests/test_dp_two_hosts.cpp, docs/DISTRIBUTED.md): two
# network namespaces joined by a veth pair, each with its own address and, per process, its own hostname (OpenMPI
# 4.1's TCP transport crashes in pml ob1 when two nodes report one hostname), and tests/netns_agent.sh as the
# launcher agent that enters a namespace where a real cluster would ssh. Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN).
#
#   tests/two_hosts.sh --probe     exit 0 if the namespaces can be made here; else one line why, exit 77 (skip)
#   tests/two_hosts.sh CMD...      runs CMD on host A (mpirun's host) with these set in its environment:
#       BEOP_HOST_A, BEOP_HOST_B   the two hosts' addresses (for --host / a hostfile)
#       BEOP_HOST_NET              mpirun's options for this network: TCP transport on the veth subnet, the agent
#     and removes the namespaces afterwards, also when CMD fails or this script is killed by a signal. The names
#     hold this script's pid, so concurrent runs do not meet. Exit status: CMD's.
set -u
here=$(cd "$(dirname "$0")" && pwd)
ns_a="beop$$a" ns_b="beop$$b"
subnet=10.213.0.0/24 BEOP_HOST_A=10.213.0.1 BEOP_HOST_B=10.213.0.2

cleanup() {
  for ns in "$ns_a" "$ns_b"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null  # orted / ranks left behind in our namespace
    ip netns del "$ns" 2>/dev/null                                  # the veth end inside goes with it
  done
}

if [ "${1:-}" = "--probe" ]; then
  if err=$(ip netns add "$ns_a" 2>&1); then ip netns del "$ns_a"; exit 0; fi
  echo "cannot create a network namespace (needs root): ${err:-ip netns add failed}"
  exit 77
fi
[ $# -gt 0 ] || { echo "usage: tests/two_hosts.sh --probe | CMD..." >&2; exit 2; }

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
set -e
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "bp$$a" type veth peer name "bp$$b"
ip link set "bp$$a" netns "$ns_a"
ip link set "bp$$b" netns "$ns_b"
ip -n "$ns_a" addr add "$BEOP_HOST_A/24" dev "bp$$a"
ip -n "$ns_b" addr add "$BEOP_HOST_B/24" dev "bp$$b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "bp$$a" up
ip -n "$ns_b" link set "bp$$b" up
set +e
export BEOP_HOST_A BEOP_HOST_B
export BEOP_NETNS_HOSTS="$BEOP_HOST_A=$ns_a $BEOP_HOST_B=$ns_b"  # read by the agent
# TCP between all ranks (also two on one host: no shared memory across what stands for two machines), OOB and
# BTL on the veth subnet only, daemons started through the agent
export BEOP_HOST_NET="--mca btl tcp,self --mca btl_tcp_if_include $subnet --mca oob_tcp_if_include $subnet \
--mca plm_rsh_agent $here/netns_agent.sh"
ip netns exec "$ns_a" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "$ns_a" "$@"
