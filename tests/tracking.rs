//! Tracking against the real kernel: uplinks that are up but dead leave their group and come
//! back, probes leave by their own uplink, connections follow their uplink out (conntrack),
//! fail-open, mwan3track's state, and hotplug runs reading what `watch` publishes. Every test
//! builds the NAT66 network of `common::Nat66`. Native builds only: qemu-user does not
//! emulate the probe sockets' options.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A tracking group over every DHCPv6 uplink, probing the server, with fast timers (rounds
/// every second, 2 to leave and 2 to return) unless `timers` says otherwise.
fn config(timers: &str) -> String {
    format!(
        "config globals 'globals'\n\toption mode 'resilient'\n\
         config group 'v6'\n\toption target '2000::/3'\n\tlist proto 'dhcpv6'\n\
         \tlist track_ip '{SERVER}'\n{timers}"
    )
}

const FAST: &str =
    "\toption interval '1'\n\toption timeout '1'\n\toption down '2'\n\toption up '2'\n";

fn nat66(tag: &str, uplinks: usize, snat: bool, timers: &str) -> Option<Nat66> {
    if !privileged() {
        return None;
    }
    let n = Nat66::new(tag, uplinks, snat);
    n.r.set_config(&config(timers));
    Some(n)
}

/// The devices of the group's legs, sorted.
fn members(r: &Router) -> Vec<String> {
    r.legs("-6", "2000::/3").into_iter().map(|l| l.0).collect()
}

/// Waits up to `bound` for `done`; how long it took, or a panic naming `what`.
fn within(bound: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

#[test]
fn tracking_a_dead_upstream_leaves_and_comes_back() {
    let Some(n) = nat66("dead", 3, false, FAST) else {
        return;
    };
    let _watch = Watch::start_logging(&n.r);
    within(Duration::from_secs(5), "three members", || {
        members(&n.r) == ["wan1", "wan2", "wan3"]
    });
    n.upstream(2, false);
    let left = within(Duration::from_secs(6), "wan2 leaves", || {
        members(&n.r) == ["wan1", "wan3"]
    });
    eprintln!("left after {left:?}");
    n.upstream(2, true);
    let back = within(Duration::from_secs(6), "wan2 returns", || {
        members(&n.r) == ["wan1", "wan2", "wan3"]
    });
    eprintln!("back after {back:?}\n{}", Watch::log(&n.r));
}
