//! The sysctls the plan needs.

use super::desired::Desired;
use crate::config::{Config, Mode};
use crate::dump::Dump;
use crate::route::{Family, Links, Sysctl};

/// A sysctl value the plan needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub sysctl: Sysctl,
    pub want: u8,
}

impl Setting {
    /// Whether the kernel's `have` already does it: `ignore_routes_with_linkdown` is on at
    /// any non-zero value (and is never reset), the hash policy must be the one asked for.
    pub fn met_by(&self, have: u8) -> bool {
        match self.sysctl {
            Sysctl::IgnoreLinkdown(..) => have != 0,
            Sysctl::HashPolicy(_) => have == self.want,
        }
    }
}

/// The sysctls the plan needs: both families' hash policy (unless `keep`, or disabled), and
/// `ignore_routes_with_linkdown` on every device that carries a leg of a multipath route,
/// once each. A multipath leg whose device loses carrier stays in the route, flagged
/// `linkdown`; with the setting on the kernel skips it (`dead linkdown`) and takes it back
/// by itself with the carrier, with no hotplug event (netifd sends none for `force_link`
/// interfaces). (A linear check: sorting or a B-tree cost 2–5 KB on mipsel.)
pub fn settings(config: &Config, desired: &[Desired]) -> Vec<Setting> {
    let mut out = Vec::new();
    if let (true, Some(want)) = (config.enabled, config.hash_policy.sysctl()) {
        for family in [Family::V4, Family::V6] {
            out.push(Setting {
                sysctl: Sysctl::HashPolicy(family),
                want,
            });
        }
    }
    for d in desired.iter().filter(|d| d.mode == Mode::Multipath) {
        for m in &d.members {
            let setting = Setting {
                sysctl: Sysctl::IgnoreLinkdown(d.group.family(), m.device.clone()),
                want: 1,
            };
            if !out.contains(&setting) {
                out.push(setting);
            }
        }
    }
    out
}

/// The sysctls a run reads before it plans: what `settings` could want of any candidate
/// (the hash policies, and `ignore_routes_with_linkdown` on the device of every candidate
/// with one in a group that may be multipath: `multipath`, or `auto` on a kernel without
/// resilient groups). Only devices the kernel has: a name from the dump is read as a path.
pub fn sysctls_to_read(config: &Config, dump: &Dump, links: &Links) -> Vec<Sysctl> {
    let mut out = Vec::new();
    if let (true, Some(_)) = (config.enabled, config.hash_policy.sysctl()) {
        out.push(Sysctl::HashPolicy(Family::V4));
        out.push(Sysctl::HashPolicy(Family::V6));
    }
    if !config.enabled {
        return out;
    }
    for g in config
        .groups
        .iter()
        .filter(|g| g.mode(config) != Mode::Resilient)
    {
        let candidates = dump
            .interfaces
            .iter()
            .filter(|i| g.wants(&i.name, i.proto.as_deref()));
        let devices = candidates.filter_map(|i| i.device.as_ref());
        for device in devices.filter(|d| links.index(d).is_some()) {
            let sysctl = Sysctl::IgnoreLinkdown(g.family(), device.clone());
            if !out.contains(&sysctl) {
                out.push(sysctl);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testing::*;
    use crate::planner::testing::{changes, desired};

    #[test]
    fn settings_are_planned_and_only_what_differs_is_a_change() {
        let mut cfg = config(vec![group("v6", "2000::/3", &["dhcpv6"], &[])], &[]);
        let ifaces = [
            v6_iface("wan6", "eth1", "fe80::1"),
            v6_iface("wan_6", "pppoe-wan", "fe80::2"),
        ]
        .join(",");
        let hash = |f| Setting {
            sysctl: Sysctl::HashPolicy(f),
            want: 1,
        };
        let linkdown = |dev: &str| Setting {
            sysctl: Sysctl::IgnoreLinkdown(Family::V6, dev.into()),
            want: 1,
        };
        // Multipath: the hash policy and every leg's device; resilient: the hash policy.
        let mp = desired(&dump(&ifaces), &cfg, &links(), false);
        let want = settings(&cfg, &mp);
        assert_eq!(
            want,
            [
                hash(Family::V4),
                hash(Family::V6),
                linkdown("eth1"),
                linkdown("pppoe-wan")
            ]
        );
        let res = desired(&dump(&ifaces), &cfg, &links(), true);
        assert_eq!(settings(&cfg, &res), [hash(Family::V4), hash(Family::V6)]);
        // Only what differs: linkdown at any non-zero value is on; a missing one (None) is
        // nothing to set.
        let have = [Some(1), Some(0), Some(2), None];
        let current: Vec<_> = want.into_iter().zip(have).collect();
        let c = changes(&mp, &[], &[], &current);
        let sysctls: Vec<_> = c
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Sysctl { setting, have } => Some((setting.sysctl.to_string(), *have)),
                _ => None,
            })
            .collect();
        assert_eq!(
            sysctls,
            [("net.ipv6.fib_multipath_hash_policy".to_string(), 0)]
        );
        assert!(
            matches!(c.changes[0], Change::Sysctl { .. }),
            "settings come first"
        );
        // keep, or disabled: no hash policy.
        let keep = Config {
            hash_policy: HashPolicy::Keep,
            ..cfg.clone()
        };
        assert_eq!(settings(&keep, &res), []);
        cfg.enabled = false;
        assert_eq!(settings(&cfg, &[]), []);
    }

    #[test]
    fn what_is_read_before_planning_covers_every_candidate_a_multipath_group_may_have() {
        let d = dump(&format!(
            r#"{},{},{},{{"interface":"wanb_6","up":false,"proto":"dhcpv6","device":"eth2","data":{{}}}}"#,
            v6_iface("wan6", "eth1", "fe80::1"),
            v6_iface("wan_6", "pppoe-wan", "fe80::2"),
            v6_iface("hostile", "$(reboot)", "fe80::3")
        ));
        let read = |mode, policy| {
            let mut cfg = config(vec![group("v6", "2000::/3", &["dhcpv6"], &[])], &[]);
            cfg.mode = mode;
            cfg.hash_policy = policy;
            sysctls_to_read(&cfg, &d, &links())
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        };
        let linkdown = |dev: &str| format!("net.ipv6.conf.{dev}.ignore_routes_with_linkdown");
        let policies = [
            "net.ipv4.fib_multipath_hash_policy",
            "net.ipv6.fib_multipath_hash_policy",
        ];
        // Up candidates with a device the kernel has; not the down one (no l3_device), not
        // a name the kernel lacks (it would be read as a path).
        let devices = [linkdown("eth1"), linkdown("pppoe-wan")];
        assert_eq!(read(Mode::Multipath, HashPolicy::Keep), devices);
        assert_eq!(
            read(Mode::Auto, HashPolicy::Keep),
            devices,
            "auto may end up multipath"
        );
        assert_eq!(
            read(Mode::Resilient, HashPolicy::Keep),
            Vec::<String>::new()
        );
        assert_eq!(read(Mode::Resilient, HashPolicy::L4), policies);
        // Every member's setting is among them.
        let mut cfg = config(vec![group("v6", "2000::/3", &["dhcpv6"], &[])], &[]);
        cfg.mode = Mode::Multipath;
        let read = sysctls_to_read(&cfg, &d, &links());
        for s in settings(&cfg, &desired(&d, &cfg, &links(), false)) {
            assert!(read.contains(&s.sysctl), "{}", s.sysctl);
        }
    }
}
