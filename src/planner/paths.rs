//! Uplink paths: a table and two rules per uplink, so what is bound to its device leaves by it.

use super::desired::Desired;
use crate::route::{Nexthop, PROTOCOL, Route, RouteKey, Rule, Weight};

/// The group name uplink paths' writes are logged under.
pub const PATHS: &str = "uplink paths";

/// Where uplink paths' tables start: `PATH_TABLE_BASE + device index`.
pub const PATH_TABLE_BASE: u32 = 0xEC00_0000;

/// The priority of uplink paths' rules (`PATH_PRIORITY` for `main` without its broadest
/// routes, the next for the uplink's table): after `local` (0), before everything netifd and
/// mwan3 add (1000 and up) and `main` (32766). Only packets routed out of a given device
/// (a socket bound to it) match.
pub const PATH_PRIORITY: u32 = 100;

/// The routes and rules that make whatever is bound to an uplink's device (its probes, and
/// any other program's socket: mwan3track, `ping -I`, a VPN bound to one WAN) leave by that
/// uplink. Binding alone does not do it: an IPv6 route over a nexthop group picks its leg by
/// hash whatever the socket's device (net/ipv6/route.c, `fib6_select_path`:
/// `nexthop_path_fib6_result` ignores the oif), and an IPv4 uplink with `defaultroute '0'`
/// that is out of its group has no route through its device at all. So for each uplink and
/// family: a table of its own holding the uplink's default route, and for packets out of its
/// device two rules, `main` without its routes as broad as a group's target (more specific
/// routes, such as the uplink's own prefix, still count), then its table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Paths {
    pub routes: Vec<Route>,
    /// Two per route, in the routes' order: `main` without the broadest, then the table.
    pub rules: Vec<Rule>,
}

/// The table of device `ifindex`'s uplink path.
pub fn path_table(ifindex: u32) -> u32 {
    PATH_TABLE_BASE.wrapping_add(ifindex)
}

pub fn uplink_paths(desired: &[Desired]) -> Paths {
    let mut paths = Paths::default();
    for d in desired {
        let family = d.group.family();
        // The broadest routes of `main` an uplink path passes over: every group's of this
        // family, and the defaults (0).
        let suppress = desired
            .iter()
            .filter(|o| o.group.family() == family)
            .map(|o| o.group.key.dst.length())
            .max()
            .unwrap_or(0);
        for m in &d.uplinks {
            let table = path_table(m.nexthop.ifindex);
            let key = RouteKey {
                table,
                dst: crate::route::Prefix::any(family),
                metric: crate::config::default_metric(family),
            };
            if paths.routes.iter().any(|r| r.key == key) {
                continue;
            }
            let nexthop = Nexthop {
                weight: Weight::ONE,
                ..m.nexthop
            };
            paths.routes.push(Route::owned(key, vec![nexthop]));
            let rule = |priority, table, suppress| Rule {
                family,
                priority,
                oif: Some(m.device.clone()),
                mark: None,
                table,
                suppress,
                protocol: PROTOCOL,
            };
            paths.rules.push(rule(
                PATH_PRIORITY,
                crate::route::TABLE_MAIN,
                Some(suppress),
            ));
            paths.rules.push(rule(PATH_PRIORITY + 1, table, None));
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testing::desired;
    use crate::planner::testing::*;

    #[test]
    fn every_uplink_gets_a_path_tracked_or_not_in_the_route_or_not() {
        let h = Health {
            tracked: vec![record("wanb_6", 3, false, 3)],
            ..Health::default()
        };
        let (cfg, d) = tracked(&["wanc_6"]);
        let desired = crate::planner::desired(&d, &cfg, &links(), false, &h);
        // The offline one is probed (to come back), the opted-out one is not.
        let tracked: Vec<&str> = desired[0]
            .tracked
            .iter()
            .map(|m| m.interface.as_str())
            .collect();
        assert_eq!(tracked, ["wan6", "wanb_6"]);
        assert_eq!(
            desired[0].tracked[1].addresses,
            ["2001:db8:2::2".parse::<IpAddr>().unwrap()]
        );
        // Every uplink has its path: the offline one (out of the route) and the untracked
        // one too, for whatever else is bound to their devices.
        let paths = uplink_paths(&desired);
        let tables: Vec<u32> = paths.routes.iter().map(|r| r.key.table).collect();
        assert_eq!(tables, [path_table(2), path_table(3), path_table(6)]);
        assert_eq!(paths.routes[1].key.dst, Prefix::any(Family::V6));
        assert_eq!(paths.routes[1].nexthops, [nh(3, Some("fe80::2"), 1)]);
        let rule = |priority, table, suppress| Rule {
            family: Family::V6,
            priority,
            oif: Some("eth2".into()),
            mark: None,
            table,
            suppress,
            protocol: PROTOCOL,
        };
        // Out of eth2: `main` without routes as broad as the group's 2000::/3, then eth2's
        // own table.
        assert_eq!(
            paths.rules[2..4],
            [
                rule(PATH_PRIORITY, 254, Some(3)),
                rule(PATH_PRIORITY + 1, path_table(3), None)
            ]
        );
        // Reconciled like routes: missing ones written, ours no path wants removed (a
        // fwmark rule of an earlier version too), someone else's left alone.
        let stale = Rule {
            oif: None,
            mark: Some(0xEC00_0007),
            table: 0xEC00_0007,
            ..paths.rules[0].clone()
        };
        let foreign = Rule {
            protocol: 4,
            ..stale.clone()
        };
        let mut rules = paths.rules.clone();
        rules.remove(3);
        rules.extend([stale.clone(), foreign]);
        let installed = Installed {
            routes: &[],
            objects: &[],
            rules: Some(&rules),
        };
        let c = crate::planner::changes(&desired, &paths, &installed, &[]);
        let rule_changes: Vec<&Change> = c
            .changes
            .iter()
            .filter(|c| matches!(c, Change::WriteRule(_) | Change::DeleteRule(_)))
            .collect();
        assert_eq!(
            rule_changes,
            [
                &Change::WriteRule(paths.rules[3].clone()),
                &Change::DeleteRule(stale)
            ]
        );
        assert_eq!(
            c.changes
                .iter()
                .filter(|c| c.group() == Some(PATHS))
                .count(),
            3
        );
        // Where rules can't be read (no multiple tables, qemu-user), none are written.
        let blind = Installed {
            rules: None,
            ..installed
        };
        let c = crate::planner::changes(&desired, &paths, &blind, &[]);
        assert!(!c.changes.iter().any(|c| matches!(c, Change::WriteRule(_))));
        // No groups, no paths: flush-like plans remove all of ours.
        let c = crate::planner::changes(&[], &Paths::default(), &installed, &[]);
        assert_eq!(
            c.changes
                .iter()
                .filter(|c| matches!(c, Change::DeleteRule(_)))
                .count(),
            6
        );
    }

    #[test]
    fn an_ipv4_group_s_paths_pass_over_only_the_defaults() {
        let cfg = config(vec![group("v4", "0.0.0.0/0", &[], &["wan", "wanb"])], &[]);
        // defaultroute 0: the gateway only under inactive.route, and the path has it.
        let v4 = |name: &str, dev: &str, gw: &str| {
            format!(
                r#"{{"interface":"{name}","up":true,"proto":"dhcp","l3_device":"{dev}","route":[],
                    "inactive":{{"route":[{{"target":"0.0.0.0","mask":0,"nexthop":"{gw}"}}]}}}}"#
            )
        };
        let d = dump(&format!(
            "{},{}",
            v4("wan", "eth1", "192.0.2.1"),
            v4("wanb", "eth2", "198.51.100.1")
        ));
        let desired = desired(&d, &cfg, &links(), false);
        let paths = uplink_paths(&desired);
        let suppress: Vec<Option<u8>> = paths.rules.iter().map(|r| r.suppress).collect();
        assert_eq!(suppress, [Some(0), None, Some(0), None]);
        let gateway = |i: usize| paths.routes[i].nexthops[0].gateway.map(|g| g.to_string());
        assert_eq!(gateway(0).as_deref(), Some("192.0.2.1"));
        assert_eq!(paths.routes[1].key.dst, Prefix::any(Family::V4));
    }
}
