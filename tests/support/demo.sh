#!/usr/bin/env bash
# make demo: a router in a network namespace with four simulated uplinks (veth pairs), a fake
# ubus that prints netifd's dump, and hotplug events delivered the way netifd does (through
# hotplug-call and the stub in files/). Shows the ECMP route grow to four nexthops and shrink
# to three on an ifdown, then cleans up. Needs root.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=$repo/target/release/ecmp-hotplug
ns=ecmp-demo-$$
dir=$(mktemp -d /tmp/ecmp-demo.XXXXXX)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "make demo needs root (network namespaces)" >&2; exit 1; }
ip netns add "$ns"
ip -n "$ns" link set lo up
for i in 1 2 3 4; do
	ip -n "$ns" link add "wan$i" type veth peer name "isp$i"
	ip -n "$ns" link set "wan$i" up
	ip -n "$ns" link set "isp$i" up
done

mkdir -p "$dir"/{bin,sbin-layer}
ln -s "$bin" "$dir/sbin-layer/ecmp-hotplug"
cat > "$dir/bin/ubus" <<UBUS
#!/bin/sh
cat "$dir/dump.json"
UBUS
chmod +x "$dir/bin/ubus"

# netifd's dump: wanN_6 (proto dhcpv6, as PPPoE's wan_6 alias) with default via fe80::N.
write_dump() { # the uplinks that are up, e.g. "1 2 4"
	local first=1 i
	{
		printf '{"interface":['
		for i in 1 2 3 4; do
			[ $first = 1 ] || printf ','
			first=0
			if [[ " $* " == *" $i "* ]]; then
				printf '{"interface":"wan%s_6","up":true,"proto":"dhcpv6","l3_device":"wan%s","route":[' "$i" "$i"
				printf '{"target":"2001:db8:%s::","mask":64,"nexthop":"::","metric":256,"source":"::/0"},' "$i"
				printf '{"target":"::","mask":0,"nexthop":"fe80::%s","metric":512,"valid":1800,"source":"2001:db8:%s00::/56"}]}' "$i" "$i"
			else
				printf '{"interface":"wan%s_6","up":false,"proto":"dhcpv6"}' "$i"
			fi
		done
		printf ']}\n'
	} > "$dir/dump.json"
}

# What netifd does on an event: hotplug-call iface with ACTION/INTERFACE/DEVICE; the stub in
# files/etc/hotplug.d/iface runs /usr/sbin/ecmp-hotplug (overlaid with the build here).
event() { # ACTION INTERFACE [DEVICE]
	echo
	echo "### netifd: $1 $2"
	ip netns exec "$ns" unshare --mount sh -c "
		mount -t overlay overlay -o lowerdir=$dir/sbin-layer:/usr/sbin /usr/sbin
		exec env -i ACTION=$1 INTERFACE=$2 ${3:+DEVICE=$3} FAKE_BIN=$dir/bin HOTPLUG_DIR=$repo/files/etc/hotplug.d \
			$repo/tests/support/hotplug-call iface"
	echo "\$ ip -6 route show 2000::/3"
	ip -n "$ns" -6 route show 2000::/3 | sed 's/^/  /'
	echo "\$ ip nexthop show    # the resilient group and its legs (mode auto)"
	ip -n "$ns" nexthop show | sed 's/^/  /'
}

up=""
for i in 1 2 3 4; do
	up="$up $i"
	write_dump $up
	event ifup "wan${i}_6" "wan$i"
done
write_dump 1 2 4
event ifdown wan3_6

echo
echo "### ecmp-hotplug status"
PATH=$dir/bin:$PATH ip netns exec "$ns" "$bin" status | sed 's/^/  /'
echo
echo "(namespace $ns removed)"
