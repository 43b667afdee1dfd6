#!/bin/sh
# mpirun's launcher agent for tests/two_hosts.sh (--mca plm_rsh_agent), in place of ssh: `netns_agent.sh HOST CMD`
# runs the command line CMD (a shell string, as ssh would hand it to the remote shell) in HOST's network namespace
# with that namespace's name as its hostname. HOST -> namespace comes from BEOP_NETNS_HOSTS ("IP=NS IP=NS").
# An unknown host fails like an unreachable one under ssh: a message and exit 255.
host="$1"
shift
for pair in $BEOP_NETNS_HOSTS; do
  if [ "${pair%%=*}" = "$host" ]; then
    exec ip netns exec "${pair#*=}" unshare --uts /bin/sh -c 'hostname "$0" && exec /bin/sh -c "$1"' "${pair#*=}" "$*"
  fi
done
echo "netns_agent: no route to host $host" >&2
exit 255
