#!/usr/bin/env python3
"""make bench, tracking part (issue 11): detection and recovery times, false offline
transitions under random probe loss, watch's CPU and memory with 4 and 16 tracked uplinks,
and the cost of the conntrack cleanup. Builds the NAT66 network the tracking tests use
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


def detection(label, extra, interval, trials):
    net = Net(3)
    try:
        net.set_config(extra)
        net.start_watch()
        wait(lambda: net.members() == ["wan1", "wan2", "wan3"], 10)
        time.sleep(interval * 2)
        down, up = [], []
        for _ in range(trials):
            # A random moment in the round cycle.
            time.sleep(random.uniform(0, interval))
            net.upstream(2, False)
            d = wait(lambda: net.members() == ["wan1", "wan3"], 60)
            time.sleep(random.uniform(0, interval))
            net.upstream(2, True)
            u = wait(lambda: net.members() == ["wan1", "wan2", "wan3"], 60)
            if d is None or u is None:
                print("  %s: a trial did not finish" % label)
                break
            down.append(d)
            up.append(u)
        print("  %-24s dead -> out: %s" % (label, stats(down)))
        print("  %-24s alive -> in: %s" % ("", stats(up)))
    finally:
        net.close()


def false_offline(seconds):
    """20% random loss of ICMPv6 (both ways) at ISP 1, interval 1 for many rounds; the
    default timers otherwise (2 targets, count 2, reliability 1, down 3)."""
    net = Net(2)
    try:
        net.set_config("\toption interval '1'\n\toption timeout '1'\n")
        nft(net.isps[0], "table ip6 loss { chain c { type filter hook forward priority -5\n"
                         "meta l4proto ipv6-icmp numgen random mod 100 < 20 drop\n}\n}\n")
        net.start_watch(verbose=True)
        time.sleep(seconds)
        net.stop_watch()
        log = open(net.log).read()
        rounds = re.findall(r"round: wan1_6 (\d+)/(\d+)", log)
        failed = sum(1 for a, _ in rounds if int(a) == 0)
        offline = log.count("wan1_6 is offline")
        p = failed / max(len(rounds), 1)
        per_hour = 720 * p ** 3 * (1 - p)
        print("  rounds %d, failed %d (p = %.4f; 0.36^4 = %.4f predicted for 20%% each way),"
              " offline transitions seen %d" % (len(rounds), failed, p, 0.36 ** 4, offline))
        week = ("%.1f days" % (1 / per_hour / 24)) if per_hour > 0 else "never (no failed round)"
        print("  at the defaults (720 rounds/h, down 3): %.2e false offline per hour: one per %s"
              % (per_hour, week))
    finally:
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
    only = os.environ.get("BENCH_ONLY", "detection false footprint conntrack").split()
    print("\n## Tracking (issue 11)\n")
    if "detection" in only:
        print("Detection and recovery, 3 uplinks, one ISP stops forwarding and starts again:")
        detection("defaults (5 s, 2 s, 3/3)", "", 5, 2 if QUICK else 5)
        detection("interval 1, timeout 1", "\toption interval '1'\n\toption timeout '1'\n", 1,
                  3 if QUICK else 10)
    if "false" in only:
        print("\nFalse offline under 20% random ICMPv6 loss at one ISP (each way), interval 1:")
        false_offline(30 if QUICK else 180)
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
