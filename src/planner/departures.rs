//! Who leaves a group in this run, for the log.

use std::fmt;

use super::desired::Desired;
use super::member::Reason;
use crate::event::Event;
use crate::route::{Links, Object, Route};

/// A member that leaves its group in this run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Departure {
    pub group: String,
    /// The interface; where no candidate has the device any more, the nexthop itself
    /// ("via fe80::1 dev wan3").
    pub interface: String,
    pub reason: String,
    /// The device of its leg, where it is known: its own in the dump, or the leg no
    /// candidate explains that a down interface the event names is taken to own.
    pub device: Option<u32>,
}

impl fmt::Display for Departure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} left {}: {}", self.interface, self.group, self.reason)
    }
}

/// An interface that may have just left a group although the kernel shows nothing of it any
/// more (the kernel deletes a leg with its device's carrier, before any run): the interface
/// a hotplug event takes down (`group: None`, any group it is a candidate of), or a member
/// of `group` as `watch`'s last run saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hint {
    pub group: Option<String>,
    pub interface: String,
}

/// The members that leave their groups in this run, each once: a candidate left out whose
/// device still carries one of the group's nexthops in the kernel, a nexthop of the group
/// that no candidate has any more, the left-out interface a hotplug event names, and a member
/// `watch` saw that lost its carrier or device or is no candidate any more. A member whose
/// gateway changes stays.
pub fn departures(
    desired: &[Desired],
    routes: &[Route],
    objects: &[Object],
    links: &Links,
    hints: &[Hint],
) -> Vec<Departure> {
    let mut out: Vec<Departure> = Vec::new();
    for d in desired.iter().filter(|d| !d.unsupported) {
        let group = &d.group.name;
        let start = out.len();
        // A left-out candidate the hints name; one without a device in the dump (down) is
        // the likeliest owner of a nexthop of the group that no candidate's device explains.
        let mut unplaced = 0;
        for hint in hints
            .iter()
            .filter(|h| h.group.as_ref().is_none_or(|g| g == group))
        {
            if d.members.iter().any(|m| m.interface == hint.interface) {
                continue;
            }
            let skip = d.skipped.iter().find(|s| s.interface == hint.interface);
            match (skip, &hint.group) {
                // The event's own interface: whatever the reason.
                (Some(s), None) => {
                    unplaced += usize::from(s.device.is_none());
                    leave(
                        &mut out,
                        start,
                        group,
                        s.interface.clone(),
                        s.reason.to_string(),
                        s.device,
                    )
                }
                // A member `watch` saw: what no hotplug event reports (the event's run names
                // the rest, or the kernel still has the leg).
                (Some(s), Some(_))
                    if matches!(s.reason, Reason::NoCarrier(_) | Reason::NoSuchDevice(_)) =>
                {
                    leave(
                        &mut out,
                        start,
                        group,
                        s.interface.clone(),
                        s.reason.to_string(),
                        s.device,
                    )
                }
                (None, Some(_)) => leave(
                    &mut out,
                    start,
                    group,
                    hint.interface.clone(),
                    "no longer a candidate (gone from the dump, or the config changed)".into(),
                    None,
                ),
                _ => {}
            }
        }
        for (ifindex, gateway) in d.installed(routes, objects) {
            if d.members.iter().any(|m| m.nexthop.ifindex == ifindex) {
                continue;
            }
            match d.skipped.iter().find(|s| s.device == Some(ifindex)) {
                Some(s) => leave(
                    &mut out,
                    start,
                    group,
                    s.interface.clone(),
                    s.reason.to_string(),
                    Some(ifindex),
                ),
                None if unplaced > 0 => {
                    unplaced -= 1;
                    // The leg of a down interface the event names (in the order they were
                    // named, one leg each).
                    let owner = out.iter_mut().skip(start).find(|o| o.device.is_none());
                    if let Some(owner) = owner {
                        owner.device = Some(ifindex);
                    }
                }
                None => leave(
                    &mut out,
                    start,
                    group,
                    links.leg(ifindex, gateway),
                    "no candidate that is up has this nexthop".into(),
                    Some(ifindex),
                ),
            }
        }
    }
    out
}

/// Adds `interface`'s departure from `group` to `out`, whose entries from `start` are that
/// group's, unless it is there already.
fn leave(
    out: &mut Vec<Departure>,
    start: usize,
    group: &str,
    interface: String,
    reason: String,
    device: Option<u32>,
) {
    if !out.iter().skip(start).any(|o| o.interface == interface) {
        out.push(Departure {
            group: group.to_string(),
            interface,
            reason,
            device,
        });
    }
}

/// The hints a hotplug event gives: the interface an event takes down (ifdown, ifup-failed,
/// mwan3track's disconnected), in any group it is a candidate of. Its leg may be gone with
/// its device before the run, and the event is then the only word of it for the log.
pub fn event_hints(event: &Event) -> Vec<Hint> {
    match &event.interface {
        Some(interface) if event.action.takes_down() => vec![Hint {
            group: None,
            interface: interface.clone(),
        }],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testing::desired;
    use crate::planner::testing::*;

    #[test]
    fn departures_name_every_member_that_leaves_whoever_removed_its_leg() {
        let cfg = config(vec![group("v6", "2000::/3", &["dhcpv6"], &[])], &[]);
        let down = |name: &str| format!(r#"{{"interface":"{name}","up":false,"proto":"dhcpv6"}}"#);
        let no_default =
            r#"{"interface":"wan3_6","up":true,"proto":"dhcpv6","l3_device":"eth3","route":[]}"#;
        let up = |n: u32, dev: &str| v6_iface(&format!("wan{n}_6"), dev, &format!("fe80::{n}"));
        let all = [up(1, "eth1"), up(2, "eth2"), up(3, "eth3"), up(4, "eth4")];
        // What the kernel has after a run over `ifaces`, in either mode (eth4 has no carrier:
        // a multipath leg, not a resilient one).
        let kernel = |ifaces: &[String], resilient: bool| {
            let d = desired(&dump(&ifaces.join(",")), &cfg, &links(), resilient)
                .pop()
                .unwrap();
            let routes = vec![d.route.clone()];
            (routes, d.objects.clone())
        };
        let before_res = kernel(&all, true);
        let before_mp = kernel(&all, false);
        let without_3 = kernel(&[up(1, "eth1"), up(2, "eth2")], true);
        let hint = |group: Option<&str>, interface: &str| Hint {
            group: group.map(str::to_string),
            interface: interface.into(),
        };
        type Kernel = (Vec<Route>, Vec<Object>);
        // (what happened, dump now, kernel before the run, hints, expected lines)
        type Case<'a> = (&'a str, Vec<String>, &'a Kernel, Vec<Hint>, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "default withdrawn in place: the leg is still there",
                vec![up(1, "eth1"), up(2, "eth2"), no_default.into()],
                &before_res,
                vec![],
                vec!["wan3_6 left v6: no default route of this family"],
            ),
            (
                "the same in a multipath route",
                vec![
                    up(1, "eth1"),
                    up(2, "eth2"),
                    no_default.into(),
                    up(4, "eth4"),
                ],
                &before_mp,
                vec![],
                vec!["wan3_6 left v6: no default route of this family"],
            ),
            (
                "ifdown after the kernel deleted the leg with the carrier: the event names it",
                vec![up(1, "eth1"), up(2, "eth2"), down("wan3_6")],
                &without_3,
                vec![hint(None, "wan3_6")],
                vec!["wan3_6 left v6: down"],
            ),
            (
                "the same run without the event (sync): nothing is known, nothing said",
                vec![up(1, "eth1"), up(2, "eth2"), down("wan3_6")],
                &without_3,
                vec![],
                vec![],
            ),
            (
                "ifdown with the leg still there: one line, not two",
                vec![up(1, "eth1"), up(2, "eth2"), down("wan3_6")],
                &before_res,
                vec![hint(None, "wan3_6")],
                vec!["wan3_6 left v6: down"],
            ),
            (
                "a leg no candidate explains, without an event",
                vec![up(1, "eth1"), up(2, "eth2"), down("wan3_6")],
                &before_res,
                vec![],
                vec!["via fe80::3 dev eth3 left v6: no candidate that is up has this nexthop"],
            ),
            (
                "a new gateway: the member stays",
                vec![
                    up(1, "eth1"),
                    v6_iface("wan2_6", "eth2", "fe80::22"),
                    up(3, "eth3"),
                ],
                &before_res,
                vec![hint(None, "wan2_6")],
                vec![],
            ),
            (
                "watch: carrier gone (the kernel deleted the leg), a member gone from the dump; \
                 one that went down is the ifdown event's to name",
                vec![up(1, "eth1"), up(2, "eth2"), up(4, "eth4"), down("wan3_6")],
                &without_3,
                vec![
                    hint(Some("v6"), "wan1_6"),
                    hint(Some("v6"), "wan3_6"),
                    hint(Some("v6"), "wan4_6"),
                    hint(Some("v6"), "wan9_6"),
                    hint(Some("v4"), "wan1_6"),
                ],
                vec![
                    "wan4_6 left v6: eth4 has no carrier",
                    "wan9_6 left v6: no longer a candidate (gone from the dump, or the config changed)",
                ],
            ),
        ];
        for (case, ifaces, (routes, objects), hints, want) in cases {
            let d = desired(
                &dump(&ifaces.join(",")),
                &cfg,
                &links(),
                !objects.is_empty(),
            );
            let got: Vec<String> = departures(&d, routes, objects, &links(), &hints)
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn an_event_that_takes_its_interface_down_names_it_in_every_group() {
        use crate::event::Event;
        // (ACTION, INTERFACE, hints): netifd's ifdown and ifup-failed, mwan3track's
        // disconnected take the interface out; the rest bring it in, or change nothing.
        let cases = [
            ("ifdown", "wan6", vec!["wan6"]),
            ("ifup-failed", "wan6", vec!["wan6"]),
            ("disconnected", "wan6", vec!["wan6"]),
            ("ifup", "wan6", vec![]),
            ("ifupdate", "wan6", vec![]),
            ("connected", "wan6", vec![]),
            ("ifcreate", "wan6", vec![]),
        ];
        for (action, interface, want) in cases {
            let env = |k: &str| match k {
                "ACTION" => Some(action.into()),
                "INTERFACE" => Some(interface.into()),
                _ => None,
            };
            let event = Event::from_env(env).unwrap();
            let hints = event_hints(&event);
            assert!(hints.iter().all(|h| h.group.is_none()), "{action}");
            let names: Vec<&str> = hints.iter().map(|h| h.interface.as_str()).collect();
            assert_eq!(names, want, "{action}");
        }
    }
}
