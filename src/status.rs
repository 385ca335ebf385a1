//! `status`: per group, the target, the mode in use, desired and installed nexthops, whether
//! they match, and why each candidate was left out; the probe paths tracking needs; as text
//! for people and JSON for scripts and LuCI.
//!
//! Pure: built from a plan and what the kernel holds, so it can't disagree with `sync`.

use std::fmt;
use std::net::IpAddr;

use crate::config::{Config, HashPolicy};
use crate::netlink::uapi::{RTNH_F_DEAD, RTNH_F_LINKDOWN};
use crate::plan::{Change, Changes, Desired, FAIL_OPEN, HELD, PATHS, Paths};
use crate::route::{
    Family, Links, Nexthop, ProtocolName, Route, RouteKey, Rule, TableName, leg_text,
};
use crate::track::Record;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    InSync,
    OutOfSync,
    /// A route or object the tool did not write is in the way, or the kernel lacks the mode.
    Conflict,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::InSync => "in sync",
            State::OutOfSync => "out of sync",
            State::Conflict => "conflict",
        }
    }

    /// The same, as a JSON token.
    fn token(self) -> &'static str {
        match self {
            State::InSync => "in_sync",
            State::OutOfSync => "out_of_sync",
            State::Conflict => "conflict",
        }
    }
}

pub struct Leg {
    pub interface: Option<String>,
    pub device: String,
    pub nexthop: Nexthop,
    /// The kernel's `RTNH_F_DEAD` / `RTNH_F_LINKDOWN` on an installed leg.
    pub flags: u8,
}

/// What `ip route` shows for a leg's flags.
fn flag_names(flags: u8) -> &'static [&'static str] {
    match (flags & RTNH_F_DEAD != 0, flags & RTNH_F_LINKDOWN != 0) {
        (false, false) => &[],
        (true, false) => &["dead"],
        (false, true) => &["linkdown"],
        (true, true) => &["dead", "linkdown"],
    }
}

/// The route at a group's key, ours or not.
pub struct Installed {
    pub protocol: u8,
    /// The nexthop object it uses, if any.
    pub nexthop_group: Option<u32>,
    pub legs: Vec<Leg>,
}

/// A sysctl that differs from what the plan needs.
pub struct SysctlDrift {
    pub name: String,
    pub have: u8,
    pub want: u8,
}

/// Whether the kernel has an uplink path's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleState {
    InPlace,
    Missing,
    /// Rules can't be read here, so none are written (`Kernel::rules`).
    Unknown,
}

/// One uplink's path: its table with its default, and the rules to it.
pub struct UplinkPath {
    pub device: String,
    pub family: Family,
    pub table: u32,
    pub gateway: Option<IpAddr>,
    /// The table's route is as planned.
    pub route_in_sync: bool,
    pub rule: RuleState,
}

impl UplinkPath {
    fn in_sync(&self) -> bool {
        self.route_in_sync && self.rule != RuleState::Missing
    }
}

/// One uplink's tracking record, as shown.
pub struct Tracked {
    pub record: Record,
    /// Its device's name now (`ifN` when gone).
    pub device: String,
    /// Seconds since its last round (`None`: none yet, or a clock that went back).
    pub seconds_ago: Option<u64>,
}

/// One word per tracking verdict, the same in text and JSON: `online`, `failing` (online,
/// its last rounds failed), `recovering` (offline, its last rounds passed), `offline`.
pub fn verdict(r: &Record) -> &'static str {
    match (r.online, r.fails) {
        (true, 0) => "online",
        (true, _) => "failing",
        (false, 0) if r.passes > 0 => "recovering",
        (false, _) => "offline",
    }
}

pub struct GroupStatus {
    pub name: String,
    pub key: RouteKey,
    pub state: State,
    /// `resilient` or `multipath`, as planned for this kernel.
    pub mode: &'static str,
    /// Resilient mode: the nexthop group object the route should use.
    pub nexthop_group: Option<u32>,
    pub desired: Vec<Leg>,
    pub installed: Option<Installed>,
    pub skipped: Vec<(String, String)>,
    /// No member passes its probes (each offline or failing) and all are kept.
    pub fail_open: bool,
    /// Members held (plan::Desired::held).
    pub held: Vec<String>,
    /// A tracking group: its uplinks' records as `watch` published them (`None`: no `watch`
    /// is running, so tracking counts for nothing).
    pub tracking: Option<Option<Vec<Tracked>>>,
}

/// What the report is about, besides the plan: where the config and the interface state
/// came from, the time, and `watch`'s tracking records (`None`: no `watch` runs).
pub struct About<'a> {
    /// The config file, or the built-in default.
    pub config: String,
    /// `ubus`, `stdin` or the file named by `--dump`.
    pub dump: String,
    /// Seconds since the epoch.
    pub now: u64,
    pub tracking: Option<&'a [Record]>,
    /// Whether the kernel's rules could be read (where not, none are written).
    pub rules_read: bool,
}

pub struct Report {
    pub config: String,
    pub dump: String,
    pub enabled: bool,
    pub hash_policy: HashPolicy,
    pub groups: Vec<GroupStatus>,
    /// Routes of ours that no group wants; `sync` removes them.
    pub stale: Vec<RouteKey>,
    /// Nexthop objects of ours that no group wants, by id.
    pub stale_objects: Vec<u32>,
    /// Rules of ours that no probe path wants.
    pub stale_rules: Vec<Rule>,
    /// Sysctls that differ from the plan; `sync` sets them.
    pub sysctls: Vec<SysctlDrift>,
    pub uplink_paths: Vec<UplinkPath>,
}

/// Who is behind a leg through `ifindex`: a member's interface, or a left-out candidate's
/// whose device it is.
fn interface_of(d: &Desired, ifindex: u32) -> Option<String> {
    d.members
        .iter()
        .find(|m| m.nexthop.ifindex == ifindex)
        .map(|m| m.interface.clone())
        .or_else(|| {
            d.skipped
                .iter()
                .find(|s| s.device == Some(ifindex))
                .map(|s| s.interface.clone())
        })
}

fn installed_legs(route: &Route, links: &Links, d: &Desired) -> Vec<Leg> {
    route
        .nexthops
        .iter()
        .map(|nh| Leg {
            interface: interface_of(d, nh.ifindex),
            device: links.device(nh.ifindex),
            nexthop: *nh,
            flags: route.flags_of(nh.ifindex, nh.gateway),
        })
        .collect()
}

impl Report {
    pub fn new(
        config: &Config,
        desired: &[Desired],
        installed: &[Route],
        changes: &Changes,
        links: &Links,
        paths: &Paths,
        about: About,
    ) -> Report {
        let groups = desired
            .iter()
            .map(|d| {
                let name = &d.group.name;
                let state = if changes.conflicts.iter().any(|c| c.group() == name) {
                    State::Conflict
                } else if changes.changes.iter().any(|c| c.group() == Some(name)) {
                    State::OutOfSync
                } else {
                    State::InSync
                };
                let at_key = installed.iter().find(|r| r.holds(&d.group.key));
                GroupStatus {
                    name: name.clone(),
                    key: d.group.key,
                    state,
                    mode: d.mode.name(),
                    nexthop_group: d.route.nh_id,
                    desired: d
                        .members
                        .iter()
                        .map(|m| Leg {
                            interface: Some(m.interface.clone()),
                            device: m.device.clone(),
                            nexthop: m.nexthop,
                            flags: 0,
                        })
                        .collect(),
                    installed: at_key.map(|r| Installed {
                        protocol: r.protocol,
                        nexthop_group: r.nh_id,
                        legs: installed_legs(r, links, d),
                    }),
                    skipped: d
                        .skipped
                        .iter()
                        .map(|s| (s.interface.clone(), s.reason.to_string()))
                        .collect(),
                    fail_open: d.fail_open,
                    held: d.held.clone(),
                    tracking: d.group.track.as_ref().map(|_| {
                        about.tracking.map(|t| {
                            let tracked = |r: &&Record| {
                                r.group == *name
                                    && d.tracked.iter().any(|m| m.interface == r.interface)
                            };
                            t.iter()
                                .filter(tracked)
                                .map(|r| Tracked {
                                    record: r.clone(),
                                    device: links.device(r.device),
                                    seconds_ago: (r.last_round > 0)
                                        .then(|| about.now.checked_sub(r.last_round))
                                        .flatten(),
                                })
                                .collect()
                        })
                    }),
                }
            })
            .collect();
        let stale = changes
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Delete { group: None, route } => Some(route.key),
                _ => None,
            })
            .collect();
        let stale_objects = changes
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::DeleteObject {
                    group: None,
                    object,
                } => Some(object.id),
                _ => None,
            })
            .collect();
        let stale_rules = changes
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::DeleteRule(rule) => Some(rule.clone()),
                _ => None,
            })
            .collect();
        let sysctls = changes
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Sysctl { setting, have } => Some(SysctlDrift {
                    name: setting.sysctl.to_string(),
                    have: *have,
                    want: setting.want,
                }),
                _ => None,
            })
            .collect();
        let uplink_paths = paths
            .routes
            .iter()
            .zip(paths.rules.chunks(2))
            .map(|(route, rules)| {
                let nh = route.nexthops.first().copied();
                let written = |c: &Change| match c {
                    Change::Write {
                        group, route: r, ..
                    } if group == PATHS => r.key == route.key,
                    _ => false,
                };
                UplinkPath {
                    device: nh.map_or_else(String::new, |n| links.device(n.ifindex)),
                    family: route.key.family(),
                    table: route.key.table,
                    gateway: nh.and_then(|n| n.gateway),
                    route_in_sync: !changes.changes.iter().any(written),
                    rule: if !about.rules_read {
                        RuleState::Unknown
                    } else if changes
                        .changes
                        .iter()
                        .any(|c| matches!(c, Change::WriteRule(r) if rules.contains(r)))
                    {
                        RuleState::Missing
                    } else {
                        RuleState::InPlace
                    },
                }
            })
            .collect();
        Report {
            config: about.config,
            dump: about.dump,
            enabled: config.enabled,
            hash_policy: config.hash_policy,
            groups,
            stale,
            stale_objects,
            stale_rules,
            sysctls,
            uplink_paths,
        }
    }

    /// What differs from the plan, by group (and `stale` for leftovers).
    pub fn out_of_sync(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .groups
            .iter()
            .filter(|g| g.state != State::InSync)
            .map(|g| g.name.clone())
            .collect();
        out.extend(self.stale.iter().map(|k| format!("stale route {k}")));
        out.extend(
            self.stale_objects
                .iter()
                .map(|id| format!("stale nexthop id {id}")),
        );
        out.extend(self.stale_rules.iter().map(|r| format!("stale rule {r}")));
        out.extend(self.sysctls.iter().map(|s| format!("sysctl {}", s.name)));
        out.extend(
            self.uplink_paths
                .iter()
                .filter(|p| !p.in_sync())
                .map(|p| format!("uplink path of {} ({})", p.device, p.family)),
        );
        out
    }

    /// The report as one line of JSON (the shape README's "Command line" documents).
    pub fn to_json(&self) -> String {
        // Serializing these plain structs can't fail; an empty object would only hide a bug.
        serde_json::to_string(&json::Report::of(self)).unwrap_or_else(|_| "{}".into())
    }
}

/// `status --json`: the report in the shape scripts and LuCI read, borrowed from it.
mod json {
    use serde::Serialize;

    use super::{
        GroupStatus, Leg as ReportLeg, RuleState, Tracked, flag_names, policy_name, verdict,
    };
    use crate::route::{RouteKey, TableName};
    use crate::track::Target;

    /// The document's shape; 2 added `sysctls`, 3 `fail_open` and `tracking`, 4 `config`,
    /// `dump`, `probe_paths`, `stale_rules`, `table_name`, leg `flags`, tracking `state`,
    /// `ifindex` (was `device`), `device` (a name) and `seconds_ago`, and made `state` a
    /// token (`in_sync`, `out_of_sync`, `conflict`); 5 renamed `probe_paths` to
    /// `uplink_paths` (every uplink has one now) and its `rule` to `rules`, and gave
    /// `stale_rules` `oif` and `suppress_prefixlength` (`mark` may be null).
    pub const VERSION: u32 = 5;

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
    }

    #[derive(Serialize)]
    struct Skip<'a> {
        interface: &'a str,
        reason: &'a str,
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
        targets: &'a [Target],
    }

    fn legs(legs: &[ReportLeg]) -> Vec<Leg<'_>> {
        legs.iter()
            .map(|l| Leg {
                interface: l.interface.as_deref(),
                device: &l.device,
                gateway: l.nexthop.gateway.map(|g| g.to_string()),
                weight: l.nexthop.weight.get(),
                flags: flag_names(l.flags),
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
            targets: &r.targets,
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
                .map(|(interface, reason)| Skip { interface, reason })
                .collect(),
            fail_open: g.fail_open,
            held: &g.held,
            tracking: g
                .tracking
                .as_ref()
                .map(|t| t.as_ref().map(|t| t.iter().map(tracking).collect())),
        }
    }
}

fn policy_name(p: HashPolicy) -> &'static str {
    match p {
        HashPolicy::L3 => "l3",
        HashPolicy::L4 => "l4",
        HashPolicy::Keep => "keep",
    }
}

fn write_legs(f: &mut fmt::Formatter<'_>, title: &str, legs: &[Leg]) -> fmt::Result {
    if legs.is_empty() {
        return writeln!(f, "  {title:<10} none");
    }
    for (i, l) in legs.iter().enumerate() {
        let title = if i == 0 { title } else { "" };
        let who = l
            .interface
            .as_deref()
            .map(|i| format!("{i}: "))
            .unwrap_or_default();
        write!(
            f,
            "  {title:<10} {who}{} weight {}",
            leg_text(&l.device, l.nexthop.gateway),
            l.nexthop.weight
        )?;
        let flags = flag_names(l.flags);
        if !flags.is_empty() {
            write!(f, " ({})", flags.join(", "))?;
        }
        writeln!(f)?;
    }
    Ok(())
}

/// `n thing` or `n things`.
fn count(n: u32, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// `12 s ago`, `3 min ago`, `2 h ago`.
fn ago(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s => format!("{} h ago", s / 3600),
    }
}

/// `wan1_6 (wan1): online, 3 rounds passed in a row, last round 4 s ago; 2606:4700::1111
/// 12.3 ms 0% lost, …`
fn write_record(f: &mut fmt::Formatter<'_>, title: &str, t: &Tracked) -> fmt::Result {
    let r = &t.record;
    let (rounds, what) = match r.fails {
        0 => (r.passes, "passed"),
        n => (n, "failed"),
    };
    write!(
        f,
        "  {title:<10} {} ({}): {}, ",
        r.interface,
        t.device,
        verdict(r)
    )?;
    match (r.last_round, t.seconds_ago) {
        (0, _) => write!(f, "no round yet")?,
        (_, when) => write!(
            f,
            "{} {what} in a row, last round {}",
            count(rounds, "round"),
            when.map_or_else(|| "in the future (the clock went back)".into(), ago)
        )?,
    }
    for target in &r.targets {
        let lost = (target.sent - target.received.min(target.sent)) * 100 / target.sent.max(1);
        match target.rtt_us {
            Some(us) => write!(f, "; {} {}.{} ms", target.ip, us / 1000, us % 1000 / 100)?,
            None => write!(f, "; {}", target.ip)?,
        }
        write!(f, " {lost}% lost")?;
    }
    writeln!(f)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "config {}; interfaces from {}", self.config, self.dump)?;
        writeln!(
            f,
            "{}, hash policy {}",
            if self.enabled { "enabled" } else { "disabled" },
            policy_name(self.hash_policy)
        )?;
        for g in &self.groups {
            writeln!(
                f,
                "group {} ({}): {} table {} metric {}, {}: {}",
                g.name,
                g.key.family(),
                g.key.dst,
                TableName(g.key.table),
                g.key.metric,
                g.mode,
                g.state.name()
            )?;
            if let Some(id) = g.nexthop_group {
                writeln!(f, "  {:<10} {id}", "group id:")?;
            }
            write_legs(f, "desired:", &g.desired)?;
            match &g.installed {
                None => write_legs(f, "installed:", &[])?,
                Some(i) if i.protocol != crate::route::PROTOCOL => {
                    let proto = ProtocolName(i.protocol);
                    writeln!(
                        f,
                        "  {:<10} a route of proto {proto}, not ours",
                        "installed:"
                    )?;
                    write_legs(f, "", &i.legs)?;
                }
                Some(Installed {
                    nexthop_group: Some(id),
                    legs,
                    ..
                }) => {
                    writeln!(f, "  {:<10} through nexthop group {id}", "installed:")?;
                    write_legs(f, "", legs)?;
                }
                Some(i) => write_legs(f, "installed:", &i.legs)?,
            }
            for (i, (iface, reason)) in g.skipped.iter().enumerate() {
                writeln!(
                    f,
                    "  {:<10} {iface}: {reason}",
                    if i == 0 { "left out:" } else { "" }
                )?;
            }
            if g.fail_open {
                writeln!(f, "  {:<10} {FAIL_OPEN}", "warning:")?;
            } else if !g.held.is_empty() {
                writeln!(f, "  {:<10} {} {HELD}", "held:", g.held.join(", "))?;
            }
            match &g.tracking {
                None => {}
                Some(None) => writeln!(
                    f,
                    "  {:<10} watch is not running: every member counts as online",
                    "tracking:"
                )?,
                Some(Some(records)) if records.is_empty() => {
                    writeln!(f, "  {:<10} no round yet", "tracking:")?
                }
                Some(Some(records)) => {
                    for (i, t) in records.iter().enumerate() {
                        write_record(f, if i == 0 { "tracking:" } else { "" }, t)?;
                    }
                }
            }
        }
        for p in &self.uplink_paths {
            let rules = match p.rule {
                RuleState::InPlace => "rules in place",
                RuleState::Missing => "rules missing",
                RuleState::Unknown => "rules can't be read here",
            };
            writeln!(
                f,
                "uplink path: {} ({}): table {} default {}, {rules}: {}",
                p.device,
                p.family,
                p.table,
                leg_text(&p.device, p.gateway),
                if p.in_sync() {
                    "in sync"
                } else {
                    "out of sync"
                }
            )?;
        }
        for k in &self.stale {
            writeln!(f, "stale: {k} (ours, no group wants it; sync removes it)")?;
        }
        for id in &self.stale_objects {
            writeln!(
                f,
                "stale: nexthop id {id} (ours, no group wants it; sync removes it)"
            )?;
        }
        for r in &self.stale_rules {
            writeln!(
                f,
                "stale: {r} (ours, no uplink path wants it; sync removes it)"
            )?;
        }
        for s in &self.sysctls {
            writeln!(
                f,
                "sysctl: {} is {}, the plan wants {} (sync sets it)",
                s.name, s.have, s.want
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{Family, Prefix, TABLE_MAIN, Weight};
    use crate::track::Target;

    fn key() -> RouteKey {
        RouteKey {
            table: TABLE_MAIN,
            dst: "2000::/3".parse().unwrap(),
            metric: 1024,
        }
    }

    fn nh() -> Nexthop {
        Nexthop {
            ifindex: 2,
            gateway: Some("fe80::1".parse().unwrap()),
            weight: Weight::ONE,
        }
    }

    fn empty() -> Report {
        Report {
            config: "/etc/config/ecmp-hotplug".into(),
            dump: "ubus (network.interface dump)".into(),
            enabled: false,
            hash_policy: HashPolicy::Keep,
            groups: vec![],
            stale: vec![],
            stale_objects: vec![],
            stale_rules: vec![],
            sysctls: vec![],
            uplink_paths: vec![],
        }
    }

    fn group(tracking: Option<Option<Vec<Tracked>>>) -> GroupStatus {
        GroupStatus {
            name: "v\"6\\".into(),
            key: key(),
            state: State::Conflict,
            mode: "resilient",
            nexthop_group: Some(3959422976),
            desired: vec![Leg {
                interface: Some("wan\n6".into()),
                device: "eth1".into(),
                nexthop: nh(),
                flags: 0,
            }],
            installed: Some(Installed {
                protocol: 4,
                nexthop_group: None,
                legs: vec![Leg {
                    interface: Some("wan\n6".into()),
                    device: "eth1".into(),
                    nexthop: Nexthop {
                        gateway: None,
                        ..nh()
                    },
                    flags: RTNH_F_DEAD | RTNH_F_LINKDOWN,
                }],
            }),
            skipped: vec![("a".into(), "down".into()), ("b".into(), "x".into())],
            fail_open: false,
            held: vec![],
            tracking,
        }
    }

    /// wan1's IPv6 probe path, its route in place.
    fn uplink_path(rule: RuleState) -> UplinkPath {
        UplinkPath {
            device: "wan1".into(),
            family: Family::V6,
            table: 0xEC00_0002,
            gateway: Some("fe80::1".parse().unwrap()),
            route_in_sync: true,
            rule,
        }
    }

    fn record(online: bool, fails: u32, passes: u32, last_round: u64) -> Record {
        Record {
            group: "v6".into(),
            interface: "wan1_6".into(),
            device: 2,
            uptime: 10,
            online,
            fails,
            passes,
            last_round,
            targets: vec![Target {
                ip: "2606:4700:4700::1111".parse().unwrap(),
                sent: 2,
                received: 1,
                rtt_us: Some(12_345),
            }],
        }
    }

    #[test]
    fn json_is_valid_and_escaped() {
        let report = Report {
            enabled: true,
            hash_policy: HashPolicy::L4,
            groups: vec![group(None)],
            stale: vec![RouteKey {
                dst: Prefix::any(Family::V4),
                table: 100,
                ..key()
            }],
            stale_objects: vec![3959422977],
            stale_rules: vec![Rule {
                family: Family::V6,
                priority: 100,
                oif: Some("wan\"1".into()),
                mark: None,
                table: 254,
                suppress: Some(3),
                protocol: crate::route::PROTOCOL,
            }],
            sysctls: vec![SysctlDrift {
                name: "net.ipv6.fib_multipath_hash_policy".into(),
                have: 0,
                want: 1,
            }],
            uplink_paths: vec![uplink_path(RuleState::Missing)],
            ..empty()
        };
        let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "version": 5, "config": "/etc/config/ecmp-hotplug", "dump": "ubus (network.interface dump)",
                "enabled": true, "hash_policy": "l4",
                "groups": [{
                    "name": "v\"6\\", "family": "ipv6", "target": "2000::/3", "table": 254, "table_name": "main", "metric": 1024, "fail_open": false,
                    "state": "conflict", "mode": "resilient", "nexthop_group": 3959422976u32,
                    "desired": [{"interface": "wan\n6", "device": "eth1", "gateway": "fe80::1", "weight": 1, "flags": []}],
                    "installed": {"protocol": 4, "nexthop_group": null, "nexthops": [{"interface": "wan\n6", "device": "eth1", "gateway": null, "weight": 1, "flags": ["dead", "linkdown"]}]},
                    "skipped": [{"interface": "a", "reason": "down"}, {"interface": "b", "reason": "x"}],
                    "held": [],
                }],
                "stale": [{"target": "0.0.0.0/0", "table": 100, "table_name": "100", "metric": 1024}],
                "stale_objects": [3959422977u32],
                "stale_rules": [{"family": "ipv6", "priority": 100, "oif": "wan\"1", "mark": null, "table": 254, "suppress_prefixlength": 3}],
                "sysctls": [{"name": "net.ipv6.fib_multipath_hash_policy", "have": 0, "want": 1}],
                "uplink_paths": [{"device": "wan1", "family": "ipv6", "table": 0xEC00_0002u32, "gateway": "fe80::1", "state": "out_of_sync", "rules": "missing"}],
            })
        );
        assert_eq!(
            report.out_of_sync(),
            [
                "v\"6\\",
                "stale route 0.0.0.0/0 table 100 metric 1024",
                "stale nexthop id 3959422977",
                &format!("stale rule {}", report.stale_rules[0]),
                "sysctl net.ipv6.fib_multipath_hash_policy",
                "uplink path of wan1 (ipv6)",
            ]
        );
        let v: serde_json::Value = serde_json::from_str(&empty().to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"version": 5, "config": "/etc/config/ecmp-hotplug", "dump": "ubus (network.interface dump)",
                "enabled": false, "hash_policy": "keep", "groups": [], "stale": [], "stale_objects": [], "stale_rules": [], "sysctls": [], "uplink_paths": []})
        );
    }

    #[test]
    fn text_names_its_sources_flags_uplink_paths_and_tracking_in_one_vocabulary() {
        let tracked = |r: Record, seconds_ago| Tracked {
            record: r,
            device: "wan1".into(),
            seconds_ago,
        };
        let mut g = group(Some(Some(vec![
            tracked(record(true, 0, 1, 100), Some(12)),
            tracked(record(true, 2, 0, 100), Some(300)),
            tracked(record(false, 0, 1, 100), Some(7300)),
            tracked(record(false, 3, 0, 100), None),
            tracked(record(true, 0, 0, 0), None),
        ])));
        g.fail_open = true;
        let report = Report {
            groups: vec![g],
            uplink_paths: vec![uplink_path(RuleState::InPlace)],
            ..empty()
        };
        let text = report.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..2],
            [
                "config /etc/config/ecmp-hotplug; interfaces from ubus (network.interface dump)",
                "disabled, hash policy keep",
            ]
        );
        assert!(
            !lines.iter().any(|l| l.starts_with("ecmp-hotplug:")),
            "stdout is no error: {text}"
        );
        for want in [
            "  installed: a route of proto static, not ours",
            "             wan\n6: dev eth1 weight 1 (dead, linkdown)",
            "  warning:   no member passes its probes (each is offline or failing): all are kept (fail open)",
            "  tracking:  wan1_6 (wan1): online, 1 round passed in a row, last round 12 s ago; 2606:4700:4700::1111 12.3 ms 50% lost",
            "             wan1_6 (wan1): failing, 2 rounds failed in a row, last round 5 min ago;",
            "             wan1_6 (wan1): recovering, 1 round passed in a row, last round 2 h ago;",
            "             wan1_6 (wan1): offline, 3 rounds failed in a row, last round in the future (the clock went back);",
            "             wan1_6 (wan1): online, no round yet;",
            "uplink path: wan1 (ipv6): table 3959422978 default via fe80::1 dev wan1, rules in place: in sync",
        ] {
            assert!(text.contains(want), "{want:?} in:\n{text}");
        }
        assert!(
            report.out_of_sync() == ["v\"6\\"],
            "{:?}",
            report.out_of_sync()
        );
    }
}
