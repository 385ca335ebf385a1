//! Whether `auto` groups get resilient nexthop groups, as far as the state tells.

use super::desired::desired;
use super::health::Health;
use super::ids::{PROBE_GROUP_ID, PROBE_LEG_ID};
use crate::config::{Config, Mode};
use crate::dump::Dump;
use crate::route::{Links, Object, ObjectKind, Route};

/// Whether `auto` groups get resilient nexthop groups this run, as far as the state tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resilience {
    /// The state answers it: no nexthop objects, nothing wants them, a resilient group of
    /// ours is installed, or the answer changes nothing this run (no group that may use one
    /// has a member to install: early boot, `network restart`).
    Known(bool),
    /// Only the kernel can tell, by trying with the probe's ids (`PROBE_GROUP_ID`, `PROBE_LEG_ID`)
    /// once `stale` (a killed run's probe) is deleted. A run that can't ask (status, a dry
    /// run) or whose try is refused for another reason goes by `assume`.
    Ask { stale: Vec<u32>, assume: bool },
    /// Another's object holds a probe id: go by `assume`.
    Blocked { id: u32, protocol: u8, assume: bool },
}

/// What the state says of resilient groups. `objects: None`: the kernel has no nexthop
/// objects. `forced_off`: behave as on a kernel without resilient groups (the tests' way to a
/// fallback this kernel won't take).
pub fn resilience(
    dump: &Dump,
    config: &Config,
    links: &Links,
    installed: &[Route],
    objects: Option<&[Object]>,
    forced_off: bool,
) -> Resilience {
    let Some(objects) = objects else {
        return Resilience::Known(false);
    };
    let wanted = config.enabled
        && config
            .groups
            .iter()
            .any(|g| g.mode(config) != Mode::Multipath);
    if !wanted || forced_off {
        return Resilience::Known(false);
    }
    let resilient_of_ours = objects.iter().any(|o| {
        o.is_owned()
            && matches!(
                o.kind,
                ObjectKind::Group {
                    resilient: Some(_),
                    ..
                }
            )
    });
    if resilient_of_ours {
        return Resilience::Known(true);
    }
    // Without an answer: yes, unless an `auto` group's route is already a multipath one of
    // ours (an earlier run was told no).
    let assume = !config.groups.iter().any(|g| {
        g.mode(config) == Mode::Auto
            && installed
                .iter()
                .any(|r| r.is_owned() && r.holds(&g.key) && r.nh_id.is_none())
    });
    // Members as multipath would have them (it keeps those without carrier).
    let to_install = desired(dump, config, links, false, &Health::default())
        .iter()
        .any(|d| d.group.mode(config) != Mode::Multipath && !d.members.is_empty());
    if !to_install {
        return Resilience::Known(assume);
    }
    let mut stale = Vec::new();
    for id in [PROBE_GROUP_ID, PROBE_LEG_ID] {
        match objects.iter().find(|o| o.id == id) {
            Some(o) if o.is_owned() => stale.push(id),
            Some(o) => {
                return Resilience::Blocked {
                    id,
                    protocol: o.protocol,
                    assume,
                };
            }
            None => {}
        }
    }
    Resilience::Ask { stale, assume }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testing::*;

    #[test]
    fn resilience_is_asked_only_when_the_state_cannot_tell() {
        let cfg = config(vec![group("v6", "2000::/3", &["dhcpv6"], &[])], &[]);
        let up = dump(&v6_iface("wan6", "eth1", "fe80::1"));
        let down = dump(r#"{"interface":"wan6","up":false,"proto":"dhcpv6"}"#);
        let ours_resilient = resilient_desired(&cfg, &[v6_iface("wan6", "eth1", "fe80::1")])
            .objects
            .clone();
        let mp_route = Route::owned(cfg.groups[0].key, vec![nh(2, Some("fe80::1"), 1)]);
        let probe = |id, protocol| Object {
            id,
            protocol,
            kind: ObjectKind::Other,
        };
        let ask = |stale: Vec<u32>, assume| Resilience::Ask { stale, assume };
        // (case, dump, installed routes, objects, forced off, answer)
        type Case<'a> = (
            &'a str,
            &'a Dump,
            Vec<Route>,
            Option<Vec<Object>>,
            bool,
            Resilience,
        );
        let cases: Vec<Case> = vec![
            (
                "no nexthop objects",
                &up,
                vec![],
                None,
                false,
                Resilience::Known(false),
            ),
            (
                "forced off",
                &up,
                vec![],
                Some(vec![]),
                true,
                Resilience::Known(false),
            ),
            (
                "a resilient group of ours",
                &up,
                vec![],
                Some(ours_resilient),
                false,
                Resilience::Known(true),
            ),
            (
                "a member to install: ask",
                &up,
                vec![],
                Some(vec![]),
                false,
                ask(vec![], true),
            ),
            (
                "nothing to install (lo down at boot, network restart): don't",
                &down,
                vec![],
                Some(vec![]),
                false,
                Resilience::Known(true),
            ),
            (
                "an auto group already fell back",
                &up,
                vec![mp_route.clone()],
                Some(vec![]),
                false,
                ask(vec![], false),
            ),
            (
                "a killed run's probe is cleared first",
                &up,
                vec![],
                Some(vec![probe(PROBE_LEG_ID, PROTOCOL)]),
                false,
                ask(vec![PROBE_LEG_ID], true),
            ),
            (
                "another's object at a probe id",
                &up,
                vec![],
                Some(vec![probe(PROBE_GROUP_ID, 4)]),
                false,
                Resilience::Blocked {
                    id: PROBE_GROUP_ID,
                    protocol: 4,
                    assume: true,
                },
            ),
        ];
        for (case, dump, installed, objects, forced, want) in cases {
            assert_eq!(
                resilience(dump, &cfg, &links(), &installed, objects.as_deref(), forced),
                want,
                "{case}"
            );
        }
        let all_multipath = Config {
            mode: Mode::Multipath,
            ..cfg.clone()
        };
        assert_eq!(
            resilience(&up, &all_multipath, &links(), &[], Some(&[]), false),
            Resilience::Known(false),
            "nothing wants them"
        );
    }
}
