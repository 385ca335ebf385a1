//! Helpers shared by the planner's tests.

pub(crate) use super::ids::SLOT_BITS;
pub(crate) use super::*;
pub(crate) use crate::config::{Config, Group, HashPolicy, Mode};
pub(crate) use crate::dump::Dump;
pub(crate) use crate::route::{
    Family, Link, Links, Nexthop, Object, PROTOCOL, Prefix, Resilient, Route, RouteKey, TABLE_MAIN,
    Weight,
};
pub(crate) use std::net::IpAddr;

/// `desired` without tracking or mwan3track.
pub(crate) fn desired<'c>(
    dump: &Dump,
    config: &'c Config,
    links: &Links,
    r: bool,
) -> Vec<Desired<'c>> {
    super::desired(dump, config, links, r, &Health::default())
}

/// `changes` without probe paths or rules.
pub(crate) fn changes(
    desired: &[Desired],
    routes: &[Route],
    objects: &[Object],
    settings: &[(Setting, Option<u8>)],
) -> Changes {
    let installed = Installed {
        routes,
        objects,
        rules: Some(&[]),
    };
    super::changes(desired, &Paths::default(), &installed, settings)
}
use std::collections::BTreeMap;

pub(crate) fn links() -> Links {
    let mut l = Links::default();
    for (i, name) in [
        "lo",
        "eth1",
        "eth2",
        "pppoe-wan",
        "pppoe-wan2",
        "eth3",
        "eth4",
    ]
    .iter()
    .enumerate()
    {
        l.insert(Link {
            name: name.to_string(),
            index: i as u32 + 1,
            carrier: *name != "eth4",
        });
    }
    l
}

pub(crate) fn dump(json: &str) -> Dump {
    Dump::parse(format!("{{\"interface\":[{json}]}}").as_bytes()).unwrap()
}

pub(crate) fn v6_iface(name: &str, dev: &str, gw: &str) -> String {
    format!(
        r#"{{"interface":"{name}","up":true,"proto":"dhcpv6","l3_device":"{dev}",
            "route":[{{"target":"2001:db8::","mask":64,"nexthop":"::","metric":256}},
                     {{"target":"::","mask":0,"nexthop":"{gw}","metric":512,"source":"2001:db8::/56"}}]}}"#
    )
}

pub(crate) fn config(groups: Vec<Group>, weights: &[(&str, u16)]) -> Config {
    Config {
        enabled: true,
        hash_policy: HashPolicy::L4,
        mode: Mode::Auto,
        groups,
        weights: weights
            .iter()
            .map(|(i, w)| (i.to_string(), Weight::new(*w).unwrap()))
            .collect::<BTreeMap<_, _>>(),
        untracked: Vec::new(),
        metrics: BTreeMap::new(),
    }
}

pub(crate) fn group(name: &str, dst: &str, protos: &[&str], interfaces: &[&str]) -> Group {
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
        mode: None,
        resilient: crate::config::RESILIENT,
        track: None,
        flush_conntrack: true,
    }
}

pub(crate) fn nh(ifindex: u32, gw: Option<&str>, weight: u16) -> Nexthop {
    Nexthop {
        ifindex,
        gateway: gw.map(|g| g.parse().unwrap()),
        weight: Weight::new(weight).unwrap(),
    }
}

pub(crate) fn multipath(g: &Group, nexthops: Vec<Nexthop>) -> Desired<'_> {
    Desired {
        group: g,
        mode: Mode::Multipath,
        unsupported: false,
        group_id: OBJECT_ID_BASE | 1 << SLOT_BITS,
        route: Route::owned(g.key, nexthops),
        objects: vec![],
        members: vec![],
        skipped: vec![],
        fail_open: false,
        held: Vec::new(),
        waiting: Vec::new(),
        tracked: vec![],
        uplinks: vec![],
    }
}

pub(crate) fn installed(dst: &str, metric: u32, protocol: u8, nexthops: Vec<Nexthop>) -> Route {
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

pub(crate) fn resilient_desired<'c>(cfg: &'c Config, ifaces: &[String]) -> Desired<'c> {
    desired(&dump(&ifaces.join(",")), cfg, &links(), true)
        .pop()
        .unwrap()
}

/// A tracking group over wan6 (eth1, index 2), wanb_6 (eth2, 3) and wanc_6 (eth3, 6),
/// each with its address; `untracked` opted out.
pub(crate) fn tracked(untracked: &[&str]) -> (Config, Dump) {
    let mut g = group("v6", "2000::/3", &["dhcpv6"], &[]);
    g.track = Some(crate::config::Track {
        ips: vec!["2001:db8:ff::1".parse().unwrap()],
        ..crate::config::TRACK
    });
    let mut cfg = config(vec![g], &[]);
    cfg.untracked = untracked.iter().map(|s| s.to_string()).collect();
    let with_address = |name: &str, dev: &str, n: u8| {
        v6_iface(name, dev, &format!("fe80::{n}")).replacen(
            "\"route\"",
            &format!(
                "\"ipv6-address\":[{{\"address\":\"2001:db8:{n}::2\",\"mask\":64}}],\"route\""
            ),
            1,
        )
    };
    let d = dump(
        &[
            with_address("wan6", "eth1", 1),
            with_address("wanb_6", "eth2", 2),
            with_address("wanc_6", "eth3", 3),
        ]
        .join(","),
    );
    (cfg, d)
}

pub(crate) fn record(
    interface: &str,
    device: u32,
    online: bool,
    fails: u32,
) -> crate::track::Record {
    crate::track::Record {
        group: "v6".into(),
        interface: interface.into(),
        device,
        uptime: 60,
        online,
        fails,
        passes: 0,
        last_round: 1,
        since: 1,
        recent: Vec::new(),
        window: Vec::new(),
        targets: vec![crate::track::Target {
            ip: "2001:db8:ff::1".parse().unwrap(),
            sent: 2,
            received: 0,
            rtt_us: None,
        }],
    }
}

pub(crate) fn plan_with(health: &Health) -> (Vec<String>, Vec<(String, String)>, bool) {
    let (cfg, d) = tracked(&[]);
    let desired = super::desired(&d, &cfg, &links(), false, health);
    let g = &desired[0];
    (
        g.members.iter().map(|m| m.interface.clone()).collect(),
        g.skipped
            .iter()
            .map(|s| (s.interface.clone(), s.reason.to_string()))
            .collect(),
        g.fail_open,
    )
}

/// Facts of `config` and `dump` over `links()`, with an empty kernel that has nexthop
/// objects and rules, and every sysctl the facts name at 0.
pub(crate) fn facts(config: Config, dump: Dump) -> Facts {
    let links = links();
    let sysctls = sysctls_to_read(&config, &dump, &links)
        .into_iter()
        .map(|s| (s, Some(0)))
        .collect();
    Facts {
        config,
        dump,
        links,
        routes: Vec::new(),
        objects: Some(Vec::new()),
        rules: Some(Vec::new()),
        health: Health::default(),
        sysctls,
        no_resilient: false,
        hints: Vec::new(),
        said: None,
    }
}

/// A plan's notes as (level, text).
pub(crate) fn notes_of(plan: &Plan) -> Vec<(Level, String)> {
    plan.notes
        .iter()
        .map(|n| (n.level, n.text.clone()))
        .collect()
}
