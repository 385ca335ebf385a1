"""make bench, run by bench.sh inside a network namespace with wan1..wan64 (veth).

1. Flow stability: which uplink each of 2000 L4 flows leaves by (`ip route get`), before and
   after each uplink is taken down and brought back by a hotplug event; resilient vs multipath.
2. Aggregation: iperf3 -P 16 from a router namespace over 4 tbf-shaped uplinks to a server
   namespace, vs the same over one uplink (own namespaces, made and removed here).
3. Event cost: one route-changing run (a hotplug event, and `--dump FILE sync`) next to one
   `ip -6 route replace` of a route of the same size, interleaved, each alternating between
   two states so that every run makes a real change.
4. Dump parse cost: the CPU time of `--dump FILE status` on a 4- and a 256-interface dump with
   every field netifd prints (~180 KB), for this build and, with BENCH_BEFORE set, another,
   interleaved.
"""
import json
import os
import platform
import shutil
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


def rich_iface_json(i, up):
    """An interface as netifd's dump has it, with the fields ecmp-hotplug never reads: an
    uplink (`wanN_6`, dhcpv6), or, not `up`, another interface that is up (`lanN`, static)."""
    name, proto = ("wan{i}_6", "dhcpv6") if up else ("lan{i}", "static")
    text = (
        '{"interface":"' + name + '","up":true,"pending":false,"available":true,"autostart":true,"dynamic":false,'
        '"uptime":86400,"l3_device":"wan{i}","proto":"' + proto + '","device":"wan{i}","metric":0,"dns_metric":0,'
        '"delegation":true,"ipv4-address":[],"ipv6-address":[{"address":"2001:db8:{x}::2","mask":64,'
        '"preferred":3600,"valid":7200}],"ipv6-prefix":[{"address":"2001:db8:{x}00::","mask":56,'
        '"preferred":3600,"valid":7200,"class":"wan{i}_6","assigned":{"lan":{"address":"2001:db8:{x}01::",'
        '"mask":64}}}],"ipv6-prefix-assignment":[],"route":['
        '{"target":"2001:db8:{x}::","mask":64,"nexthop":"::","metric":256,"valid":7200,"source":"::/0"},'
        '{"target":"::","mask":0,"nexthop":"fe80::{x}","metric":512,"valid":1800,"source":"2001:db8:{x}00::/56"},'
        '{"target":"::","mask":0,"nexthop":"fe80::{x}","metric":512,"valid":1800,"source":"2001:db8:{x}::2/64"}],'
        '"dns-server":["2001:db8:{x}::53","2001:db8:{x}::54"],"dns-search":["isp{i}.example"],'
        '"neighbors":[],"inactive":{"ipv4-address":[],"ipv6-address":[],"route":[],"dns-server":[],'
        '"dns-search":[],"neighbors":[]},"data":{"passthru":"00170020000000000000000000000000000000000000000000000000"}}'
    )
    if not up:
        # Interfaces that aren't uplinks have no delegated prefix and one default route less.
        text = text.replace(
            '"ipv6-prefix":[{"address":"2001:db8:{x}00::","mask":56,"preferred":3600,"valid":7200,'
            '"class":"wan{i}_6","assigned":{"lan":{"address":"2001:db8:{x}01::","mask":64}}}],', ""
        ).replace(',{"target":"::","mask":0,"nexthop":"fe80::{x}","metric":512,"valid":1800,'
                  '"source":"2001:db8:{x}::2/64"}', "")
    return text.replace("{i}", str(i)).replace("{x}", "%x" % i)


def rich_dump(n_up, total):
    return '{"interface":[%s]}' % ",".join(rich_iface_json(i, i <= n_up) for i in range(1, total + 1))


def cpu_time(cmd):
    """User + system CPU seconds of one run of cmd (exit 0 or 1: status says out of sync)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit("failed: %s" % " ".join(cmd))
    return usage.ru_utime + usage.ru_stime


def parse_cost(bins, trials):
    """Median CPU time of `--dump FILE status` per (binary, interfaces in the dump)."""
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "cfg")
        with open(cfg, "w") as f:
            f.write(config_text("resilient", "keep"))
        paths = {}
        for total in (4, 256):
            paths[total] = os.path.join(d, "dump%d.json" % total)
            with open(paths[total], "w") as f:
                f.write(rich_dump(4, total))
        samples = {(b, t): [] for b in bins for t in paths}
        for _ in range(trials):
            for b in bins:
                for t, path in paths.items():
                    samples[(b, t)].append(cpu_time([b, "--config", cfg, "--dump", path, "status"]))
        sizes = {t: os.path.getsize(p) for t, p in paths.items()}
        return {k: statistics.median(v) for k, v in samples.items()}, sizes


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


def config_text(mode, policy):
    return ("config globals\n\toption hash_policy %s\n\toption mode %s\n"
            "config group v6\n\toption target 2000::/3\n\tlist proto dhcpv6\n" % (policy, mode))


def event_cost(uplinks, total, mode):
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
            f.write(config_text(mode, "keep"))
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
        subprocess.run([BIN, "--config", cfg, "flush"], check=True, stderr=subprocess.DEVNULL)
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


def flow_stability(uplinks, mode):
    """Takes each uplink down and back up by a hotplug event; returns the median share of
    flows on the surviving uplinks that moved on the loss, and of all flows on the return."""
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "cfg")
        with open(cfg, "w") as f:
            f.write(config_text(mode, "l4"))
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
        subprocess.run([BIN, "--config", cfg, "flush"], check=True, stderr=subprocess.DEVNULL)
    return statistics.median(on_loss), max(on_loss), statistics.median(on_return)


RATE_MBIT = 50
SECONDS = int(os.environ.get("SECONDS_PER_RUN", "8"))


def aggregation(uplinks, mode, trials):
    """iperf3 -P 16 from namespace R over `uplinks` tbf-shaped veth uplinks to namespace S;
    the median throughput in Mbit/s and each uplink's share of the bytes sent."""
    r, s = "ecmp-agg-r-%d" % os.getpid(), "ecmp-agg-s-%d" % os.getpid()
    sh = lambda *a: subprocess.run(list(a), check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as d:
        try:
            for ns in (r, s):
                sh("ip", "netns", "add", ns)
                sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", r, "addr", "add", "2001:db8:aaaa::1/128", "dev", "lo")
            sh("ip", "-n", s, "addr", "add", "2001:db8:ffff::1/128", "dev", "lo")
            for i in range(1, 5):
                wan, isp = "wan%d" % i, "isp%d" % i
                sh("ip", "-n", r, "link", "add", wan, "type", "veth", "peer", "name", isp, "netns", s)
                sh("ip", "-n", r, "addr", "add", "fe80::100:%x/64" % i, "dev", wan, "nodad")
                sh("ip", "-n", s, "addr", "add", "fe80::%x/64" % i, "dev", isp, "nodad")
                sh("ip", "-n", r, "link", "set", wan, "up")
                sh("ip", "-n", s, "link", "set", isp, "up")
                sh("tc", "-n", r, "qdisc", "add", "dev", wan, "root", "tbf", "rate", "%dmbit" % RATE_MBIT,
                   "burst", "64kb", "latency", "100ms")
            # Replies (ACKs) come back over isp1, unshaped.
            sh("ip", "-n", s, "-6", "route", "add", "2001:db8:aaaa::1", "via", "fe80::100:1", "dev", "isp1")
            cfg, dump_path = os.path.join(d, "cfg"), os.path.join(d, "dump.json")
            with open(cfg, "w") as f:
                f.write(config_text(mode, "l4"))
            with open(dump_path, "w") as f:
                f.write(dump(uplinks, 4))
            subprocess.run(["ip", "netns", "exec", r, BIN, "--config", cfg, "--dump", dump_path, "sync"],
                           check=True, stderr=subprocess.DEVNULL)
            server = subprocess.Popen(["ip", "netns", "exec", s, "iperf3", "-s", "-B", "2001:db8:ffff::1"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            rates, shares = [], []
            for _ in range(trials):
                def tx():
                    out = subprocess.run(["ip", "-n", r, "-j", "-s", "link", "show"], capture_output=True,
                                         text=True, check=True).stdout
                    links = json.loads(out)
                    return {l["ifname"]: l["stats64"]["tx"]["bytes"] for l in links if l["ifname"].startswith("wan")}
                before = tx()
                out = subprocess.run(["ip", "netns", "exec", r, "iperf3", "-c", "2001:db8:ffff::1", "-B",
                                      "2001:db8:aaaa::1", "-P", "16", "-t", str(SECONDS), "-O", "1", "-J"],
                                     capture_output=True, text=True, check=True).stdout
                after = tx()
                rates.append(json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6)
                sent = {k: after[k] - before[k] for k in after}
                total = sum(sent.values())
                shares.append([sent["wan%d" % i] / total for i in range(1, 5)])
            server.kill()
            server.wait()
        finally:
            for ns in (r, s):
                subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    median = statistics.median(rates)
    share = shares[rates.index(median)] if median in rates else shares[0]
    return median, share


def main():
    size = os.path.getsize(BIN)
    print("binary: %s, %d bytes (%.0f KiB)" % (BIN, size, size / 1024))
    print("machine: %s, %d CPUs, kernel %s" % (platform.machine(), os.cpu_count(), platform.release()))
    print()
    print("Flow stability: %d L4 flows (hash policy L4), each uplink taken down and brought back by a hotplug event" % FLOWS)
    print("| uplinks | mode | survivors' flows moved on a loss (median, worst) | all flows moved on the return (median) |")
    print("| --- | --- | --- | --- |")
    for uplinks in (4, 16):
        for mode in ("resilient", "multipath"):
            loss, worst, back = flow_stability(uplinks, mode)
            print("| %d | %s | %.1f%%, %.1f%% | %.1f%% |" % (uplinks, mode, loss * 100, worst * 100, back * 100))
    print()
    if shutil.which("iperf3"):
        trials = int(os.environ.get("AGG_TRIALS", "3"))
        print("Aggregation: iperf3 -P 16, %d s (first second omitted), router namespace -> server namespace," % SECONDS)
        print("each uplink a veth shaped by tc tbf to %d Mbit/s; median of %d runs" % (RATE_MBIT, trials))
        print("| uplinks | mode | throughput | vs one uplink | share of bytes per uplink (wan1..wan4) |")
        print("| --- | --- | --- | --- | --- |")
        one, _ = aggregation(1, "resilient", trials)
        print("| 1 | - | %.1f Mbit/s | 1.00x | 100%% |" % one)
        for mode in ("resilient", "multipath"):
            rate, share = aggregation(4, mode, trials)
            print("| 4 | %s | %.1f Mbit/s | %.2fx | %s |" % (
                mode, rate, rate / one, " / ".join("%.0f%%" % (x * 100) for x in share)))
    else:
        print("Aggregation: skipped, iperf3 is not installed (bench.sh installs it with apt)")
    print()
    print("Event cost: one route-changing run vs one `ip -6 route replace` of a route of the same size,")
    print("median of %d interleaved trials (hotplug = env + a one-exec fake ubus on PATH, as hotplug-call runs it)" % TRIALS)
    print("| mode | uplinks | dump interfaces | hotplug event | --dump FILE sync | ip -6 route replace | hotplug / ip | sync / ip | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for mode in ("resilient", "multipath"):
        for uplinks, total in ((4, 4), (4, 256), (64, 256)):
            hotplug, sync, theirs, rss = event_cost(uplinks, total, mode)
            print("| %s | %d | %d | %.2f ms | %.2f ms | %.2f ms | %.2f | %.2f | %s |" % (
                mode, uplinks, total, hotplug * 1e3, sync * 1e3, theirs * 1e3, hotplug / theirs, sync / theirs, rss))
    print()
    bins = [BIN] + ([os.environ["BENCH_BEFORE"]] if os.environ.get("BENCH_BEFORE") else [])
    cost, sizes = parse_cost(bins, TRIALS)
    print("Dump parse cost: CPU time (user + system) of `--dump FILE status`, median of %d interleaved trials;" % TRIALS)
    print("4 uplinks up in each dump, every field netifd prints (%d and %d bytes)" % (sizes[4], sizes[256]))
    print("| build | bytes | 4 interfaces | 256 interfaces | 256 / 4 |")
    print("| --- | --- | --- | --- | --- |")
    for b in bins:
        print("| %s | %d | %.2f ms | %.2f ms | %.2f |" % (
            "this" if b == BIN else "before (%s)" % b, os.path.getsize(b),
            cost[(b, 4)] * 1e3, cost[(b, 256)] * 1e3, cost[(b, 256)] / cost[(b, 4)]))


main()
