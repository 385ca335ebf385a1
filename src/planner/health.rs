//! What tracking and mwan3 say of each member: in, held, or out and why.

use super::member::{Member, Reason};
use crate::config::Group;
use crate::route::Family;

/// What is known of the uplinks' health beyond netifd's word: `watch`'s tracking (as its
/// state file has it) and mwan3's own state of its interfaces (`mwan3`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub tracked: Vec<crate::track::Record>,
    /// The enabled `interface` sections of `/etc/config/mwan3`.
    pub mwan3_sections: Vec<crate::mwan3::Section>,
    /// `/var/run/mwan3/iface_state`: (section, state); `None` while mwan3 is not running.
    pub mwan3_states: Option<Vec<(String, String)>>,
}

/// What fail open is, in the words tracking uses.
pub const FAIL_OPEN: &str =
    "no member passes its probes (each is offline or failing): all are kept (fail open)";

/// What holding members means, after their names.
pub const HELD: &str = "held: every member failed the same rounds, so none is taken out for them";

/// What health says of one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Healthy,
    /// Failed `down` rounds in a row but held online, because those rounds failed for every
    /// member at once: it stays in, and counts as condemned for fail-open.
    Condemned,
    Out(Reason),
}

impl Health {
    /// `mwan3`: the (interface, family) pairs mwan3 routes nothing through (`mwan3::offline`).
    pub(super) fn verdict(&self, mwan3: &[(String, Family)], group: &Group, m: &Member) -> Verdict {
        if mwan3.contains(&(m.interface.clone(), group.family())) {
            return Verdict::Out(Reason::Mwan3Offline);
        }
        let Some(track) = &group.track else {
            return Verdict::Healthy;
        };
        // A record of another device, or from before netifd's uptime went back (an ifup, a
        // netifd restart), is of an earlier session: the new one starts online if that one
        // was, and proves itself first (one passed round) if it was offline.
        let record = self
            .tracked
            .iter()
            .find(|r| r.group == group.name && r.interface == m.interface);
        let record = match record {
            Some(r) if r.new_session(m.nexthop.ifindex, m.uptime.unwrap_or(u64::MAX)) => {
                return match r.online {
                    true => Verdict::Healthy,
                    false => Verdict::Out(Reason::Unproven),
                };
            }
            Some(r) if r.unproven() => return Verdict::Out(Reason::Unproven),
            record => record,
        };
        match record.map(|r| (r, r.verdict(track.down))) {
            Some((r, crate::track::Verdict::Offline)) => Verdict::Out(Reason::Offline {
                answered: r.answered(),
                targets: r.targets.len() as u32,
                fails: r.fails,
                passes: r.passes,
            }),
            Some((_, crate::track::Verdict::Held)) => Verdict::Condemned,
            _ => Verdict::Healthy,
        }
    }
}

#[cfg(test)]
mod tests {
    /// A record's failed rounds that reach `down` at the defaults.
    fn down() -> u32 {
        crate::config::TRACK.down
    }

    use super::*;
    use crate::planner::testing::*;

    #[test]
    fn tracking_verdicts_take_members_out_and_fail_open_keeps_them_all() {
        let none = Health::default();
        let (members, skipped, fail_open) = plan_with(&none);
        assert_eq!(members, ["wan6", "wanb_6", "wanc_6"]);
        assert!(skipped.is_empty() && !fail_open);
        // Offline by tracking: out, with the reason status shows.
        let h = Health {
            tracked: vec![record("wanb_6", 3, false, 3)],
            ..Health::default()
        };
        let (members, skipped, _) = plan_with(&h);
        assert_eq!(members, ["wan6", "wanc_6"]);
        assert_eq!(
            skipped,
            [(
                "wanb_6".to_string(),
                "offline: 0 of 1 targets answered for 3 rounds".to_string()
            )]
        );
        // A record of another device is an earlier session's: an online one is no word, an
        // offline one keeps the new session out until it passes a round (a netifd restart
        // must not let a dead uplink in on its word).
        let unproven = [(
            "wanb_6".to_string(),
            "offline in its last session: joins once its new one passes a round".to_string(),
        )];
        for (online, want) in [(true, &[][..]), (false, &unproven[..])] {
            let h = Health {
                tracked: vec![record("wanb_6", 9, online, 3)],
                ..Health::default()
            };
            assert_eq!(plan_with(&h).1, want, "online {online}");
        }
        // The same from before netifd's uptime went back (an ifup or a netifd restart since;
        // the record's uptime is 60).
        let (cfg, _) = tracked(&[]);
        let text = format!(
            "{{\"interface\":[{},{}]}}",
            v6_iface("wan6", "eth1", "fe80::1"),
            v6_iface("wanb_6", "eth2", "fe80::2").replacen(
                "\"up\":true",
                "\"up\":true,\"uptime\":5",
                1
            )
        );
        let d2 = Dump::parse(text.as_bytes()).unwrap();
        for (online, members) in [(true, 2), (false, 1)] {
            let h = Health {
                tracked: vec![record("wanb_6", 3, online, 3)],
                ..Health::default()
            };
            let desired = crate::planner::desired(&d2, &cfg, &links(), false, &h);
            assert_eq!(
                desired[0].members.len(),
                members,
                "{:?}",
                desired[0].skipped
            );
        }
        // Renewed by watch for the new session, not probed yet: still out.
        let h = Health {
            tracked: vec![crate::track::Record {
                last_round: 0,
                fails: 0,
                ..record("wanb_6", 3, false, 0)
            }],
            ..Health::default()
        };
        assert_eq!(plan_with(&h).1, unproven);
        // mwan3's offline too, for its section's family only.
        let h = Health {
            mwan3_sections: vec![crate::mwan3::Section {
                name: "wan6".into(),
                family: Family::V6,
            }],
            mwan3_states: Some(vec![("wan6".into(), "offline".into())]),
            ..Health::default()
        };
        let (members, skipped, _) = plan_with(&h);
        assert_eq!(members, ["wanb_6", "wanc_6"]);
        assert_eq!(skipped[0].1, "offline according to mwan3");
        let h = Health {
            mwan3_sections: vec![crate::mwan3::Section {
                name: "wan6".into(),
                family: Family::V4,
            }],
            ..h
        };
        assert_eq!(plan_with(&h).0.len(), 3);
        // Held (down failed rounds, all of them everyone's) stays in.
        let h = Health {
            tracked: vec![
                record("wan6", 2, true, down()),
                record("wanb_6", 3, true, down()),
            ],
            ..Health::default()
        };
        assert_eq!(
            plan_with(&h),
            (
                vec!["wan6".into(), "wanb_6".into(), "wanc_6".into()],
                vec![],
                false
            )
        );
        // Every member offline or held: all kept, and said so.
        let h = Health {
            tracked: vec![
                record("wan6", 2, false, 9),
                record("wanb_6", 3, true, down()),
            ],
            mwan3_sections: vec![crate::mwan3::Section {
                name: "wanc_6".into(),
                family: Family::V6,
            }],
            mwan3_states: Some(vec![("wanc_6".into(), "offline".into())]),
        };
        let (members, skipped, fail_open) = plan_with(&h);
        assert_eq!(members.len(), 3);
        assert!(skipped.is_empty() && fail_open);
    }

    #[test]
    fn held_members_are_held_not_fail_open_and_the_notes_say_which() {
        let (cfg, d) = tracked(&[]);
        let notes = |h: &Health| {
            let desired = crate::planner::desired(&d, &cfg, &links(), false, h);
            (
                desired[0].fail_open,
                desired[0].held.clone(),
                health_notes(&desired),
            )
        };
        // Every member held (record(name, device, online, fails): online, down rounds
        // failed): nobody would be taken out, so this is no fail open.
        let all_held = Health {
            tracked: vec![
                record("wan6", 2, true, down()),
                record("wanb_6", 3, true, down()),
                record("wanc_6", 6, true, down()),
            ],
            ..Health::default()
        };
        assert_eq!(
            notes(&all_held),
            (
                false,
                vec!["wan6".into(), "wanb_6".into(), "wanc_6".into()],
                vec![format!("v6: wan6, wanb_6, wanc_6 {HELD}")]
            )
        );
        // One offline, the others held: fail open, said as such.
        let h = Health {
            tracked: vec![
                record("wan6", 2, false, 3),
                record("wanb_6", 3, true, down()),
                record("wanc_6", 6, true, down()),
            ],
            ..Health::default()
        };
        let (fail_open, held, said) = notes(&h);
        assert!(fail_open);
        assert_eq!(held, ["wanb_6", "wanc_6"]);
        assert_eq!(said, [format!("v6: {FAIL_OPEN}")]);
        // Healthy: nothing to say.
        assert_eq!(notes(&Health::default()), (false, vec![], vec![]));
    }
}
