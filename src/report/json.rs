//! `status --json`: the report in the shape scripts and LuCI read, borrowed from it.

use serde::Serialize;

use super::{GroupStatus, Leg as ReportLeg, RuleState, Tracked, flag_names, policy_name, verdict};
use crate::route::{RouteKey, TableName};
use crate::track::Target;

/// The document's shape; 2 added `sysctls`, 3 `fail_open` and `tracking`, 4 `config`,
/// `dump`, `probe_paths`, `stale_rules`, `table_name`, leg `flags`, tracking `state`,
/// `ifindex` (was `device`), `device` (a name) and `seconds_ago`, and made `state` a
/// token (`in_sync`, `out_of_sync`, `conflict`); 5 renamed `probe_paths` to
/// `uplink_paths` (every uplink has one now) and its `rule` to `rules`, and gave
/// `stale_rules` `oif` and `suppress_prefixlength` (`mark` may be null); 6 gave desired
/// legs `metric`, `share_percent` and `uptime`.
pub const VERSION: u32 = 7;

#[derive(Serialize)]
pub struct Report<'a> {
    version: u32,
    config: &'a str,
    dump: &'a str,
    enabled: bool,
    hash_policy: &'static str,
    groups: Vec<Group<'a>>,
    stale: Vec<Key>,
    stale_objects: &'a [u32],
    stale_rules: Vec<Rule<'a>>,
    sysctls: Vec<Sysctl<'a>>,
    uplink_paths: Vec<UplinkPath<'a>>,
}

#[derive(Serialize)]
struct Sysctl<'a> {
    name: &'a str,
    have: u8,
    want: u8,
}

#[derive(Serialize)]
struct Group<'a> {
    name: &'a str,
    family: &'static str,
    target: String,
    table: u32,
    table_name: String,
    metric: u32,
    state: &'static str,
    mode: &'static str,
    nexthop_group: Option<u32>,
    desired: Vec<Leg<'a>>,
    installed: Option<Installed<'a>>,
    skipped: Vec<Skip<'a>>,
    fail_open: bool,
    held: &'a [String],
    /// Absent: the group doesn't track; `null`: no `watch` is running.
    #[serde(skip_serializing_if = "Option::is_none")]
    tracking: Option<Option<Vec<Tracking<'a>>>>,
    /// How it tracks, by mwan3track's option names (absent: it doesn't).
    #[serde(skip_serializing_if = "Option::is_none")]
    track: Option<TrackOptions<'a>>,
}

/// A group's tracking options, timers in milliseconds.
#[derive(Serialize)]
struct TrackOptions<'a> {
    track_method: &'static str,
    track_port: Option<u16>,
    track_name: Option<&'a str>,
    track_ip: &'a [std::net::IpAddr],
    count: u32,
    reliability: u32,
    timeout_ms: u32,
    interval_ms: u32,
    failure_interval_ms: u32,
    recovery_interval_ms: u32,
    down: u32,
    up: u32,
    /// `null` without `check_quality`.
    check_quality: Option<crate::config::Quality>,
}

fn track_options(t: &crate::config::Track) -> TrackOptions<'_> {
    use crate::config::Method;
    let (port, name) = match &t.method {
        Method::Ping => (None, None),
        Method::Dns { port, name } => (Some(*port), Some(name.as_str())),
        Method::Tcp { port } => (Some(*port), None),
    };
    TrackOptions {
        track_method: t.method.name(),
        track_port: port,
        track_name: name,
        track_ip: &t.ips,
        count: t.count,
        reliability: t.reliability,
        timeout_ms: t.timeout,
        interval_ms: t.interval,
        failure_interval_ms: t.failing_pace(),
        recovery_interval_ms: t.recovering_pace(),
        down: t.down,
        up: t.up,
        check_quality: t.quality,
    }
}

#[derive(Serialize)]
struct Installed<'a> {
    protocol: u8,
    nexthop_group: Option<u32>,
    nexthops: Vec<Leg<'a>>,
}

#[derive(Serialize)]
struct Leg<'a> {
    interface: Option<&'a str>,
    device: &'a str,
    gateway: Option<String>,
    weight: u16,
    flags: &'static [&'static str],
    /// Desired legs: the member's tier, share of the group, netifd's uptime (version 6).
    #[serde(skip_serializing_if = "Option::is_none")]
    metric: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    share_percent: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime: Option<u64>,
}

#[derive(Serialize)]
struct Skip<'a> {
    interface: &'a str,
    reason: &'a str,
    kind: &'static str,
}

#[derive(Serialize)]
struct Key {
    target: String,
    table: u32,
    table_name: String,
    metric: u32,
}

#[derive(Serialize)]
struct Rule<'a> {
    family: &'static str,
    priority: u32,
    oif: Option<&'a str>,
    mark: Option<u32>,
    table: u32,
    suppress_prefixlength: Option<u8>,
}

#[derive(Serialize)]
struct UplinkPath<'a> {
    device: &'a str,
    family: &'static str,
    table: u32,
    gateway: Option<String>,
    state: &'static str,
    /// `in_place`, `missing`, or `unknown` where rules can't be read.
    rules: &'static str,
}

#[derive(Serialize)]
struct Tracking<'a> {
    interface: &'a str,
    device: &'a str,
    ifindex: u32,
    state: &'static str,
    online: bool,
    fails: u32,
    passes: u32,
    last_round: u64,
    seconds_ago: Option<u64>,
    /// Since when it is `online` (or not), and for how many seconds.
    since: u64,
    for_seconds: Option<u64>,
    targets: &'a [Target],
    /// Per target, its last `recent_rounds` rounds summed up.
    recent: &'a [Target],
    recent_rounds: usize,
}

fn legs(legs: &[ReportLeg]) -> Vec<Leg<'_>> {
    legs.iter()
        .map(|l| Leg {
            interface: l.interface.as_deref(),
            device: &l.device,
            gateway: l.nexthop.gateway.map(|g| g.to_string()),
            weight: l.nexthop.weight.get(),
            flags: flag_names(l.flags),
            metric: l.standing.map(|s| s.metric),
            share_percent: l.standing.map(|s| s.share),
            uptime: l.standing.and_then(|s| s.uptime),
        })
        .collect()
}

fn key(k: &RouteKey) -> Key {
    Key {
        target: k.dst.to_string(),
        table: k.table,
        table_name: TableName(k.table).to_string(),
        metric: k.metric,
    }
}

fn tracking(t: &Tracked) -> Tracking<'_> {
    let r = &t.record;
    Tracking {
        interface: &r.interface,
        device: &t.device,
        ifindex: r.device,
        state: verdict(r),
        online: r.online,
        fails: r.fails,
        passes: r.passes,
        last_round: r.last_round,
        seconds_ago: t.seconds_ago,
        since: r.since,
        for_seconds: t.for_seconds,
        targets: &r.targets,
        recent: &r.recent,
        recent_rounds: crate::track::RECENT,
    }
}

impl<'a> Report<'a> {
    pub fn of(r: &'a super::Report) -> Report<'a> {
        Report {
            version: VERSION,
            config: &r.config,
            dump: &r.dump,
            enabled: r.enabled,
            hash_policy: policy_name(r.hash_policy),
            groups: r.groups.iter().map(group).collect(),
            stale: r.stale.iter().map(key).collect(),
            stale_objects: &r.stale_objects,
            stale_rules: r
                .stale_rules
                .iter()
                .map(|r| Rule {
                    family: r.family.name(),
                    priority: r.priority,
                    oif: r.oif.as_deref(),
                    mark: r.mark,
                    table: r.table,
                    suppress_prefixlength: r.suppress,
                })
                .collect(),
            sysctls: r
                .sysctls
                .iter()
                .map(|s| Sysctl {
                    name: &s.name,
                    have: s.have,
                    want: s.want,
                })
                .collect(),
            uplink_paths: r
                .uplink_paths
                .iter()
                .map(|p| UplinkPath {
                    device: &p.device,
                    family: p.family.name(),
                    table: p.table,
                    gateway: p.gateway.map(|g| g.to_string()),
                    state: if p.in_sync() {
                        "in_sync"
                    } else {
                        "out_of_sync"
                    },
                    rules: match p.rule {
                        RuleState::InPlace => "in_place",
                        RuleState::Missing => "missing",
                        RuleState::Unknown => "unknown",
                    },
                })
                .collect(),
        }
    }
}

fn group(g: &GroupStatus) -> Group<'_> {
    let Key {
        target,
        table,
        table_name,
        metric,
    } = key(&g.key);
    Group {
        name: &g.name,
        family: g.key.family().name(),
        target,
        table,
        table_name,
        metric,
        state: g.state.token(),
        mode: g.mode,
        nexthop_group: g.nexthop_group,
        desired: legs(&g.desired),
        installed: g.installed.as_ref().map(|i| Installed {
            protocol: i.protocol,
            nexthop_group: i.nexthop_group,
            nexthops: legs(&i.legs),
        }),
        skipped: g
            .skipped
            .iter()
            .map(|(interface, reason, kind)| Skip {
                interface,
                reason,
                kind,
            })
            .collect(),
        fail_open: g.fail_open,
        held: &g.held,
        tracking: g
            .tracking
            .as_ref()
            .map(|t| t.as_ref().map(|t| t.iter().map(tracking).collect())),
        track: g.track.as_ref().map(track_options),
    }
}
