//! Carries out a plan's changes through a `Seam`, the kernel or a dry run that only says
//! what it would do (netifd's `system-dummy.c` idea), so that both walk the same path.
//!
//! What the plan cannot know happens here, and only this: the kernel refusing a write. A
//! group whose write failed is not touched again this run (its later steps would build on
//! what is missing); a leg the kernel refuses fails alone (its group is written without it);
//! a multipath route refused whole is written with the legs the kernel takes, found one at a
//! time. No logging: what was done and what failed come back as lines.

use crate::planner::{Change, Changes, Conflict};
use std::net::IpAddr;

use crate::route::{Family, Links, Object, ObjectKind, ProtocolName, Route, Rule, Sysctl};

/// The kernel's verbs, as the executor uses them; `Err` is the kernel's reason.
pub trait Seam {
    fn write_route(&mut self, route: &Route, create: bool) -> Result<(), String>;
    fn delete_route(&mut self, route: &Route) -> Result<(), String>;
    fn write_object(&mut self, object: &Object, create: bool) -> Result<(), String>;
    fn delete_object(&mut self, id: u32) -> Result<(), String>;
    fn set_sysctl(&mut self, sysctl: &Sysctl, value: u8) -> Result<(), String>;
    fn write_rule(&mut self, rule: &Rule) -> Result<(), String>;
    fn delete_rule(&mut self, rule: &Rule) -> Result<(), String>;
    /// Deletes the conntrack entries translated to `addresses`: how many (`None`: not
    /// counted, a dry run).
    fn flush_conntrack(
        &mut self,
        family: Family,
        addresses: &[IpAddr],
    ) -> Result<Option<usize>, String>;
}

/// What a run did: one line per change made (for the log, or a dry run's output), and one
/// per group, nexthop or setting that could not be applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub done: Vec<String>,
    /// Done too, but said only where every step is asked for (a dry run, debug): an uplink
    /// path's rules, which go with its table's route in `done`.
    pub details: Vec<String>,
    pub errors: Vec<String>,
    /// The groups left alone or whose changes failed: nobody joined or left them.
    pub failed: Vec<String>,
}

/// Why a conflict leaves its group alone, in one line.
fn conflict(c: &Conflict, links: &Links) -> String {
    match c {
        Conflict::Route { group, route } => format!(
            "{group}: {} is held by a route of proto {} ({}) that ecmp-hotplug did not write; left as it is",
            route.key,
            ProtocolName(route.protocol),
            links.describe(&route.nexthops)
        ),
        Conflict::Object { group, object } => format!(
            "{group}: nexthop id {} is held by an object of proto {} that ecmp-hotplug did not write; left as it is",
            object.id,
            ProtocolName(object.protocol)
        ),
        Conflict::Unsupported { group } => format!(
            "{group}: mode resilient, but this kernel takes no resilient nexthop groups (Linux 5.13 has them; mode auto falls back to multipath); left as it is"
        ),
    }
}

/// Carries out `changes` in their order.
pub fn apply(seam: &mut dyn Seam, changes: &Changes, links: &Links) -> Outcome {
    let mut out = Outcome {
        done: Vec::new(),
        details: Vec::new(),
        errors: changes
            .conflicts
            .iter()
            .map(|c| conflict(c, links))
            .collect(),
        failed: Vec::new(),
    };
    let mut failed: Vec<&str> = Vec::new();
    let mut refused: Vec<u32> = Vec::new();
    for change in &changes.changes {
        let group = change.group();
        if group.is_some_and(|g| failed.contains(&g)) {
            continue;
        }
        let mut what = describe(change, links);
        let outcome = match change {
            Change::Write {
                group,
                route,
                create,
            } => write_route(seam, group, route, *create, links, &mut out.errors).map(|partial| {
                if let Some(route) = partial {
                    what = format!(
                        "{group}: {} -> {}",
                        route.key,
                        links.describe(&route.nexthops)
                    );
                }
            }),
            Change::Delete { route, .. } => seam.delete_route(route),
            Change::WriteObject {
                group,
                object,
                create,
            } => {
                let (object, dropped) = without_refused(object, &refused);
                if dropped > 0 {
                    what = format!(
                        "{group}: nexthop {} ({dropped} refused)",
                        describe_object(&object, links)
                    );
                }
                match &object.kind {
                    ObjectKind::Group { members, .. } if members.is_empty() => {
                        Err("the kernel took none of its nexthops".into())
                    }
                    _ => seam.write_object(&object, *create),
                }
            }
            Change::DeleteObject { object, .. } => seam.delete_object(object.id),
            Change::Sysctl { setting, .. } => seam.set_sysctl(&setting.sysctl, setting.want),
            Change::WriteRule(rule) => seam.write_rule(rule),
            Change::DeleteRule(rule) => seam.delete_rule(rule),
            Change::Conntrack {
                group,
                interface,
                family,
                addresses,
            } => seam.flush_conntrack(*family, addresses).map(|n| {
                what = conntrack_line(group, interface, addresses, n);
            }),
        };
        match outcome {
            Ok(()) if matches!(change, Change::WriteRule(_)) => out.details.push(what),
            Ok(()) => out.done.push(what),
            Err(e) => {
                out.errors.push(format!("{what}: {e}"));
                match change {
                    Change::WriteObject { object, .. }
                        if matches!(object.kind, ObjectKind::Leg { .. }) =>
                    {
                        refused.push(object.id)
                    }
                    _ => failed.extend(group),
                }
            }
        }
    }
    out.failed = changes
        .conflicts
        .iter()
        .map(|c| c.group())
        .chain(failed)
        .map(str::to_string)
        .collect();
    out
}

/// `object` as it is written this run: a group without the legs in `refused`; and how many
/// it lost.
fn without_refused(object: &Object, refused: &[u32]) -> (Object, usize) {
    let mut object = object.clone();
    let mut dropped = 0;
    if let ObjectKind::Group { members, .. } = &mut object.kind {
        let before = members.len();
        members.retain(|m| !refused.contains(&m.0));
        dropped = before - members.len();
    }
    (object, dropped)
}

/// Writes `route`. When the kernel refuses a multipath route as a whole, the legs it takes are
/// found one at a time and those installed, each refused one reported in `errors`; the route
/// written then is returned.
fn write_route(
    seam: &mut dyn Seam,
    group: &str,
    route: &Route,
    create: bool,
    links: &Links,
    errors: &mut Vec<String>,
) -> Result<Option<Route>, String> {
    let whole = match seam.write_route(route, create) {
        Ok(()) => return Ok(None),
        Err(e) if route.nh_id.is_some() || route.nexthops.len() < 2 => return Err(e),
        Err(e) => e,
    };
    let mut taken = Route {
        nexthops: Vec::new(),
        ..route.clone()
    };
    let mut create = create;
    for nh in &route.nexthops {
        taken.nexthops.push(*nh);
        if let Err(e) = seam.write_route(&taken, create) {
            taken.nexthops.pop();
            errors.push(format!(
                "{group}: {} refused: {e}",
                links.describe(std::slice::from_ref(nh))
            ));
        } else {
            create = false;
        }
    }
    if taken.nexthops.is_empty() {
        Err(whole)
    } else {
        Ok(Some(taken))
    }
}

/// One line about one change, for the log and dry runs.
pub fn describe(change: &Change, links: &Links) -> String {
    let via = |route: &Route| match route.nh_id {
        Some(id) => format!("nexthop group {id} ({})", links.describe(&route.nexthops)),
        None => links.describe(&route.nexthops),
    };
    match change {
        Change::Write { group, route, .. } => format!("{group}: {} -> {}", route.key, via(route)),
        Change::Delete {
            group: Some(group),
            route,
        } => format!("{group}: removed {} (no members)", route.key),
        Change::Delete { group: None, route } => {
            format!("removed {} (no group wants it)", route.key)
        }
        Change::WriteObject { group, object, .. } => {
            format!("{group}: nexthop {}", describe_object(object, links))
        }
        Change::DeleteObject {
            group: Some(group),
            object,
        } => format!("{group}: removed nexthop {} to recreate it", object.id),
        Change::DeleteObject {
            group: None,
            object,
        } => format!("removed nexthop {} (no group wants it)", object.id),
        Change::Sysctl { setting, have } => {
            format!("{} {have} -> {}", setting.sysctl, setting.want)
        }
        Change::WriteRule(rule) => format!("{}: {rule}", crate::planner::PATHS),
        Change::DeleteRule(rule) => format!("removed {rule} (no uplink path wants it)"),
        Change::Conntrack {
            group,
            interface,
            addresses,
            ..
        } => conntrack_line(group, interface, addresses, None),
    }
}

/// `v6: deleted 12 conntrack entries translated to wan1_6's 2001:db8:1::2` (no count: a dry
/// run).
fn conntrack_line(group: &str, interface: &str, addresses: &[IpAddr], n: Option<usize>) -> String {
    let addresses: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
    let n = n.map(|n| format!("{n} ")).unwrap_or_default();
    format!(
        "{group}: deleted {n}conntrack entries translated to {interface}'s {}",
        addresses.join(", ")
    )
}

fn describe_object(object: &Object, links: &Links) -> String {
    match &object.kind {
        ObjectKind::Leg {
            ifindex, gateway, ..
        } => format!("{} {}", object.id, links.leg(*ifindex, *gateway)),
        ObjectKind::Group { members, .. } => match members.len() {
            1 => format!("group {} of 1 nexthop", object.id),
            n => format!("group {} of {n} nexthops", object.id),
        },
        ObjectKind::Other => object.id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{Family, Link, Nexthop, PROTOCOL, RouteKey, TABLE_MAIN, Weight};

    /// A kernel that refuses what the test says, and records what it was asked.
    #[derive(Default)]
    struct Fake {
        refuse_legs_on: Vec<u32>,
        refuse_groups: bool,
        log: Vec<String>,
    }

    impl Seam for Fake {
        fn write_route(&mut self, route: &Route, _: bool) -> Result<(), String> {
            if route
                .nexthops
                .iter()
                .any(|n| self.refuse_legs_on.contains(&n.ifindex))
                && route.nh_id.is_none()
            {
                return Err("Nexthop has invalid gateway".into());
            }
            self.log.push(format!("route {}", route.nexthops.len()));
            Ok(())
        }
        fn delete_route(&mut self, _: &Route) -> Result<(), String> {
            self.log.push("delete route".into());
            Ok(())
        }
        fn write_object(&mut self, object: &Object, _: bool) -> Result<(), String> {
            match &object.kind {
                ObjectKind::Leg { ifindex, .. } if self.refuse_legs_on.contains(ifindex) => {
                    Err("Nexthop has invalid gateway".into())
                }
                ObjectKind::Group { members, .. } if self.refuse_groups => {
                    let _ = members;
                    Err("No space left on device".into())
                }
                ObjectKind::Group { members, .. } => {
                    self.log.push(format!("group of {}", members.len()));
                    Ok(())
                }
                _ => {
                    self.log.push(format!("leg {}", object.id));
                    Ok(())
                }
            }
        }
        fn delete_object(&mut self, id: u32) -> Result<(), String> {
            self.log.push(format!("delete {id}"));
            Ok(())
        }
        fn set_sysctl(&mut self, sysctl: &Sysctl, value: u8) -> Result<(), String> {
            self.log.push(format!("{sysctl}={value}"));
            Ok(())
        }
        fn write_rule(&mut self, rule: &Rule) -> Result<(), String> {
            self.log.push(format!("{rule}"));
            Ok(())
        }
        fn delete_rule(&mut self, rule: &Rule) -> Result<(), String> {
            self.log.push(format!("delete {rule}"));
            Ok(())
        }
        fn flush_conntrack(&mut self, _: Family, a: &[IpAddr]) -> Result<Option<usize>, String> {
            self.log.push(format!("conntrack {}", a.len()));
            Ok(Some(3))
        }
    }

    fn links() -> Links {
        let mut l = Links::default();
        for (index, name) in [(2, "wan1"), (3, "wan2"), (4, "wan3")] {
            l.insert(Link {
                name: name.into(),
                index,
                carrier: true,
            });
        }
        l
    }

    fn nh(ifindex: u32) -> Nexthop {
        Nexthop {
            ifindex,
            gateway: Some(format!("fe80::{ifindex}").parse().unwrap()),
            weight: Weight::ONE,
        }
    }

    fn key() -> RouteKey {
        RouteKey {
            table: TABLE_MAIN,
            dst: "2000::/3".parse().unwrap(),
            metric: 1024,
        }
    }

    fn leg(id: u32, ifindex: u32) -> Change {
        Change::WriteObject {
            group: "v6".into(),
            object: Object {
                id,
                protocol: PROTOCOL,
                kind: ObjectKind::Leg {
                    family: Family::V6,
                    ifindex,
                    gateway: nh(ifindex).gateway,
                },
            },
            create: true,
        }
    }

    fn group(members: &[u32]) -> Change {
        Change::WriteObject {
            group: "v6".into(),
            object: Object {
                id: 100,
                protocol: PROTOCOL,
                kind: ObjectKind::Group {
                    members: members.iter().map(|&m| (m, Weight::ONE)).collect(),
                    resilient: None,
                },
            },
            create: true,
        }
    }

    #[test]
    fn a_refused_leg_fails_alone_and_its_group_is_written_without_it() {
        let changes = Changes {
            changes: vec![
                leg(11, 2),
                leg(12, 3),
                leg(13, 4),
                group(&[11, 12, 13]),
                Change::Write {
                    group: "v6".into(),
                    route: Route::owned_via(key(), 100, vec![nh(2), nh(3), nh(4)]),
                    create: true,
                },
            ],
            conflicts: vec![],
        };
        let mut kernel = Fake {
            refuse_legs_on: vec![3],
            ..Fake::default()
        };
        let out = apply(&mut kernel, &changes, &links());
        assert_eq!(
            kernel.log,
            ["leg 11", "leg 13", "group of 2", "route 3"],
            "the route through the group is written"
        );
        assert_eq!(out.errors.len(), 1, "{out:?}");
        assert!(
            out.errors[0].contains("via fe80::3 dev wan2: Nexthop has invalid gateway"),
            "{out:?}"
        );
        assert!(
            out.done
                .iter()
                .any(|d| d.ends_with("of 2 nexthops (1 refused)"))
        );
    }

    #[test]
    fn a_refused_multipath_route_is_written_with_the_legs_the_kernel_takes() {
        let changes = Changes {
            changes: vec![Change::Write {
                group: "v6".into(),
                route: Route::owned(key(), vec![nh(2), nh(3), nh(4)]),
                create: true,
            }],
            conflicts: vec![],
        };
        let mut kernel = Fake {
            refuse_legs_on: vec![3],
            ..Fake::default()
        };
        let out = apply(&mut kernel, &changes, &links());
        assert_eq!(kernel.log, ["route 1", "route 2"]);
        assert_eq!(
            out.done,
            [
                "v6: 2000::/3 table main metric 1024 -> via fe80::2 dev wan1 weight 1, via fe80::4 dev wan3 weight 1"
            ]
        );
        assert_eq!(out.errors.len(), 1, "{out:?}");
    }

    #[test]
    fn a_failed_group_is_not_touched_again_and_others_go_on() {
        let other = Change::Sysctl {
            setting: crate::planner::Setting {
                sysctl: Sysctl::HashPolicy(Family::V6),
                want: 1,
            },
            have: 0,
        };
        let changes = Changes {
            changes: vec![
                other,
                leg(11, 2),
                group(&[11]),
                Change::Write {
                    group: "v6".into(),
                    route: Route::owned_via(key(), 100, vec![nh(2)]),
                    create: true,
                },
                Change::DeleteObject {
                    group: None,
                    object: Object {
                        id: 7,
                        protocol: PROTOCOL,
                        kind: ObjectKind::Other,
                    },
                },
            ],
            conflicts: vec![Conflict::Unsupported { group: "v4".into() }],
        };
        let mut kernel = Fake {
            refuse_groups: true,
            ..Fake::default()
        };
        let out = apply(&mut kernel, &changes, &links());
        assert_eq!(
            kernel.log,
            ["net.ipv6.fib_multipath_hash_policy=1", "leg 11", "delete 7"],
            "no route through a group that isn't there"
        );
        assert_eq!(out.errors.len(), 2, "{out:?}");
        assert!(out.errors[0].starts_with("v4: mode resilient"));
        assert!(out.errors[1].contains("No space left on device"));
        assert_eq!(out.done[0], "net.ipv6.fib_multipath_hash_policy 0 -> 1");
    }
}
