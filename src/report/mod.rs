//! `status`: per group, the target, the mode in use, desired and installed nexthops, whether
//! they match, and why each candidate was left out; the probe paths tracking needs; as text
//! for people and JSON for scripts and LuCI.
//!
//! Pure: built from a plan and what the kernel holds, so it can't disagree with `sync`.

mod json;
mod text;

use std::net::IpAddr;

use crate::config::HashPolicy;
use crate::netlink::uapi::{RTNH_F_DEAD, RTNH_F_LINKDOWN};
use crate::planner::{Change, Desired, Facts, GroupState as State, Plan};
use crate::route::{Family, Links, Nexthop, Route, RouteKey, Rule};
use crate::track::Record;

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
    /// A desired leg's member: its tier, share and session.
    pub standing: Option<Standing>,
}

/// Where a member stands in its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// Its `metric`: its tier.
    pub metric: u16,
    /// Its share of the group's flows, in percent (`Desired::shares`).
    pub share: u32,
    /// Seconds netifd has had its session up, where the dump says.
    pub uptime: Option<u64>,
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
    /// Seconds it has been online (or offline) for: since its last verdict change or first
    /// round (`None`: unknown, or a clock that went back).
    pub for_seconds: Option<u64>,
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
    /// Interface, reason and its `Reason::kind`.
    pub skipped: Vec<(String, String, &'static str)>,
    /// No member passes its probes (each offline or failing) and all are kept.
    pub fail_open: bool,
    /// Members held (`planner::Desired::held`).
    pub held: Vec<String>,
    /// A tracking group: its uplinks' records as `watch` published them (`None`: no `watch`
    /// is running, so tracking counts for nothing).
    pub tracking: Option<Option<Vec<Tracked>>>,
    /// How it tracks, option by option.
    pub track: Option<crate::config::Track>,
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
            standing: None,
        })
        .collect()
}

impl Report {
    pub fn new(facts: &Facts, plan: &Plan, about: About) -> Report {
        let (config, installed, links) = (&facts.config, &facts.routes, &facts.links);
        let changes = &plan.changes;
        let groups = plan
            .desired
            .iter()
            .map(|d| {
                let name = &d.group.name;
                let state = plan.state(name);
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
                        .zip(d.shares())
                        .map(|(m, share)| Leg {
                            interface: Some(m.interface.clone()),
                            device: m.device.clone(),
                            nexthop: m.nexthop,
                            flags: 0,
                            standing: Some(Standing {
                                metric: m.metric,
                                share,
                                uptime: m.uptime,
                            }),
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
                        .map(|s| (s.interface.clone(), s.reason.to_string(), s.reason.kind()))
                        .collect(),
                    fail_open: d.fail_open,
                    held: d.held.clone(),
                    track: d.group.track.clone(),
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
                                    for_seconds: (r.since > 0)
                                        .then(|| about.now.checked_sub(r.since))
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
        let uplink_paths = plan
            .paths
            .routes
            .iter()
            .zip(plan.paths.rules.chunks(2))
            .map(|(route, rules)| {
                let nh = route.nexthops.first().copied();
                UplinkPath {
                    device: nh.map_or_else(String::new, |n| links.device(n.ifindex)),
                    family: route.key.family(),
                    table: route.key.table,
                    gateway: nh.and_then(|n| n.gateway),
                    route_in_sync: !plan.path_written(&route.key),
                    rule: if facts.rules.is_none() {
                        RuleState::Unknown
                    } else if plan.rules_missing(rules) {
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

fn policy_name(p: HashPolicy) -> &'static str {
    match p {
        HashPolicy::L3 => "l3",
        HashPolicy::L4 => "l4",
        HashPolicy::Keep => "keep",
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
                standing: Some(Standing {
                    metric: 1,
                    share: 100,
                    uptime: Some(11_520),
                }),
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
                    standing: None,
                }],
            }),
            skipped: vec![
                ("a".into(), "down".into(), "down"),
                ("b".into(), "x".into(), "left_out"),
            ],
            fail_open: false,
            held: vec![],
            tracking,
            track: None,
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
            since: 5,
            recent: Vec::new(),
            window: Vec::new(),
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
                "version": 7, "config": "/etc/config/ecmp-hotplug", "dump": "ubus (network.interface dump)",
                "enabled": true, "hash_policy": "l4",
                "groups": [{
                    "name": "v\"6\\", "family": "ipv6", "target": "2000::/3", "table": 254, "table_name": "main", "metric": 1024, "fail_open": false,
                    "state": "conflict", "mode": "resilient", "nexthop_group": 3959422976u32,
                    "desired": [{"interface": "wan\n6", "device": "eth1", "gateway": "fe80::1", "weight": 1, "flags": [],
                                 "metric": 1, "share_percent": 100, "uptime": 11520}],
                    "installed": {"protocol": 4, "nexthop_group": null, "nexthops": [{"interface": "wan\n6", "device": "eth1", "gateway": null, "weight": 1, "flags": ["dead", "linkdown"]}]},
                    "skipped": [{"interface": "a", "reason": "down", "kind": "down"}, {"interface": "b", "reason": "x", "kind": "left_out"}],
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
            serde_json::json!({"version": 7, "config": "/etc/config/ecmp-hotplug", "dump": "ubus (network.interface dump)",
                "enabled": false, "hash_policy": "keep", "groups": [], "stale": [], "stale_objects": [], "stale_rules": [], "sysctls": [], "uplink_paths": []})
        );
    }

    #[test]
    fn text_names_its_sources_flags_uplink_paths_and_tracking_in_one_vocabulary() {
        let tracked = |r: Record, seconds_ago| Tracked {
            record: r,
            device: "wan1".into(),
            seconds_ago,
            for_seconds: None,
        };
        let mut recent = record(true, 0, 1, 100);
        recent.recent = vec![Target {
            rtt_us: Some(11_950),
            sent: 60,
            received: 59,
            ..recent.targets[0]
        }];
        let mut g = group(Some(Some(vec![
            Tracked {
                for_seconds: Some(11_520),
                ..tracked(recent, Some(1))
            },
            tracked(record(true, 0, 1, 100), Some(12)),
            tracked(record(true, 2, 0, 100), Some(300)),
            tracked(record(false, 0, 1, 100), Some(7300)),
            tracked(record(false, 3, 0, 100), None),
            tracked(record(true, 0, 0, 0), None),
        ])));
        g.fail_open = true;
        g.track = Some(crate::config::Track {
            ips: vec!["2606:4700:4700::1111".parse().unwrap()],
            method: crate::config::Method::Dns {
                port: 53,
                name: ".".into(),
            },
            quality: Some(crate::config::QUALITY),
            ..crate::config::TRACK
        });
        let report = Report {
            groups: vec![g],
            uplink_paths: vec![uplink_path(RuleState::InPlace)],
            ..empty()
        };
        let text = report.to_string();
        // Each figure of how the group tracks with the option that sets it, mwan3track's name.
        let json = serde_json::to_value(json::Report::of(&report)).unwrap();
        let track = &json["groups"][0]["track"];
        assert_eq!(
            (
                &track["track_method"],
                &track["interval_ms"],
                &track["failure_interval_ms"]
            ),
            (&"dns".into(), &1200.into(), &400.into()),
            "{track}"
        );
        assert_eq!(track["check_quality"]["failure_loss"], 40);
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
            "  desired:   wan\n6: via fe80::1 dev eth1 weight 1, 100% of the group, metric 1, up 3h12m",
            "  installed: a route of proto static, not ours",
            "             wan\n6: dev eth1 weight 1 (dead, linkdown)",
            "  warning:   no member passes its probes (each is offline or failing): all are kept (fail open)",
            "  probes:    dns (track_method) for . (track_name), port 53 (track_port), to 2606:4700:4700::1111 (track_ip), \
             2 each (count) every 1.2 s (interval), 0.4 s to answer (timeout), 1 to answer (reliability); \
             out after 4 failed rounds (down), in after 3 passed (up), rounds 0.4 s apart while failing \
             (failure_interval), 0.4 s while recovering (recovery_interval); check_quality: a target fails \
             at 40% lost (failure_loss) or 1000 ms (failure_latency), passes at 10% (recovery_loss) and 500 ms \
             (recovery_latency)\n",
            "  tracking:  wan1_6 (wan1): online for 3h12m, 1 round passed in a row, last round 1 s ago; 2606:4700:4700::1111 11.9 ms, 1 of 60 lost",
            "             wan1_6 (wan1): online, 1 round passed in a row, last round 12 s ago; 2606:4700:4700::1111 12.3 ms, 1 of 2 lost",
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
