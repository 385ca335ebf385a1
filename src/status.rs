//! `status`: per group, the target, the mode in use, desired and installed nexthops, whether
//! they match, and why each candidate was left out; as text for people and JSON for scripts
//! and LuCI.
//!
//! Pure: built from a plan and what the kernel holds, so it can't disagree with `sync`.

use std::fmt;

use crate::config::{Config, HashPolicy};
use crate::plan::{Change, Changes, Desired, PROBES};
use crate::route::{Links, Nexthop, ProtocolName, Route, RouteKey, TableName, leg_text};
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
}

pub struct Leg {
    pub interface: Option<String>,
    pub device: String,
    pub nexthop: Nexthop,
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
    /// Every member is offline and all are kept.
    pub fail_open: bool,
    /// A tracking group: its uplinks' records as `watch` published them (`None`: no `watch`
    /// is running, so tracking counts for nothing).
    pub tracking: Option<Option<Vec<Record>>>,
}

pub struct Report {
    pub enabled: bool,
    pub hash_policy: HashPolicy,
    pub groups: Vec<GroupStatus>,
    /// Routes of ours that no group wants; `sync` removes them.
    pub stale: Vec<RouteKey>,
    /// Nexthop objects of ours that no group wants, by id.
    pub stale_objects: Vec<u32>,
    /// Sysctls that differ from the plan; `sync` sets them.
    pub sysctls: Vec<SysctlDrift>,
    /// Probe paths (routes and rules of ours) that `sync` would change.
    pub probe_paths: usize,
}

fn legs(route: &Route, links: &Links) -> Vec<Leg> {
    route
        .nexthops
        .iter()
        .map(|nh| Leg {
            interface: None,
            device: links.device(nh.ifindex),
            nexthop: *nh,
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
        tracking: Option<&[Record]>,
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
                        })
                        .collect(),
                    installed: at_key.map(|r| Installed {
                        protocol: r.protocol,
                        nexthop_group: r.nh_id,
                        legs: legs(r, links),
                    }),
                    skipped: d
                        .skipped
                        .iter()
                        .map(|s| (s.interface.clone(), s.reason.to_string()))
                        .collect(),
                    fail_open: d.fail_open,
                    tracking: d.group.track.as_ref().map(|_| {
                        tracking.map(|t| {
                            let tracked = |r: &&Record| {
                                r.group == *name
                                    && d.tracked.iter().any(|m| m.interface == r.interface)
                            };
                            t.iter().filter(tracked).cloned().collect()
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
        let probe_paths = changes
            .changes
            .iter()
            .filter(|c| match c {
                Change::WriteRule(_) | Change::DeleteRule(_) => true,
                c => c.group() == Some(PROBES),
            })
            .count();
        Report {
            enabled: config.enabled,
            hash_policy: config.hash_policy,
            groups,
            stale,
            stale_objects,
            sysctls,
            probe_paths,
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
        out.extend(self.sysctls.iter().map(|s| format!("sysctl {}", s.name)));
        if self.probe_paths > 0 {
            out.push("probe paths".into());
        }
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

    use super::{GroupStatus, Leg as ReportLeg, policy_name};
    use crate::route::RouteKey;
    use crate::track::Record;

    /// The document's shape; 2 added `sysctls`, 3 `fail_open` and `tracking`.
    const VERSION: u32 = 3;

    #[derive(Serialize)]
    pub struct Report<'a> {
        version: u32,
        enabled: bool,
        hash_policy: &'static str,
        groups: Vec<Group<'a>>,
        stale: Vec<Key>,
        stale_objects: &'a [u32],
        sysctls: Vec<Sysctl<'a>>,
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
        metric: u32,
        state: &'static str,
        mode: &'static str,
        nexthop_group: Option<u32>,
        desired: Vec<Leg<'a>>,
        installed: Option<Installed<'a>>,
        skipped: Vec<Skip<'a>>,
        fail_open: bool,
        /// Absent: the group doesn't track; `null`: no `watch` is running.
        #[serde(skip_serializing_if = "Option::is_none")]
        tracking: Option<Option<&'a [Record]>>,
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
        metric: u32,
    }

    fn legs(legs: &[ReportLeg]) -> Vec<Leg<'_>> {
        legs.iter()
            .map(|l| Leg {
                interface: l.interface.as_deref(),
                device: &l.device,
                gateway: l.nexthop.gateway.map(|g| g.to_string()),
                weight: l.nexthop.weight.get(),
            })
            .collect()
    }

    fn key(k: &RouteKey) -> Key {
        Key {
            target: k.dst.to_string(),
            table: k.table,
            metric: k.metric,
        }
    }

    impl<'a> Report<'a> {
        pub fn of(r: &'a super::Report) -> Report<'a> {
            Report {
                version: VERSION,
                enabled: r.enabled,
                hash_policy: policy_name(r.hash_policy),
                groups: r.groups.iter().map(group).collect(),
                stale: r.stale.iter().map(key).collect(),
                stale_objects: &r.stale_objects,
                sysctls: r
                    .sysctls
                    .iter()
                    .map(|s| Sysctl {
                        name: &s.name,
                        have: s.have,
                        want: s.want,
                    })
                    .collect(),
            }
        }
    }

    fn group(g: &GroupStatus) -> Group<'_> {
        let Key {
            target,
            table,
            metric,
        } = key(&g.key);
        Group {
            name: &g.name,
            family: g.key.family().name(),
            target,
            table,
            metric,
            state: g.state.name(),
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
            tracking: g.tracking.as_ref().map(|t| t.as_deref()),
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
        writeln!(
            f,
            "  {title:<10} {who}{} weight {}",
            leg_text(&l.device, l.nexthop.gateway),
            l.nexthop.weight
        )?;
    }
    Ok(())
}

/// `wan1_6: online, 3 rounds passed in a row, last round at 1764042000; 2606:4700::1111
/// 12.3 ms 0% lost, …`
fn write_record(f: &mut fmt::Formatter<'_>, title: &str, r: &Record) -> fmt::Result {
    let (state, rounds, what) = match (r.online, r.fails) {
        (true, 0) => ("online", r.passes, "passed"),
        (true, _) => ("online, failing", r.fails, "failed"),
        (false, 0) => ("offline, recovering", r.passes, "passed"),
        (false, _) => ("offline", r.fails, "failed"),
    };
    write!(
        f,
        "  {title:<10} {}: {state}, {rounds} rounds {what} in a row, last round at {}",
        r.interface, r.last_round
    )?;
    for t in &r.targets {
        let lost = (t.sent - t.received.min(t.sent)) * 100 / t.sent.max(1);
        match t.rtt_us {
            Some(us) => write!(f, "; {} {}.{} ms", t.ip, us / 1000, us % 1000 / 100)?,
            None => write!(f, "; {}", t.ip)?,
        }
        write!(f, " {lost}% lost")?;
    }
    writeln!(f)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ecmp-hotplug: {}, hash policy {}",
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
                writeln!(
                    f,
                    "  {:<10} every member is offline: all are kept (fail open)",
                    "warning:"
                )?;
            }
            match &g.tracking {
                None => {}
                Some(None) => writeln!(
                    f,
                    "  {:<10} watch is not running: every member counts as online",
                    "tracking:"
                )?,
                Some(Some(records)) => {
                    for (i, r) in records.iter().enumerate() {
                        write_record(f, if i == 0 { "tracking:" } else { "" }, r)?;
                    }
                }
            }
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

    #[test]
    fn json_is_valid_and_escaped() {
        let key = RouteKey {
            table: TABLE_MAIN,
            dst: "2000::/3".parse().unwrap(),
            metric: 1024,
        };
        let nh = Nexthop {
            ifindex: 2,
            gateway: Some("fe80::1".parse().unwrap()),
            weight: Weight::ONE,
        };
        let report = Report {
            enabled: true,
            hash_policy: HashPolicy::L4,
            groups: vec![GroupStatus {
                name: "v\"6\\".into(),
                key,
                state: State::Conflict,
                mode: "resilient",
                nexthop_group: Some(3959422976),
                desired: vec![Leg {
                    interface: Some("wan\n6".into()),
                    device: "eth1".into(),
                    nexthop: nh,
                }],
                installed: Some(Installed {
                    protocol: 4,
                    nexthop_group: None,
                    legs: vec![Leg {
                        interface: None,
                        device: "eth1".into(),
                        nexthop: Nexthop {
                            gateway: None,
                            ..nh
                        },
                    }],
                }),
                skipped: vec![("a".into(), "down".into()), ("b".into(), "x".into())],
                fail_open: false,
                tracking: None,
            }],
            stale: vec![RouteKey {
                dst: Prefix::any(Family::V4),
                ..key
            }],
            probe_paths: 0,
            stale_objects: vec![3959422977],
            sysctls: vec![SysctlDrift {
                name: "net.ipv6.fib_multipath_hash_policy".into(),
                have: 0,
                want: 1,
            }],
        };
        let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "version": 3, "enabled": true, "hash_policy": "l4",
                "groups": [{
                    "name": "v\"6\\", "family": "ipv6", "target": "2000::/3", "table": 254, "metric": 1024, "fail_open": false,
                    "state": "conflict", "mode": "resilient", "nexthop_group": 3959422976u32,
                    "desired": [{"interface": "wan\n6", "device": "eth1", "gateway": "fe80::1", "weight": 1}],
                    "installed": {"protocol": 4, "nexthop_group": null, "nexthops": [{"interface": null, "device": "eth1", "gateway": null, "weight": 1}]},
                    "skipped": [{"interface": "a", "reason": "down"}, {"interface": "b", "reason": "x"}],
                }],
                "stale": [{"target": "0.0.0.0/0", "table": 254, "metric": 1024}],
                "stale_objects": [3959422977u32],
                "sysctls": [{"name": "net.ipv6.fib_multipath_hash_policy", "have": 0, "want": 1}],
            })
        );
        let empty = Report {
            enabled: false,
            hash_policy: HashPolicy::Keep,
            groups: vec![],
            stale: vec![],
            probe_paths: 0,
            stale_objects: vec![],
            sysctls: vec![],
        };
        let v: serde_json::Value = serde_json::from_str(&empty.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"version": 3, "enabled": false, "hash_policy": "keep", "groups": [], "stale": [], "stale_objects": [], "sysctls": []})
        );
    }
}
