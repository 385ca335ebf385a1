"""Event cost of ecmp-hotplug, run by bench.sh inside a network namespace with wan1..wan64.

One hotplug event that changes the route (the binary as hotplug runs it: environment, ubus on
PATH printing a dump) next to one `ip -6 route replace` of a route of the same size, the two
interleaved and each alternating between two states, so both always make a real change.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
TRIALS = int(os.environ.get("TRIALS", "200"))


def iface_json(i, up):
    if not up:
        return '{"interface":"wan%d_6","up":false,"proto":"dhcpv6"}' % i
    return (
        '{"interface":"wan%d_6","up":true,"proto":"dhcpv6","l3_device":"wan%d","route":['
        '{"target":"2001:db8:%x::","mask":64,"nexthop":"::","metric":256,"source":"::/0"},'
        '{"target":"::","mask":0,"nexthop":"fe80::%x","metric":512,"valid":1800,"source":"2001:db8:%x00::/56"}]}'
        % (i, i, i, i, i)
    )


def dump(n_up, total):
    # total interfaces in the dump, the first n_up of them up uplinks
    return '{"interface":[%s]}' % ",".join(iface_json(i, i <= n_up) for i in range(1, total + 1))


def ip_replace(n):
    cmd = ["ip", "-6", "route", "replace", "2000::/3", "metric", "1024", "proto", "236"]
    for i in range(1, n + 1):
        cmd += ["nexthop", "via", "fe80::%x" % i, "dev", "wan%d" % i]
    return cmd


def timed(cmd, env=None):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit("failed: %s" % " ".join(cmd))
    return took


def event_cost(uplinks, total):
    with tempfile.TemporaryDirectory() as d:
        dumps = []
        for n in (uplinks, uplinks - 1):
            path = os.path.join(d, "dump%d.json" % n)
            with open(path, "w") as f:
                f.write(dump(n, total))
            dumps.append(path)
        os.makedirs(os.path.join(d, "bin"))
        ubus = os.path.join(d, "bin", "ubus")
        current = os.path.join(d, "current.json")
        with open(ubus, "w") as f:
            f.write('#!/bin/sh\nexec cat %s\n' % current)
        os.chmod(ubus, 0o755)
        env = {"PATH": "%s/bin:/usr/sbin:/usr/bin:/sbin:/bin" % d, "ACTION": "ifup", "INTERFACE": "wan1_6"}
        cfg = os.path.join(d, "cfg")
        with open(cfg, "w") as f:
            f.write("config globals\n\toption hash_policy keep\nconfig group v6\n\toption target 2000::/3\n\tlist proto dhcpv6\n")
        hotplug, sync, theirs = [], [], []
        # Both states alternate on every side, so each measured run really changes the route.
        for t in range(TRIALS):
            if os.path.lexists(current):
                os.unlink(current)
            os.symlink(dumps[t % 2], current)
            hotplug.append(timed([BIN, "--config", cfg, "hotplug"], env))
            sync.append(timed([BIN, "--config", cfg, "--dump", dumps[(t + 1) % 2], "sync"], env))
            theirs.append(timed(ip_replace(uplinks - t % 2)))
        # Peak RSS of one event.
        r = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "--config", cfg, "hotplug"], env=env,
                           stderr=subprocess.PIPE, text=True) if os.path.exists("/usr/bin/time") else None
        rss = r.stderr.strip().splitlines()[-1] + " KiB" if r else "n/a (no /usr/bin/time)"
        subprocess.run(["ip", "-6", "route", "flush", "proto", "236"], check=True)
    return statistics.median(hotplug), statistics.median(sync), statistics.median(theirs), rss


FLOWS = int(os.environ.get("FLOWS", "2000"))


def egress(flows):
    """The uplink each L4 flow to 2000::/3 leaves by, per the kernel (`ip route get`)."""
    batch = "".join(
        "route get 2001:db8:%x::1 ipproto tcp sport %d dport 443\n" % (f % 7, 1024 + f) for f in range(flows)
    )
    out = subprocess.run(["ip", "-6", "-batch", "-"], input=batch, capture_output=True, text=True, check=True).stdout
    devs = [line.split(" dev ")[1].split()[0] for line in out.splitlines() if " dev " in line]
    if len(devs) != flows:
        sys.exit("route get answered %d of %d flows" % (len(devs), flows))
    return devs


def flow_stability(uplinks):
    """Takes each uplink down and back up by a hotplug event; returns the median share of
    flows on the surviving uplinks that moved on the loss, and of all flows on the return."""
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "cfg")
        with open(cfg, "w") as f:
            f.write("config globals\n\toption hash_policy l4\nconfig group v6\n\toption target 2000::/3\n\tlist proto dhcpv6\n")
        dump_path = os.path.join(d, "dump.json")

        def run(up, action, iface):
            with open(dump_path, "w") as f:
                f.write('{"interface":[%s]}' % ",".join(iface_json(i, i in up) for i in range(1, uplinks + 1)))
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "ACTION": action, "INTERFACE": iface}
            subprocess.run([BIN, "--config", cfg, "--dump", dump_path, "hotplug"], env=env, check=True,
                           stderr=subprocess.DEVNULL)

        everyone = set(range(1, uplinks + 1))
        run(everyone, "ifup", "wan1_6")
        on_loss, on_return = [], []
        for k in sorted(everyone):
            before = egress(FLOWS)
            run(everyone - {k}, "ifdown", "wan%d_6" % k)
            after_loss = egress(FLOWS)
            survivors = [f for f in range(FLOWS) if before[f] != "wan%d" % k]
            on_loss.append(sum(before[f] != after_loss[f] for f in survivors) / len(survivors))
            run(everyone, "ifup", "wan%d_6" % k)
            after_return = egress(FLOWS)
            on_return.append(sum(after_loss[f] != after_return[f] for f in range(FLOWS)) / FLOWS)
        subprocess.run(["ip", "-6", "route", "flush", "proto", "236"], check=True)
    return statistics.median(on_loss), max(on_loss), statistics.median(on_return)


def main():
    size = os.path.getsize(BIN)
    print("binary: %s, %d bytes (%.0f KiB), x86_64 release, stripped" % (BIN, size, size / 1024))
    print()
    print("Flow stability: %d L4 flows (hash policy L4), each uplink taken down and brought back by a hotplug event" % FLOWS)
    print("| uplinks | mode | survivors' flows moved on a loss (median, worst) | all flows moved on the return (median) |")
    print("| --- | --- | --- | --- |")
    for uplinks in (4, 16):
        loss, worst, back = flow_stability(uplinks)
        print("| %d | multipath | %.1f%%, %.1f%% | %.1f%% |" % (uplinks, loss * 100, worst * 100, back * 100))
    print()
    print("Event cost: one route-changing run vs one `ip -6 route replace` of a route of the same size,")
    print("median of %d interleaved trials (hotplug = env + a one-exec fake ubus on PATH, as hotplug-call runs it)" % TRIALS)
    print("| uplinks | dump interfaces | hotplug event | --dump FILE sync | ip -6 route replace | hotplug / ip | sync / ip | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for uplinks, total in ((4, 4), (4, 256), (64, 256)):
        hotplug, sync, theirs, rss = event_cost(uplinks, total)
        print("| %d | %d | %.2f ms | %.2f ms | %.2f ms | %.2f | %.2f | %s |" % (
            uplinks, total, hotplug * 1e3, sync * 1e3, theirs * 1e3, hotplug / theirs, sync / theirs, rss))


main()
