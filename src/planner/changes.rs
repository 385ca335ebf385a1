//! The kernel writes that make the kernel equal the plan, and the groups left alone.

use std::net::IpAddr;

use super::desired::Desired;
use super::ids::in_range;
use super::paths::{PATHS, Paths};
use super::settings::Setting;
use crate::route::{Family, Object, ObjectKind, Route, Rule};

/// One kernel write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Install `route`. `create` means no route of ours held the key when the kernel was
    /// read, so the write must not replace anything (NLM_F_EXCL): a route that appeared since
    /// is not ours to overwrite.
    Write {
        group: String,
        route: Route,
        create: bool,
    },
    /// Remove `route`, which carries the tool's mark. `group` is `None` for a route that no
    /// group wants any more (config changed, `enabled 0`, `flush`).
    Delete { group: Option<String>, route: Route },
    /// Install nexthop object `object`; `create` as for routes. Otherwise it replaces the
    /// object of ours with its id in place: a group's new member list is one atomic change.
    WriteObject {
        group: String,
        object: Object,
        create: bool,
    },
    /// Remove an object of ours; `group` as for `Delete`.
    DeleteObject {
        group: Option<String>,
        object: Object,
    },
    /// Set a sysctl the plan needs from `have` to `setting.want`.
    Sysctl { setting: Setting, have: u8 },
    /// Add an uplink path's rule.
    WriteRule(Rule),
    /// Remove a rule of ours no uplink path wants.
    DeleteRule(Rule),
    /// `interface` left `group` while its device stays: delete the conntrack entries whose
    /// source was translated to one of its `addresses`, so its connections follow it out.
    Conntrack {
        group: String,
        interface: String,
        family: Family,
        addresses: Vec<IpAddr>,
    },
}

impl Change {
    /// The group the change is for; `None` for leftovers and settings.
    pub fn group(&self) -> Option<&str> {
        match self {
            Change::Write { group, .. }
            | Change::WriteObject { group, .. }
            | Change::Conntrack { group, .. } => Some(group),
            Change::Delete { group, .. } | Change::DeleteObject { group, .. } => group.as_deref(),
            Change::Sysctl { .. } | Change::WriteRule(_) | Change::DeleteRule(_) => None,
        }
    }
}

/// Why a group is left alone (and the run fails).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// Its key is held by a route the tool did not write.
    Route { group: String, route: Route },
    /// One of its object ids is held by an object the tool did not write.
    Object { group: String, object: Object },
    /// Its mode is `resilient` and the kernel refuses resilient groups.
    Unsupported { group: String },
}

impl Conflict {
    pub fn group(&self) -> &str {
        match self {
            Conflict::Route { group, .. }
            | Conflict::Object { group, .. }
            | Conflict::Unsupported { group } => group,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// In this order: sysctls, objects written (legs before the groups that use them), routes
    /// written, routes deleted, objects deleted (groups before their legs). So a route always
    /// has what it points to, and a group whose key moved is never without a route.
    pub changes: Vec<Change>,
    pub conflicts: Vec<Conflict>,
}

/// What to write so that the kernel's routes, nexthop objects and sysctls equal the plan:
/// `desired`, and `settings` with the value each has now (`None`: this kernel doesn't have
/// it, so there is nothing to set). Nothing without the tool's mark is in the result, except
/// as a conflict; an object of ours that something else uses (a foreign route or group) is
/// kept.
pub fn changes(
    desired: &[Desired],
    paths: &Paths,
    installed: &Installed,
    settings: &[(Setting, Option<u8>)],
) -> Changes {
    let (installed, objects, rules) = (installed.routes, installed.objects, installed.rules);
    let mut out = Changes::default();
    for (setting, have) in settings {
        match *have {
            Some(have) if !setting.met_by(have) => out.changes.push(Change::Sysctl {
                setting: setting.clone(),
                have,
            }),
            _ => {}
        }
    }
    let mut routes = Vec::new();
    let mut deletes = Vec::new();
    // Ranges of groups left alone: their objects are not stale.
    let mut held: Vec<u32> = Vec::new();
    for d in desired {
        let group = d.group.name.clone();
        let key = &d.group.key;
        let at_key: Vec<&Route> = installed.iter().filter(|r| r.holds(key)).collect();
        if let Some(foreign) = at_key.iter().find(|r| !r.is_owned()) {
            out.conflicts.push(Conflict::Route {
                group,
                route: (*foreign).clone(),
            });
            held.push(d.group_id);
            continue;
        }
        if d.unsupported {
            out.conflicts.push(Conflict::Unsupported { group });
            held.push(d.group_id);
            continue;
        }
        let (writes, rewrite_route) = match object_writes(&group, &d.objects, objects) {
            Ok(w) => w,
            Err(object) => {
                out.conflicts.push(Conflict::Object { group, object });
                held.push(d.group_id);
                continue;
            }
        };
        out.changes.extend(writes);
        let ours = at_key.first();
        match (d.route.nexthops.is_empty(), ours) {
            (true, None) => {}
            (true, Some(r)) => deletes.push(Change::Delete {
                group: Some(group),
                route: (*r).clone(),
            }),
            (false, Some(r)) if r.same_as(&d.route) && !rewrite_route => {}
            (false, ours) => routes.push(Change::Write {
                group,
                route: d.route.clone(),
                create: ours.is_none(),
            }),
        }
    }
    for path in &paths.routes {
        let at_key = installed.iter().find(|r| r.holds(&path.key));
        match at_key {
            // Someone else's route in a table of ours: left alone, the probes go by it.
            Some(r) if !r.is_owned() || r.same_as(path) => {}
            _ => routes.push(Change::Write {
                group: PATHS.into(),
                route: path.clone(),
                create: at_key.is_none(),
            }),
        }
    }
    for r in installed.iter().filter(|r| r.is_owned()) {
        let wanted = desired.iter().any(|d| r.holds(&d.group.key))
            || paths.routes.iter().any(|p| r.holds(&p.key));
        if !wanted {
            deletes.push(Change::Delete {
                group: None,
                route: r.clone(),
            });
        }
    }
    out.changes.extend(routes);
    // Where rules can't be read, none are written: bound sockets then go by the main table.
    if let Some(rules) = rules {
        let new_rules = paths.rules.iter().filter(|r| !rules.contains(r));
        out.changes
            .extend(new_rules.cloned().map(Change::WriteRule));
        let stale_rules = rules
            .iter()
            .filter(|r| r.is_owned() && !paths.rules.contains(r));
        out.changes
            .extend(stale_rules.cloned().map(Change::DeleteRule));
    }
    out.changes.extend(deletes);
    out.changes
        .extend(stale_objects(desired, installed, objects, &held));
    out.changes
        .extend(conntrack(desired, installed, objects, &held));
    out
}

/// What the kernel has that a plan is compared with.
#[derive(Clone, Copy, Debug)]
pub struct Installed<'k> {
    pub routes: &'k [Route],
    pub objects: &'k [Object],
    /// `None`: this kernel's rules can't be read (`Kernel::rules`).
    pub rules: Option<&'k [Rule]>,
}

/// For each group that flushes conntrack, each uplink whose leg the kernel still has and
/// that is left out while its device stays: its translated connections go with it.
fn conntrack(
    desired: &[Desired],
    routes: &[Route],
    objects: &[Object],
    held: &[u32],
) -> Vec<Change> {
    let mut out = Vec::new();
    for d in desired.iter().filter(|d| d.group.flush_conntrack) {
        if d.unsupported || held.contains(&d.group_id) {
            continue;
        }
        let mut gone: Vec<u32> = d.installed(routes, objects).map(|(i, _)| i).collect();
        gone.retain(|i| !d.members.iter().any(|m| m.nexthop.ifindex == *i));
        gone.dedup();
        for s in &d.skipped {
            let Some(device) = s.device else { continue };
            if gone.contains(&device) && !s.addresses.is_empty() {
                out.push(Change::Conntrack {
                    group: d.group.name.clone(),
                    interface: s.interface.clone(),
                    family: d.group.family(),
                    addresses: s.addresses.clone(),
                });
            }
        }
    }
    out
}

/// The writes that bring one group's objects from `installed` to `want`, and whether the
/// group object is recreated (which takes the route with it, so it must be written again).
/// `Err`: an id is held by an object the tool did not write.
fn object_writes(
    group: &str,
    want: &[Object],
    installed: &[Object],
) -> Result<(Vec<Change>, bool), Object> {
    let mut writes = Vec::new();
    let mut recreated = false;
    for o in want {
        let write = |create| Change::WriteObject {
            group: group.to_string(),
            object: o.clone(),
            create,
        };
        match installed.iter().find(|k| k.id == o.id) {
            None => writes.push(write(true)),
            Some(k) if !k.is_owned() => return Err(k.clone()),
            Some(k) if k.kind == o.kind => {}
            Some(k) if replaceable(&k.kind, &o.kind) => writes.push(write(false)),
            Some(k) => {
                // The kernel can't turn a leg into a group or change a table's size in
                // place: remove it, then create it anew.
                writes.push(Change::DeleteObject {
                    group: Some(group.to_string()),
                    object: k.clone(),
                });
                writes.push(write(true));
                recreated |= matches!(o.kind, ObjectKind::Group { .. });
            }
        }
    }
    Ok((writes, recreated))
}

fn replaceable(old: &ObjectKind, new: &ObjectKind) -> bool {
    match (old, new) {
        (ObjectKind::Leg { .. }, ObjectKind::Leg { .. }) => true,
        (
            ObjectKind::Group {
                resilient: Some(a), ..
            },
            ObjectKind::Group {
                resilient: Some(b), ..
            },
        ) => a.buckets == b.buckets,
        _ => false,
    }
}

/// Objects of ours no group wants: groups first, then legs. Kept: those in a held group's
/// range and those a route or group of someone else's uses (deleting them would change it).
fn stale_objects(
    desired: &[Desired],
    routes: &[Route],
    objects: &[Object],
    held: &[u32],
) -> Vec<Change> {
    let wanted = |id: u32| desired.iter().any(|d| d.objects.iter().any(|o| o.id == id));
    let used_by_others = |id: u32| {
        routes.iter().any(|r| !r.is_owned() && r.nh_id == Some(id))
            || objects.iter().any(|o| {
                !o.is_owned()
                    && matches!(&o.kind, ObjectKind::Group { members, .. } if members.iter().any(|m| m.0 == id))
            })
    };
    let stale = |o: &&Object| {
        o.is_owned()
            && !wanted(o.id)
            && !used_by_others(o.id)
            && !held.iter().any(|&g| in_range(o.id, g))
    };
    let is_group = |o: &&Object| matches!(o.kind, ObjectKind::Group { .. });
    // Two passes rather than a sort: a sort of objects cost 500 bytes on mipsel.
    let groups = objects.iter().filter(stale).filter(is_group);
    let legs = objects.iter().filter(stale).filter(|o| !is_group(o));
    groups
        .chain(legs)
        .map(|o| Change::DeleteObject {
            group: None,
            object: o.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testing::*;
    use crate::planner::testing::{changes, desired};

    #[test]
    fn changes_table() {
        let g = group("v6", "2000::/3", &["dhcpv6"], &[]);
        let two = vec![nh(2, Some("fe80::1"), 1), nh(3, Some("fe80::2"), 1)];
        let want = |nexthops: Vec<Nexthop>| multipath(&g, nexthops);
        let ours = |nexthops| installed("2000::/3", 1024, PROTOCOL, nexthops);
        let short = |c: &Changes| -> Vec<String> {
            c.changes
                .iter()
                .map(|c| match c {
                    Change::Write { route, create, .. } => {
                        format!("write {} legs create={create}", route.nexthops.len())
                    }
                    Change::Delete { group, route } => format!("delete {} ({group:?})", route.key),
                    other => format!("{other:?}"),
                })
                .chain(c.conflicts.iter().map(|c| match c {
                    Conflict::Route { route, .. } => format!("conflict proto {}", route.protocol),
                    other => format!("{other:?}"),
                }))
                .collect()
        };
        type Case<'a> = (&'a str, Vec<Desired<'a>>, Vec<Route>, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "new route",
                vec![want(two.clone())],
                vec![],
                vec!["write 2 legs create=true"],
            ),
            (
                "in sync: nothing",
                vec![want(two.clone())],
                vec![ours(two.clone())],
                vec![],
            ),
            (
                "order doesn't matter",
                vec![want(two.clone())],
                vec![ours(vec![two[1], two[0]])],
                vec![],
            ),
            (
                "a leg goes",
                vec![want(vec![two[0]])],
                vec![ours(two.clone())],
                vec!["write 1 legs create=false"],
            ),
            (
                "reweighted",
                vec![want(vec![two[0], nh(3, Some("fe80::2"), 2)])],
                vec![ours(two.clone())],
                vec!["write 2 legs create=false"],
            ),
            (
                "single leg weight is not compared",
                vec![want(vec![nh(2, Some("fe80::1"), 7)])],
                vec![ours(vec![two[0]])],
                vec![],
            ),
            (
                "last member gone",
                vec![want(vec![])],
                vec![ours(two.clone())],
                vec!["delete 2000::/3 table main metric 1024 (Some(\"v6\"))"],
            ),
            (
                "nothing wanted, nothing there",
                vec![want(vec![])],
                vec![],
                vec![],
            ),
            (
                "foreign route at the key",
                vec![want(two.clone())],
                vec![installed("2000::/3", 1024, 4, vec![two[0]])],
                vec!["conflict proto 4"],
            ),
            (
                "foreign routes elsewhere are not ours to touch",
                vec![want(two.clone())],
                vec![
                    installed("2000::/3", 1025, 4, vec![two[0]]),
                    installed("::/0", 1024, 9, vec![two[0]]),
                ],
                vec!["write 2 legs create=true"],
            ),
            (
                "our route at an old metric is stale: write new first, then delete",
                vec![want(two.clone())],
                vec![installed("2000::/3", 256, PROTOCOL, two.clone())],
                vec![
                    "write 2 legs create=true",
                    "delete 2000::/3 table main metric 256 (None)",
                ],
            ),
            (
                "flush: no groups, ours go, foreign stay",
                vec![],
                vec![ours(two.clone()), installed("2000::/3", 7, 4, two.clone())],
                vec!["delete 2000::/3 table main metric 1024 (None)"],
            ),
        ];
        for (case, desired, installed, want) in cases {
            assert_eq!(
                short(&changes(&desired, &installed, &[], &[])),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn a_source_specific_route_does_not_hold_the_key() {
        let g = group("v6", "2000::/3", &["dhcpv6"], &[]);
        let mut foreign = installed("2000::/3", 1024, 4, vec![nh(2, Some("fe80::1"), 1)]);
        foreign.src = Some("2001:db8::/56".parse().unwrap());
        let d = vec![multipath(&g, vec![nh(2, Some("fe80::1"), 1)])];
        let c = changes(&d, &[foreign], &[], &[]);
        assert!(c.conflicts.is_empty());
        assert_eq!(c.changes.len(), 1);
    }

    #[test]
    fn object_changes_table() {
        let g = group("v6", "2000::/3", &["dhcpv6"], &[]);
        let cfg = config(vec![g.clone()], &[]);
        let mut recfg = cfg.clone();
        recfg.groups[0].resilient.buckets = 64;
        let mut mpcfg = cfg.clone();
        mpcfg.groups[0].mode = Some(Mode::Multipath);
        let mut forced = cfg.clone();
        forced.groups[0].mode = Some(Mode::Resilient);
        let (a, b, c) = (
            v6_iface("wan6", "eth1", "fe80::1"),
            v6_iface("wan_6", "eth2", "fe80::2"),
            v6_iface("wanb_6", "pppoe-wan", "fe80::3"),
        );
        let ab = resilient_desired(&cfg, &[a.clone(), b.clone()]);
        let abc = resilient_desired(&cfg, &[a.clone(), b.clone(), c.clone()]);
        let gid = ab.group_id;
        // The kernel after `ab` was applied.
        let ab_objects = ab.objects.clone();
        let ab_route = ab.route.clone();
        let foreign_route = |id| Route {
            protocol: 4,
            nh_id: Some(id),
            ..installed("::/0", 1024, 4, vec![])
        };
        let short = |c: &Changes| -> Vec<String> {
            c.changes
                .iter()
                .map(|c| match c {
                    Change::Write { route, create, .. } => format!(
                        "route {} create={create}",
                        route
                            .nh_id
                            .map_or("multipath".into(), |id| format!("{:x}", id))
                    ),
                    Change::Delete { .. } => "delete route".into(),
                    Change::WriteObject { object, create, .. } => {
                        format!("object {:x} create={create}", object.id)
                    }
                    Change::DeleteObject { object, .. } => format!("delete {:x}", object.id),
                    Change::Sysctl { setting, have } => {
                        format!("sysctl {} {have}->{}", setting.sysctl, setting.want)
                    }
                    other => format!("{other:?}"),
                })
                .chain(c.conflicts.iter().map(|c| match c {
                    Conflict::Object { object, .. } => format!("conflict {:x}", object.id),
                    other => format!("{other:?}"),
                }))
                .collect()
        };
        let [la, lb, _] = ab.objects.as_slice() else {
            panic!()
        };
        let (la, lb) = (la.id, lb.id);
        let lc = abc
            .objects
            .iter()
            .find(|o| ![la, lb, gid].contains(&o.id))
            .unwrap()
            .id;
        let mut gw_moved = ab_objects.clone();
        if let ObjectKind::Leg { gateway, .. } = &mut gw_moved[0].kind {
            *gateway = Some("fe80::99".parse().unwrap());
        }
        let mut stolen = ab_objects.clone();
        stolen[0].protocol = 4;
        let mp_route = Route::owned(g.key, ab.route.nexthops.clone());
        type Case<'a> = (
            &'a str,
            Vec<Desired<'a>>,
            Vec<Route>,
            Vec<Object>,
            Vec<String>,
        );
        let cases: Vec<Case> = vec![
            (
                "from nothing: legs, group, then the route",
                vec![ab.clone()],
                vec![],
                vec![],
                vec![
                    format!("object {la:x} create=true"),
                    format!("object {lb:x} create=true"),
                    format!("object {gid:x} create=true"),
                    format!("route {gid:x} create=true"),
                ],
            ),
            (
                "in sync",
                vec![ab.clone()],
                vec![ab_route.clone()],
                ab_objects.clone(),
                vec![],
            ),
            (
                "an uplink joins: its leg, then one replace of the group; the route stays",
                vec![abc.clone()],
                vec![ab_route.clone()],
                ab_objects.clone(),
                vec![
                    format!("object {lc:x} create=true"),
                    format!("object {gid:x} create=false"),
                ],
            ),
            (
                "an uplink leaves: the group first, its leg after",
                vec![ab.clone()],
                vec![ab_route.clone()],
                abc.objects.clone(),
                vec![
                    format!("object {gid:x} create=false"),
                    format!("delete {lc:x}"),
                ],
            ),
            (
                "a gateway moved: the leg is replaced in place",
                vec![ab.clone()],
                vec![ab_route.clone()],
                gw_moved,
                vec![format!("object {la:x} create=false")],
            ),
            (
                "a new table size: the group is made anew and the route written again",
                vec![resilient_desired(&recfg, &[a.clone(), b.clone()])],
                vec![ab_route.clone()],
                ab_objects.clone(),
                vec![
                    format!("delete {gid:x}"),
                    format!("object {gid:x} create=true"),
                    format!("route {gid:x} create=false"),
                ],
            ),
            (
                "multipath to resilient: objects, then the route replaced",
                vec![ab.clone()],
                vec![mp_route.clone()],
                vec![],
                vec![
                    format!("object {la:x} create=true"),
                    format!("object {lb:x} create=true"),
                    format!("object {gid:x} create=true"),
                    format!("route {gid:x} create=false"),
                ],
            ),
            (
                "resilient to multipath: the route first, then group and legs",
                desired(
                    &dump(&[a.clone(), b.clone()].join(",")),
                    &mpcfg,
                    &links(),
                    true,
                ),
                vec![ab_route.clone()],
                ab_objects.clone(),
                vec![
                    "route multipath create=false".into(),
                    format!("delete {gid:x}"),
                    format!("delete {la:x}"),
                    format!("delete {lb:x}"),
                ],
            ),
            (
                "last uplink gone: route, group, legs",
                vec![resilient_desired(&cfg, &[])],
                vec![ab_route.clone()],
                ab_objects.clone(),
                vec![
                    "delete route".into(),
                    format!("delete {gid:x}"),
                    format!("delete {la:x}"),
                    format!("delete {lb:x}"),
                ],
            ),
            (
                "someone else's object at one of our ids: the group is left alone",
                vec![ab.clone()],
                vec![],
                stolen,
                vec![format!("conflict {la:x}")],
            ),
            (
                "forced resilient on an old kernel: nothing of the group is touched",
                desired(&dump(""), &forced, &links(), false),
                vec![ab_route.clone()],
                ab_objects.clone(),
                vec!["Unsupported { group: \"v6\" }".into()],
            ),
            (
                "flush, but a foreign route uses our group: it stays, the legs go",
                vec![],
                vec![ab_route.clone(), foreign_route(gid)],
                ab_objects.clone(),
                vec![
                    "delete route".into(),
                    format!("delete {la:x}"),
                    format!("delete {lb:x}"),
                ],
            ),
            (
                "a probe left behind by a killed run is stale",
                vec![ab.clone()],
                vec![ab_route.clone()],
                [
                    ab_objects.clone(),
                    vec![
                        Object {
                            id: PROBE_GROUP_ID,
                            protocol: PROTOCOL,
                            kind: ObjectKind::Group {
                                members: vec![(PROBE_LEG_ID, Weight::ONE)],
                                resilient: Some(Resilient {
                                    buckets: 1,
                                    idle_timer: 0,
                                    unbalanced_timer: 0,
                                }),
                            },
                        },
                        Object {
                            id: PROBE_LEG_ID,
                            protocol: PROTOCOL,
                            kind: ObjectKind::Other,
                        },
                    ],
                ]
                .concat(),
                vec![
                    format!("delete {PROBE_GROUP_ID:x}"),
                    format!("delete {PROBE_LEG_ID:x}"),
                ],
            ),
        ];
        for (case, desired, routes, objects, want) in cases {
            assert_eq!(
                short(&changes(&desired, &routes, &objects, &[])),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn a_member_that_leaves_with_its_addresses_takes_its_translated_connections() {
        let offline = Health {
            tracked: vec![record("wanb_6", 3, false, 3)],
            ..Health::default()
        };
        let (mut cfg, d) = tracked(&[]);
        // What the kernel has: the multipath route over all three.
        let all = crate::planner::desired(&d, &cfg, &links(), false, &Health::default());
        let installed = vec![all[0].route.clone()];
        let conntrack = |cfg: &Config, h: &Health| -> Vec<Change> {
            let desired = crate::planner::desired(&d, cfg, &links(), false, h);
            let inst = Installed {
                routes: &installed,
                objects: &[],
                rules: Some(&[]),
            };
            crate::planner::changes(&desired, &Paths::default(), &inst, &[])
                .changes
                .into_iter()
                .filter(|c| matches!(c, Change::Conntrack { .. }))
                .collect()
        };
        assert_eq!(
            conntrack(&cfg, &offline),
            [Change::Conntrack {
                group: "v6".into(),
                interface: "wanb_6".into(),
                family: Family::V6,
                addresses: vec!["2001:db8:2::2".parse().unwrap()],
            }]
        );
        // Nobody left: nothing to delete; and a group that doesn't flush never does.
        assert_eq!(conntrack(&cfg, &Health::default()), []);
        cfg.groups[0].flush_conntrack = false;
        assert_eq!(conntrack(&cfg, &offline), []);
    }
}
