//! The pure core: (interface state, config, devices) → desired routes, and
//! (desired, installed) → the kernel writes that make them equal.
//!
//! No I/O, no clock, no logging: why an interface was left out comes back as data for the
//! caller to log and for `status` to show. Everything is ordered (by interface name, by
//! nexthop), so the same input always gives the same plan and the same log lines.

use std::fmt;
use std::net::IpAddr;

use crate::config::{Config, Group, Mode};
use crate::dump::{Dump, Interface};
use crate::route::{
    Family, Links, Nexthop, Object, ObjectKind, PROTOCOL, Route, RouteKey, Rule, Sysctl, Weight,
};

/// The nexthop object ids ecmp-hotplug uses: `0xEC` (as in its protocol mark) in the top
/// byte, then a 12-bit slot per group and a 12-bit slot per uplink in the group, slot 0 being
/// the group object itself. The kernel numbers objects from 1 up to 2^31 − 1 when asked to
/// pick; FRR's zebra and its daemons stay below 2^31 too; systemd-networkd takes the ids
/// written in its files. Slots come from a hash of the group's and the interface's names, so
/// they stay put across runs, reboots and gateway changes.
pub const ID_BASE: u32 = 0xEC00_0000;
const SLOT_BITS: u32 = 12;
const SLOTS: u32 = (1 << SLOT_BITS) - 1;
/// Group slot 0 is the kernel probe's (`ID_BASE` the group, `PROBE_LEG` its member), which no
/// group is given, so a probe a killed run left behind is just a stale object of ours.
pub const PROBE_GROUP: u32 = ID_BASE;
pub const PROBE_LEG: u32 = ID_BASE + 1;

/// FNV-1a folded to a slot in 1..=4095.
fn slot(name: &str) -> u32 {
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % SLOTS + 1
}

/// The first slot from `name`'s hash on that `taken` doesn't hold (there are 4095 of them and
/// a router has a few names, so this nearly always is the hash's own slot).
fn free_slot(name: &str, taken: &[u32]) -> u32 {
    let mut s = slot(name);
    while taken.contains(&s) {
        s = s % SLOTS + 1;
    }
    s
}

/// Each group's nexthop-group object id, in config order.
pub fn group_ids(config: &Config) -> Vec<u32> {
    let mut slots = Vec::with_capacity(config.groups.len());
    for g in &config.groups {
        let s = free_slot(&g.name, &slots);
        slots.push(s);
    }
    slots
        .into_iter()
        .map(|s| ID_BASE | s << SLOT_BITS)
        .collect()
}

/// Whether object `id` belongs to group object `group_id`'s range (the group or its legs).
fn in_range(id: u32, group_id: u32) -> bool {
    id >> SLOT_BITS == group_id >> SLOT_BITS
}

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub interface: String,
    pub device: String,
    pub nexthop: Nexthop,
    /// Its addresses of the group's family, from the dump.
    pub addresses: Vec<IpAddr>,
    /// Seconds its session has been up, where the dump says.
    pub uptime: Option<u64>,
}

/// A candidate interface that is not in the route, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub interface: String,
    pub reason: Reason,
    /// The index of its `l3_device`, where the dump names one the kernel has.
    pub device: Option<u32>,
    /// Its addresses of the group's family, as the dump has them: what its conntrack
    /// entries are found by when it leaves.
    pub addresses: Vec<IpAddr>,
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
    /// Resilient mode: the device has no carrier (the kernel would delete its nexthop).
    NoCarrier(String),
    /// Tracking found it dead: `answered` of `targets` answered in the last round, and it
    /// has `fails` failed or `passes` passed rounds in a row.
    Offline {
        answered: u32,
        targets: u32,
        fails: u32,
        passes: u32,
    },
    /// mwan3's state of its section for it says anything but online (`mwan3`).
    Mwan3Offline,
    /// Offline in its last session; its new one has not passed a round yet.
    Unproven,
}

impl Reason {
    /// Whether an operator should read about it; the rest is normal life (a link is down).
    pub fn worth_a_warning(&self) -> bool {
        !matches!(
            self,
            Reason::NotInDump
                | Reason::Down
                | Reason::NoDefaultRoute
                | Reason::Withdrawn
                | Reason::NoCarrier(_)
                | Reason::Offline { .. }
                | Reason::Mwan3Offline
                | Reason::Unproven
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
            Reason::NoCarrier(dev) => write!(f, "{dev} has no carrier"),
            Reason::Offline {
                answered,
                targets,
                fails,
                passes: 0,
            } => write!(
                f,
                "offline: {answered} of {targets} targets answered for {fails} rounds"
            ),
            Reason::Offline {
                answered,
                targets,
                passes,
                ..
            } => write!(
                f,
                "offline: {answered} of {targets} targets answered, {passes} rounds passed in a row"
            ),
            Reason::Mwan3Offline => f.write_str("offline according to mwan3"),
            Reason::Unproven => {
                f.write_str("offline in its last session: joins once its new one passes a round")
            }
        }
    }
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

/// What a run has to say of its groups' health (fail open, held members), one line each.
/// `watch` says a line when it first holds and when it no longer does; other runs, which
/// keep no state, only at debug (they would repeat it on every event).
pub fn health_notes(desired: &[Desired]) -> Vec<String> {
    let mut notes = Vec::new();
    for d in desired {
        if d.fail_open {
            notes.push(format!("{}: {FAIL_OPEN}", d.group.name));
        } else if !d.held.is_empty() {
            notes.push(format!("{}: {} {HELD}", d.group.name, d.held.join(", ")));
        }
    }
    notes
}

/// What health says of one member.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Healthy,
    /// Failed `down` rounds in a row but held online, because those rounds failed for every
    /// member at once: it stays in, and counts as condemned for fail-open.
    Condemned,
    Out(Reason),
}

impl Health {
    /// `mwan3`: the (interface, family) pairs mwan3 routes nothing through (`mwan3::offline`).
    fn verdict(&self, mwan3: &[(String, Family)], group: &Group, m: &Member) -> Verdict {
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
    fn installed<'k>(
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

/// A member that leaves its group in this run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Departure {
    pub group: String,
    /// The interface; where no candidate has the device any more, the nexthop itself
    /// ("via fe80::1 dev wan3").
    pub interface: String,
    pub reason: String,
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
        let mut leave = |interface: String, reason: String| {
            if !out
                .iter()
                .any(|o| &o.group == group && o.interface == interface)
            {
                out.push(Departure {
                    group: group.clone(),
                    interface,
                    reason,
                });
            }
        };
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
                    leave(s.interface.clone(), s.reason.to_string())
                }
                // A member `watch` saw: what no hotplug event reports (the event's run names
                // the rest, or the kernel still has the leg).
                (Some(s), Some(_))
                    if matches!(s.reason, Reason::NoCarrier(_) | Reason::NoSuchDevice(_)) =>
                {
                    leave(s.interface.clone(), s.reason.to_string())
                }
                (None, Some(_)) => leave(
                    hint.interface.clone(),
                    "no longer a candidate (gone from the dump, or the config changed)".into(),
                ),
                _ => {}
            }
        }
        for (ifindex, gateway) in d.installed(routes, objects) {
            if d.members.iter().any(|m| m.nexthop.ifindex == ifindex) {
                continue;
            }
            match d.skipped.iter().find(|s| s.device == Some(ifindex)) {
                Some(s) => leave(s.interface.clone(), s.reason.to_string()),
                None if unplaced > 0 => unplaced -= 1,
                None => leave(
                    links.leg(ifindex, gateway),
                    "no candidate that is up has this nexthop".into(),
                ),
            }
        }
    }
    out
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

/// Whether `auto` groups get resilient nexthop groups this run, as far as the state tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resilience {
    /// The state answers it: no nexthop objects, nothing wants them, a resilient group of
    /// ours is installed, or the answer changes nothing this run (no group that may use one
    /// has a member to install: early boot, `network restart`).
    Known(bool),
    /// Only the kernel can tell, by trying with the probe's ids (`PROBE_GROUP`, `PROBE_LEG`)
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
    for id in [PROBE_GROUP, PROBE_LEG] {
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

/// The group name uplink paths' writes are logged under.
pub const PATHS: &str = "uplink paths";

/// Where uplink paths' tables start: `PATH_BASE + device index`.
pub const PATH_BASE: u32 = 0xEC00_0000;

/// The priority of uplink paths' rules (`PATH_PRIORITY` for `main` without its broadest
/// routes, the next for the uplink's table): after `local` (0), before everything netifd and
/// mwan3 add (1000 and up) and `main` (32766). Only packets routed out of a given device
/// (a socket bound to it) match.
pub const PATH_PRIORITY: u32 = 100;

/// What the kernel has that a plan is compared with.
#[derive(Clone, Copy, Debug)]
pub struct Installed<'k> {
    pub routes: &'k [Route],
    pub objects: &'k [Object],
    /// `None`: this kernel's rules can't be read (`Kernel::rules`).
    pub rules: Option<&'k [Rule]>,
}

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
    PATH_BASE.wrapping_add(ifindex)
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
    use crate::config::HashPolicy;
    use crate::route::{Link, PROTOCOL, Prefix, Resilient, RouteKey, TABLE_MAIN};

    /// `desired` without tracking or mwan3track.
    fn desired<'c>(dump: &Dump, config: &'c Config, links: &Links, r: bool) -> Vec<Desired<'c>> {
        super::desired(dump, config, links, r, &Health::default())
    }

    /// `changes` without probe paths or rules.
    fn changes(
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

    fn links() -> Links {
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
            mode: Mode::Auto,
            groups,
            weights: weights
                .iter()
                .map(|(i, w)| (i.to_string(), Weight::new(*w).unwrap()))
                .collect::<BTreeMap<_, _>>(),
            untracked: Vec::new(),
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
            mode: None,
            resilient: crate::config::RESILIENT,
            track: None,
            flush_conntrack: true,
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
    fn a_down_candidate_is_watched_on_its_configured_device() {
        // netifd's dump of a down interface: no l3_device, but the device it is set up on.
        let d = dump(&format!(
            r#"{},{{"interface":"wanb_6","up":false,"proto":"dhcpv6","device":"eth2","data":{{}}}},
               {{"interface":"wanc_6","up":false,"proto":"dhcpv6","data":{{}}}}"#,
            v6_iface("wan6", "eth1", "fe80::1")
        ));
        let g = group("v6", "2000::/3", &["dhcpv6"], &[]);
        let cfg = config(vec![g], &[]);
        let desired = super::desired(&d, &cfg, &links(), false, &Health::default());
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
        let dump = Dump::parse(include_bytes!("../tests/fixtures/dump-multiwan.json")).unwrap();
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

    fn multipath(g: &Group, nexthops: Vec<Nexthop>) -> Desired<'_> {
        Desired {
            group: g,
            mode: Mode::Multipath,
            unsupported: false,
            group_id: ID_BASE | 1 << SLOT_BITS,
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
    fn object_ids_are_stable_in_range_and_distinct() {
        let names = ["v6", "v4", "@group[0]", "wan6", "wan_6", "wanb_6"];
        for n in names {
            assert_eq!(slot(n), slot(n));
            assert!((1..=SLOTS).contains(&slot(n)), "{n}");
        }
        // Two names that hash to one slot: the second takes the next free one.
        let (a, b) = (0..)
            .map(|i| format!("g{i}"))
            .find_map(|b| (slot("g0") == slot(&b) && b != "g0").then_some(("g0".to_string(), b)))
            .unwrap();
        let cfg = config(
            vec![group(&a, "2000::/3", &[], &[]), group(&b, "::/0", &[], &[])],
            &[],
        );
        let ids = group_ids(&cfg);
        assert_eq!(ids[0], ID_BASE | slot(&a) << SLOT_BITS);
        assert_ne!(ids[0], ids[1]);
        for id in &ids {
            assert_eq!(id & 0xff00_0000, ID_BASE);
            assert_eq!(id & SLOTS, 0, "a group's own id is slot 0 of its range");
            assert_ne!(*id, PROBE_GROUP);
        }
    }

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
                Some(vec![probe(PROBE_LEG, PROTOCOL)]),
                false,
                ask(vec![PROBE_LEG], true),
            ),
            (
                "another's object at a probe id",
                &up,
                vec![],
                Some(vec![probe(PROBE_GROUP, 4)]),
                false,
                Resilience::Blocked {
                    id: PROBE_GROUP,
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

    fn resilient_desired<'c>(cfg: &'c Config, ifaces: &[String]) -> Desired<'c> {
        desired(&dump(&ifaces.join(",")), cfg, &links(), true)
            .pop()
            .unwrap()
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
                            id: PROBE_GROUP,
                            protocol: PROTOCOL,
                            kind: ObjectKind::Group {
                                members: vec![(PROBE_LEG, Weight::ONE)],
                                resilient: Some(Resilient {
                                    buckets: 1,
                                    idle_timer: 0,
                                    unbalanced_timer: 0,
                                }),
                            },
                        },
                        Object {
                            id: PROBE_LEG,
                            protocol: PROTOCOL,
                            kind: ObjectKind::Other,
                        },
                    ],
                ]
                .concat(),
                vec![
                    format!("delete {PROBE_GROUP:x}"),
                    format!("delete {PROBE_LEG:x}"),
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

    /// A tracking group over wan6 (eth1, index 2), wanb_6 (eth2, 3) and wanc_6 (eth3, 6),
    /// each with its address; `untracked` opted out.
    fn tracked(untracked: &[&str]) -> (Config, Dump) {
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

    fn record(interface: &str, device: u32, online: bool, fails: u32) -> crate::track::Record {
        crate::track::Record {
            group: "v6".into(),
            interface: interface.into(),
            device,
            uptime: 60,
            online,
            fails,
            passes: 0,
            last_round: 1,
            targets: vec![crate::track::Target {
                ip: "2001:db8:ff::1".parse().unwrap(),
                sent: 2,
                received: 0,
                rtt_us: None,
            }],
        }
    }

    fn plan_with(health: &Health) -> (Vec<String>, Vec<(String, String)>, bool) {
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
            let desired = super::desired(&d2, &cfg, &links(), false, &h);
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
            tracked: vec![record("wan6", 2, true, 3), record("wanb_6", 3, true, 3)],
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
            tracked: vec![record("wan6", 2, false, 9), record("wanb_6", 3, true, 3)],
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
            let desired = super::desired(&d, &cfg, &links(), false, h);
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
                record("wan6", 2, true, 3),
                record("wanb_6", 3, true, 3),
                record("wanc_6", 6, true, 3),
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
                record("wanb_6", 3, true, 3),
                record("wanc_6", 6, true, 3),
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

    #[test]
    fn every_uplink_gets_a_path_tracked_or_not_in_the_route_or_not() {
        let h = Health {
            tracked: vec![record("wanb_6", 3, false, 3)],
            ..Health::default()
        };
        let (cfg, d) = tracked(&["wanc_6"]);
        let desired = super::desired(&d, &cfg, &links(), false, &h);
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
        let c = super::changes(&desired, &paths, &installed, &[]);
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
        let c = super::changes(&desired, &paths, &blind, &[]);
        assert!(!c.changes.iter().any(|c| matches!(c, Change::WriteRule(_))));
        // No groups, no paths: flush-like plans remove all of ours.
        let c = super::changes(&[], &Paths::default(), &installed, &[]);
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

    #[test]
    fn a_member_that_leaves_with_its_addresses_takes_its_translated_connections() {
        let offline = Health {
            tracked: vec![record("wanb_6", 3, false, 3)],
            ..Health::default()
        };
        let (mut cfg, d) = tracked(&[]);
        // What the kernel has: the multipath route over all three.
        let all = super::desired(&d, &cfg, &links(), false, &Health::default());
        let installed = vec![all[0].route.clone()];
        let conntrack = |cfg: &Config, h: &Health| -> Vec<Change> {
            let desired = super::desired(&d, cfg, &links(), false, h);
            let inst = Installed {
                routes: &installed,
                objects: &[],
                rules: Some(&[]),
            };
            super::changes(&desired, &Paths::default(), &inst, &[])
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
