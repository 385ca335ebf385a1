//! What other packages are told (`notify`): a member joining or leaving a group, and tracking
//! moving an uplink online or offline. As mwan3 tells `mwan3.user` and hotplug.d/iface its
//! `connected` / `disconnected`, but through a subsystem of our own (`ecmp-hotplug`), so that
//! mwan3's scripts never take them for mwan3track's.

use super::departures::Departure;
use super::desired::Desired;
use crate::route::{Links, Object, Route};
use crate::track::{Transition, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Its leg enters the group's route in this run.
    Join,
    /// Its leg leaves the group's route in this run (`Departure`).
    Leave,
    /// Tracking found it online again.
    Online,
    /// Tracking found it offline.
    Offline,
}

impl Action {
    /// `ACTION` as scripts see it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Join => "join",
            Action::Leave => "leave",
            Action::Online => "online",
            Action::Offline => "offline",
        }
    }
}

/// One event, with what `hotplug-call ecmp-hotplug` passes in the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberEvent {
    pub action: Action,
    pub group: String,
    pub interface: String,
    /// Its device's name; empty where no device is known any more.
    pub device: String,
    pub reason: String,
}

/// The reason a join gives: what makes a member usable.
pub const USABLE: &str = "up with a default route, and no word of it being offline";

/// The events of a run's changes: who leaves (its departures) and who joins (a member whose
/// device carries no leg of the group in the kernel yet), for every group not in
/// `conflicted` (left alone, so nobody joins or leaves it).
pub fn membership(
    desired: &[Desired],
    departures: &[Departure],
    routes: &[Route],
    objects: &[Object],
    links: &Links,
    conflicted: &dyn Fn(&str) -> bool,
) -> Vec<MemberEvent> {
    let mut out = Vec::new();
    for d in departures.iter().filter(|d| !conflicted(&d.group)) {
        let device = d.device.and_then(|i| links.name(i)).unwrap_or_default();
        out.push(MemberEvent {
            action: Action::Leave,
            group: d.group.clone(),
            interface: d.interface.clone(),
            device: device.to_string(),
            reason: d.reason.clone(),
        });
    }
    for d in desired.iter().filter(|d| !d.unsupported) {
        if conflicted(&d.group.name) {
            continue;
        }
        let installed: Vec<u32> = d.installed(routes, objects).map(|(i, _)| i).collect();
        for m in d.members.iter() {
            if !installed.contains(&m.nexthop.ifindex) {
                out.push(MemberEvent {
                    action: Action::Join,
                    group: d.group.name.clone(),
                    interface: m.interface.clone(),
                    device: m.device.clone(),
                    reason: USABLE.into(),
                });
            }
        }
    }
    out
}

/// The event of a tracking verdict that changed; a held uplink stays a member and online, so
/// it is none.
pub fn tracking(t: &Transition, device: &str) -> Option<MemberEvent> {
    let action = match t.verdict {
        Verdict::Online => Action::Online,
        Verdict::Offline => Action::Offline,
        Verdict::Held => return None,
    };
    Some(MemberEvent {
        action,
        group: t.group.clone(),
        interface: t.interface.clone(),
        device: device.to_string(),
        reason: t.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testing::desired;
    use crate::planner::testing::*;

    #[test]
    fn a_plan_announces_who_joins_and_who_leaves_and_nothing_of_a_group_left_alone() {
        let cfg = config(vec![group("v6", "2000::/3", &["dhcpv6"], &[])], &[]);
        let up = [
            v6_iface("wan6", "eth1", "fe80::1"),
            v6_iface("wanb_6", "eth2", "fe80::2"),
        ];
        let d = dump(&up.join(","));
        let events_of = |routes: &[Route], conflicted: bool| {
            let planned = desired(&d, &cfg, &links(), false);
            let departures = crate::planner::departures(&planned, routes, &[], &links(), &[]);
            membership(&planned, &departures, routes, &[], &links(), &|_| {
                conflicted
            })
            .into_iter()
            .map(|e| (e.action, e.interface, e.device, e.reason))
            .collect::<Vec<_>>()
        };
        let join = |i: &str, dev: &str| {
            (
                Action::Join,
                i.to_string(),
                dev.to_string(),
                USABLE.to_string(),
            )
        };
        // Nothing installed: both join.
        assert_eq!(
            events_of(&[], false),
            [join("wan6", "eth1"), join("wanb_6", "eth2")]
        );
        // wan6's leg is there, wanb_6's not: only wanb_6 joins; a new gateway is no join.
        let one = [installed(
            "2000::/3",
            1024,
            PROTOCOL,
            vec![nh(2, Some("fe80::9"), 1)],
        )];
        assert_eq!(events_of(&one, false), [join("wanb_6", "eth2")]);
        // A leg of an interface that went down: it leaves, with its device where known.
        let d2 = dump(&format!(
            "{},{}",
            up[0],
            up[1].replacen("\"up\":true", "\"up\":false", 1)
        ));
        let both = [installed(
            "2000::/3",
            1024,
            PROTOCOL,
            vec![nh(2, Some("fe80::1"), 1), nh(3, Some("fe80::2"), 1)],
        )];
        let planned = desired(&d2, &cfg, &links(), false);
        let departures = crate::planner::departures(&planned, &both, &[], &links(), &[]);
        let events = membership(&planned, &departures, &both, &[], &links(), &|_| false);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].action, Action::Leave);
        assert_eq!(
            (
                events[0].interface.as_str(),
                events[0].device.as_str(),
                events[0].reason.as_str()
            ),
            ("wanb_6", "eth2", "down")
        );
        // A group in conflict: nobody joins or leaves it.
        assert_eq!(events_of(&[], true), []);
    }

    #[test]
    fn tracking_says_online_and_offline_but_not_held() {
        let t = |verdict| Transition {
            group: "v6".into(),
            interface: "wan6".into(),
            verdict,
            answered: 0,
            targets: 2,
            rounds: 3,
        };
        let offline = tracking(&t(Verdict::Offline), "eth1").unwrap();
        assert_eq!(
            (offline.action, offline.device.as_str()),
            (Action::Offline, "eth1")
        );
        assert_eq!(offline.reason, t(Verdict::Offline).to_string());
        assert_eq!(
            tracking(&t(Verdict::Online), "eth1").unwrap().action,
            Action::Online
        );
        assert_eq!(tracking(&t(Verdict::Held), "eth1"), None);
        let names: Vec<&str> = [Action::Join, Action::Leave, Action::Online, Action::Offline]
            .iter()
            .map(|a| a.name())
            .collect();
        assert_eq!(names, ["join", "leave", "online", "offline"]);
    }
}
