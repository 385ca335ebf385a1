//! The pure core: (interface state, config, devices) → desired routes, and
//! (desired, installed) → the kernel writes that make them equal.
//!
//! No I/O, no clock, no logging: why an interface was left out comes back as data for the
//! caller to log and for `status` to show. Everything is ordered (by interface name, by
//! nexthop), so the same input always gives the same plan and the same log lines.

use std::fmt;
use std::net::IpAddr;

use crate::config::{Config, Group};
use crate::dump::{Dump, Interface};
use crate::route::{Family, Links, Nexthop, Route, Weight};

/// What one group's route should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired<'c> {
    pub group: &'c Group,
    /// The route to install; no nexthops means the route should not exist.
    pub route: Route,
    /// The interfaces behind `route.nexthops`, in interface-name order.
    pub members: Vec<Member>,
    pub skipped: Vec<Skip>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub interface: String,
    pub device: String,
    pub nexthop: Nexthop,
}

/// A candidate interface that is not in the route, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub interface: String,
    pub reason: Reason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Named in the group but absent from the dump (a dynamic `wan_6` is removed when down).
    NotInDump,
    Down,
    /// A field of the interface had the wrong type.
    Invalid(String),
    /// Up, but without an `l3_device`.
    NoDevice,
    /// No default route of the group's family (yet: e.g. no RA received).
    NoDefaultRoute,
    /// Its default routes are being withdrawn (`valid` 0).
    Withdrawn,
    /// The default route's nexthop is not an address of the family.
    BadGateway(String),
    /// An IPv6 default without a gateway: the kernel refuses device-only IPv6 multipath legs.
    OnLinkV6,
    /// The dump names a device the kernel doesn't have (it vanished, or the dump is stale).
    NoSuchDevice(String),
    /// Another member already has this exact nexthop.
    SameNexthop(String),
}

impl Reason {
    /// Whether an operator should read about it; the rest is normal life (a link is down).
    pub fn worth_a_warning(&self) -> bool {
        !matches!(
            self,
            Reason::NotInDump | Reason::Down | Reason::NoDefaultRoute | Reason::Withdrawn
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotInDump => f.write_str("not in the interface dump"),
            Reason::Down => f.write_str("down"),
            Reason::Invalid(why) => write!(f, "unreadable state: {why}"),
            Reason::NoDevice => f.write_str("up but has no l3_device"),
            Reason::NoDefaultRoute => f.write_str("no default route of this family"),
            Reason::Withdrawn => f.write_str("default route is being withdrawn (valid 0)"),
            Reason::BadGateway(gw) => write!(f, "gateway '{gw}' is not an address of this family"),
            Reason::OnLinkV6 => f.write_str("IPv6 default without a gateway; the kernel takes no device-only IPv6 multipath leg"),
            Reason::NoSuchDevice(dev) => write!(f, "device {dev} does not exist"),
            Reason::SameNexthop(other) => write!(f, "same nexthop as {other}"),
        }
    }
}

/// The desired route of every group. With `enabled 0` there are none, so every route the tool
/// owns becomes stale and is removed.
pub fn desired<'c>(dump: &Dump, config: &'c Config, links: &Links) -> Vec<Desired<'c>> {
    if !config.enabled {
        return Vec::new();
    }
    config
        .groups
        .iter()
        .map(|group| desired_group(dump, config, group, links))
        .collect()
}

fn desired_group<'c>(dump: &Dump, config: &Config, group: &'c Group, links: &Links) -> Desired<'c> {
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
        })
        .collect();
    let mut members: Vec<Member> = Vec::new();
    for iface in candidates {
        match member(iface, group.family(), config, links) {
            Ok(m) => match members.iter().find(|o| {
                (o.nexthop.ifindex, o.nexthop.gateway) == (m.nexthop.ifindex, m.nexthop.gateway)
            }) {
                Some(other) => skipped.push(Skip {
                    interface: m.interface,
                    reason: Reason::SameNexthop(other.interface.clone()),
                }),
                None => members.push(m),
            },
            Err(reason) => skipped.push(Skip {
                interface: iface.name.clone(),
                reason,
            }),
        }
    }
    skipped.sort_by(|a, b| a.interface.cmp(&b.interface));
    let route = Route::owned(group.key, members.iter().map(|m| m.nexthop).collect());
    Desired {
        group,
        route,
        members,
        skipped,
    }
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
    })
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
}

/// A group whose key is held by a route the tool did not write: left alone, and an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub group: String,
    pub route: Route,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Writes first, then deletes, so a group whose key moved is never without a route.
    pub changes: Vec<Change>,
    pub conflicts: Vec<Conflict>,
}

/// What to write so that the kernel's routes equal `desired`. Routes without the tool's mark
/// are never in the result, except as conflicts.
pub fn changes(desired: &[Desired], installed: &[Route]) -> Changes {
    let mut out = Changes::default();
    let mut deletes = Vec::new();
    for d in desired {
        let key = &d.group.key;
        let at_key: Vec<&Route> = installed.iter().filter(|r| r.holds(key)).collect();
        if let Some(foreign) = at_key.iter().find(|r| !r.is_owned()) {
            out.conflicts.push(Conflict {
                group: d.group.name.clone(),
                route: (*foreign).clone(),
            });
            continue;
        }
        let ours = at_key.first();
        let group = d.group.name.clone();
        match (d.route.nexthops.is_empty(), ours) {
            (true, None) => {}
            (true, Some(r)) => deletes.push(Change::Delete {
                group: Some(group),
                route: (*r).clone(),
            }),
            (false, Some(r)) if r.same_nexthops(&d.route) => {}
            (false, ours) => out.changes.push(Change::Write {
                group,
                route: d.route.clone(),
                create: ours.is_none(),
            }),
        }
    }
    for r in installed.iter().filter(|r| r.is_owned()) {
        if !desired.iter().any(|d| r.holds(&d.group.key)) {
            deletes.push(Change::Delete {
                group: None,
                route: r.clone(),
            });
        }
    }
    out.changes.extend(deletes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HashPolicy;
    use crate::route::{PROTOCOL, Prefix, RouteKey, TABLE_MAIN};
    use std::collections::BTreeMap;

    fn links() -> Links {
        let mut l = Links::default();
        for (i, name) in ["lo", "eth1", "eth2", "pppoe-wan", "pppoe-wan2", "eth3"]
            .iter()
            .enumerate()
        {
            l.insert(name.to_string(), i as u32 + 1);
        }
        l
    }

    fn dump(json: &str) -> Dump {
        Dump::parse(format!("{{\"interface\":[{json}]}}").as_bytes()).unwrap()
    }

    fn v6_iface(name: &str, dev: &str, gw: &str) -> String {
        format!(
            r#"{{"interface":"{name}","up":true,"proto":"dhcpv6","l3_device":"{dev}",
                "route":[{{"target":"2001:db8::","mask":64,"nexthop":"::","metric":256}},
                         {{"target":"::","mask":0,"nexthop":"{gw}","metric":512,"source":"2001:db8::/56"}}]}}"#
        )
    }

    fn config(groups: Vec<Group>, weights: &[(&str, u16)]) -> Config {
        Config {
            enabled: true,
            hash_policy: HashPolicy::L4,
            groups,
            weights: weights
                .iter()
                .map(|(i, w)| (i.to_string(), Weight::new(*w).unwrap()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn group(name: &str, dst: &str, protos: &[&str], interfaces: &[&str]) -> Group {
        let dst: Prefix = dst.parse().unwrap();
        Group {
            name: name.into(),
            key: RouteKey {
                table: TABLE_MAIN,
                dst,
                metric: crate::config::default_metric(dst.family()),
            },
            protos: protos.iter().map(|s| s.to_string()).collect(),
            interfaces: interfaces.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn nh(ifindex: u32, gw: Option<&str>, weight: u16) -> Nexthop {
        Nexthop {
            ifindex,
            gateway: gw.map(|g| g.parse().unwrap()),
            weight: Weight::new(weight).unwrap(),
        }
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
            let d = desired(&dump(&ifaces.join(",")), &cfg, &links());
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
        let dump = Dump::parse(include_bytes!("../tests/fixtures/dump-multiwan.json")).unwrap();
        let cfg = config(
            vec![
                group("v6", "2000::/3", &["dhcpv6"], &[]),
                group("v4", "0.0.0.0/0", &[], &["wan", "wanb", "wanc"]),
            ],
            &[("wanc", 2)],
        );
        let d = desired(&dump, &cfg, &links());
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
                reason: Reason::Down
            }]
        );
        assert!(d[0].skipped.is_empty(), "{:?}", d[0].skipped);
    }

    #[test]
    fn disabled_config_wants_nothing() {
        let mut cfg = config(vec![group("v6", "2000::/3", &["dhcpv6"], &[])], &[]);
        cfg.enabled = false;
        assert!(desired(&dump(&v6_iface("wan6", "eth1", "fe80::1")), &cfg, &links()).is_empty());
    }

    fn installed(dst: &str, metric: u32, protocol: u8, nexthops: Vec<Nexthop>) -> Route {
        let mut r = Route::owned(
            RouteKey {
                table: TABLE_MAIN,
                dst: dst.parse().unwrap(),
                metric,
            },
            nexthops,
        );
        r.protocol = protocol;
        r
    }

    #[test]
    fn changes_table() {
        let g = group("v6", "2000::/3", &["dhcpv6"], &[]);
        let two = vec![nh(2, Some("fe80::1"), 1), nh(3, Some("fe80::2"), 1)];
        let want = |nexthops: Vec<Nexthop>| Desired {
            group: &g,
            route: Route::owned(g.key, nexthops),
            members: vec![],
            skipped: vec![],
        };
        let ours = |nexthops| installed("2000::/3", 1024, PROTOCOL, nexthops);
        let short = |c: &Changes| -> Vec<String> {
            c.changes
                .iter()
                .map(|c| match c {
                    Change::Write { route, create, .. } => {
                        format!("write {} legs create={create}", route.nexthops.len())
                    }
                    Change::Delete { group, route } => format!("delete {} ({group:?})", route.key),
                })
                .chain(
                    c.conflicts
                        .iter()
                        .map(|c| format!("conflict proto {}", c.route.protocol)),
                )
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
            assert_eq!(short(&changes(&desired, &installed)), want, "{case}");
        }
    }

    #[test]
    fn a_source_specific_route_does_not_hold_the_key() {
        let g = group("v6", "2000::/3", &["dhcpv6"], &[]);
        let mut foreign = installed("2000::/3", 1024, 4, vec![nh(2, Some("fe80::1"), 1)]);
        foreign.src = Some("2001:db8::/56".parse().unwrap());
        let d = vec![Desired {
            group: &g,
            route: Route::owned(g.key, vec![nh(2, Some("fe80::1"), 1)]),
            members: vec![],
            skipped: vec![],
        }];
        let c = changes(&d, &[foreign]);
        assert!(c.conflicts.is_empty());
        assert_eq!(c.changes.len(), 1);
    }
}
