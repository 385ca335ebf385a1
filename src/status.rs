//! `status`: per group, the target, desired and installed nexthops, whether they match, and
//! why each candidate was left out; as text for people and JSON for scripts and LuCI.
//!
//! Pure: built from a plan and what the kernel holds, so it can't disagree with `sync`.

use std::fmt;

use serde_json::{Value, json};

use crate::config::{Config, HashPolicy};
use crate::plan::{Change, Changes, Desired};
use crate::route::{Links, Nexthop, ProtocolName, Route, RouteKey, TableName};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    InSync,
    OutOfSync,
    /// A route the tool did not write holds the key.
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

pub struct GroupStatus {
    pub name: String,
    pub key: RouteKey,
    pub state: State,
    pub desired: Vec<Leg>,
    /// The route at the key, ours or not.
    pub installed: Option<(u8, Vec<Leg>)>,
    pub skipped: Vec<(String, String)>,
}

pub struct Report {
    pub enabled: bool,
    pub hash_policy: HashPolicy,
    pub groups: Vec<GroupStatus>,
    /// Routes of ours that no group wants; `sync` removes them.
    pub stale: Vec<RouteKey>,
}

fn legs(route: &Route, links: &Links) -> Vec<Leg> {
    route
        .nexthops
        .iter()
        .map(|nh| Leg {
            interface: None,
            device: links
                .name(nh.ifindex)
                .map_or_else(|| format!("if{}", nh.ifindex), str::to_string),
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
    ) -> Report {
        let groups = desired
            .iter()
            .map(|d| {
                let name = &d.group.name;
                let state = if changes.conflicts.iter().any(|c| &c.group == name) {
                    State::Conflict
                } else if changes.changes.iter().any(|c| match c {
                    Change::Write { group, .. } => group == name,
                    Change::Delete { group, .. } => group.as_ref() == Some(name),
                }) {
                    State::OutOfSync
                } else {
                    State::InSync
                };
                let at_key = installed.iter().find(|r| r.holds(&d.group.key));
                GroupStatus {
                    name: name.clone(),
                    key: d.group.key,
                    state,
                    desired: d
                        .members
                        .iter()
                        .map(|m| Leg {
                            interface: Some(m.interface.clone()),
                            device: m.device.clone(),
                            nexthop: m.nexthop,
                        })
                        .collect(),
                    installed: at_key.map(|r| (r.protocol, legs(r, links))),
                    skipped: d
                        .skipped
                        .iter()
                        .map(|s| (s.interface.clone(), s.reason.to_string()))
                        .collect(),
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
        Report {
            enabled: config.enabled,
            hash_policy: config.hash_policy,
            groups,
            stale,
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
        out
    }

    pub fn to_json(&self) -> Value {
        let leg = |l: &Leg| {
            json!({
                "interface": l.interface,
                "device": l.device,
                "gateway": l.nexthop.gateway.map(|g| g.to_string()),
                "weight": l.nexthop.weight.get(),
            })
        };
        let key = |k: &RouteKey| json!({"target": k.dst.to_string(), "table": k.table, "metric": k.metric});
        json!({
            "enabled": self.enabled,
            "hash_policy": policy_name(self.hash_policy),
            "groups": self.groups.iter().map(|g| json!({
                "name": g.name,
                "family": g.key.family().name(),
                "target": g.key.dst.to_string(),
                "table": g.key.table,
                "metric": g.key.metric,
                "state": g.state.name(),
                "desired": g.desired.iter().map(leg).collect::<Vec<_>>(),
                "installed": g.installed.as_ref().map(|(proto, legs)| json!({
                    "protocol": proto,
                    "nexthops": legs.iter().map(leg).collect::<Vec<_>>(),
                })),
                "skipped": g.skipped.iter().map(|(i, r)| json!({"interface": i, "reason": r})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "stale": self.stale.iter().map(key).collect::<Vec<_>>(),
        })
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
        match l.nexthop.gateway {
            Some(gw) => writeln!(
                f,
                "  {title:<10} {who}via {gw} dev {} weight {}",
                l.device, l.nexthop.weight
            )?,
            None => writeln!(
                f,
                "  {title:<10} {who}dev {} weight {}",
                l.device, l.nexthop.weight
            )?,
        }
    }
    Ok(())
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
                "group {} ({}): {} table {} metric {}: {}",
                g.name,
                g.key.family(),
                g.key.dst,
                TableName(g.key.table),
                g.key.metric,
                g.state.name()
            )?;
            write_legs(f, "desired:", &g.desired)?;
            match &g.installed {
                None => write_legs(f, "installed:", &[])?,
                Some((proto, legs)) if *proto != crate::route::PROTOCOL => {
                    let proto = ProtocolName(*proto);
                    writeln!(
                        f,
                        "  {:<10} a route of proto {proto}, not ours",
                        "installed:"
                    )?;
                    write_legs(f, "", legs)?;
                }
                Some((_, legs)) => write_legs(f, "installed:", legs)?,
            }
            for (i, (iface, reason)) in g.skipped.iter().enumerate() {
                writeln!(
                    f,
                    "  {:<10} {iface}: {reason}",
                    if i == 0 { "left out:" } else { "" }
                )?;
            }
        }
        for k in &self.stale {
            writeln!(f, "stale: {k} (ours, no group wants it; sync removes it)")?;
        }
        Ok(())
    }
}
