#!/usr/bin/env bash
# make bench: builds nothing itself (the Makefile builds release first); sets up a network
# namespace with veth uplinks and runs the measurements inside it, side by side, printing
# tables. Needs root. Not part of CI's pass/fail: this machine is shared and noisy, so every
# figure is a median over interleaved trials and reported as a ratio.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
ns=ecmp-bench-$$
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
[ "$(id -u)" = 0 ] || { echo "make bench needs root (network namespaces)" >&2; exit 1; }
for tool in iperf3 nft:nftables conntrack; do
	command -v "${tool%%:*}" >/dev/null ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool##*:}" >/dev/null
done
ip netns add "$ns"
ip -n "$ns" link set lo up
for i in $(seq 1 64); do
	ip -n "$ns" link add "wan$i" type veth peer name "isp$i"
	ip -n "$ns" link set "wan$i" up
	ip -n "$ns" link set "isp$i" up
done
bin=${BENCH_BIN:-$repo/target/release/ecmp-hotplug}
ip netns exec "$ns" python3 "$repo/tests/support/bench.py" "$bin"
# Tracking: namespaces of its own (a NAT66 network per measurement).
python3 "$repo/tests/support/bench_tracking.py" "$bin"
