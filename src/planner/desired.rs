//! What each group's route should be: its members, and why each other candidate is left out.

use std::net::IpAddr;

use super::health::{Health, Verdict};
#[cfg(test)]
use super::ids::slot;
use super::ids::{free_slot, group_ids, in_range};
use super::member::{Member, Reason, Skip};
use crate::config::{Config, Group, Mode};
use crate::dump::{Dump, Interface};
use crate::route::{Family, Links, Nexthop, Object, ObjectKind, PROTOCOL, Route, Weight};

/// What one group's route should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired<'c> {
    pub group: &'c Group,
    /// The mode in use: `Resilient` or `Multipath` (auto is resolved).
    pub mode: Mode,
    /// Resilient mode was asked for but this kernel refuses it: the group is left alone.
    pub unsupported: bool,
    /// The group's nexthop-group object id (its legs' ids are next to it).
    pub group_id: u32,
    /// The route to install; no nexthops means the route should not exist.
    pub route: Route,
    /// Resilient mode: the legs, then the group the route uses; empty without members.
    pub objects: Vec<Object>,
    /// The interfaces behind `route.nexthops`, in interface-name order.
    pub members: Vec<Member>,
    pub skipped: Vec<Skip>,
    /// Every member would be offline (tracking, mwan3track) or is held, and one at least is
    /// offline: all are kept instead.
    pub fail_open: bool,
    /// Members held: failing `down` rounds in a row, every one of them a round that every
    /// member failed, so none is taken out for them.
    pub held: Vec<String>,
    /// The uplinks `watch` probes for this group: its members and those left out only for
    /// being offline, without the ones whose member section says `track '0'`.
    pub tracked: Vec<Member>,
    /// Its members and those left out only for being offline (by tracking or mwan3): each
    /// gets its uplink path (`uplink_paths`), in or out of the route.
    pub uplinks: Vec<Member>,
    /// The configured devices of candidates that have none to route through now (down), by
    /// index: `watch` follows default routes there too.
    pub waiting: Vec<u32>,
}

/// The desired route of every group. With `enabled 0` there are none, so every route the tool
/// owns becomes stale and is removed. `resilient` says whether the kernel takes resilient
/// nexthop groups: `auto` groups then use them.
pub fn desired<'c>(
    dump: &Dump,
    config: &'c Config,
    links: &Links,
    resilient: bool,
    health: &Health,
) -> Vec<Desired<'c>> {
    if !config.enabled {
        return Vec::new();
    }
    // What mwan3 routes nothing through, once for every group.
    let mwan3 = crate::mwan3::offline(
        &health.mwan3_sections,
        health.mwan3_states.as_deref(),
        |n| dump.get(n).is_some(),
    );
    config
        .groups
        .iter()
        .zip(group_ids(config))
        .map(|(group, id)| {
            let (mode, unsupported) = match group.mode(config) {
                Mode::Auto if resilient => (Mode::Resilient, false),
                Mode::Auto | Mode::Multipath => (Mode::Multipath, false),
                Mode::Resilient => (Mode::Resilient, !resilient),
            };
            desired_group(
                dump,
                config,
                group,
                links,
                mode,
                id,
                unsupported,
                health,
                &mwan3,
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn desired_group<'c>(
    dump: &Dump,
    config: &Config,
    group: &'c Group,
    links: &Links,
    mode: Mode,
    group_id: u32,
    unsupported: bool,
    health: &Health,
    mwan3: &[(String, Family)],
) -> Desired<'c> {
    let mut candidates: Vec<&Interface> = dump
        .interfaces
        .iter()
        .filter(|i| group.wants(&i.name, i.proto.as_deref()))
        .collect();
    candidates.sort_by(|a, b| a.name.cmp(&b.name));
    candidates.dedup_by(|a, b| a.name == b.name);

    let mut skipped: Vec<Skip> = group
        .interfaces
        .iter()
        .filter(|name| dump.get(name).is_none())
        .map(|name| Skip {
            interface: name.clone(),
            reason: Reason::NotInDump,
            device: None,
            addresses: Vec::new(),
        })
        .collect();
    let mut members: Vec<Member> = Vec::new();
    // A candidate with no device to route through (down: netifd names no `l3_device`) is
    // still watched on the device it is configured on, where its default comes back.
    let waiting = candidates
        .iter()
        .filter(|i| i.device.is_none())
        .filter_map(|i| links.index(i.configured_device.as_deref()?))
        .collect();
    for iface in candidates {
        match member(iface, group.family(), config, links) {
            Ok(m) if mode == Mode::Resilient && !links.carrier(m.nexthop.ifindex) => {
                skipped.push(Skip {
                    interface: m.interface,
                    reason: Reason::NoCarrier(m.device),
                    device: Some(m.nexthop.ifindex),
                    addresses: m.addresses,
                })
            }
            Ok(m) => match members.iter().find(|o| {
                (o.nexthop.ifindex, o.nexthop.gateway) == (m.nexthop.ifindex, m.nexthop.gateway)
            }) {
                Some(other) => skipped.push(Skip {
                    interface: m.interface,
                    reason: Reason::SameNexthop(other.interface.clone()),
                    device: Some(m.nexthop.ifindex),
                    addresses: m.addresses,
                }),
                None => members.push(m),
            },
            Err(reason) => skipped.push(Skip {
                interface: iface.name.clone(),
                reason,
                device: iface.device.as_deref().and_then(|d| links.index(d)),
                addresses: addresses(iface, group.family()),
            }),
        }
    }
    let uplinks = members.clone();
    let tracked: Vec<Member> = match group.track {
        Some(_) => members
            .iter()
            .filter(|m| !config.untracked.contains(&m.interface))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let verdicts: Vec<Verdict> = members
        .iter()
        .map(|m| health.verdict(mwan3, group, m))
        .collect();
    let held = members
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| matches!(v, Verdict::Condemned))
        .map(|(m, _)| m.interface.clone())
        .collect();
    // Fail open: tracking that condemns every member, and would take one out at least, is
    // likelier wrong than right, and an empty group would take the route away. Members that
    // are all held are kept anyway: that is no fail open.
    let fail_open = !verdicts.iter().any(|v| matches!(v, Verdict::Healthy))
        && verdicts.iter().any(|v| matches!(v, Verdict::Out(_)));
    if !fail_open {
        let mut verdicts = verdicts.into_iter();
        members.retain(|m| match verdicts.next() {
            Some(Verdict::Healthy | Verdict::Condemned) | None => true,
            Some(Verdict::Out(reason)) => {
                skipped.push(Skip {
                    interface: m.interface.clone(),
                    reason,
                    device: Some(m.nexthop.ifindex),
                    addresses: m.addresses.clone(),
                });
                false
            }
        });
    }
    // Tiers, as mwan3's policies: the route carries the usable members of the lowest metric;
    // the others stand by, probed and with their uplink paths, until that tier has none.
    if let Some(in_use) = members.iter().map(|m| m.metric).min() {
        members.retain(|m| {
            if m.metric == in_use {
                return true;
            }
            skipped.push(Skip {
                interface: m.interface.clone(),
                reason: Reason::Standby {
                    metric: m.metric,
                    in_use,
                },
                device: Some(m.nexthop.ifindex),
                addresses: m.addresses.clone(),
            });
            false
        });
    }
    skipped.sort_by(|a, b| a.interface.cmp(&b.interface));
    let nexthops = members.iter().map(|m| m.nexthop).collect();
    let (route, objects) = if mode == Mode::Resilient && !members.is_empty() {
        (
            Route::owned_via(group.key, group_id, nexthops),
            objects(group, group_id, &members),
        )
    } else {
        (Route::owned(group.key, nexthops), Vec::new())
    };
    Desired {
        group,
        mode,
        unsupported,
        group_id,
        route,
        objects,
        members,
        skipped,
        fail_open,
        held,
        tracked,
        uplinks,
        waiting,
    }
}

/// A resilient group's objects: one leg per member, then the group of them.
fn objects(group: &Group, group_id: u32, members: &[Member]) -> Vec<Object> {
    let mut slots: Vec<u32> = Vec::with_capacity(members.len());
    let mut legs: Vec<Object> = Vec::with_capacity(members.len() + 1);
    for m in members {
        let s = free_slot(&m.interface, &slots);
        slots.push(s);
        legs.push(Object {
            id: group_id | s,
            protocol: PROTOCOL,
            kind: ObjectKind::Leg {
                family: group.family(),
                ifindex: m.nexthop.ifindex,
                gateway: m.nexthop.gateway,
            },
        });
    }
    let mut in_group: Vec<(u32, Weight)> = legs
        .iter()
        .zip(members)
        .map(|(leg, m)| (leg.id, m.nexthop.weight))
        .collect();
    in_group.sort();
    legs.push(Object {
        id: group_id,
        protocol: PROTOCOL,
        kind: ObjectKind::Group {
            members: in_group,
            resilient: Some(group.resilient),
        },
    });
    legs
}

fn member(
    iface: &Interface,
    family: Family,
    config: &Config,
    links: &Links,
) -> Result<Member, Reason> {
    if let Some(why) = &iface.invalid {
        return Err(Reason::Invalid(why.clone()));
    }
    if !iface.up {
        return Err(Reason::Down);
    }
    let device = iface.device.as_ref().ok_or(Reason::NoDevice)?;
    let gateway = gateway(iface, family)?;
    if gateway.is_none() && family == Family::V6 {
        return Err(Reason::OnLinkV6);
    }
    let ifindex = links
        .index(device)
        .ok_or_else(|| Reason::NoSuchDevice(device.clone()))?;
    let weight = config
        .weights
        .get(&iface.name)
        .copied()
        .unwrap_or(Weight::ONE);
    Ok(Member {
        interface: iface.name.clone(),
        device: device.clone(),
        nexthop: Nexthop {
            ifindex,
            gateway,
            weight,
        },
        addresses: addresses(iface, family),
        uptime: iface.uptime,
        metric: config.metrics.get(&iface.name).copied().unwrap_or(1),
    })
}

fn addresses(iface: &Interface, family: Family) -> Vec<IpAddr> {
    let of_family = |a: &&IpAddr| Family::of(a) == family;
    iface.addresses.iter().filter(of_family).copied().collect()
}

/// The interface's gateway for `family`: among its live default routes (from `route` and
/// `inactive.route`) the lowest metric; source-specific copies of one default agree on the
/// nexthop, so they give one. `Ok(None)` is on-link. Equal metrics with different nexthops
/// (two routers on one link) take the lowest address, so the choice is stable.
pub fn gateway(iface: &Interface, family: Family) -> Result<Option<IpAddr>, Reason> {
    let defaults: Vec<_> = iface
        .defaults
        .iter()
        .filter(|d| d.family == family)
        .collect();
    if defaults.is_empty() {
        return Err(Reason::NoDefaultRoute);
    }
    let live: Vec<_> = defaults.into_iter().filter(|d| !d.withdrawn).collect();
    if live.is_empty() {
        return Err(Reason::Withdrawn);
    }
    let best = live
        .iter()
        .filter_map(|d| d.nexthop.as_ref().ok().map(|nh| (d.metric, *nh)))
        .min();
    match best {
        Some((_, nexthop)) => Ok(nexthop),
        None => {
            let bad = live
                .iter()
                .find_map(|d| d.nexthop.as_ref().err())
                .cloned()
                .unwrap_or_default();
            Err(Reason::BadGateway(bad))
        }
    }
}

impl Desired<'_> {
    /// Each member's share of the group's flows, in whole percent: its weight over the
    /// weights of its tier (the members in the route), as the kernel hashes them.
    pub fn shares(&self) -> Vec<u32> {
        let total: u32 = self
            .members
            .iter()
            .map(|m| u32::from(m.nexthop.weight.get()))
            .sum();
        self.members
            .iter()
            .map(|m| u32::from(m.nexthop.weight.get()) * 100 / total.max(1))
            .collect()
    }

    /// Every device of the group's candidates (members, those left out that have one, and
    /// the configured devices of those that are down):
    /// where a default route appearing, changing or going away may change the group.
    pub fn devices(&self) -> impl Iterator<Item = u32> + '_ {
        let members = self.members.iter().map(|m| m.nexthop.ifindex);
        members
            .chain(self.skipped.iter().filter_map(|s| s.device))
            .chain(self.waiting.iter().copied())
    }

    /// The nexthops of this group that the kernel has now: its legs, and its route's own
    /// nexthops where that is a multipath route (a mode switch can leave both for a run).
    pub(super) fn installed<'k>(
        &self,
        routes: &'k [Route],
        objects: &'k [Object],
    ) -> impl Iterator<Item = (u32, Option<IpAddr>)> + 'k {
        let (key, group_id) = (self.group.key, self.group_id);
        let legs = objects
            .iter()
            .filter(move |o| o.is_owned() && in_range(o.id, group_id))
            .filter_map(|o| match o.kind {
                ObjectKind::Leg {
                    ifindex, gateway, ..
                } => Some((ifindex, gateway)),
                _ => None,
            });
        let route = routes
            .iter()
            .filter(move |r| r.is_owned() && r.holds(&key) && r.nh_id.is_none())
            .flat_map(|r| r.nexthops.iter().map(|n| (n.ifindex, n.gateway)));
        legs.chain(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testing::desired;
    use crate::planner::testing::*;

    #[test]
    fn a_down_candidate_is_watched_on_its_configured_device() {
        // netifd's dump of a down interface: no l3_device, but the device it is set up on.
        let d = dump(&format!(
            r#"{},{{"interface":"wanb_6","up":false,"proto":"dhcpv6","device":"eth2","data":{{}}}},
               {{"interface":"wanc_6","up":false,"proto":"dhcpv6","data":{{}}}}"#,
            v6_iface("wan6", "eth1", "fe80::1")
        ));
        let g = group("v6", "2000::/3", &["dhcpv6"], &[]);
        let cfg = config(vec![g], &[]);
        let desired = crate::planner::desired(&d, &cfg, &links(), false, &Health::default());
        assert_eq!(
            desired[0].waiting,
            [3],
            "eth2 (3) for wanb_6; wanc_6 names none"
        );
        let mut devices: Vec<u32> = desired[0].devices().collect();
        devices.sort();
        assert_eq!(devices, [2, 3]);
    }

    #[test]
    fn membership_table() {
        // (case, interfaces in the dump, group, expected nexthops, expected skips)
        type Case<'a> = (
            &'a str,
            Vec<String>,
            Group,
            Vec<Nexthop>,
            Vec<(&'a str, Reason)>,
        );
        let v6 = || group("v6", "2000::/3", &["dhcpv6"], &[]);
        let cases: Vec<Case> = vec![
            (
                "two dhcpv6 uplinks, weights from members",
                vec![v6_iface("wan6", "eth1", "fe80::1"), v6_iface("wan_6", "pppoe-wan", "fe80::2")],
                v6(),
                vec![nh(2, Some("fe80::1"), 1), nh(4, Some("fe80::2"), 3)],
                vec![],
            ),
            (
                "down, no default yet, withdrawn, bad gateway, on-link, unknown device",
                vec![
                    r#"{"interface":"a","up":false,"proto":"dhcpv6"}"#.into(),
                    r#"{"interface":"b","up":true,"proto":"dhcpv6","l3_device":"eth1","route":[{"target":"2001:db8::","mask":64,"nexthop":"::"}]}"#.into(),
                    r#"{"interface":"c","up":true,"proto":"dhcpv6","l3_device":"eth1","route":[{"target":"::","mask":0,"nexthop":"fe80::1","valid":0}]}"#.into(),
                    r#"{"interface":"d","up":true,"proto":"dhcpv6","l3_device":"eth1","route":[{"target":"::","mask":0,"nexthop":"fe80::zz"}]}"#.into(),
                    r#"{"interface":"e","up":true,"proto":"dhcpv6","l3_device":"eth1","route":[{"target":"::","mask":0,"nexthop":"::"}]}"#.into(),
                    v6_iface("f", "wwan0", "fe80::1"),
                    r#"{"interface":"g","up":true,"proto":"dhcpv6"}"#.into(),
                    r#"{"interface":"h","up":"yes","proto":"dhcpv6"}"#.into(),
                    v6_iface("i", "eth2", "fe80::9"),
                ],
                v6(),
                vec![nh(3, Some("fe80::9"), 1)],
                vec![
                    ("a", Reason::Down),
                    ("b", Reason::NoDefaultRoute),
                    ("c", Reason::Withdrawn),
                    ("d", Reason::BadGateway("fe80::zz".into())),
                    ("e", Reason::OnLinkV6),
                    ("f", Reason::NoSuchDevice("wwan0".into())),
                    ("g", Reason::NoDevice),
                    ("h", Reason::Invalid("\"up\" is not a boolean".into())),
                ],
            ),
            (
                "members by name, missing names, other protos ignored",
                vec![v6_iface("wan6", "eth1", "fe80::1"), v6_iface("lan", "eth3", "fe80::3")],
                group("v6", "2000::/3", &[], &["wan6", "wan_6"]),
                vec![nh(2, Some("fe80::1"), 1)],
                vec![("wan_6", Reason::NotInDump)],
            ),
            (
                "the same nexthop twice (wan6 and wan_6 on one PPP session) gives one leg",
                vec![v6_iface("wan6", "pppoe-wan", "fe80::1"), v6_iface("wan_6", "pppoe-wan", "fe80::1")],
                v6(),
                vec![nh(4, Some("fe80::1"), 1)],
                vec![("wan_6", Reason::SameNexthop("wan6".into()))],
            ),
            (
                "IPv4: PPP peer, device-only, DHCP gateway from inactive.route",
                vec![
                    r#"{"interface":"wan","up":true,"proto":"pppoe","l3_device":"pppoe-wan","route":[{"target":"0.0.0.0","mask":0,"nexthop":"198.51.100.1","source":"0.0.0.0/0"}]}"#.into(),
                    r#"{"interface":"wanb","up":true,"proto":"pppoe","l3_device":"pppoe-wan2","route":[{"target":"0.0.0.0","mask":0,"nexthop":"0.0.0.0"}]}"#.into(),
                    r#"{"interface":"wanc","up":true,"proto":"dhcp","l3_device":"eth3","route":[],"inactive":{"route":[{"target":"0.0.0.0","mask":0,"nexthop":"192.0.2.1","source":"192.0.2.7/32"}]}}"#.into(),
                    v6_iface("wan6", "eth1", "fe80::1"),
                ],
                group("v4", "0.0.0.0/0", &["pppoe", "dhcp"], &["wan6"]),
                vec![nh(4, Some("198.51.100.1"), 1), nh(5, None, 1), nh(6, Some("192.0.2.1"), 1)],
                vec![("wan6", Reason::NoDefaultRoute)],
            ),
            (
                "lowest metric wins, withdrawn and bad ones are passed over",
                vec![r#"{"interface":"w","up":true,"proto":"dhcpv6","l3_device":"eth1","route":[
                    {"target":"::","mask":0,"nexthop":"fe80::5","metric":512},
                    {"target":"::","mask":0,"nexthop":"fe80::4","metric":100,"valid":0},
                    {"target":"::","mask":0,"nexthop":"fe80::xx","metric":1},
                    {"target":"::","mask":0,"nexthop":"fe80::3","metric":384}]}"#
                    .into()],
                v6(),
                vec![nh(2, Some("fe80::3"), 1)],
                vec![],
            ),
        ];
        for (case, ifaces, group, want_nexthops, want_skips) in cases {
            let cfg = config(vec![group], &[("wan_6", 3)]);
            let d = desired(&dump(&ifaces.join(",")), &cfg, &links(), false);
            assert_eq!(d.len(), 1, "{case}");
            let mut want = want_nexthops.clone();
            want.sort();
            assert_eq!(d[0].route.nexthops, want, "{case}");
            assert_eq!(d[0].route.protocol, PROTOCOL, "{case}");
            let skips: Vec<_> = d[0]
                .skipped
                .iter()
                .map(|s| (s.interface.as_str(), s.reason.clone()))
                .collect();
            assert_eq!(skips, want_skips, "{case}");
        }
    }

    #[test]
    fn a_real_multiwan_dump() {
        // PPPoE wan with defaultroute 0 (IPv4 default under inactive) and its dynamic wan_6
        // (source-specific duplicates), a PPPoE still dialing, a DHCP wan and its DHCPv6 twin
        // whose preferred router is at metric 384 while the other is withdrawn.
        let dump = Dump::parse(include_bytes!("../../tests/fixtures/dump-multiwan.json")).unwrap();
        let cfg = config(
            vec![
                group("v6", "2000::/3", &["dhcpv6"], &[]),
                group("v4", "0.0.0.0/0", &[], &["wan", "wanb", "wanc"]),
            ],
            &[("wanc", 2)],
        );
        let d = desired(&dump, &cfg, &links(), false);
        let legs = |i: usize| -> Vec<(String, String, String)> {
            d[i].members
                .iter()
                .map(|m| {
                    (
                        m.interface.clone(),
                        m.device.clone(),
                        m.nexthop.gateway.unwrap().to_string(),
                    )
                })
                .collect()
        };
        let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            legs(0),
            vec![
                t("wan_6", "pppoe-wan", "fe80::1"),
                t("wanc6", "eth1", "fe80::cc")
            ]
        );
        assert_eq!(
            legs(1),
            vec![
                t("wan", "pppoe-wan", "100.64.0.1"),
                t("wanc", "eth1", "192.0.2.1")
            ]
        );
        assert_eq!(d[1].members[1].nexthop.weight.get(), 2);
        assert_eq!(
            d[1].skipped,
            vec![Skip {
                interface: "wanb".into(),
                reason: Reason::Down,
                device: None,
                addresses: Vec::new(),
            }]
        );
        assert!(d[0].skipped.is_empty(), "{:?}", d[0].skipped);
    }

    #[test]
    fn disabled_config_wants_nothing() {
        let mut cfg = config(vec![group("v6", "2000::/3", &["dhcpv6"], &[])], &[]);
        cfg.enabled = false;
        assert!(
            desired(
                &dump(&v6_iface("wan6", "eth1", "fe80::1")),
                &cfg,
                &links(),
                true
            )
            .is_empty()
        );
    }

    #[test]
    fn resilient_mode_plans_legs_a_group_and_a_route_through_it() {
        let cfg = config(
            vec![group("v6", "2000::/3", &["dhcpv6"], &[])],
            &[("wan_6", 3)],
        );
        let d = resilient_desired(
            &cfg,
            &[
                v6_iface("wan6", "eth1", "fe80::1"),
                v6_iface("wan_6", "pppoe-wan", "fe80::2"),
                v6_iface("wanb_6", "eth4", "fe80::4"),
            ],
        );
        assert_eq!(d.mode, Mode::Resilient);
        assert_eq!(
            d.skipped,
            vec![Skip {
                interface: "wanb_6".into(),
                reason: Reason::NoCarrier("eth4".into()),
                device: Some(7),
                addresses: Vec::new(),
            }]
        );
        let gid = group_ids(&cfg)[0];
        assert_eq!(d.route.nh_id, Some(gid));
        assert_eq!(d.route.nexthops.len(), 2);
        let [wan6, wan_6, grp] = d.objects.as_slice() else {
            panic!("{:?}", d.objects)
        };
        assert_eq!(wan6.id, gid | slot("wan6"));
        assert_eq!(
            wan6.kind,
            ObjectKind::Leg {
                family: Family::V6,
                ifindex: 2,
                gateway: Some("fe80::1".parse().unwrap())
            }
        );
        let mut members = vec![(wan6.id, Weight::ONE), (wan_6.id, Weight::new(3).unwrap())];
        members.sort();
        assert_eq!(
            grp,
            &Object {
                id: gid,
                protocol: PROTOCOL,
                kind: ObjectKind::Group {
                    members,
                    resilient: Some(crate::config::RESILIENT)
                }
            }
        );
        // The same uplink keeps its id when its gateway changes or another one goes.
        let moved = resilient_desired(&cfg, &[v6_iface("wan6", "eth2", "fe80::9")]);
        assert_eq!(moved.objects[0].id, wan6.id);
        // Multipath and auto-on-an-old-kernel plan no objects; forced resilient is refused.
        let old = desired(
            &dump(&v6_iface("wan6", "eth1", "fe80::1")),
            &cfg,
            &links(),
            false,
        );
        assert_eq!((old[0].mode, old[0].objects.len()), (Mode::Multipath, 0));
        let mut forced = cfg.clone();
        forced.groups[0].mode = Some(Mode::Resilient);
        let refused = desired(&dump(""), &forced, &links(), false);
        assert!(refused[0].unsupported);
    }

    #[test]
    fn the_lowest_metric_with_a_usable_member_carries_the_route_the_others_stand_by() {
        // wan6 (eth1) and wanb_6 (eth2) of metric 1, wanc_6 (eth3) of metric 2: mwan3's
        // `mwan3_set_policy` (lowest metric among online members; equal metrics share by
        // weight).
        let (mut cfg, d) = tracked(&[]);
        cfg.metrics = [("wanc_6".to_string(), 2)].into_iter().collect();
        let offline = |names: &[(&str, u32)]| Health {
            tracked: names
                .iter()
                .map(|(n, dev)| record(n, *dev, false, 3))
                .collect(),
            ..Health::default()
        };
        let standby = |metric, in_use| {
            format!("standby (metric {metric}): members of metric {in_use} are usable")
        };
        // (case, health, members, left out, fail open)
        type Case<'a> = (&'a str, Health, Vec<&'a str>, Vec<(&'a str, String)>, bool);
        let cases: Vec<Case> = vec![
            (
                "all well: the primaries",
                Health::default(),
                vec!["wan6", "wanb_6"],
                vec![("wanc_6", standby(2, 1))],
                false,
            ),
            (
                "one primary offline: the other alone, the backup still stands by",
                offline(&[("wan6", 2)]),
                vec!["wanb_6"],
                vec![
                    (
                        "wan6",
                        "offline: 0 of 1 targets answered for 3 rounds".into(),
                    ),
                    ("wanc_6", standby(2, 1)),
                ],
                false,
            ),
            (
                "both primaries offline: the backup alone",
                offline(&[("wan6", 2), ("wanb_6", 3)]),
                vec!["wanc_6"],
                vec![
                    (
                        "wan6",
                        "offline: 0 of 1 targets answered for 3 rounds".into(),
                    ),
                    (
                        "wanb_6",
                        "offline: 0 of 1 targets answered for 3 rounds".into(),
                    ),
                ],
                false,
            ),
            (
                "the backup offline too: fail open, as if tracking said nothing (the primaries)",
                offline(&[("wan6", 2), ("wanb_6", 3), ("wanc_6", 6)]),
                vec!["wan6", "wanb_6"],
                vec![("wanc_6", standby(2, 1))],
                true,
            ),
        ];
        for (case, health, members, skipped, fail_open) in cases {
            let planned = crate::planner::desired(&d, &cfg, &links(), true, &health);
            let g = &planned[0];
            let got: Vec<&str> = g.members.iter().map(|m| m.interface.as_str()).collect();
            assert_eq!(got, members, "{case}");
            let left: Vec<(&str, String)> = g
                .skipped
                .iter()
                .map(|s| (s.interface.as_str(), s.reason.to_string()))
                .collect();
            assert_eq!(left, skipped, "{case}");
            assert_eq!(g.fail_open, fail_open, "{case}");
            // Every tier is probed and has its uplink path, in the route or not.
            assert_eq!(g.tracked.len(), 3, "{case}");
            assert_eq!(g.uplinks.len(), 3, "{case}");
        }
        // A primary down by netifd: the other primary alone; both down: the backup.
        let down = |text: String, name: &str| {
            text.replacen(
                &format!("\"interface\":\"{name}\",\"up\":true"),
                &format!("\"interface\":\"{name}\",\"up\":false"),
                1,
            )
        };
        let base = [
            v6_iface("wan6", "eth1", "fe80::1"),
            v6_iface("wanb_6", "eth2", "fe80::2"),
            v6_iface("wanc_6", "eth3", "fe80::3"),
        ]
        .join(",");
        let both_down = down(down(base, "wan6"), "wanb_6");
        let planned = desired(&dump(&both_down), &cfg, &links(), true);
        let got: Vec<&str> = planned[0]
            .members
            .iter()
            .map(|m| m.interface.as_str())
            .collect();
        assert_eq!(got, ["wanc_6"]);
    }

    #[test]
    fn a_member_s_share_is_its_weight_over_its_tier_s() {
        let cfg = config(
            vec![group("v6", "2000::/3", &["dhcpv6"], &[])],
            &[("wanb_6", 3)],
        );
        let d = dump(
            &[
                v6_iface("wan6", "eth1", "fe80::1"),
                v6_iface("wanb_6", "eth2", "fe80::2"),
            ]
            .join(","),
        );
        let planned = desired(&d, &cfg, &links(), true);
        // 1 and 3 of 4: 25 % and 75 % (whole percent, rounded down).
        assert_eq!(planned[0].shares(), [25, 75]);
        let cfg = config(vec![group("v6", "2000::/3", &["x"], &[])], &[]);
        assert_eq!(
            desired(&d, &cfg, &links(), true)[0].shares(),
            Vec::<u32>::new()
        );
    }
}
