#!/usr/bin/env python3
"""make bench, tracking part (issues 11, 18): detection and recovery times of the defaults
with each probe method, measured, and computed beside mwan3track's defaults; probe traffic;
false offline transitions under 20% random loss each way (a 10-minute run, and the rule's
arithmetic with the loss measured); tiers; watch's CPU and memory with 4 and 16 tracked
uplinks, and the cost of the conntrack cleanup. Builds the NAT66 network the tracking tests use
(tests/integration/common.rs Nat66): router, one ISP namespace per uplink (BCP 38), a server behind every
ISP at 2001:db8:ff::1 (and ::2), a LAN. Needs root. Prints tables; asserts nothing.

Usage: bench_tracking.py BIN [quick]
"""
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
QUICK = len(sys.argv) > 2
SERVER = "2001:db8:ff::1"
SERVER2 = "2001:db8:ff::2"
TAG = "ecmpbt-%d" % os.getpid()


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw).stdout


def ip(ns, *args):
    return sh("ip", "-n", ns, *args)


def nft(ns, script):
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, text=True, check=True)


def uplink_json(n, up=True):
    return ('{"interface":"wan%d_6","up":%s,"proto":"dhcpv6","l3_device":"wan%d","uptime":60,'
            '"ipv6-address":[{"address":"2001:db8:%d::2","mask":64}],'
            '"route":[{"target":"::","mask":0,"nexthop":"2001:db8:%d::1","metric":512,"valid":1800}]}'
            % (n, "true" if up else "false", n, n, n))


class Net:
    """The NAT66 network with `n` uplinks."""

    def __init__(self, n):
        self.n = n
        self.r = "%s-r" % TAG
        self.lan = "%s-lan" % TAG
        self.srv = "%s-srv" % TAG
        self.isps = ["%s-isp%d" % (TAG, i) for i in range(1, n + 1)]
        self.dir = tempfile.mkdtemp(prefix=TAG)
        for d in ("run", "mwan3", "etc/config"):
            os.makedirs(os.path.join(self.dir, d))
        # mwan3's config (an overlay layer over /etc), for taking an uplink out as mwan3 does:
        # its state of wan4_6.
        with open(os.path.join(self.dir, "etc", "config", "mwan3"), "w") as f:
            f.write("config interface 'wan4_6'\n\toption enabled '1'\n\toption family 'ipv6'\n")
        for ns in [self.r, self.lan, self.srv] + self.isps:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            sh("ip", "netns", "add", ns)
            ip(ns, "link", "set", "lo", "up")
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0")
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        ip(self.r, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", self.lan)
        ip(self.r, "addr", "add", "fd00:1::1/64", "dev", "lan", "nodad")
        ip(self.r, "link", "set", "lan", "up")
        ip(self.lan, "addr", "add", "fd00:1::2/64", "dev", "eth0", "nodad")
        ip(self.lan, "link", "set", "eth0", "up")
        ip(self.lan, "-6", "route", "add", "default", "via", "fd00:1::1")
        for a in (SERVER, SERVER2):
            ip(self.srv, "addr", "add", a + "/128", "dev", "lo")
        for i, isp in enumerate(self.isps, 1):
            ip(self.r, "link", "add", "wan%d" % i, "type", "veth", "peer", "name", "peer", "netns", isp)
            ip(self.r, "addr", "add", "2001:db8:%d::2/64" % i, "dev", "wan%d" % i, "nodad")
            ip(self.r, "link", "set", "wan%d" % i, "up")
            ip(isp, "addr", "add", "2001:db8:%d::1/64" % i, "dev", "peer", "nodad")
            ip(isp, "link", "set", "peer", "up")
            ip(isp, "link", "add", "srv", "type", "veth", "peer", "name", "isp%d" % i, "netns", self.srv)
            ip(isp, "addr", "add", "2001:db8:10%02x::1/64" % i, "dev", "srv", "nodad")
            ip(isp, "link", "set", "srv", "up")
            for a in (SERVER, SERVER2):
                ip(isp, "-6", "route", "add", a, "via", "2001:db8:10%02x::2" % i)
            ip(self.srv, "addr", "add", "2001:db8:10%02x::2/64" % i, "dev", "isp%d" % i, "nodad")
            ip(self.srv, "link", "set", "isp%d" % i, "up")
            ip(self.srv, "-6", "route", "add", "2001:db8:%d::/64" % i, "via", "2001:db8:10%02x::1" % i)
            nft(isp, 'table ip6 bcp38 { chain c { type filter hook forward priority 0\n'
                     'iifname "peer" ip6 saddr != 2001:db8:%d::/64 drop\n}\n}\n' % i)
        nft(self.r, 'table ip6 nat { chain post { type nat hook postrouting priority srcnat\n'
                    'oifname "wan*" masquerade\n}\n}\n')
        self.dump = os.path.join(self.dir, "dump.json")
        with open(self.dump, "w") as f:
            f.write('{"interface":[%s]}' % ",".join(uplink_json(i) for i in range(1, n + 1)))
        self.config = os.path.join(self.dir, "config")
        self.watch = None

    def set_config(self, extra):
        with open(self.config, "w") as f:
            f.write("config globals 'globals'\n\toption mode 'resilient'\n"
                    "config group 'v6'\n\toption target '2000::/3'\n\tlist proto 'dhcpv6'\n"
                    "\tlist track_ip '%s'\n\tlist track_ip '%s'\n%s" % (SERVER, SERVER2, extra))

    def on_router(self, args, **kw):
        # A /run of its own (a tmpfs in this mount namespace): a mkdir in the host's /run
        # would leave /run/mwan3 behind, which every later run there takes for mwan3 running.
        script = ("mount -t tmpfs tmpfs /run; mkdir -p /run/lock /run/ecmp-hotplug /run/mwan3; "
                  "mount --bind %s/run /run/ecmp-hotplug; mount --bind %s/mwan3 /run/mwan3; "
                  "mount -t overlay overlay -o lowerdir=%s/etc:/etc /etc; "
                  "exec %s --config %s --dump %s %s"
                  % (self.dir, self.dir, self.dir, BIN, self.config, self.dump, args))
        return subprocess.Popen(["ip", "netns", "exec", self.r, "unshare", "--mount", "sh", "-c", script], **kw)

    def run(self, args):
        p = self.on_router(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate()
        return out, err

    def start_watch(self, verbose=False):
        self.log = os.path.join(self.dir, "watch.log")
        self.watch = self.on_router(("--verbose " if verbose else "") + "watch",
                                    stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))

    def stop_watch(self):
        if self.watch:
            self.watch.kill()
            self.watch.wait()
            self.watch = None

    def members(self):
        out = ip(self.r, "-6", "route", "show", "exact", "2000::/3")
        return sorted(set(re.findall(r"dev (wan\d+)", out)))

    def upstream(self, i, alive):
        isp = self.isps[i - 1]
        if alive:
            nft(isp, "delete table ip6 dead\n")
        else:
            nft(isp, "table ip6 dead { chain c { type filter hook forward priority -10\n"
                     "ip6 daddr 2001:db8:ff::/64 drop\n}\n}\n")

    def close(self):
        self.stop_watch()
        for ns in [self.r, self.lan, self.srv] + self.isps:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["rm", "-rf", self.dir])


def wait(cond, bound):
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > bound:
            return None
        time.sleep(0.02)
    return time.monotonic() - start


def stats(xs):
    return "median %5.2f s  worst %5.2f s  (%d trials)" % (statistics.median(xs), max(xs), len(xs))


RESOLVER = r"""
import socket, struct, sys
# A resolver stand-in: every query gets the root's SOA as a resolver answers it (NOERROR,
# one answer), the size of a real answer, from the address it was sent to.
socks = []
for a in sys.argv[1:]:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((a, 53))
    socks.append(s)
print("listening", flush=True)
import select
soa = (b"\x00\x00\x06\x00\x01\x00\x01\x51\x80" + struct.pack(">H", 64)
       + b"\x01a\x0croot-servers\x03net\x00\x05nstld\x0cverisign-grs\x03com\x00"
       + struct.pack(">IIIII", 2026120100, 1800, 900, 604800, 86400))
while True:
    for s in select.select(socks, [], [])[0]:
        q, peer = s.recvfrom(512)
        if len(q) < 17:
            continue
        end = q.index(b"\x00", 12) + 5
        s.sendto(q[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + q[12:end] + soa, peer)
"""


class Resolver:
    """RESOLVER on the server's two addresses, port 53; waits until it listens."""

    def __init__(self, net):
        self.p = subprocess.Popen(["ip", "netns", "exec", net.srv, "python3", "-c", RESOLVER, SERVER, SERVER2],
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if "listening" not in line:
            raise SystemExit("the resolver stand-in did not start: %r" % line)

    def close(self):
        self.p.kill()
        self.p.wait()


def timers_of(track):
    """(interval, timeout, failure, recovery, down, up) in seconds from a `track` dict."""
    t = track["timeout"]
    return (track["interval"], t, track.get("failure_interval", t),
            track.get("recovery_interval", t), track["down"], track["up"])


# The shipped defaults (src/config/mod.rs TRACK) and mwan3track's (mwan3track at openwrt/packages
# 0521bb5: interval 10, timeout 4, count 1, down 5, up 5, reliability 1, failure_interval and
# recovery_interval = interval), each with the bench's two targets.
OURS = {"interval": 1.2, "timeout": 0.4, "count": 2, "down": 4, "up": 3}
MWAN3 = {"interval": 10, "timeout": 4, "count": 1, "down": 5, "up": 5,
         "failure_interval": 10, "recovery_interval": 10}
TARGETS = 2


def computed(track, mwan3):
    """Detection and recovery (median, worst) in seconds, from the rules: ours paces from a
    round's start (a failing round starts as the last ends), mwan3track sleeps after a round,
    and its round pings each target in turn, each waiting `timeout` when nothing comes."""
    interval, timeout, failure, recovery, down, up = timers_of(track)
    if mwan3:
        dead_round = TARGETS * timeout
        out = (interval / 2 + down * dead_round + (down - 1) * failure,
               interval + down * dead_round + (down - 1) * failure)
        cycle = dead_round + interval
        back = (cycle / 2 + (up - 1) * recovery, cycle + (up - 1) * recovery)
    else:
        step = max(failure, timeout)
        out = (interval / 2 + (down - 1) * step + timeout, interval + (down - 1) * step + timeout)
        back = (interval / 2 + (up - 1) * recovery, interval + (up - 1) * recovery)
    return out, back


def false_per_week(track, mwan3, q, p=None):
    """False offline transitions a week on a line that loses each probe with probability q,
    by the rule: a round fails when every probe of it is lost (reliability 1), `down` failed
    rounds in a row take the uplink out. A Markov chain over failed rounds in a row
    (0 … down-1), each state lasting its pacing: the rate of reaching `down`, per second."""
    interval, timeout, failure, recovery, down, up = timers_of(track)
    if p is None:
        p = q ** (track["count"] * TARGETS)
    if mwan3:
        # A passed round: the first target's ping, lost with q (a wait of timeout), then
        # the second's; then the sleep. A failed one: every ping waits, then failure_interval.
        healthy, failing = interval + q * timeout, TARGETS * timeout + failure
    else:
        healthy, failing = interval, max(failure, timeout)
    pi = [p ** k for k in range(down)]
    seconds = sum(w * (healthy if k == 0 else failing) for k, w in enumerate(pi))
    return p, pi[-1] * p / seconds * 7 * 86400


def probe_bytes(net, i):
    out = sh("ip", "netns", "exec", net.isps[i - 1], "nft", "list", "counter", "ip6", "tally", "probes")
    return int(re.search(r"bytes (\d+)", out).group(1))


def count_probes(net):
    for isp in net.isps:
        nft(isp, "table ip6 tally { counter probes { packets 0 bytes 0 }\nchain c { type filter hook forward priority -20\n"
                 "ip6 daddr 2001:db8:ff::/64 counter name probes\n"
                 "ip6 saddr 2001:db8:ff::/64 counter name probes\n}\n}\n")


def lossy(net, i, percent):
    nft(net.isps[i - 1], "table ip6 loss { chain c { type filter hook forward priority -5\n"
                         "ip6 daddr 2001:db8:ff::/64 numgen random mod 100 < %d drop\n"
                         "ip6 saddr 2001:db8:ff::/64 numgen random mod 100 < %d drop\n}\n}\n"
        % (percent, percent))


def method_config(method):
    return "" if method == "ping" else "\toption track_method '%s'\n" % method


def detection(method, trials, traffic_seconds):
    """The defaults with `method`, 3 uplinks: wan2's ISP stops forwarding to the targets at a
    random moment of the round cycle and starts again; the time until the kernel's route
    has wan2 out, and in again. Then the probe traffic of one uplink, healthy."""
    net = Net(3)
    resolver = Resolver(net)
    try:
        net.set_config(method_config(method))
        count_probes(net)
        net.start_watch()
        if wait(lambda: net.members() == ["wan1", "wan2", "wan3"], 10) is None:
            raise SystemExit("%s: the three uplinks never were the members" % method)
        time.sleep(3)  # past watch's first rounds, which start at once
        a, t0 = probe_bytes(net, 1), time.monotonic()
        time.sleep(traffic_seconds)
        rate = (probe_bytes(net, 1) - a) / (time.monotonic() - t0)
        down, up = [], []
        for _ in range(trials):
            time.sleep(random.uniform(0, OURS["interval"]))
            net.upstream(2, False)
            d = wait(lambda: net.members() == ["wan1", "wan3"], 60)
            time.sleep(random.uniform(0, OURS["interval"]))
            net.upstream(2, True)
            u = wait(lambda: net.members() == ["wan1", "wan2", "wan3"], 60)
            if d is None or u is None:
                print("  %s: a trial did not finish (%s)" % (method, "out" if d is None else "back"))
                break
            down.append(d)
            up.append(u)
        return down, up, rate
    finally:
        resolver.close()
        net.close()


def row(label, out, back, false, traffic):
    print("| %s | %s | %s | %s | %s |" % (label, out, back, false, traffic))


def detection_table(quick):
    """The issue-18 goals, measured for the defaults and computed for them and mwan3track's."""
    trials = 4 if quick else 20
    print("Dead upstream out / back in, 3 uplinks, the ISP of one stops forwarding to the two"
          " targets at a random moment (%d trials each); probe traffic of one healthy uplink"
          " (IPv6 bytes both ways, nft counter at its ISP):\n" % trials)
    print("| | dead → out (median / worst) | alive → in (median / worst) | false offline at 20%"
          " loss each way | probe traffic |")
    print("| --- | --- | --- | --- | --- |")
    q = 1 - 0.8 * 0.8
    for label, track, mwan3 in (("defaults, computed", OURS, False),
                                ("mwan3track's defaults, computed", MWAN3, True)):
        (om, ow), (bm, bw) = computed(track, mwan3)
        p, week = false_per_week(track, mwan3, q)
        row(label, "%.2f / %.2f s" % (om, ow), "%.2f / %.2f s" % (bm, bw),
            "round fails p = %.2e: %.2g a week" % (p, week), "")
    for method in ("dns", "ping", "tcp"):
        n = trials if method == "dns" else max(trials // 2, 3)
        down, up, rate = detection(method, n, 10 if quick else 30)
        if not down:
            continue
        row("defaults, `%s`, measured" % method,
            "%.2f / %.2f s" % (statistics.median(down), max(down)),
            "%.2f / %.2f s" % (statistics.median(up), max(up)), "",
            "%.0f B/s" % rate)


def false_offline(seconds):
    """20% random loss each way (nft numgen, every packet to or from the targets) at ISP 1,
    the defaults with `dns`, for `seconds`: offline transitions seen (the goal: none), the
    measured probe loss and round failures, and what they make of the rule's arithmetic."""
    net = Net(2)
    resolver = Resolver(net)
    try:
        net.set_config(method_config("dns"))
        count_probes(net)
        lossy(net, 1, 20)
        net.start_watch(verbose=True)
        a, t0 = probe_bytes(net, 1), time.monotonic()
        time.sleep(seconds)
        rate = (probe_bytes(net, 1) - a) / (time.monotonic() - t0)
        net.stop_watch()
        log = open(net.log).read()
        rounds = re.findall(r"round: wan1_6 (\d+)/(\d+) \((\d+) of (\d+) probes\)", log)
        failed = sum(1 for r in rounds if int(r[0]) == 0)
        back = sum(int(r[2]) for r in rounds)
        sent = sum(int(r[3]) for r in rounds)
        offline = log.count("wan1_6 is offline")
        q = 1 - back / max(sent, 1)
        p, week = false_per_week(OURS, False, q)
        _, week_mwan3 = false_per_week(MWAN3, True, q)
        print("  %d s: %d rounds, %d probes, %.1f%% of them lost (36%% expected); %d rounds failed"
              " (%.4f; q^4 = %.4f predicted); offline transitions seen: %d; probe traffic %.0f B/s"
              % (seconds, len(rounds), sent, q * 100, failed, failed / max(len(rounds), 1), p, offline, rate))
        _, counted = false_per_week(OURS, False, q, failed / max(len(rounds), 1))
        print("  by the rule with the measured loss: %.2g false offline a week (one in %.1f years);"
              " with the failed rounds counted instead: %.2g a week; mwan3track's defaults at the"
              " measured loss: %.2g a week"
              % (week, 1 / week / 52 if week else float("inf"), counted, week_mwan3))
    finally:
        resolver.close()
        net.close()


def tiers(trials):
    """Metrics 1, 1, 2: both primaries' ISPs stop forwarding at once; the time until the
    backup alone carries the route, and, one primary back, until the backup leaves."""
    net = Net(3)
    resolver = Resolver(net)
    try:
        net.set_config(method_config("dns") + "config member\n\toption interface 'wan3_6'\n\toption metric '2'\n")
        net.start_watch()
        if wait(lambda: net.members() == ["wan1", "wan2"], 10) is None:
            raise SystemExit("tiers: the primaries never were the members")
        over, back = [], []
        for _ in range(trials):
            time.sleep(random.uniform(0, OURS["interval"]))
            net.upstream(1, False)
            net.upstream(2, False)
            o = wait(lambda: net.members() == ["wan3"], 60)
            time.sleep(random.uniform(0, OURS["interval"]))
            net.upstream(1, True)
            b = wait(lambda: net.members() == ["wan1"], 60)
            net.upstream(2, True)
            wait(lambda: net.members() == ["wan1", "wan2"], 60)
            if o is None or b is None:
                print("  tiers: a trial did not finish")
                break
            over.append(o)
            back.append(b)
        if over:
            print("  both primaries dead → the backup alone: %s" % stats(over))
            print("  one primary back → the backup leaves:  %s" % stats(back))
    finally:
        resolver.close()
        net.close()


def footprint(n, seconds):
    net = Net(n)
    try:
        net.set_config("")
        net.start_watch()
        wait(lambda: len(net.members()) == n, 20)
        time.sleep(6)
        pid = net.watch.pid

        def ns_on_cpu():
            return int(open("/proc/%d/schedstat" % pid).read().split()[0])
        a, t0 = ns_on_cpu(), time.monotonic()
        time.sleep(seconds)
        b, t1 = ns_on_cpu(), time.monotonic()
        status = open("/proc/%d/status" % pid).read()
        rss = re.search(r"VmRSS:\s+(\d+)", status).group(1)
        hwm = re.search(r"VmHWM:\s+(\d+)", status).group(1)
        share = (b - a) / 1e9 / (t1 - t0)
        print("  %2d uplinks: CPU %.4f%% of one core (%.2f s per hour), RSS %s KiB (peak %s KiB)"
              % (n, share * 100, share * 3600, rss, hwm))
    finally:
        net.close()


FLOWS = r"""
import socket, sys
for port in range(20000, 20000 + int(sys.argv[1])):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", port))
    s.sendto(b"x", ("2001:db8:ff::1", 5000))
    s.close()
"""


def conntrack_cleanup(trials):
    net = Net(4)
    try:
        times = {True: [], False: []}
        counts = []
        for _ in range(trials):
            for flush in (True, False):
                net.set_config("\toption flush_conntrack '%d'\n" % flush)
                subprocess.run(["rm", "-rf", os.path.join(net.dir, "mwan3", "iface_state")])
                net.run("sync")
                sh("ip", "netns", "exec", net.r, "conntrack", "-F", check=False)
                subprocess.run(["ip", "netns", "exec", net.lan, "python3", "-c", FLOWS, "10000"], check=True)
                entries = sh("ip", "netns", "exec", net.r, "conntrack", "-C").strip()
                on4 = sh("ip", "netns", "exec", net.r, "conntrack", "-L", "-f", "ipv6", check=False).count("dst=2001:db8:4::2 ")
                d = os.path.join(net.dir, "mwan3", "iface_state")
                os.makedirs(d)
                open(os.path.join(d, "wan4_6"), "w").write("offline\n")
                t = time.monotonic()
                out, err = net.run("sync")
                times[flush].append(time.monotonic() - t)
                if flush:
                    m = re.search(r"deleted (\d+) conntrack", err)
                    counts.append((entries, on4, m.group(1) if m else "?"))
        on, off = statistics.median(times[True]), statistics.median(times[False])
        print("  entries / on wan4 / deleted: %s" % ", ".join("%s/%s/%s" % c for c in counts))
        print("  sync taking wan4 out: %.1f ms with flush_conntrack, %.1f ms without: cleanup %.1f ms,"
              " %.1f us per entry deleted (median of %d)"
              % (on * 1e3, off * 1e3, (on - off) * 1e3, (on - off) * 1e6 / max(int(counts[0][2]) if counts[0][2] != "?" else 1, 1), trials))
    finally:
        net.close()


def main():
    only = os.environ.get("BENCH_ONLY", "detection false tiers footprint conntrack").split()
    print("\n## Tracking (issues 11, 18)\n")
    if "detection" in only:
        detection_table(QUICK)
    if "false" in only:
        print("\nFalse offline: 20% random loss each way at one ISP, the defaults with dns:")
        false_offline(60 if QUICK else 600)
    if "tiers" in only:
        print("\nTiers, the defaults with dns:")
        tiers(3 if QUICK else 10)
    if "footprint" in only:
        print("\nwatch with tracking at the default interval, CPU from the kernel's schedstat,"
              " memory from /proc/PID/status:")
        footprint(4, 20 if QUICK else 60)
        footprint(16, 20 if QUICK else 60)
    if "conntrack" in only:
        print("\nConntrack cleanup, 10,000 UDP entries over 4 uplinks, wan4 taken out"
              " (mwan3 offline):")
        conntrack_cleanup(2 if QUICK else 5)


if __name__ == "__main__":
    main()
