//! Kernel tests: each in its own network namespace with veth pairs as uplinks, running the
//! built binary the way a router runs it and checking the result with `ip -j`.
//!
//! Hotplug runs go through `tests/support/hotplug-call` (OpenWrt's loop: the stub in
//! `files/etc/hotplug.d/iface` sourced in a subshell, ACTION/INTERFACE/DEVICE in the
//! environment, a fake `ubus` first on PATH), in a private mount namespace whose read-only
//! overlays put the binary at /usr/sbin/ecmp-hotplug and the test's config at
//! /etc/config/ecmp-hotplug.
//! They need root; under CI (`CI` set) a missing privilege fails the test instead of skipping.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

const WEIGHTED: &str = "config globals 'globals'\n\toption hash_policy 'l4'\n\nconfig group 'v6'\n\toption target '2000::/3'\n\tlist proto 'dhcpv6'\n\nconfig member\n\toption interface 'wan2_6'\n\toption weight '2'\n\nconfig member\n\toption interface 'wan4_6'\n\toption weight '3'\n";

#[test]
fn four_uplinks_come_up_one_by_one_into_a_weighted_route() {
    let r = test_router!("grow", 4);
    r.set_config(WEIGHTED);
    let mut up = [false; 4];
    for i in 0..4 {
        up[i] = true;
        r.set_dump(&v6_dump(&up));
        let name = format!("wan{}_6", i + 1);
        let run = r.hotplug("ifup", &name, Some(&format!("wan{}", i + 1)));
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(r.legs("-6", "2000::/3").len(), i + 1);
    }
    assert_eq!(
        r.legs("-6", "2000::/3"),
        vec![
            leg("wan1", "fe80::1", 1),
            leg("wan2", "fe80::2", 2),
            leg("wan3", "fe80::3", 1),
            leg("wan4", "fe80::4", 3)
        ]
    );
    let route = r.route("-6", "2000::/3").unwrap();
    assert_eq!(route["protocol"], "236");
    assert_eq!(route["metric"], 1024);
    assert_eq!(r.sysctl("net.ipv6.fib_multipath_hash_policy"), "1");
    assert_eq!(r.sysctl("net.ipv4.fib_multipath_hash_policy"), "1");
}

#[test]
fn ifdown_removes_exactly_that_nexthop_and_the_last_removes_the_route() {
    let r = test_router!("down", 4);
    r.set_config(WEIGHTED);
    r.set_dump(&v6_dump(&[true; 4]));
    assert_eq!(r.hotplug("ifup", "wan1_6", Some("wan1")).code, 0);
    // A foreign route elsewhere must survive everything below.
    r.ip(&[
        "-6",
        "route",
        "add",
        "2001:db8:ff::/48",
        "via",
        "fe80::9",
        "dev",
        "wan1",
        "proto",
        "static",
    ]);

    r.set_dump(&v6_dump(&[true, true, false, true]));
    let run = r.hotplug("ifdown", "wan3_6", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        r.legs("-6", "2000::/3"),
        vec![
            leg("wan1", "fe80::1", 1),
            leg("wan2", "fe80::2", 2),
            leg("wan4", "fe80::4", 3)
        ]
    );

    for (i, up) in [
        [false, true, false, true],
        [false, true, false, false],
        [false, false, false, false],
    ]
    .iter()
    .enumerate()
    {
        r.set_dump(&v6_dump(up));
        assert_eq!(
            r.hotplug("ifdown", &format!("wan{}_6", i + 1), None).code,
            0
        );
    }
    assert_eq!(
        r.route("-6", "2000::/3"),
        None,
        "the last ifdown deletes the route"
    );
    assert!(r.route("-6", "2001:db8:ff::/48").is_some());
}

#[test]
fn ifupdate_with_a_new_gateway_moves_the_nexthop() {
    let r = test_router!("move", 2);
    r.set_dump(&v6_dump(&[true, true]));
    assert_eq!(r.hotplug("ifup", "wan1_6", Some("wan1")).code, 0);
    r.set_dump(&dump(&[
        v6_uplink("wan1_6", "wan1", "fe80::1", true),
        v6_uplink("wan2_6", "wan2", "fe80::22", true),
    ]));
    let run = r.hotplug("ifupdate", "wan2_6", Some("wan2"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        r.legs("-6", "2000::/3"),
        vec![leg("wan1", "fe80::1", 1), leg("wan2", "fe80::22", 1)]
    );
}

/// `ip monitor WHAT…` in `r`, listening once this returns.
fn start_monitor(r: &Router, what: &[&str]) -> Child {
    let child = Command::new("ip")
        .args(["-n", &r.ns, "monitor"])
        .args(what)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    child
}

/// Reads `ip monitor route` until `sentinel` shows up; returns what came before it.
fn monitor_until(mut child: Child, r: &Router, sentinel: &str) -> String {
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    r.ip(&["route", "add", sentinel, "dev", "wan1"]);
    // The sentinel was written after the run; once the monitor printed it, it printed all.
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if Instant::now() > deadline || r.ip(&["route", "show", sentinel]).contains(sentinel) {
            std::thread::sleep(Duration::from_millis(300));
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap()
}

#[test]
fn a_second_identical_run_writes_nothing() {
    let r = test_router!("idem", 3);
    r.set_config(WEIGHTED);
    r.set_dump(&v6_dump(&[true; 3]));
    assert_eq!(r.hotplug("ifup", "wan1_6", Some("wan1")).code, 0);
    // The kernel's own local routes for link-local addresses appear as DAD finishes (slowly
    // under qemu-user): wait for that before watching for changes of ours.
    within(
        Duration::from_secs(10),
        "link-local addresses past DAD",
        || r.ip(&["-6", "addr", "show", "tentative"]).trim().is_empty(),
    );
    let monitor = start_monitor(&r, &["route", "nexthop"]);
    for _ in 0..2 {
        let run = r.hotplug("ifupdate", "wan2_6", Some("wan2"));
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(r.cli(&["sync"]).code, 0);
    }
    let seen = monitor_until(monitor, &r, "203.0.113.0/24");
    let lines: Vec<&str> = seen.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "only the sentinel may change, saw:\n{seen}");
    assert!(lines[0].contains("203.0.113.0/24"), "{seen}");
}

#[test]
fn a_foreign_route_at_a_groups_key_is_refused_and_kept_while_other_groups_apply() {
    let r = test_router!("foreign", 2);
    r.set_config(
        "config group 'v6'\n\toption target '2000::/3'\n\tlist proto 'dhcpv6'\n\n\
         config group 'docs'\n\toption target '2001:db8::/32'\n\toption metric '300'\n\tlist proto 'dhcpv6'\n",
    );
    r.ip(&[
        "-6", "route", "add", "2000::/3", "via", "fe80::99", "dev", "wan1", "metric", "1024",
        "proto", "static",
    ]);
    r.set_dump(&v6_dump(&[true, true]));
    let run = r.hotplug("ifup", "wan1_6", Some("wan1"));
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("v6: 2000::/3 table main metric 1024 is held by a route of proto static (via fe80::99 dev wan1"),
        "{}",
        run.stderr
    );
    assert_eq!(
        r.legs("-6", "2000::/3"),
        vec![leg("wan1", "fe80::99", 1)],
        "the foreign route is untouched"
    );
    assert_eq!(r.route("-6", "2000::/3").unwrap()["protocol"], "static");
    assert_eq!(
        r.legs("-6", "2001:db8::/32"),
        vec![leg("wan1", "fe80::1", 1), leg("wan2", "fe80::2", 1)]
    );
    let status = r.cli(&["status"]);
    assert_eq!(status.code, 1);
    assert!(
        status.stdout.lines().any(|l| l
            .starts_with("group v6 (ipv6): 2000::/3 table main metric 1024, ")
            && l.ends_with(": conflict")),
        "{}",
        status.stdout
    );
}

#[test]
fn flush_removes_only_the_tools_routes() {
    let r = test_router!("flush", 2);
    r.ip(&["addr", "add", "192.0.2.2/24", "dev", "wan1"]);
    r.set_config(
        "config group 'v6'\n\toption target '2000::/3'\n\tlist proto 'dhcpv6'\n\n\
         config group 'v4'\n\toption target '198.51.100.0/24'\n\toption table '100'\n\tlist interface 'wan1_6'\n",
    );
    let mut wan1 = v6_uplink("wan1_6", "wan1", "fe80::1", true);
    wan1 = wan1.replacen(
        r#""route":["#,
        r#""route":[{"target":"0.0.0.0","mask":0,"nexthop":"192.0.2.1","source":"192.0.2.2/32"},"#,
        1,
    );
    r.set_dump(&dump(&[wan1, v6_uplink("wan2_6", "wan2", "fe80::2", true)]));
    assert_eq!(r.cli(&["sync"]).code, 0);
    assert_eq!(r.legs("-4", "198.51.100.0/24"), vec![]);
    assert_eq!(
        r.ip_json(&["-4", "route", "show", "table", "100"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Foreign routes in the same tables, including one at another metric of our target.
    r.ip(&[
        "-6", "route", "add", "2000::/3", "via", "fe80::7", "dev", "wan2", "metric", "5", "proto",
        "static",
    ]);
    r.ip(&[
        "-4",
        "route",
        "add",
        "198.51.100.0/24",
        "via",
        "192.0.2.9",
        "table",
        "100",
        "metric",
        "9",
    ]);
    let before_foreign = (
        r.legs("-6", "2000::/3").len(),
        r.ip(&["-4", "route", "show", "table", "100"]),
    );
    assert_eq!(
        before_foreign.0, 1,
        "ip shows the lowest-metric 2000::/3 first"
    );
    let run = r.cli(&["flush"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v6: Vec<Value> = r
        .ip_json(&["-6", "route", "show", "2000::/3"])
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(v6.len(), 1);
    assert_eq!(v6[0]["protocol"], "static");
    let t100 = r.ip_json(&["-4", "route", "show", "table", "100"]);
    assert_eq!(t100.as_array().unwrap().len(), 1);
    assert_eq!(t100[0]["gateway"], "192.0.2.9");
    assert_eq!(r.cli(&["flush"]).code, 0, "flushing nothing is fine");
}

#[test]
fn ipv4_over_a_ppp_peer_a_device_only_link_and_dhcp() {
    let r = test_router!("v4", 3);
    r.ip(&["addr", "add", "192.0.2.10/24", "dev", "wan3"]);
    r.ip(&[
        "addr",
        "add",
        "10.64.0.2",
        "peer",
        "198.51.100.1",
        "dev",
        "wan1",
    ]);
    r.set_config(
        "config globals\n\toption mode 'multipath'\n\n\
         config group 'v4'\n\toption family 'ipv4'\n\toption target '0.0.0.0/0'\n\toption table 'main'\n\tlist interface 'wan'\n\tlist interface 'wanb'\n\tlist interface 'wanc'\n\n\
         config member\n\toption interface 'wanc'\n\toption weight '2'\n",
    );
    let ppp_peer = r#"{"interface":"wan","up":true,"proto":"pppoe","l3_device":"wan1","device":"eth0",
        "ipv4-address":[{"address":"10.64.0.2","mask":32,"ptpaddress":"198.51.100.1"}],
        "route":[{"target":"0.0.0.0","mask":0,"nexthop":"198.51.100.1","source":"0.0.0.0/0"}],"data":{}}"#;
    let ppp_onlink = r#"{"interface":"wanb","up":true,"proto":"3g","l3_device":"wan2",
        "route":[{"target":"0.0.0.0","mask":0,"nexthop":"0.0.0.0","source":"0.0.0.0/0"}],"data":{}}"#;
    let dhcp = r#"{"interface":"wanc","up":true,"proto":"dhcp","l3_device":"wan3","device":"wan3",
        "ipv4-address":[{"address":"192.0.2.10","mask":24}],
        "route":[{"target":"192.0.2.0","mask":24,"nexthop":"0.0.0.0","source":"192.0.2.10/32"}],
        "inactive":{"route":[{"target":"0.0.0.0","mask":0,"nexthop":"192.0.2.1","source":"192.0.2.10/32"}]},"data":{"leasetime":3600}}"#;
    r.set_dump(&dump(&[ppp_peer.into(), ppp_onlink.into(), dhcp.into()]));
    let run = r.hotplug("ifup", "wanc", Some("wan3"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        r.legs("-4", "default"),
        vec![
            leg("wan1", "198.51.100.1", 1),
            leg("wan2", "", 1),
            leg("wan3", "192.0.2.1", 2)
        ]
    );
    // Down to the device-only link alone: a plain link-scoped route.
    r.set_dump(&dump(&[ppp_onlink.into()]));
    assert_eq!(r.hotplug("ifdown", "wanc", None).code, 0);
    let route = r.route("-4", "default").unwrap();
    assert_eq!(
        (
            route["dev"].as_str(),
            route["scope"].as_str(),
            route.get("gateway")
        ),
        (Some("wan2"), Some("link"), None)
    );
}

#[test]
fn dry_run_changes_nothing_and_says_what_it_would_do() {
    let r = test_router!("dry", 2);
    r.set_dump(&v6_dump(&[true, true]));
    let before = r.kernel_state();
    let run = r.cli(&["--dry-run", "sync"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Through a resilient group (`-> nexthop group N (via …)`) or, where there are no nexthop
    // objects (qemu-user), a multipath route (`-> via …`).
    assert!(
        run.stdout
            .contains("dry run: v6: 2000::/3 table main metric 1024 -> "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("via fe80::1 dev wan1 weight 1, via fe80::2 dev wan2 weight 1"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("fib_multipath_hash_policy 0 -> 1"),
        "{}",
        run.stdout
    );
    assert_eq!(r.kernel_state(), before);
}

#[test]
fn a_hanging_ubus_is_killed_within_the_bound() {
    let r = test_router!("hang", 1);
    r.set_ubus("sleep 60 & sleep 60");
    let before = r.kernel_state();
    let start = Instant::now();
    let run = r.hotplug("ifup", "wan1_6", Some("wan1"));
    let took = start.elapsed();
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("no answer within 5 s"),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(r.kernel_state(), before);
}

#[test]
fn ignored_actions_exit_0_and_touch_nothing() {
    let r = test_router!("ignore", 1);
    r.set_dump(&v6_dump(&[true]));
    let before = r.kernel_state();
    for action in ["iflink", "connecting", "free"] {
        let run = r.hotplug(action, "wan1_6", None);
        assert_eq!(run.code, 0, "{action}: {}", run.stderr);
    }
    assert_eq!(r.kernel_state(), before);
}

#[test]
fn enabled_0_removes_what_the_tool_installed() {
    let r = test_router!("off", 2);
    r.set_dump(&v6_dump(&[true, true]));
    assert_eq!(r.hotplug("ifup", "wan1_6", Some("wan1")).code, 0);
    assert_eq!(r.legs("-6", "2000::/3").len(), 2);
    r.set_config("config globals 'globals'\n\toption enabled '0'\n\nconfig group 'v6'\n\toption target '2000::/3'\n\tlist proto 'dhcpv6'\n");
    assert_eq!(r.hotplug("ifupdate", "wan1_6", Some("wan1")).code, 0);
    assert_eq!(r.route("-6", "2000::/3"), None);
}

#[test]
fn status_json_reports_desired_installed_and_left_out() {
    let r = test_router!("status", 2);
    r.set_dump(&dump(&[
        v6_uplink("wan1_6", "wan1", "fe80::1", true),
        v6_uplink("wan2_6", "wan2", "fe80::2", false),
        v6_uplink("wan3_6", "wan9", "fe80::3", true),
    ]));
    let run = r.cli(&["status", "--json"]);
    assert_eq!(run.code, 1, "nothing installed yet: out of sync");
    let s: Value = serde_json::from_str(&run.stdout).unwrap();
    let g = &s["groups"][0];
    assert_eq!(g["name"], "v6");
    assert_eq!(g["state"], "out_of_sync");
    assert_eq!(g["desired"][0]["interface"], "wan1_6");
    assert_eq!(g["installed"], Value::Null);
    assert_eq!(
        g["skipped"][0],
        serde_json::json!({"interface": "wan2_6", "reason": "down", "kind": "down"})
    );
    assert_eq!(
        g["skipped"][1],
        serde_json::json!({"interface": "wan3_6", "reason": "device wan9 does not exist", "kind": "down"})
    );
    let run = r.cli(&["sync"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr
            .contains("wan3_6 left out: device wan9 does not exist"),
        "{}",
        run.stderr
    );
    let run = r.cli(&["status", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(s["groups"][0]["state"], "in_sync");
    assert_eq!(s["groups"][0]["installed"]["protocol"], 236);
    assert_eq!(s["groups"][0]["table"], 254);
    assert_eq!(s["groups"][0]["table_name"], "main");
    assert!(
        s["config"]
            .as_str()
            .unwrap()
            .starts_with("the built-in default"),
        "{s}"
    );
    assert_eq!(s["dump"], "ubus (network.interface dump)");
}

#[test]
fn status_shows_the_kernels_leg_flags_and_whose_each_installed_leg_is() {
    let r = test_router!("flags", 2);
    r.set_config(&MULTIPATH_V6);
    r.set_dump(&v6_dump(&[true, true]));
    assert_eq!(r.cli(&["sync"]).code, 0);
    // Carrier gone and nobody told (no watch): the kernel keeps the leg and marks it
    // (dead too, as ignore_routes_with_linkdown is on).
    r.ip(&["link", "set", "peer1", "down"]);
    let route = r.route("-6", "2000::/3").unwrap();
    let kernel = &route["nexthops"];
    assert_eq!(
        kernel[0]["flags"],
        serde_json::json!(["dead", "linkdown"]),
        "{route}"
    );
    let run = r.cli(&["status", "--json"]);
    let s: Value = serde_json::from_str(&run.stdout).unwrap();
    let legs = &s["groups"][0]["installed"]["nexthops"];
    assert_eq!(legs[0]["interface"], "wan1_6", "{s}");
    assert_eq!(legs[1]["interface"], "wan2_6");
    for i in 0..2 {
        assert_eq!(legs[i]["device"], kernel[i]["dev"]);
        assert_eq!(legs[i]["flags"], kernel[i]["flags"], "as ip -j shows them");
    }
    let text = r.cli(&["status"]).stdout;
    assert!(
        text.contains("wan1_6: via fe80::1 dev wan1 weight 1 (dead, linkdown)"),
        "{text}"
    );
}

#[test]
fn version_prints_the_cargo_version() {
    let out = ok(binary().arg("--version"));
    assert_eq!(
        out.trim(),
        format!("ecmp-hotplug {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2() {
    use std::os::unix::ffi::OsStrExt;
    let latin1 = std::ffi::OsStr::from_bytes(b"/etc/config/\xff");
    for args in [
        &["--bogus".as_ref()][..],
        &["status".as_ref(), "--x".as_ref()],
        &["sync".as_ref(), "--json".as_ref()],
        &["--config".as_ref(), latin1, "status".as_ref()],
    ] {
        let out = sh(binary().args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A bare call: the usage, on stderr, exit 2.
    let out = sh(&mut binary());
    assert_eq!(out.status.code(), Some(2));
    let usage = String::from_utf8_lossy(&out.stderr);
    assert!(
        usage.starts_with("Usage: ecmp-hotplug") && usage.contains("<command>"),
        "{usage}"
    );
    assert!(out.stdout.is_empty());
    // Help is per command, on stdout, exit 0, with -h as well.
    for args in [["status", "--help"], ["status", "-h"]] {
        let help = ok(binary().args(args));
        assert!(help.contains("--json") && help.contains("--dump"), "{help}");
    }
    let help = ok(binary().args(["sync", "-h"]));
    assert!(help.contains("--dry-run"), "{help}");
}

#[test]
fn options_after_the_command_do_what_they_do_before_it() {
    let r = test_router!("after", 2);
    // wan2 down: left out, which --verbose tells as a debug line.
    r.set_dump(&v6_dump(&[true, false]));
    let dump = r.path("dump.json");
    let dump = dump.to_str().unwrap();
    let before = r.kernel_state();
    let dry = r.cli(&["sync", "--dry-run", "--dump", dump, "-v"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("dry run: "), "{}", dry.stdout);
    assert!(
        dry.stderr.contains("debug: "),
        "-v is --verbose: {}",
        dry.stderr
    );
    assert_eq!(r.kernel_state(), before, "a dry run changes nothing");
    let status = r.cli(&["status", "--dump", dump, "--json"]);
    assert_eq!(status.code, 1, "nothing installed yet: {}", status.stderr);
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["groups"][0]["desired"].as_array().unwrap().len(), 1);
    assert_eq!(r.cli(&["sync", "--dump", dump]).code, 0);
    assert_eq!(r.legs("-6", "2000::/3"), vec![leg("wan1", "fe80::1", 1)]);
}

/// Runs the binary inside the router as `nobody`, with the router's config and dump.
fn as_nobody(r: &Router, args: &str) -> Run {
    let mut line = String::from(
        "exec setpriv --reuid 65534 --regid 65534 --clear-groups /usr/sbin/ecmp-hotplug",
    );
    if r.path("etc-layer/config/ecmp-hotplug").exists() {
        line += &format!(
            " --config {}",
            r.path("etc-layer/config/ecmp-hotplug").display()
        );
    }
    line += &format!(" --dump {} {args}", r.path("dump.json").display());
    r.run_cmd(&mut r.router_shell(&line))
}

#[test]
fn a_run_as_another_user_creates_nothing_and_a_stale_lock_is_named() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let r = test_router!("nonroot", 2);
    r.set_config(&MULTIPATH_V6);
    r.set_dump(&v6_dump(&[true, true]));
    // A lock directory anyone may create files in (sticky, like /tmp): only the root check
    // keeps a user's run from leaving a lock file root can't use.
    let lock_dir = r.path("lock");
    fs::set_permissions(&lock_dir, fs::Permissions::from_mode(0o1777)).unwrap();
    let lock = lock_dir.join("ecmp-hotplug.lock");
    let before = r.kernel_state();
    for command in ["sync", "flush", "hotplug", "watch"] {
        let run = as_nobody(&r, command);
        assert_eq!(run.code, 4, "{command}: {}", run.stderr);
        assert_eq!(
            run.stderr.trim_end(),
            format!(
                "ecmp-hotplug: {command} needs root (CAP_NET_ADMIN); status and sync --dry-run don't"
            ),
            "one line"
        );
        assert!(!lock.exists(), "{command} created the lock");
    }
    // What a user may run reads and creates nothing.
    let status = as_nobody(&r, "status");
    assert_eq!(
        status.code, 1,
        "out of sync, nothing installed: {}",
        status.stderr
    );
    assert!(status.stdout.contains("group v6"), "{}", status.stdout);
    let dry = as_nobody(&r, "sync --dry-run");
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("dry run: "), "{}", dry.stdout);
    assert!(!lock.exists());
    assert_eq!(r.kernel_state(), before);
    // Root's run after them works (in the router, with its /var/lock).
    let run = r.run_cmd(&mut r.on_router(&["sync"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(fs::metadata(&lock).unwrap().uid(), 0);
    // A lock file another user left (by an older version): named, with what to do.
    fs::remove_file(&lock).unwrap();
    fs::write(&lock, "").unwrap();
    std::os::unix::fs::chown(&lock, Some(65534), Some(65534)).unwrap();
    let before = r.kernel_state();
    let run = r.run_cmd(&mut r.router_shell("exec /usr/sbin/ecmp-hotplug flush"));
    assert_eq!(run.code, 4, "{}", run.stderr);
    let line = run.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("/var/lock/ecmp-hotplug.lock belongs to")
            && line.contains("uid 65534")
            && line.contains("rm /var/lock/ecmp-hotplug.lock"),
        "{line}"
    );
    assert!(!line.contains("held"), "not another run's: {line}");
    assert_eq!(r.kernel_state(), before);
}

#[test]
fn a_failed_status_or_sync_reaches_syslog_with_the_stderr_text() {
    let r = test_router!("syslog-fail", 2);
    r.set_config(&format!(
        "{}
config globals
 option colour blue
",
        *MULTIPATH_V6
    ));
    r.set_dump(&v6_dump(&[true, true]));
    let mut syslog = r.syslog();
    let mut next = || syslog.next();
    // Run as rpcd, an init script or a postinst run them: stderr is a pipe.
    let run = |args: &str| r.run_cmd(&mut r.on_router(&args.split(' ').collect::<Vec<_>>()));
    // sync: its lines (the warning, the changes) go to syslog as well as to stderr.
    let sync = run("sync");
    assert_eq!(sync.code, 0, "{}", sync.stderr);
    let warning = next();
    assert!(
        warning.starts_with("<28>ecmp-hotplug[") && warning.contains("unknown option 'colour'"),
        "{warning}"
    );
    assert!(
        sync.stderr.contains("unknown option 'colour'"),
        "{}",
        sync.stderr
    );
    let change = next();
    assert!(
        change.starts_with("<30>ecmp-hotplug["),
        "daemon.info: {change}"
    );
    // status: its warnings stay on stderr (rpcd runs it every few seconds) …
    let status = run("status");
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stderr.contains("unknown option 'colour'"));
    // … and its failure, one line, reaches syslog with the text stderr has. Lines before it
    // are sync's changes (info), never status's warning.
    let mut failure = || loop {
        let line = next();
        if !line.starts_with("<30>") {
            break line;
        }
    };
    for command in ["status --json", "status", "sync"] {
        r.set_config(
            "config group g\n option target 2000::/3\n option weight x\n option interval 0\n",
        );
        let failed = run(command);
        assert_eq!(failed.code, 3, "{command}: {}", failed.stderr);
        let text = failed.stderr.trim_end();
        assert_eq!(text.lines().count(), 1, "{text}");
        let text = text.strip_prefix("ecmp-hotplug: ").unwrap();
        assert!(text.contains(":4: interval '0'"), "{text}");
        let line = failure();
        assert!(line.starts_with("<27>ecmp-hotplug["), "daemon.err: {line}");
        assert!(
            line.ends_with(&format!("]: {text}")),
            "{command}: {line} vs {text}"
        );
        assert!(failed.stdout.is_empty(), "{}", failed.stdout);
        r.set_config(&MULTIPATH_V6);
    }
}

#[test]
fn simultaneous_events_all_end_with_every_nexthop() {
    let r = test_router!("burst", 4);
    r.set_config(WEIGHTED);
    r.set_dump(&v6_dump(&[true; 4]));
    // netifd, mwan3track and a person at once: every run reconciles from the full dump
    // under the lock, so whichever writes last writes the whole route.
    std::thread::scope(|s| {
        let runs: Vec<_> = (1..=8)
            .map(|i| {
                let r = &r;
                s.spawn(move || r.hotplug("ifup", &format!("wan{}_6", (i - 1) % 4 + 1), None))
            })
            .collect();
        for run in runs {
            let run = run.join().unwrap();
            assert_eq!(run.code, 0, "{}", run.stderr);
        }
    });
    assert_eq!(
        r.legs("-6", "2000::/3"),
        vec![
            leg("wan1", "fe80::1", 1),
            leg("wan2", "fe80::2", 2),
            leg("wan3", "fe80::3", 1),
            leg("wan4", "fe80::4", 3)
        ]
    );
}

#[test]
fn the_dump_can_come_from_stdin() {
    let r = test_router!("stdin", 2);
    let mut child = Command::new("ip")
        .args(["netns", "exec", &r.ns])
        .args(invocation())
        .args(["--dump", "-", "sync"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        v6_dump(&[true, true]).as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        r.legs("-6", "2000::/3"),
        vec![leg("wan1", "fe80::1", 1), leg("wan2", "fe80::2", 1)]
    );
}

#[test]
fn a_reader_that_goes_away_is_not_a_crash() {
    let r = test_router!("pipe", 3);
    r.set_dump(&v6_dump(&[true; 3]));
    assert_eq!(r.cli(&["sync"]).code, 0);
    // `status | head -0`, deterministically: stdout is a pipe whose reader is already gone,
    // so the first write fails with EPIPE (Rust ignores SIGPIPE).
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["--dry-run", "sync"],
        &["--version"],
    ] {
        let (reader, writer) = nix::unistd::pipe().unwrap();
        drop(reader);
        let out = Command::new("ip")
            .args(["netns", "exec", &r.ns])
            .args(invocation())
            .arg("--dump")
            .arg(r.path("dump.json"))
            .args(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The shipped config with `mode` set.
fn shipped_with_mode(mode: &str) -> String {
    let shipped = fs::read_to_string(format!("{REPO}/files/etc/config/ecmp-hotplug")).unwrap();
    assert!(shipped.contains("option mode 'auto'"));
    shipped.replace("option mode 'auto'", &format!("option mode '{mode}'"))
}

static MULTIPATH_V6: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| shipped_with_mode("multipath"));

/// The flags of the leg through `dev` of the route at `target`.
fn leg_flags(r: &Router, target: &str, dev: &str) -> Vec<String> {
    let route = r.route("-6", target).unwrap();
    let leg = route["nexthops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["dev"] == dev)
        .unwrap()
        .clone();
    leg["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn carrier_loss_on_a_multipath_leg_is_skipped_and_revives_without_an_event() {
    let r = test_router!("carrier", 2);
    r.set_config(&MULTIPATH_V6);
    r.set_dump(&v6_dump(&[true, true]));
    assert_eq!(r.hotplug("ifup", "wan1_6", Some("wan1")).code, 0);
    for dev in ["wan1", "wan2"] {
        assert_eq!(
            r.sysctl(&format!("net.ipv6.conf.{dev}.ignore_routes_with_linkdown")),
            "1"
        );
    }
    assert_eq!(
        r.sysctl("net.ipv4.conf.wan1.ignore_routes_with_linkdown"),
        "0",
        "only the group's family"
    );
    // The ISP side drops carrier (the device itself stays up; netifd sends no event for
    // force_link interfaces): the kernel skips the leg.
    r.ip(&["link", "set", "peer1", "down"]);
    assert_eq!(leg_flags(&r, "2000::/3", "wan1"), ["dead", "linkdown"]);
    for flow in 0..16 {
        let dst = format!("2001:db8:{flow:x}::1");
        let got = r.ip_json(&["-6", "route", "get", &dst]);
        assert_eq!(
            got[0]["dev"], "wan2",
            "{dst} still goes out of the dead leg: {got}"
        );
    }
    // Carrier back: the leg is live again with no event and no run of the tool (bound: 2 s).
    r.ip(&["link", "set", "peer1", "up"]);
    let deadline = Instant::now() + Duration::from_secs(2);
    while !leg_flags(&r, "2000::/3", "wan1").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(leg_flags(&r, "2000::/3", "wan1").is_empty());
    assert_eq!(
        r.legs("-6", "2000::/3"),
        vec![leg("wan1", "fe80::1", 1), leg("wan2", "fe80::2", 1)]
    );
}

// ---- resilient mode (issue 4) ----
// Named resilient_*: the qemu-user run of a router build leaves them out, as qemu doesn't
// translate nexthop messages and the binary there sees a kernel without nexthop objects
// (docs/performance.md, "What qemu-user shows"); the rest of the suite then checks that fallback.

/// What a leg looks like to `ip -j nexthop`: (device, gateway).
fn leg_of(o: &Value) -> (String, String) {
    (
        o["dev"].as_str().unwrap_or("").to_string(),
        o["gateway"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn resilient_by_default_and_a_loss_moves_no_other_uplinks_flow() {
    let r = test_router!("resil", 4);
    r.set_config(&shipped_with_mode("auto"));
    let mut up = [true; 4];
    r.set_dump(&v6_dump(&up));
    let run = r.hotplug("ifup", "wan1_6", Some("wan1"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (group, members) = r.resilient_group("2000::/3");
    assert!((0xEC00_0000..=0xECFF_FFFF).contains(&group), "{group:#x}");
    let devs: Vec<&str> = members.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(devs.len(), 4);
    for d in ["wan1", "wan2", "wan3", "wan4"] {
        assert!(devs.contains(&d), "{devs:?}");
    }
    let g = r.objects().into_iter().find(|o| o["id"] == group).unwrap();
    assert_eq!(g["resilient_args"]["buckets"], 128, "{g}");
    assert_eq!(g["resilient_args"]["idle_timer"], 120, "{g}");
    assert_eq!(g["resilient_args"]["unbalanced_timer"], 600, "{g}");
    assert_eq!(
        r.our_objects().len(),
        5,
        "four legs and the group, nothing else"
    );
    let route = r.route("-6", "2000::/3").unwrap();
    assert_eq!(route["protocol"], "236");

    const FLOWS: usize = 400;
    for k in 1..=4 {
        let dev = format!("wan{k}");
        let before = r.egress(FLOWS);
        up[k - 1] = false;
        r.set_dump(&v6_dump(&up));
        assert_eq!(r.hotplug("ifdown", &format!("wan{k}_6"), None).code, 0);
        let after = r.egress(FLOWS);
        let moved: Vec<usize> = (0..FLOWS)
            .filter(|&f| before[f] != dev && before[f] != after[f])
            .collect();
        assert!(
            moved.is_empty(),
            "losing {dev} moved flows of other uplinks: {moved:?}"
        );
        assert!(
            after.iter().all(|d| *d != dev),
            "a flow still leaves by {dev}"
        );
        let (same_group, left) = r.resilient_group("2000::/3");
        assert_eq!(same_group, group, "one group, replaced in place");
        assert_eq!(left.len(), 3);
        assert_eq!(r.our_objects().len(), 4, "the leg of {dev} is gone too");
        up[k - 1] = true;
        r.set_dump(&v6_dump(&up));
        assert_eq!(r.hotplug("ifup", &format!("wan{k}_6"), Some(&dev)).code, 0);
        let (_, back) = r.resilient_group("2000::/3");
        assert_eq!(back, members, "the same ids for the same uplinks");
    }
    // A gateway change replaces the leg in place: same ids, new gateway.
    let mut ifaces: Vec<String> = (1..=4)
        .map(|i| {
            v6_uplink(
                &format!("wan{i}_6"),
                &format!("wan{i}"),
                &format!("fe80::{i}"),
                true,
            )
        })
        .collect();
    ifaces[0] = v6_uplink("wan1_6", "wan1", "fe80::11", true);
    r.set_dump(&dump(&ifaces));
    assert_eq!(r.hotplug("ifupdate", "wan1_6", Some("wan1")).code, 0);
    let (_, after) = r.resilient_group("2000::/3");
    assert_eq!(after, members);
    let wan1 = r
        .objects()
        .into_iter()
        .find(|o| o["dev"] == "wan1")
        .unwrap();
    assert_eq!(leg_of(&wan1), ("wan1".into(), "fe80::11".into()));
    assert_eq!(r.cli(&["status"]).code, 0, "in sync");
}

#[test]
fn resilient_mode_switches_and_flush_leave_exactly_the_planned_objects() {
    let r = test_router!("modes", 3);
    // Someone else's nexthop objects: a leg, and a group of theirs holding it.
    r.ip(&[
        "nexthop", "add", "id", "77", "via", "fe80::77", "dev", "wan3", "proto", "static",
    ]);
    r.ip(&[
        "nexthop", "add", "id", "78", "group", "77", "proto", "static",
    ]);
    r.set_dump(&v6_dump(&[true, true, true]));
    let foreign = |r: &Router| -> Vec<Value> {
        r.objects()
            .into_iter()
            .filter(|o| o["protocol"] != "236")
            .collect()
    };
    let theirs = foreign(&r);
    assert_eq!(theirs.len(), 2);

    r.set_config(&shipped_with_mode("multipath"));
    assert_eq!(r.cli(&["sync"]).code, 0);
    assert!(r.route("-6", "2000::/3").unwrap()["nhid"].is_null());
    assert_eq!(r.legs("-6", "2000::/3").len(), 3);
    assert!(r.our_objects().is_empty());

    r.set_config(&shipped_with_mode("resilient"));
    let run = r.cli(&["sync"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (_, members) = r.resilient_group("2000::/3");
    assert_eq!(members.len(), 3);
    assert_eq!(r.our_objects().len(), 4);
    assert_eq!(r.cli(&["status"]).code, 0);

    // Another table size can't be changed in place: the group is made anew, route rewritten.
    r.set_config(
        &shipped_with_mode("resilient").replace("#option buckets '128'", "option buckets '64'"),
    );
    let run = r.cli(&["sync"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (gid, again) = r.resilient_group("2000::/3");
    assert_eq!(again, members);
    let g = r.objects().into_iter().find(|o| o["id"] == gid).unwrap();
    assert_eq!(g["resilient_args"]["buckets"], 64);

    r.set_config(&shipped_with_mode("multipath"));
    assert_eq!(r.cli(&["sync"]).code, 0);
    assert!(r.route("-6", "2000::/3").unwrap()["nhid"].is_null());
    assert_eq!(r.legs("-6", "2000::/3").len(), 3);
    assert!(r.our_objects().is_empty(), "{:?}", r.our_objects());

    r.set_config(&shipped_with_mode("auto"));
    assert_eq!(r.cli(&["sync"]).code, 0);
    assert_eq!(r.our_objects().len(), 4);
    let run = r.cli(&["flush"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(r.route("-6", "2000::/3").is_none());
    assert!(r.our_objects().is_empty());
    assert_eq!(
        foreign(&r),
        theirs,
        "someone else's objects are untouched throughout"
    );
}

#[test]
fn resilient_fallback_auto_to_multipath_and_a_refused_forced_resilient() {
    let r = test_router!("fallback", 2);
    r.set_dump(&v6_dump(&[true, true]));
    r.set_config(&shipped_with_mode("auto"));
    assert_eq!(r.cli(&["sync"]).code, 0);
    assert_eq!(r.our_objects().len(), 3);
    let old_kernel = |r: &Router, args: &[&str]| {
        r.run_cmd(r.cli_command(args).env("ECMP_HOTPLUG_NO_RESILIENT", "1"))
    };
    // On a kernel without resilient groups auto is a multipath route, and what resilient
    // mode left behind goes.
    let run = old_kernel(&r, &["sync"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("this kernel takes no resilient nexthop groups"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("takes no resilient").count(),
        1,
        "said once: {}",
        run.stderr
    );
    assert!(r.route("-6", "2000::/3").unwrap()["nhid"].is_null());
    assert_eq!(
        r.legs("-6", "2000::/3"),
        vec![leg("wan1", "fe80::1", 1), leg("wan2", "fe80::2", 1)]
    );
    assert!(r.our_objects().is_empty());
    assert_eq!(old_kernel(&r, &["status"]).code, 0, "in sync as multipath");
    // Forced resilient there is refused, and the route is left as it is.
    r.set_config(&shipped_with_mode("resilient"));
    let before = r.kernel_state();
    let run = old_kernel(&r, &["sync"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("v6: mode resilient, but this kernel takes no resilient nexthop groups"),
        "{}",
        run.stderr
    );
    assert_eq!(r.kernel_state(), before);
}

#[test]
fn resilient_a_removed_device_leaves_no_orphans() {
    let r = test_router!("devgone", 3);
    r.set_dump(&v6_dump(&[true, true, true]));
    assert_eq!(r.cli(&["sync"]).code, 0);
    assert_eq!(r.our_objects().len(), 4);
    // The device goes (a PPP session torn down); the kernel drops its nexthop by itself. The
    // dump still says the interface is up (netifd hasn't caught up).
    r.ip(&["link", "del", "wan2"]);
    let run = r.cli(&["sync"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (_, members) = r.resilient_group("2000::/3");
    let mut devs: Vec<&str> = members.iter().map(|(_, d)| d.as_str()).collect();
    devs.sort();
    assert_eq!(devs, ["wan1", "wan3"]);
    assert_eq!(r.our_objects().len(), 3, "two legs and the group");
    let status = r.cli(&["status"]);
    assert_eq!(status.code, 0, "{}", status.stdout);
    assert!(
        status.stdout.contains("device wan2 does not exist"),
        "{}",
        status.stdout
    );
}

#[test]
fn resilient_carrier_loss_is_healed_by_watch_without_an_event() {
    let r = test_router!("watch", 2);
    r.set_dump(&v6_dump(&[true, true]));
    let watch = Watch::start(&r);
    // It reconciles on start.
    let bound = Duration::from_secs(2);
    within(bound, "the route at start", || {
        r.route("-6", "2000::/3").is_some()
    });
    let (group, members) = r.resilient_group("2000::/3");
    assert_eq!(members.len(), 2);
    // Idle means asleep: no CPU spent over a second without events.
    let ticks = watch.cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        watch.cpu_ticks() - ticks <= 1,
        "watch spends CPU while idle"
    );

    // The ISP side of wan1 drops carrier; the dump still says up, no hotplug event.
    r.ip(&["link", "set", "peer1", "down"]);
    within(bound, "the kernel dropping wan1's leg", || {
        r.resilient_group("2000::/3").1.len() == 1
    });
    r.ip(&["link", "set", "peer1", "up"]);
    let took = within(bound, "wan1 back in the group", || {
        r.route("-6", "2000::/3").is_some() && r.resilient_group("2000::/3").1.len() == 2
    });
    eprintln!("wan1 back after {took:?}");
    assert_eq!(r.resilient_group("2000::/3"), (group, members.clone()));

    // Both lose carrier: the last leg takes the group and the route with it …
    r.ip(&["link", "set", "peer1", "down"]);
    r.ip(&["link", "set", "peer2", "down"]);
    within(bound, "the route gone", || {
        r.route("-6", "2000::/3").is_none()
    });
    // … and carrier on one brings them all back.
    r.ip(&["link", "set", "peer2", "up"]);
    within(bound, "the route back over wan2", || {
        r.route("-6", "2000::/3").is_some()
            && r.resilient_group("2000::/3")
                .1
                .iter()
                .map(|m| m.1.as_str())
                .collect::<Vec<_>>()
                == ["wan2"]
    });
    r.ip(&["link", "set", "peer1", "up"]);
    within(bound, "wan1 back too", || {
        r.resilient_group("2000::/3").1.len() == 2
    });

    // Someone deletes a leg of ours by hand: watch puts it back.
    let (_, legs) = r.resilient_group("2000::/3");
    r.ip(&["nexthop", "del", "id", &legs[0].0.to_string()]);
    within(bound, "the deleted leg restored", || {
        r.resilient_group("2000::/3").1.len() == 2
    });
    assert_eq!(r.our_objects().len(), 3, "nothing more than the plan");
}

// ---- reliability (issue 5) ----

/// An IPv4 DHCP uplink `name` on `dev` with `gw` as its default gateway.
fn v4_uplink(name: &str, dev: &str, gw: &str) -> String {
    format!(
        r#"{{"interface":"{name}","up":true,"proto":"dhcp","l3_device":"{dev}","device":"{dev}",
            "route":[{{"target":"0.0.0.0","mask":0,"nexthop":"{gw}","source":"0.0.0.0/0"}}],"data":{{}}}}"#
    )
}

/// Three IPv4 uplinks in `mode`, the third with a gateway the kernel refuses (off-link: no
/// address of its subnet on wan3): the other two are installed, the run exits 1 naming the
/// refused one, and once wan3 has its address the next event installs it too.
fn a_refused_nexthop_fails_alone(tag: &str, mode: &str) {
    let r = test_router!(tag, 3);
    for (dev, addr) in [("wan1", "192.0.2.10/24"), ("wan2", "198.51.100.10/24")] {
        r.ip(&["addr", "add", addr, "dev", dev]);
    }
    r.set_config(&format!(
        "config globals\n\toption mode '{mode}'\n\n\
         config group 'v4'\n\toption target '0.0.0.0/0'\n\tlist proto 'dhcp'\n"
    ));
    r.set_dump(&dump(&[
        v4_uplink("wana", "wan1", "192.0.2.1"),
        v4_uplink("wanb", "wan2", "198.51.100.1"),
        v4_uplink("wanc", "wan3", "203.0.113.1"),
    ]));
    let run = r.hotplug("ifup", "wanc", Some("wan3"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    // The last line is the run's error, and it names the refused nexthop.
    let last = run.stderr.trim().lines().last().unwrap();
    assert!(last.contains("via 203.0.113.1 dev wan3"), "{}", run.stderr);
    assert!(
        last.contains("Nexthop has invalid gateway"),
        "{}",
        run.stderr
    );
    assert_eq!(
        r.legs("-4", "default"),
        vec![leg("wan1", "192.0.2.1", 1), leg("wan2", "198.51.100.1", 1)],
        "{}",
        run.stderr
    );
    r.ip(&["addr", "add", "203.0.113.10/24", "dev", "wan3"]);
    let run = r.hotplug("ifupdate", "wanc", Some("wan3"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        r.legs("-4", "default"),
        vec![
            leg("wan1", "192.0.2.1", 1),
            leg("wan2", "198.51.100.1", 1),
            leg("wan3", "203.0.113.1", 1)
        ]
    );
    assert_eq!(r.cli(&["status"]).code, 0);
}

#[test]
fn a_refused_nexthop_fails_alone_in_a_multipath_route() {
    a_refused_nexthop_fails_alone("refusedmp", "multipath");
}

#[test]
fn resilient_a_refused_nexthop_fails_alone_in_a_group() {
    a_refused_nexthop_fails_alone("refusedres", "resilient");
    // (the objects left are checked by the no-orphans tests; here the route's legs.)
}

/// A small deterministic generator (Knuth's MMIX LCG): the storms replay exactly.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn storm_of_sixteen_simultaneous_events_for_fifty_rounds_ends_with_all_sixteen_nexthops() {
    if !privileged() {
        return;
    }
    const UPLINKS: usize = 16;
    const ROUNDS: usize = 50;
    let r = Router::new("storm16", UPLINKS);
    r.set_config(&shipped_with_mode("auto"));
    let mut rng = Lcg(16);
    for round in 0..ROUNDS {
        // Start each round from a different partial state, so every round has work to do.
        let partial: Vec<bool> = (0..UPLINKS).map(|_| rng.below(3) > 0).collect();
        r.set_dump(&v6_dump(&partial));
        assert_eq!(r.hotplug("ifdown", "wan1_6", None).code, 0);
        r.set_dump(&v6_dump(&[true; UPLINKS]));
        let mut runs: Vec<Child> = (1..=UPLINKS)
            .map(|i| {
                r.hotplug_command("ifup", &format!("wan{i}_6"), Some(&format!("wan{i}")))
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for run in runs.drain(..) {
            let out = run.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let legs = r.legs("-6", "2000::/3");
        assert_eq!(legs.len(), UPLINKS, "round {round}: {legs:?}");
        assert_eq!(r.our_objects().len(), UPLINKS + 1, "round {round}");
    }
    eprintln!(
        "{ROUNDS} rounds of {UPLINKS} simultaneous events: all ended with {UPLINKS} nexthops"
    );
}

#[test]
fn the_lock_wait_is_bounded_and_a_killed_runs_lock_frees_at_once() {
    let r = test_router!("lock", 2);
    r.set_dump(&v6_dump(&[true, true]));
    // Someone holds the lock and doesn't let go: the run gives up after its 10 s bound with
    // exit 4 and changes nothing.
    // -o: only flock itself holds the lock, so killing it frees it.
    let holder = Command::new("flock")
        .arg("-o")
        .arg(r.path("lock/ecmp-hotplug.lock"))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    let mut holder = Watch(holder);
    std::thread::sleep(Duration::from_millis(200));
    let before = r.kernel_state();
    let start = Instant::now();
    let run = r.hotplug("ifup", "wan1_6", Some("wan1"));
    let waited = start.elapsed();
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("held"), "{}", run.stderr);
    assert!(
        waited < Duration::from_secs(20),
        "the wait is bounded: {waited:?}"
    );
    assert_eq!(r.kernel_state(), before);
    let _ = holder.0.kill();
    let _ = holder.0.wait();

    // A run killed while it holds the lock (here waiting for a slow ubus) leaves nothing that
    // blocks the next one: the kernel drops an flock with its holder.
    r.set_ubus(&format!(
        "touch {}; sleep 8",
        r.path("ubus-started").display()
    ));
    let mut victim = r.hotplug_command("ifup", "wan1_6", Some("wan1"));
    std::os::unix::process::CommandExt::process_group(&mut victim, 0);
    let victim = victim
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    within(
        Duration::from_secs(5),
        "the victim holding the lock",
        || r.path("ubus-started").exists(),
    );
    let pgid = nix::unistd::Pid::from_raw(victim.id() as i32);
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let mut victim = Watch(victim);
    let _ = victim.0.wait();
    r.ubus_prints_dump();
    let start = Instant::now();
    let run = r.hotplug("ifup", "wan1_6", Some("wan1"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the next run did not wait out the killed one's lock"
    );
    assert_eq!(r.legs("-6", "2000::/3").len(), 2);
}

#[test]
fn storm_of_1000_flaps_keeps_the_kernel_equal_to_the_plan_in_resilient_mode() {
    flap_storm("flapres", "resilient");
}

#[test]
fn storm_of_1000_flaps_keeps_the_kernel_equal_to_the_plan_in_multipath_mode() {
    flap_storm("flapmp", "multipath");
}

/// 1000 random steps over 8 uplinks (up, down, new gateway, new weight), the binary run after
/// each as hotplug runs it; after every step the kernel must equal what the test computes on
/// its own.
fn flap_storm(tag: &str, mode: &str) {
    if !privileged() {
        return;
    }
    const UPLINKS: usize = 8;
    const STEPS: usize = 1000;
    let r = Router::new(tag, UPLINKS);
    let mut rng = Lcg(1000);
    // The test's own model of every uplink: up, gateway, weight.
    let mut up = [false; UPLINKS];
    let mut gw: Vec<String> = (1..=UPLINKS).map(|i| format!("fe80::{i}")).collect();
    let mut weight = [1u64; UPLINKS];
    let config = |weight: &[u64]| {
        let mut c = shipped_with_mode(mode);
        for (i, w) in weight.iter().enumerate() {
            c += &format!(
                "\nconfig member\n\toption interface 'wan{}_6'\n\toption weight '{w}'\n",
                i + 1
            );
        }
        c
    };
    r.set_config(&config(&weight));
    let mut mismatches = Vec::new();
    let mut actions = [0usize; 4];
    for step in 0..STEPS {
        let i = rng.below(UPLINKS as u64) as usize;
        let kind = rng.below(4) as usize;
        actions[kind] += 1;
        let action = match kind {
            0 => {
                up[i] = true;
                "ifup"
            }
            1 => {
                up[i] = false;
                "ifdown"
            }
            2 => {
                gw[i] = format!("fe80::{}:{:x}", i + 1, rng.below(0xffff));
                "ifupdate"
            }
            _ => {
                weight[i] = 1 + rng.below(4);
                r.set_config(&config(&weight));
                "ifupdate"
            }
        };
        let ifaces: Vec<String> = (0..UPLINKS)
            .map(|j| {
                v6_uplink(
                    &format!("wan{}_6", j + 1),
                    &format!("wan{}", j + 1),
                    &gw[j],
                    up[j],
                )
            })
            .collect();
        r.set_dump(&dump(&ifaces));
        let run = r.run_cmd(
            r.cli_command(&["hotplug"])
                .env("ACTION", action)
                .env("INTERFACE", format!("wan{}_6", i + 1)),
        );
        let mut want: Vec<(String, String, u64)> = (0..UPLINKS)
            .filter(|&j| up[j])
            .map(|j| (format!("wan{}", j + 1), gw[j].clone(), weight[j]))
            .collect();
        want.sort();
        let resilient = mode == "resilient";
        if want.len() == 1 && !resilient {
            // A one-leg multipath route is a plain route, which has no weight; a resilient
            // group keeps its member's.
            want[0].2 = 1;
        }
        let have = r.legs("-6", "2000::/3");
        let objects = r.our_objects().len();
        let want_objects = if want.is_empty() || !resilient {
            0
        } else {
            want.len() + 1
        };
        if run.code != 0 || have != want || objects != want_objects {
            mismatches.push(format!(
                "step {step} ({action} wan{}_6): exit {} {}; kernel {have:?} / {objects} objects, wanted {want:?} / {want_objects}",
                i + 1,
                run.code,
                run.stderr.trim()
            ));
        }
    }
    eprintln!(
        "{mode}: {STEPS} steps (ifup {}, ifdown {}, gateway changes {}, weight changes {}): {} mismatches",
        actions[0],
        actions[1],
        actions[2],
        actions[3],
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// How a hostile-input case is run.
enum Via {
    /// A hotplug event through hotplug-call.
    Event,
    /// The binary with exactly these hotplug variables (`None`: unset).
    Env(Option<&'static str>, Option<&'static str>),
}

#[test]
fn hostile_input_is_an_error_or_a_documented_skip_and_never_changes_the_kernel() {
    let r = test_router!("hostile", 2);
    let good = v6_dump(&[true, true]);
    let good_config = shipped_with_mode("auto");
    r.set_config(&good_config);
    r.set_dump(&good);
    assert_eq!(r.hotplug("ifup", "wan1_6", Some("wan1")).code, 0);
    let before = r.kernel_state();
    // The two good uplinks and a third, broken one: skipping it leaves the route as it is.
    let with = |broken: &str| {
        let mut ifaces: Vec<String> = (1..=2)
            .map(|i| {
                v6_uplink(
                    &format!("wan{i}_6"),
                    &format!("wan{i}"),
                    &format!("fe80::{i}"),
                    true,
                )
            })
            .collect();
        ifaces.push(broken.to_string());
        dump(&ifaces).into_bytes()
    };
    let huge = {
        let mut d = b"{\"interface\":[],\"pad\":\"".to_vec();
        d.resize(10 << 20, b'a');
        d.extend_from_slice(b"\"}");
        d
    };
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    // (case, dump bytes, config, ubus script, how it runs, exit code, what stderr must say)
    type Case = (
        &'static str,
        Option<Vec<u8>>,
        Option<String>,
        Option<String>,
        Via,
        i32,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "truncated dump",
            Some(good.as_bytes()[..good.len() / 3].to_vec()),
            None,
            None,
            Via::Event,
            3,
            "dump is not valid JSON",
        ),
        (
            "empty dump",
            Some(Vec::new()),
            None,
            None,
            Via::Event,
            3,
            "dump is empty",
        ),
        (
            "not netifd's shape",
            Some(br#"{"interfaces":[]}"#.to_vec()),
            None,
            None,
            Via::Event,
            3,
            "no \"interface\" array",
        ),
        (
            "failing ubus",
            None,
            None,
            Some("echo 'Command failed: Not found' >&2; exit 4".into()),
            Via::Event,
            3,
            "failed (exit status: 4): Command failed: Not found",
        ),
        (
            "missing ubus",
            None,
            None,
            Some(String::new()),
            Via::Event,
            3,
            "ubus not found on PATH",
        ),
        (
            "a 10 MB dump",
            Some(huge),
            None,
            None,
            Via::Event,
            3,
            "larger than 4194304 bytes",
        ),
        (
            "binary garbage for a dump",
            Some(garbage.clone()),
            None,
            None,
            Via::Event,
            3,
            "interface state:",
        ),
        (
            "a dump that is an array",
            Some(b"[]".to_vec()),
            None,
            None,
            Via::Event,
            3,
            "interface state:",
        ),
        (
            "interface is an object",
            Some(br#"{"interface":{}}"#.to_vec()),
            None,
            None,
            Via::Event,
            3,
            "interface state:",
        ),
        (
            "an interface that is a number",
            Some(br#"{"interface":[1]}"#.to_vec()),
            None,
            None,
            Via::Event,
            3,
            "interface state:",
        ),
        (
            "an interface without a name",
            Some(br#"{"interface":[{"up":true}]}"#.to_vec()),
            None,
            None,
            Via::Event,
            3,
            "interface state:",
        ),
        (
            "up is a string: skipped",
            Some(with(
                r#"{"interface":"wan3_6","up":"yes","proto":"dhcpv6","l3_device":"wan1"}"#,
            )),
            None,
            None,
            Via::Event,
            0,
            "wan3_6 left out: unreadable state",
        ),
        (
            "l3_device is a number: skipped",
            Some(with(
                r#"{"interface":"wan3_6","up":true,"proto":"dhcpv6","l3_device":7}"#,
            )),
            None,
            None,
            Via::Event,
            0,
            "wan3_6 left out: unreadable state",
        ),
        (
            "route is an object: skipped",
            Some(with(
                r#"{"interface":"wan3_6","up":true,"proto":"dhcpv6","l3_device":"wan1","route":{}}"#,
            )),
            None,
            None,
            Via::Event,
            0,
            "wan3_6 left out: unreadable state",
        ),
        (
            "an invalid gateway: skipped",
            Some(with(
                r#"{"interface":"wan3_6","up":true,"proto":"dhcpv6","l3_device":"wan1","route":[{"target":"::","mask":0,"nexthop":"fe80::zz"}]}"#,
            )),
            None,
            None,
            Via::Event,
            0,
            "wan3_6 left out: gateway 'fe80::zz'",
        ),
        (
            "a masked gateway: skipped",
            Some(with(
                r#"{"interface":"wan3_6","up":true,"proto":"dhcpv6","l3_device":"wan1","route":[{"target":"::","mask":0,"nexthop":"fe80::xxxx:1"}]}"#,
            )),
            None,
            None,
            Via::Event,
            0,
            "wan3_6 left out: gateway 'fe80::xxxx:1'",
        ),
        (
            "an IPv4 gateway in an IPv6 group: skipped",
            Some(with(
                r#"{"interface":"wan3_6","up":true,"proto":"dhcpv6","l3_device":"wan1","route":[{"target":"::","mask":0,"nexthop":"192.0.2.1"}]}"#,
            )),
            None,
            None,
            Via::Event,
            0,
            "wan3_6 left out: ",
        ),
        (
            "a device the kernel lacks: skipped",
            Some(with(&v6_uplink("wan3_6", "wan9", "fe80::9", true))),
            None,
            None,
            Via::Event,
            0,
            "wan3_6 left out: device wan9 does not exist",
        ),
        (
            "weight 0",
            None,
            Some(format!(
                "{good_config}\nconfig member\n\toption interface 'wan1_6'\n\toption weight '0'\n"
            )),
            None,
            Via::Event,
            3,
            "weight '0' is not a number from 1 to 256",
        ),
        (
            "weight 257",
            None,
            Some(format!(
                "{good_config}\nconfig member\n\toption interface 'wan1_6'\n\toption weight '257'\n"
            )),
            None,
            Via::Event,
            3,
            "weight '257'",
        ),
        (
            "a negative weight",
            None,
            Some(format!(
                "{good_config}\nconfig member\n\toption interface 'wan1_6'\n\toption weight '-1'\n"
            )),
            None,
            Via::Event,
            3,
            "weight '-1'",
        ),
        (
            "metric 2^32",
            None,
            Some(good_config.replace("option metric '1024'", "option metric '4294967296'")),
            None,
            Via::Event,
            3,
            "metric '4294967296'",
        ),
        (
            "table 0",
            None,
            Some(good_config.replace("option table 'main'", "option table '0'")),
            None,
            Via::Event,
            3,
            "table '0'",
        ),
        (
            "a masked target",
            None,
            Some(good_config.replace("'2000::/3'", "'2001:xxx::/3'")),
            None,
            Via::Event,
            3,
            "target '2001:xxx::/3'",
        ),
        (
            "a target with host bits",
            None,
            Some(good_config.replace("'2000::/3'", "'2001:db8::1/3'")),
            None,
            Via::Event,
            3,
            "has host bits set",
        ),
        (
            "65536 buckets",
            None,
            Some(good_config.replace("#option buckets '128'", "option buckets '65536'")),
            None,
            Via::Event,
            3,
            "buckets '65536'",
        ),
        (
            "an unterminated quote",
            None,
            Some("config group 'v6\n\toption target '2000::/3'\n".into()),
            None,
            Via::Event,
            3,
            "unterminated",
        ),
        (
            "binary garbage for a config",
            None,
            Some(String::from_utf8_lossy(&garbage).into_owned()),
            None,
            Via::Event,
            3,
            "/etc/config/ecmp-hotplug:",
        ),
        (
            "ubus prints garbage",
            None,
            None,
            Some("printf 'Command failed: \\001\\377 oops'".into()),
            Via::Event,
            3,
            "interface state:",
        ),
        (
            "ubus prints nothing",
            None,
            None,
            Some("exit 0".into()),
            Via::Event,
            3,
            "dump is empty",
        ),
        (
            "no ACTION",
            None,
            None,
            None,
            Via::Env(None, Some("wan1_6")),
            3,
            "ACTION is not set",
        ),
        (
            "an empty ACTION",
            None,
            None,
            None,
            Via::Env(Some(""), Some("wan1_6")),
            3,
            "ACTION",
        ),
        (
            "no INTERFACE",
            None,
            None,
            None,
            Via::Env(Some("ifup"), None),
            3,
            "INTERFACE",
        ),
        (
            "an empty INTERFACE",
            None,
            None,
            None,
            Via::Env(Some("ifup"), Some("")),
            3,
            "INTERFACE",
        ),
        (
            "an action nobody sends: ignored",
            None,
            None,
            None,
            Via::Env(Some("ifup;reboot"), Some("wan1_6")),
            0,
            "",
        ),
    ];
    let mut ok_cases = 0;
    for (case, dump_bytes, config, ubus, via, code, msg) in cases {
        fs::write(
            r.path("dump.json"),
            dump_bytes.unwrap_or_else(|| good.clone().into_bytes()),
        )
        .unwrap();
        r.set_config(config.as_deref().unwrap_or(&good_config));
        match ubus.as_deref() {
            Some("") => {
                let _ = fs::remove_file(r.path("bin/ubus"));
            }
            Some(script) => r.set_ubus(script),
            None => r.ubus_prints_dump(),
        }
        let run = match via {
            Via::Event => r.hotplug("ifdown", "wan1_6", None),
            Via::Env(action, interface) => {
                let mut cmd = r.cli_command(&["hotplug"]);
                cmd.env_remove("ACTION").env_remove("INTERFACE");
                if let Some(a) = action {
                    cmd.env("ACTION", a);
                }
                if let Some(i) = interface {
                    cmd.env("INTERFACE", i);
                }
                r.run_cmd(&mut cmd)
            }
        };
        assert!(!run.stderr.contains("panicked"), "{case}: {}", run.stderr);
        assert_eq!(run.code, code, "{case}: {}", run.stderr);
        assert!(
            run.stderr.contains(msg),
            "{case}: wanted {msg:?} in:\n{}",
            run.stderr
        );
        if code != 0 {
            // One line says it, and it is the run's last word.
            let lines: Vec<&str> = run.stderr.lines().filter(|l| l.contains(msg)).collect();
            assert_eq!(lines.len(), 1, "{case}: {}", run.stderr);
            let last = run.stderr.trim_end().lines().last().unwrap_or("");
            assert!(
                last.starts_with("ecmp-hotplug: ") && last.contains(msg),
                "{case}: the error is not one line naming it: {last:?}"
            );
        }
        assert_eq!(r.kernel_state(), before, "{case}: the kernel changed");
        ok_cases += 1;
    }
    // Shell syntax in names that end up in logs, status and /proc paths runs nothing.
    let pwned = r.path("pwned");
    let touch = format!("touch {}", pwned.display());
    let evil = format!(
        r#"{{"interface":"wan3_6;{touch}","up":true,"proto":"dhcpv6","l3_device":"$({touch})","route":[{{"target":"::","mask":0,"nexthop":"fe80::3"}}]}}"#
    );
    fs::write(r.path("dump.json"), with(&evil)).unwrap();
    r.set_config(&good_config);
    r.ubus_prints_dump();
    let run = r.hotplug(
        "ifup",
        &format!("wan3_6;{touch}"),
        Some(&format!("`{touch}`")),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    assert_eq!(r.cli(&["status"]).code, 0);
    assert!(
        !pwned.exists(),
        "a name from the dump or the environment was run"
    );
    assert_eq!(r.kernel_state(), before);
    eprintln!(
        "{ok_cases} hostile inputs: each an error or a documented skip, the kernel unchanged"
    );
}

/// Everything in the namespace that isn't ecmp-hotplug's: routes of every table but the
/// kernel's own, and nexthop objects, as `ip` prints them.
fn foreign_state(r: &Router) -> String {
    let mut s = String::new();
    for family in ["-4", "-6"] {
        for line in r.ip(&[family, "route", "show", "table", "all"]).lines() {
            if !line.contains("proto 236")
                && !line.contains("proto kernel")
                && !line.starts_with('\t')
            {
                s += line;
                s.push('\n');
            }
        }
    }
    for line in r.ip(&["nexthop", "show"]).lines() {
        if !line.contains("proto 236") {
            s += line;
            s.push('\n');
        }
    }
    s
}

#[test]
fn resilient_and_multipath_never_touch_anything_without_protocol_236() {
    let r = test_router!("foreign-all", 3);
    r.ip(&["addr", "add", "192.0.2.10/24", "dev", "wan1"]);
    r.ip(&["addr", "add", "198.51.100.10/24", "dev", "wan2"]);
    // Someone else's routes beside every key the groups use, in both tables, both families,
    // and someone else's nexthop objects, one of them in our id range.
    for route in [
        "-6 route add 2000::/3 via fe80::9 dev wan3 metric 1025 proto static",
        "-6 route add 2000::/3 via fe80::9 dev wan3 metric 1024 table 100 proto static",
        "-6 route add ::/0 via fe80::9 dev wan3 metric 1024 proto static",
        "-6 route add 2000::/3 from 2001:db8::/56 via fe80::9 dev wan3 metric 1024 proto static",
        "-4 route add 0.0.0.0/0 via 192.0.2.1 dev wan1 metric 10 proto static",
        "-4 route add 0.0.0.0/0 via 192.0.2.1 dev wan1 table 100 metric 5 proto static",
        "nexthop add id 77 via fe80::77 dev wan3 proto static",
        "nexthop add id 3959422979 via fe80::78 dev wan3 proto 4",
        "nexthop add id 78 group 77 proto static",
    ] {
        r.ip(&route.split(' ').collect::<Vec<_>>());
    }
    let theirs = foreign_state(&r);
    let config = |mode: &str, enabled: &str| {
        format!(
            "config globals\n\toption enabled '{enabled}'\n\toption mode '{mode}'\n\n\
             config group 'v6'\n\toption target '2000::/3'\n\tlist proto 'dhcpv6'\n\n\
             config group 'v6t'\n\toption target '2000::/3'\n\toption table '100'\n\toption metric '1000'\n\tlist proto 'dhcpv6'\n\n\
             config group 'v4'\n\toption target '0.0.0.0/0'\n\toption table '100'\n\tlist proto 'dhcp'\n"
        )
    };
    let mut ifaces: Vec<String> = (1..=3)
        .map(|i| {
            v6_uplink(
                &format!("wan{i}_6"),
                &format!("wan{i}"),
                &format!("fe80::{i}"),
                true,
            )
        })
        .collect();
    ifaces.push(v4_uplink("wana", "wan1", "192.0.2.1"));
    ifaces.push(v4_uplink("wanb", "wan2", "198.51.100.1"));
    let everyone = dump(&ifaces);
    let steps: Vec<(&str, String, String)> = vec![
        (
            "all up, resilient",
            config("resilient", "1"),
            everyone.clone(),
        ),
        (
            "one down",
            config("resilient", "1"),
            everyone.replace(
                r#""interface":"wan2_6","up":true"#,
                r#""interface":"wan2_6","up":false"#,
            ),
        ),
        ("multipath", config("multipath", "1"), everyone.clone()),
        ("auto", config("auto", "1"), everyone.clone()),
        ("all down", config("auto", "1"), dump(&[])),
        ("all up again", config("auto", "1"), everyone.clone()),
        ("enabled 0", config("auto", "0"), everyone.clone()),
    ];
    for (step, cfg, d) in steps {
        r.set_config(&cfg);
        r.set_dump(&d);
        let run = r.hotplug("ifupdate", "wan1_6", Some("wan1"));
        assert_eq!(run.code, 0, "{step}: {}", run.stderr);
        assert_eq!(
            foreign_state(&r),
            theirs,
            "{step}: something not ours changed"
        );
    }
    assert!(
        r.ip(&["nexthop", "show"])
            .lines()
            .all(|l| !l.contains("proto 236"))
    );
    r.set_config(&config("auto", "1"));
    assert_eq!(r.hotplug("ifup", "wan1_6", Some("wan1")).code, 0);
    assert_eq!(r.cli(&["flush"]).code, 0);
    assert_eq!(foreign_state(&r), theirs, "flush");
    let ours = r.ip(&["route", "show", "table", "all", "proto", "236"]);
    assert!(ours.trim().is_empty(), "{ours}");
}

// ---- faults found against real OpenWrt components (issue 9) ----

/// A kernel default route on `dev` as netifd installs an uplink's `::/0` (odhcp6c's router,
/// `proto static`, netifd's metric for DHCPv6 uplinks).
/// Each uplink has a metric of its own: IPv6 would make defaults at one metric siblings of
/// one multipath route, and a replace of one would replace another's.
fn netifd_default(r: &Router, dev: &str, gw: &str) {
    let metric = format!("51{}", dev.trim_start_matches("wan"));
    r.ip(&[
        "-6", "route", "replace", "default", "via", gw, "dev", dev, "proto", "static", "metric",
        &metric,
    ]);
}

/// The gateway of `dev`'s leg in the resilient group at 2000::/3.
fn leg_gateway(r: &Router, dev: &str) -> Option<String> {
    let (_, members) = r.resilient_group("2000::/3");
    let (id, _) = members.iter().find(|(_, d)| d == dev)?;
    let objects = r.objects();
    let leg = objects.iter().find(|o| o["id"] == *id)?;
    leg["gateway"].as_str().map(str::to_string)
}

/// Issue 16, N1: watch started before a DHCPv6 uplink is up (boot, an ifdown/ifup, a carrier
/// cycle, after which netifd takes it down): netifd's dump names only its configured
/// `device` then, and watch must still follow that device's default route once it is up.
#[test]
fn resilient_an_uplink_down_when_watch_started_is_followed_once_up() {
    let r = test_router!("gwboot", 2);
    netifd_default(&r, "wan1", "fe80::1");
    r.set_dump(&dump(&[
        v6_uplink("wan1_6", "wan1", "fe80::1", true),
        v6_uplink("wan2_6", "wan2", "fe80::2", false),
    ]));
    let _watch = Watch::start_logging(&r);
    let bound = Duration::from_secs(2);
    within(bound, "the group over wan1 at start", || {
        r.route("-6", "2000::/3").is_some() && r.resilient_group("2000::/3").1.len() == 1
    });
    // wan2_6 comes up: its default (the RA) and netifd's ifup event, a hotplug run that watch
    // never sees.
    r.set_dump(&v6_dump(&[true, true]));
    netifd_default(&r, "wan2", "fe80::2");
    let run = r.hotplug("ifup", "wan2_6", Some("wan2"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    within(bound, "both legs", || {
        r.resilient_group("2000::/3").1.len() == 2
    });
    // Its gateway moves in place, with no event: watch follows it.
    r.set_dump(&v6_dump(&[true, true]).replace("\"fe80::2\"", "\"fe80::2:1\""));
    netifd_default(&r, "wan2", "fe80::2:1");
    within(bound, "wan2's leg on the new gateway", || {
        leg_gateway(&r, "wan2").as_deref() == Some("fe80::2:1")
    });
}

#[test]
fn resilient_a_gateway_netifd_moves_without_an_event_is_followed_by_watch() {
    let r = test_router!("gwmove", 3);
    let gateways = ["fe80::1", "fe80::2", "fe80::3"];
    for (i, gw) in gateways.iter().enumerate() {
        netifd_default(&r, &format!("wan{}", i + 1), gw);
    }
    r.set_dump(&v6_dump(&[true; 3]));
    let _watch = Watch::start_logging(&r);
    let bound = Duration::from_secs(2);
    within(bound, "the group at start", || {
        r.route("-6", "2000::/3").is_some() && r.resilient_group("2000::/3").1.len() == 3
    });
    let (group, _) = r.resilient_group("2000::/3");
    // A new RA router on wan1, five times over: netifd's dump and the kernel's default move in
    // place, and netifd sends no hotplug event (its route comparison ignores the nexthop).
    let mut took = Vec::new();
    for round in 0..5 {
        let gw = format!("fe80::1:{round}");
        r.set_dump(&v6_dump(&[true; 3]).replace("\"fe80::1\"", &format!("\"{gw}\"")));
        netifd_default(&r, "wan1", &gw);
        took.push(within(bound, "wan1's leg on the new gateway", || {
            leg_gateway(&r, "wan1").as_deref() == Some(gw.as_str())
        }));
    }
    took.sort();
    eprintln!(
        "leg followed the gateway in {:?} (median of 5), worst {:?}",
        took[2], took[4]
    );
    // In place: the same group, the other legs untouched.
    let (same, members) = r.resilient_group("2000::/3");
    assert_eq!(same, group);
    assert_eq!(members.len(), 3);
    assert_eq!(leg_gateway(&r, "wan2").as_deref(), Some("fe80::2"));

    // A default that goes away on a member's device (the dump's with it): the leg goes.
    let no_default = v6_uplink("wan3_6", "wan3", "fe80::3", true)
        .lines()
        .filter(|l| !l.contains(r#""target":"::","mask":0"#))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            r#""metric":256,"valid":7200,"source":"::/0"},"#,
            r#""metric":256,"valid":7200,"source":"::/0"}],"#,
        );
    let dump = dump(&[
        v6_uplink("wan1_6", "wan1", "fe80::1:4", true),
        v6_uplink("wan2_6", "wan2", "fe80::2", true),
        no_default,
    ]);
    assert!(!dump.contains("fe80::3"), "{dump}");
    r.set_dump(&dump);
    r.ip(&["-6", "route", "del", "default", "dev", "wan3"]);
    within(bound, "wan3's leg gone with its default", || {
        r.resilient_group("2000::/3").1.len() == 2
    });
    within(bound, "the departure in watch's log", || {
        Watch::log(&r).contains("wan3_6 left v6: no default route of this family")
    });

    // Default routes elsewhere (a LAN-side or VPN device that is no candidate) and its own
    // writes don't wake it: idle means no CPU.
    r.ip(&[
        "link", "add", "vpn0", "type", "veth", "peer", "name", "vpn0p",
    ]);
    r.ip(&["link", "set", "vpn0", "up"]);
    // A marker: a leg of ours deleted always wakes it, and its reconcile restores the leg.
    let marker = |r: &Router| {
        let legs = r.resilient_group("2000::/3").1;
        r.ip(&["nexthop", "del", "id", &legs[0].0.to_string()]);
        within(bound, "the deleted leg restored", || {
            r.resilient_group("2000::/3").1.len() == legs.len()
        });
    };
    marker(&r);
    let before = Watch::log(&r).len();
    for i in 0..20 {
        r.ip(&[
            "-6",
            "route",
            "replace",
            "default",
            "via",
            &format!("fe80::9:{i}"),
            "dev",
            "vpn0",
            "metric",
            "9",
        ]);
    }
    marker(&r);
    // Events come in order and a burst settles into one reconcile named for its first event:
    // had a default on vpn0 (or the marker's own writes) woken it, the next reconcile after
    // them would be named for that.
    let log = Watch::log(&r);
    let since = &log[before..];
    let next = since.lines().find(|l| l.contains("reconciling:"));
    assert_eq!(
        next,
        Some("ecmp-hotplug: debug: reconciling: a nexthop of ours was deleted"),
        "watch woke for defaults on a device no group uses, or for its own writes:\n{since}"
    );
}

#[test]
fn resilient_with_loopback_down_auto_and_resilient_still_install_a_group() {
    if !privileged() {
        return;
    }
    // lo is down early at boot and during `/etc/init.d/network restart` (ifdown -a), when the
    // kernel refuses a blackhole nexthop ("Device for nexthop is not up").
    for mode in ["auto", "resilient"] {
        let r = Router::new(&format!("lo-{mode}"), 2);
        r.ip(&["link", "set", "lo", "down"]);
        r.set_config(&shipped_with_mode(mode));
        r.set_dump(&v6_dump(&[true, true]));
        let run = r.hotplug("ifup", "wan1_6", Some("wan1"));
        assert_eq!(run.code, 0, "{mode}: {}", run.stderr);
        assert!(
            !run.stderr.contains("takes no resilient"),
            "{mode}: {}",
            run.stderr
        );
        let (_, members) = r.resilient_group("2000::/3");
        assert_eq!(members.len(), 2, "{mode}");
        assert_eq!(
            r.our_objects().len(),
            3,
            "{mode}: two legs and the group, no probe"
        );
        assert_eq!(
            r.sysctl("net.ipv6.conf.wan1.ignore_routes_with_linkdown"),
            "0",
            "{mode}: no multipath fallback"
        );
    }
}

#[test]
fn resilient_a_run_with_nothing_to_install_does_not_ask_the_kernel() {
    let r = test_router!("noprobe", 2);
    r.set_config(&shipped_with_mode("auto"));
    r.set_dump(&v6_dump(&[false, false]));
    let monitor = start_monitor(&r, &["nexthop"]);
    assert_eq!(r.hotplug("ifdown", "wan1_6", None).code, 0);
    let seen = monitor_until(monitor, &r, "203.0.113.0/24");
    assert!(
        seen.trim().is_empty(),
        "no probe objects with nothing to install:\n{seen}"
    );
    // With a member, it asks (and cleans up after itself).
    r.set_dump(&v6_dump(&[true, false]));
    let monitor = start_monitor(&r, &["nexthop"]);
    assert_eq!(r.hotplug("ifup", "wan1_6", Some("wan1")).code, 0);
    let seen = monitor_until(monitor, &r, "203.0.113.1/32");
    assert!(seen.contains("fdb"), "the probe's FDB objects:\n{seen}");
    assert_eq!(r.our_objects().len(), 2, "one leg and its group");
}

#[test]
fn resilient_every_member_that_leaves_is_logged_whoever_removed_its_leg() {
    let r = test_router!("leavelog", 3);
    r.set_dump(&v6_dump(&[true; 3]));
    let run = r.hotplug("ifup", "wan1_6", Some("wan1"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("of 3 nexthops"), "{}", run.stderr);
    // A static WAN going down: netifd sets its device down, and the kernel deletes the leg
    // with the carrier before the ifdown event runs us.
    r.ip(&["link", "set", "wan3", "down"]);
    assert_eq!(
        r.resilient_group("2000::/3").1.len(),
        2,
        "the kernel took it"
    );
    r.set_dump(&v6_dump(&[true, true, false]));
    let run = r.hotplug("ifdown", "wan3_6", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("left").count(),
        1,
        "one line for one member:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("wan3_6 left v6: down"),
        "{}",
        run.stderr
    );
    // A member whose leg is still there when the run removes it (its default withdrawn).
    r.set_dump(
        &v6_dump(&[true, true, false])
            .replace(
                r#""valid":1800,"source":"2001:db8:200"#,
                r#""valid":0,"source":"2001:db8:200"#,
            )
            .replace(
                r#""valid":1800,"source":"2001:db8:2::2"#,
                r#""valid":0,"source":"2001:db8:2::2"#,
            ),
    );
    let run = r.hotplug("ifupdate", "wan2_6", Some("wan2"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("wan2_6 left v6: default route is being withdrawn (valid 0)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("of 1 nexthop\n"), "{}", run.stderr);
    // Carrier loss with watch running: the kernel deletes the leg, watch names who left.
    r.set_dump(&v6_dump(&[true, true, false]));
    assert_eq!(r.cli(&["sync"]).code, 0);
    let _watch = Watch::start_logging(&r);
    let bound = Duration::from_secs(2);
    within(bound, "watch's first run", || {
        Watch::log(&r).contains("watching")
    });
    std::thread::sleep(Duration::from_millis(300));
    r.ip(&["link", "set", "peer1", "down"]);
    within(bound, "the carrier-loss departure in watch's log", || {
        Watch::log(&r).contains("wan1_6 left v6: wan1 has no carrier")
    });
    // A run with nothing leaving says nothing.
    let run = r.hotplug("ifupdate", "wan2_6", Some("wan2"));
    assert_eq!(run.code, 0);
    assert!(!run.stderr.contains("left"), "{}", run.stderr);
}

/// Packs the binary under test for x86_64 with one of openwrt/'s packers into `out`;
/// returns the path it printed.
fn pack(script: &str, out: &Path) -> String {
    ok(Command::new("python3")
        .arg(format!("{REPO}/openwrt/{script}"))
        .args(["--arch", "x86_64", "--binary"])
        .arg(&invocation()[0])
        .arg("--out")
        .arg(out))
}

/// The package's maintainer scripts as opkg leaves them in /usr/lib/opkg/info (from the .ipk
/// that `openwrt/ipk.py` builds), with OpenWrt's functions.sh and rc.common stood in for
/// (`tests/support`), the real init script at /etc/init.d/ecmp-hotplug, and what rc.common
/// would have told procd in `rc.log`.
fn install_package(r: &Router) {
    let scratch = r.path("ipk");
    fs::create_dir_all(&scratch).unwrap();
    let ipk = pack("ipk.py", &scratch);
    let ipk = ipk.trim();
    ok(Command::new("tar")
        .args(["-xzf", ipk])
        .current_dir(&scratch));
    let info = r.path("usrlib-layer/opkg/info");
    fs::create_dir_all(&info).unwrap();
    ok(Command::new("tar")
        .args(["-xzf", "../../../ipk/control.tar.gz"])
        .current_dir(&info));
    for script in ["postinst", "prerm", "postinst-pkg", "prerm-pkg", "postrm"] {
        fs::rename(
            info.join(script),
            info.join(format!("ecmp-hotplug.{script}")),
        )
        .unwrap();
    }
    let data = ok(Command::new("tar")
        .args(["-tzf", "data.tar.gz"])
        .current_dir(&scratch));
    let list: String = data
        .lines()
        .filter(|l| !l.ends_with('/'))
        .map(|l| format!("{}\n", l.trim_start_matches('.')))
        .collect();
    assert!(list.contains("/etc/init.d/ecmp-hotplug\n"), "{list}");
    fs::write(info.join("ecmp-hotplug.list"), list).unwrap();
    install_service(r);
}

/// The package as apk leaves it (from the .apk that `openwrt/apk.py` builds, read by
/// tests/support/apk_read.py): its file list in /lib/apk/packages, and its scripts, which apk
/// keeps in its database and runs from there; returns where the scripts are.
fn install_apk_package(r: &Router) -> PathBuf {
    let scratch = r.path("apk");
    fs::create_dir_all(&scratch).unwrap();
    let apk = pack("apk.py", &scratch);
    let pkg: Value = serde_json::from_str(&ok(Command::new("python3")
        .arg(format!("{REPO}/tests/support/apk_read.py"))
        .arg(apk.trim())))
    .unwrap();
    let packages = r.path("usrlib-layer/apk/packages");
    fs::create_dir_all(&packages).unwrap();
    let list = pkg["contents"]["lib/apk/packages/ecmp-hotplug.list"]
        .as_str()
        .unwrap();
    assert!(list.contains("/etc/init.d/ecmp-hotplug\n"), "{list}");
    fs::write(packages.join("ecmp-hotplug.list"), list).unwrap();
    let scripts = scratch.join("scripts");
    fs::create_dir_all(&scripts).unwrap();
    for (name, body) in pkg["scripts"].as_object().unwrap() {
        let path = scripts.join(name);
        fs::write(&path, body.as_str().unwrap()).unwrap();
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    install_service(r);
    scripts
}

/// OpenWrt's functions.sh and rc.common stood in for (`tests/support`), the real init script
/// at /etc/init.d/ecmp-hotplug, rpcd's init script, and what they would have told procd in
/// `rc.log`.
fn install_service(r: &Router) {
    fs::copy(
        format!("{REPO}/tests/support/functions.sh"),
        r.path("usrlib-layer/functions.sh"),
    )
    .unwrap();
    fs::create_dir_all(r.path("etc-layer/init.d")).unwrap();
    fs::copy(
        format!("{REPO}/files/etc/init.d/ecmp-hotplug"),
        r.path("etc-layer/init.d/ecmp-hotplug"),
    )
    .unwrap();
    fs::copy(
        format!("{REPO}/tests/support/rc.common"),
        r.path("etc-layer/rc.common"),
    )
    .unwrap();
    // rpcd's init script: what it was asked, in the same log.
    let rpcd = r.path("etc-layer/init.d/rpcd");
    fs::write(&rpcd, "#!/bin/sh\necho \"rpcd $1\" >>\"$RC_LOG\"\n").unwrap();
    fs::set_permissions(&rpcd, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fs::write(r.path("rc.log"), "").unwrap();
}

/// Runs `script` in the router as opkg runs maintainer scripts (PATH with the fake ubus).
fn as_opkg(r: &Router, script: &str, env: &[(&str, &str)]) -> Run {
    let mut cmd = r.router_shell(script);
    cmd.env_clear()
        .env(
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", r.path("bin").display()),
        )
        .env("RC_LOG", r.path("rc.log"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    r.run_cmd(&mut cmd)
}

#[test]
fn resilient_an_upgrade_leaves_the_routes_and_a_removal_flushes_them() {
    let r = test_router!("upgrade", 2);
    r.set_config(&shipped_with_mode("auto"));
    r.set_dump(&v6_dump(&[true, true]));
    install_package(&r);
    // Installed on a live router: postinst syncs, then enables and starts the service.
    let run = as_opkg(
        &r,
        "/usr/lib/opkg/info/ecmp-hotplug.postinst configure",
        &[],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(r.resilient_group("2000::/3").1.len(), 2);
    assert_eq!(
        fs::read_to_string(r.path("rc.log")).unwrap(),
        "rpcd reload\nenable\nstart\n",
        "rpcd reads the plugin"
    );
    let before = r.kernel_state();
    let monitor = start_monitor(&r, &["route", "nexthop"]);
    // An upgrade, as opkg does it: the old prerm with `upgrade <new version>` and
    // PKG_UPGRADE=1, then the new postinst.
    fs::write(r.path("rc.log"), "").unwrap();
    let upgrade = [("PKG_UPGRADE", "1")];
    let run = as_opkg(
        &r,
        "/usr/lib/opkg/info/ecmp-hotplug.prerm upgrade 0.1.1-1",
        &upgrade,
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = as_opkg(
        &r,
        "/usr/lib/opkg/info/ecmp-hotplug.postinst configure",
        &upgrade,
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_no_kernel_change(monitor, &r, &before, "an upgrade");
    assert_eq!(
        fs::read_to_string(r.path("rc.log")).unwrap(),
        "stop\nrpcd reload\nstart\n",
        "the watcher restarted, still enabled"
    );
    // Removal: the watcher is stopped, every route and object of ours goes, nothing else.
    fs::write(r.path("rc.log"), "").unwrap();
    let run = as_opkg(&r, "/usr/lib/opkg/info/ecmp-hotplug.prerm remove", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(r.route("-6", "2000::/3").is_none());
    assert!(r.our_objects().is_empty());
    let log = fs::read_to_string(r.path("rc.log")).unwrap();
    assert!(log.starts_with("stop\n"), "stopped before the flush: {log}");
    assert!(log.contains("disable\n"), "{log}");
    // opkg removes the files, then runs the postrm: rpcd drops the plugin's ubus object.
    fs::write(r.path("rc.log"), "").unwrap();
    let run = as_opkg(&r, "/usr/lib/opkg/info/ecmp-hotplug.postrm remove", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        fs::read_to_string(r.path("rc.log")).unwrap(),
        "rpcd reload\n"
    );
}

/// Runs one of the package's apk scripts in the router as apk runs it (apk-tools
/// database.c, apk_db_run_script): executed with its arguments and an environment of PATH
/// alone, which is what `as_opkg` gives a script with no variables of its own.
fn as_apk(r: &Router, scripts: &Path, script: &str, args: &str) -> Run {
    as_opkg(
        r,
        &format!("{} {args}", scripts.join(script).display()),
        &[],
    )
}

/// Ends a `start_monitor` of routes and nexthops and checks it saw nothing, and that the
/// kernel is as it was `before`.
fn assert_no_kernel_change(monitor: Child, r: &Router, before: &str, what: &str) {
    let seen = monitor_until(monitor, r, "203.0.113.0/24");
    let changes: Vec<&str> = seen
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("203.0.113.0/24"))
        .collect();
    assert!(changes.is_empty(), "{what} touched the routes:\n{seen}");
    r.ip(&["route", "del", "203.0.113.0/24"]);
    assert_eq!(r.kernel_state(), before);
}

#[test]
fn resilient_the_apk_scripts_install_upgrade_and_remove_as_apk_runs_them() {
    let r = test_router!("apk", 2);
    r.set_config(&shipped_with_mode("auto"));
    r.set_dump(&v6_dump(&[true, true]));
    let scripts = install_apk_package(&r);
    let rc = |r: &Router| fs::read_to_string(r.path("rc.log")).unwrap();
    // apk add: post-install <new version>. default_postinst enables and starts the service
    // (found through /lib/apk/packages/ecmp-hotplug.list), then the package's part syncs.
    let run = as_apk(&r, &scripts, "post-install", "0.1.0-r1");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(r.resilient_group("2000::/3").1.len(), 2);
    assert_eq!(rc(&r), "enable\nstart\nrpcd reload\n");
    // apk add of the next release: only the new package's post-upgrade <new> <old> runs
    // (apk runs no pre-deinstall of the old one); the kernel sees no change.
    let before = r.kernel_state();
    let monitor = start_monitor(&r, &["route", "nexthop"]);
    fs::write(r.path("rc.log"), "").unwrap();
    let run = as_apk(&r, &scripts, "post-upgrade", "0.1.0-r2 0.1.0-r1");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_no_kernel_change(monitor, &r, &before, "an upgrade");
    assert_eq!(rc(&r), "start\nrpcd reload\n", "still enabled, restarted");
    // apk del: pre-deinstall <old version> stops and disables the service, then flushes
    // every route and object of ours; post-deinstall, once the files are gone, reloads rpcd.
    fs::write(r.path("rc.log"), "").unwrap();
    let run = as_apk(&r, &scripts, "pre-deinstall", "0.1.0-r2");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(r.route("-6", "2000::/3").is_none());
    assert!(r.our_objects().is_empty());
    assert_eq!(rc(&r), "disable\nstop\nstop\n", "stopped before the flush");
    fs::write(r.path("rc.log"), "").unwrap();
    let run = as_apk(&r, &scripts, "post-deinstall", "0.1.0-r2");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(rc(&r), "rpcd reload\n");
}

#[test]
fn resilient_a_reload_applies_the_edited_config() {
    let r = test_router!("reload", 2);
    r.set_config(&shipped_with_mode("auto"));
    r.set_dump(&v6_dump(&[true, true]));
    install_package(&r);
    assert_eq!(r.cli(&["sync"]).code, 0);
    let timer = |r: &Router| {
        let (id, _) = r.resilient_group("2000::/3");
        let objects = r.objects();
        let group = objects.iter().find(|o| o["id"] == id).unwrap();
        group["resilient_args"]["unbalanced_timer"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(timer(&r), 600);
    // LuCI's Save & Apply: the file changes, then reload_config makes procd run the init
    // script's reload.
    r.set_config(&shipped_with_mode("auto").replace(
        "#option unbalanced_timer '600'",
        "option unbalanced_timer '300'",
    ));
    assert_eq!(r.cli(&["status"]).code, 1, "out of sync until applied");
    let run = as_opkg(&r, "/etc/init.d/ecmp-hotplug reload", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(timer(&r), 300);
    assert_eq!(r.cli(&["status"]).code, 0, "in sync");
    assert_eq!(
        fs::read_to_string(r.path("rc.log")).unwrap(),
        "",
        "the watcher keeps running"
    );
}

#[test]
fn hotplug_and_watch_log_to_syslog_with_tag_and_pid() {
    let r = test_router!("syslog", 2);
    r.set_config(&MULTIPATH_V6);
    r.set_dump(&v6_dump(&[true, true]));
    let mut syslog = r.syslog();
    let mut next = || syslog.next();
    // hotplug: every line to syslog (`logread -e ecmp-hotplug`), daemon facility, none to
    // stderr.
    let run = r.hotplug("ifup", "wan1_6", Some("wan1"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let line = next();
    assert!(line.starts_with("<30>ecmp-hotplug["), "daemon.info: {line}");
    // watch, as procd runs it (stderr not a terminal): syslog too.
    let dump = r.path("dump.json");
    let mut watch = r
        .router_shell(&format!(
            "exec /usr/sbin/ecmp-hotplug --dump {} watch",
            dump.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // ip netns exec, unshare and sh each exec the next: the pid is the binary's.
    let tag = format!(">ecmp-hotplug[{}]: ", watch.id());
    let mut lines = Vec::new();
    let found = loop {
        let line = next();
        lines.push(line.clone());
        if line.contains("watching") {
            break line;
        }
    };
    let _ = watch.kill();
    let out = watch.wait_with_output().unwrap();
    assert!(
        found.starts_with("<30>") && found.contains(&tag),
        "{tag} in {lines:?}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn status_dry_run_and_sync_share_the_sysctls_the_plan_needs() {
    let r = test_router!("sysctl", 2);
    r.set_config(&MULTIPATH_V6);
    r.set_dump(&v6_dump(&[true, true]));
    assert_eq!(r.cli(&["sync"]).code, 0);
    assert_eq!(r.cli(&["status"]).code, 0);
    // Someone turns them back.
    ok(Command::new("ip").args([
        "netns",
        "exec",
        &r.ns,
        "sysctl",
        "-qw",
        "net.ipv4.fib_multipath_hash_policy=0",
        "net.ipv6.conf.wan2.ignore_routes_with_linkdown=0",
    ]));
    let status = r.cli(&["status"]);
    assert_eq!(status.code, 1, "{}", status.stdout);
    assert!(
        status
            .stdout
            .contains("sysctl: net.ipv4.fib_multipath_hash_policy is 0, the plan wants 1"),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stderr
            .contains("sysctl net.ipv6.conf.wan2.ignore_routes_with_linkdown"),
        "{}",
        status.stderr
    );
    let json: Value = serde_json::from_str(&r.cli(&["status", "--json"]).stdout).unwrap();
    assert_eq!(json["version"], 7);
    assert_eq!(
        json["sysctls"][0],
        serde_json::json!({"name": "net.ipv4.fib_multipath_hash_policy", "have": 0, "want": 1})
    );
    let dry = r.cli(&["--dry-run", "sync"]);
    assert!(
        dry.stdout
            .contains("dry run: net.ipv6.conf.wan2.ignore_routes_with_linkdown 0 -> 1"),
        "{}",
        dry.stdout
    );
    assert_eq!(r.sysctl("net.ipv4.fib_multipath_hash_policy"), "0");
    assert_eq!(r.cli(&["sync"]).code, 0);
    assert_eq!(r.sysctl("net.ipv4.fib_multipath_hash_policy"), "1");
    assert_eq!(r.cli(&["status"]).code, 0);
}

#[test]
fn the_rpcd_stand_in_reads_as_plugin_c_does() {
    assert_eq!(rpcd_reply(b"{\"a\": 1}\n"), Ok(serde_json::json!({"a": 1})));
    assert_eq!(
        rpcd_reply(b"{\"a\": 1} trailing"),
        Ok(serde_json::json!({"a": 1}))
    );
    assert_eq!(rpcd_reply(b""), Err(9));
    assert_eq!(rpcd_reply(b"null"), Err(9));
    assert_eq!(rpcd_reply(b"\n"), Err(2));
    assert_eq!(rpcd_reply(b"[1]"), Err(2));
    assert_eq!(rpcd_reply(b"ecmp-hotplug: failed"), Err(2));
}

/// The rpcd plugin as rpcd runs it (`call status`, `{}` on stdin, rpcd's environment), inside
/// the router, read back as rpcd reads it.
fn ubus_call_status(r: &Router) -> Result<Value, u32> {
    let out = sh(r
        .router_shell(&format!(
            "PATH={}:$PATH; echo '{{}}' | {REPO}/files/usr/libexec/rpcd/ecmp-hotplug call status",
            r.path("bin").display()
        ))
        .stdin(Stdio::null()));
    assert_eq!(
        out.status.code(),
        Some(0),
        "rpcd ignores it, but the plugin exits 0"
    );
    rpcd_reply(&out.stdout)
}

#[test]
fn a_failed_status_through_rpcd_answers_the_binary_s_error_line_and_says_it_in_syslog() {
    let r = test_router!("rpcd-fail", 2);
    r.set_config(&MULTIPATH_V6);
    r.set_dump(&v6_dump(&[true, true]));
    let mut syslog = r.syslog();
    let mut next = || syslog.next();
    // Out of sync (exit 1) is still a document, and so is in sync.
    let doc = ubus_call_status(&r).expect("a reply");
    assert_eq!(doc["groups"][0]["desired"].as_array().unwrap().len(), 2);
    assert_eq!(r.cli(&["sync"]).code, 0);
    assert!(ubus_call_status(&r).is_ok());
    const NO_DATA: u32 = 9;
    // A broken config: the binary's own line as the answer (LuCI shows it), with its exit
    // code, and in syslog.
    r.set_config("config group g\n option target 2000::/3\n option interval 0\n");
    let refused = ubus_call_status(&r).expect("an error object");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains(":3: interval '0' is not a number of seconds")),
        "{refused}"
    );
    assert_eq!(refused["exit_code"], 3);
    assert_eq!(refused.get("groups"), None, "no document beside the error");
    let line = next();
    assert!(
        line.starts_with("<27>ecmp-hotplug[") && line.contains(":3: interval '0'"),
        "{line}"
    );
    r.set_config(&MULTIPATH_V6);
    // netifd gone, netifd hanging (the binary gives up after its 5 s bound).
    for (ubus, reason) in [
        ("echo 'Command failed: Not found' >&2; exit 4", "Not found"),
        ("exec sleep 30", "5 s"),
    ] {
        r.set_ubus(ubus);
        let failed = ubus_call_status(&r).expect("an error object");
        assert!(
            failed["error"].as_str().is_some_and(|e| e.contains(reason)),
            "{ubus}: {failed}"
        );
        let line = next();
        assert!(
            line.starts_with("<27>ecmp-hotplug[") && line.contains(reason),
            "{ubus}: {line}"
        );
    }
    r.ubus_prints_dump();
    assert!(ubus_call_status(&r).is_ok());
    // The binary missing: the plugin itself logs it.
    fs::remove_file(r.path("sbin-layer/ecmp-hotplug")).unwrap();
    assert_eq!(ubus_call_status(&r), Err(NO_DATA));
    let line = next();
    assert!(
        line.starts_with("<27>")
            && line.contains("ecmp-hotplug")
            && line.contains("can't be run (exit 127)"),
        "{line}"
    );
}

/// Once a reader has the FIFO at `path` open: `first()`, then `text` written and the FIFO
/// closed. `false` if no reader came within 10 s or before `stop` was set.
fn feed_fifo(
    path: &std::path::Path,
    text: &str,
    stop: &std::sync::atomic::AtomicBool,
    first: impl FnOnce(),
) -> bool {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let nonblock = nix::fcntl::OFlag::O_NONBLOCK.bits();
    let start = std::time::Instant::now();
    loop {
        // ENXIO until someone has it open for reading.
        let opened = fs::OpenOptions::new()
            .write(true)
            .custom_flags(nonblock)
            .open(path);
        if let Ok(mut fifo) = opened {
            first();
            fifo.write_all(text.as_bytes()).unwrap();
            return true;
        }
        if stop.load(std::sync::atomic::Ordering::Relaxed)
            || start.elapsed() > Duration::from_secs(10)
        {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// N6 of issue 16: a device that goes away between a run's reading of the kernel and its
/// writes (its nexthops go with it, so the group the plan writes names a leg that no longer
/// exists: "Invalid nexthop id") is a race, planned again once, not an error. The run is
/// held at that point by making the tracking state file, which it reads after the kernel,
/// a FIFO; a plain file replaces it before the run reads on. Nexthop objects, so not under
/// qemu-user (`resilient_`).
#[test]
fn resilient_a_device_that_goes_away_mid_run_is_planned_again_not_an_error() {
    let r = test_router!("midrun", 3);
    r.set_config(&shipped_with_mode("resilient"));
    r.set_dump(&v6_dump(&[true, true, false]));
    assert_eq!(r.hotplug("ifup", "wan1_6", Some("wan1")).code, 0);
    assert_eq!(r.leg_devices("-6", "2000::/3"), ["wan1", "wan2"]);
    // wan3 comes up; while the run for it is between reading and writing, wan2 vanishes.
    r.set_dump(&v6_dump(&[true, true, true]));
    let fifo = r.path("run/track");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let run = r
        .hotplug_command("ifup", "wan3_6", Some("wan3"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hold = std::thread::spawn({
        let (fifo, ns, stop) = (fifo.clone(), r.ns.clone(), stop.clone());
        let file = r.path("track.file");
        move || {
            // The run has read the kernel and waits for its state file: wan2 goes now, and
            // any later read finds a plain file.
            let vanish = || {
                let deleted = std::process::Command::new("ip")
                    .args(["-n", &ns, "link", "del", "wan2"])
                    .status();
                assert!(deleted.unwrap().success());
                fs::write(&file, "pid 1\n").unwrap();
                fs::rename(&file, &fifo).unwrap();
            };
            feed_fifo(&fifo, "pid 1\n", &stop, vanish)
        }
    });
    let out = run.wait_with_output().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(hold.join().unwrap(), "the run never read its state file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(r.leg_devices("-6", "2000::/3"), ["wan1", "wan3"]);
}

/// Issue 18's events: `hotplug-call ecmp-hotplug` runs /etc/hotplug.d/ecmp-hotplug/* with
/// ACTION, GROUP, INTERFACE, DEVICE, REASON (the stand-in runs each script as OpenWrt's
/// hotplug-call does, `tests/support/hotplug-call`), and `ubus send ecmp-hotplug.member`
/// carries the same; a script that hangs is stopped and said, and the route is as planned.
#[test]
fn member_events_reach_hotplug_d_and_ubus_and_a_hanging_script_holds_nothing_up() {
    let r = test_router!("events", 2);
    r.set_config(WEIGHTED);
    r.hotplug_scripts(&[]);
    let scripts = r.path("hotplug.d/ecmp-hotplug");
    fs::create_dir_all(&scripts).unwrap();
    let log = r.path("events.log");
    fs::write(
        scripts.join("10-log"),
        format!(
            "echo \"$ACTION|$GROUP|$INTERFACE|$DEVICE|$REASON|$HOTPLUG_TYPE\" >> '{}'\n",
            log.display()
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        format!("{REPO}/tests/support/hotplug-call"),
        r.path("bin/hotplug-call"),
    )
    .unwrap();
    let lines = || fs::read_to_string(&log).unwrap_or_default();
    r.set_dump(&v6_dump(&[true, true]));
    let run = r.hotplug("ifup", "wan1_6", Some("wan1"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let usable = "up with a default route, and no word of it being offline";
    assert_eq!(
        lines(),
        format!(
            "join|v6|wan1_6|wan1|{usable}|ecmp-hotplug\njoin|v6|wan2_6|wan2|{usable}|ecmp-hotplug\n"
        )
    );
    let sent = fs::read_to_string(r.path("ubus-sent")).unwrap();
    let first: serde_json::Value = serde_json::from_str(sent.lines().next().unwrap()).unwrap();
    assert_eq!(
        first,
        serde_json::json!({"action": "join", "group": "v6", "interface": "wan1_6",
                           "device": "wan1", "reason": usable})
    );
    // A run that changes nothing announces nothing.
    assert_eq!(r.hotplug("ifupdate", "wan1_6", Some("wan1")).code, 0);
    assert_eq!(lines().lines().count(), 2);
    // wan2 goes down: it leaves, by the event's word.
    r.set_dump(&v6_dump(&[true, false]));
    assert_eq!(r.hotplug("ifdown", "wan2_6", None).code, 0);
    assert_eq!(
        lines().lines().last(),
        Some("leave|v6|wan2_6|wan2|down|ecmp-hotplug")
    );
    // A script that never ends: the run ends within the bound, the route as planned.
    fs::write(scripts.join("20-hang"), "sleep 600\n").unwrap();
    r.set_dump(&v6_dump(&[true, true]));
    let start = std::time::Instant::now();
    let mut hotplug = r
        .hotplug_command("ifup", "wan2_6", Some("wan2"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Routing comes first and the lock is given back before the scripts run: while the
    // script hangs, the route has its leg and another run goes through.
    within(
        Duration::from_secs(4),
        "wan2's leg while its join script hangs",
        || r.legs("-6", "2000::/3").len() == 2,
    );
    let other = r.run_cmd(&mut r.on_router(&["sync"]));
    assert_eq!(other.code, 0, "{}", other.stderr);
    assert!(
        hotplug.try_wait().unwrap().is_none(),
        "the hotplug run is still waiting for its script"
    );
    let out = hotplug.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "the run took {:?}",
        start.elapsed()
    );
    assert!(
        run.stderr
            .contains("hotplug-call for join v6 wan2_6: still running after 5 s, stopped"),
        "{}",
        run.stderr
    );
    assert_eq!(r.legs("-6", "2000::/3").len(), 2);
    assert_eq!(
        lines()
            .lines()
            .last()
            .map(|l| l.starts_with("join|v6|wan2_6|")),
        Some(true)
    );
}
