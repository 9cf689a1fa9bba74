#!/usr/bin/env bash
# Runs the failure drills (tests/drills/, docs/drills.md) against real nodes,
# each in its own network namespace, and prints their timelines.
#
#   scripts/drill.sh [kill|stop|isolate|detect|harness|all] [--long] [--nft] [--no-build]
#
# kill     kill -9 one node under load, restart it: hints pile up and drain,
#          every key back on its N owners, lost = 0
# stop     SIGSTOP one node, then SIGCONT: suspect while stopped, alive soon
#          after, same checks
# isolate  cut one node off the network, then heal: same checks
# detect   time from kill -9 to suspect on every other node (goal: at most 3
#          gossip intervals); no false suspect under healthy load
# harness  the harness's own self-tests (need no MEMBERS or HINTS)
# all      the four drills (the default)
#
# --long      the long forms: gossip every 1 s, a kill of 30 s, SIGSTOP 10 s,
#             isolation 20 s, 5 minutes of healthy load and 3 kills for
#             detection (about 9 minutes for all four). Without it, the
#             short forms that ctest runs (about 2 minutes for all four).
# --nft       isolate with nftables rules in the node's namespace instead of
#             taking its link down
# --no-build  use the existing release build in build/
#
# Needs root (ip netns, veth, a bridge, nft). Every namespace is named
# rkdrill-<pid>-<start>-*, created and removed by the test binary; a run that
# was killed leaves them behind until the next run removes them.
# RINGKV_DRILL_NO_FAILURE_KEYS=1 leaves the gossip keys out of the node
# configs, for a server that does not know them yet.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

drill=all
long=0
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    kill | stop | isolate | detect | harness | all) drill=$1 ;;
    --long) long=1 ;;
    --nft) export RINGKV_DRILL_CUT=nft ;;
    --no-build) build=0 ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
  shift
done

case "$drill" in
  kill) filter='drill: kill*' ;;
  stop) filter='drill: SIGSTOP*' ;;
  isolate) filter='drill: isolate*' ;;
  detect) filter='drill: failure detection*' ;;
  harness) filter='drill harness*' ;;
  all) filter='drill: *' ;;
esac

if [ "$(id -u)" != 0 ]; then
  echo "drill.sh: the drills need root (network namespaces, veth, nftables)" >&2
  exit 1
fi
if [ $build = 1 ]; then scripts/build.sh release; fi
binary=build/tests/drill_tests
[ -x "$binary" ] || {
  echo "drill.sh: no $binary (run scripts/build.sh release)" >&2
  exit 1
}

if [ $long = 1 ]; then export RINGKV_DRILL_LONG=1; fi
form=$([ $long = 1 ] && echo "long form" || echo "short (CI) form")
echo "drill.sh: $drill, $form${RINGKV_DRILL_CUT:+, isolation by $RINGKV_DRILL_CUT}"
exec "$binary" "--test-case=$filter" --duration=true
