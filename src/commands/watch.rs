//! `watch`: the one long-running process. It reconciles when the kernel reports what no
//! hotplug event does (carrier, devices, default routes, our nexthops deleted), and tracks
//! the uplinks: a round of probes per group every `interval`, judged by `track::judge`, the
//! records published for hotplug runs (`state`), and a reconcile when a verdict changes.
//! Between the two it sleeps in `poll` on the netlink socket and the probe sockets.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::cli::Options;
use crate::config::Track;
use crate::error::Error;
use crate::netlink::{Kernel, KernelEvent, Monitor};
use crate::planner::{self, Hint, Plan};
use crate::probe::{Round, Uplink};
use crate::reconcile::reconcile;
use crate::route::PROTOCOL;
use crate::state;
use crate::track::{self, Record};

/// What a reconcile saw, for `watch`: who was in each group, and where a default route
/// matters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// (group, interface, device index) of every member.
    members: Vec<(String, String, u32)>,
    /// The devices of every group's candidates.
    devices: Vec<u32>,
    /// Each tracking group: its name, how it tracks, and the uplinks to probe.
    probes: Vec<(String, Track, Vec<Uplink>)>,
    /// What the run said of the groups' health (`planner::health_notes`).
    notes: Vec<String>,
}

impl Seen {
    pub(crate) fn of(plan: &Plan) -> Seen {
        let mut seen = Seen {
            notes: plan.health.clone(),
            ..Seen::default()
        };
        for d in &plan.desired {
            for m in &d.members {
                seen.members
                    .push((d.group.name.clone(), m.interface.clone(), m.nexthop.ifindex));
            }
            for device in d.devices() {
                if !seen.devices.contains(&device) {
                    seen.devices.push(device);
                }
            }
            if let Some(track) = &d.group.track {
                seen.probes
                    .push((d.group.name.clone(), track.clone(), d.probes()));
            }
        }
        seen
    }

    /// Every member this saw, as hints for the next run.
    fn hints(&self) -> Vec<Hint> {
        self.members
            .iter()
            .map(|(group, interface, _)| Hint {
                group: Some(group.clone()),
                interface: interface.clone(),
            })
            .collect()
    }
}

/// How long `watch` lets a burst of events (a carrier flap sends several) settle before it
/// reconciles once for all of them.
const SETTLE: Duration = Duration::from_millis(100);

/// mwan3's interface states, quietly: the reconcile they cause says what is wrong.
fn mwan3_states() -> Option<Vec<(String, String)>> {
    state::mwan3_states(&crate::gather::mwan3_sections().unwrap_or_default())
}

/// How often `watch` looks at mwan3's interface states.
const MWAN3_LOOK: Duration = Duration::from_secs(2);

/// Reconciles at start, then whenever a device's carrier changes, a device goes away, a
/// default route or a global address on a device of a group's candidates appears, changes or
/// goes away, someone
/// deletes a nexthop object of ours, events were lost, tracking changed a verdict, or mwan3's
/// interface states changed (or it stopped).
/// Failed reconciles are logged and the next event tries again; only losing the netlink
/// socket ends it (procd starts it again).
pub fn run(opts: &Options) -> Result<(), Error> {
    let mut monitor = Monitor::open()?;
    let mut carrier = Kernel::open()?.links()?.carriers();
    info!("watching link, address, route and nexthop events");
    let mut tracker = Tracker::default();
    // What an earlier watch published counts for nothing now.
    tracker.publish();
    let mut why = Some("start");
    // Tracking's online/offline events, announced by the run they call for, after routing.
    let mut verdicts = Vec::new();
    let mut settle: Option<(Instant, &'static str)> = None;
    let mut seen: Option<Seen> = None;
    // mwan3's state changes without an event of ours: its `stop` removes it, its start
    // writes it without hotplug-call. Looked at every `MWAN3_LOOK`.
    let mut mwan3 = mwan3_states();
    let mut mwan3_look = Instant::now() + MWAN3_LOOK;
    loop {
        if let Some(reason) = why.take() {
            debug!("reconciling: {reason}");
            // The members of the last run may have lost their legs to the kernel since
            // (carrier, device gone): they are named for the log. The kernel's link
            // notification can come up to a second after the carrier and the leg went
            // (linkwatch), so this goes by who was a member, not by which events came.
            let before = seen.take();
            let hints = before.as_ref().map(Seen::hints).unwrap_or_default();
            let said = before.as_ref().map_or(&[][..], |b| b.notes.as_slice());
            let mut saw = |plan: &Plan| seen = Some(Seen::of(plan));
            let found = std::mem::take(&mut verdicts);
            if let Err(e) = reconcile(opts, &hints, Some(said), &found, &mut saw) {
                error!("{e}");
            }
            // A run that could not plan keeps what the last one saw.
            seen = seen.or(before);
            match tracker.follow(seen.as_ref(), Instant::now()) {
                Followed::Same => {}
                Followed::Dropped => tracker.publish(),
                // A new session is judged afresh: the plan must hear of it now.
                Followed::NewSession => {
                    tracker.publish();
                    why = Some("an uplink's new session");
                    continue;
                }
            }
        }
        let now = Instant::now();
        let deadline = [settle.map(|s| s.0), tracker.deadline(), Some(mwan3_look)]
            .into_iter()
            .flatten()
            .min();
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let ms = d.saturating_duration_since(now).as_millis();
                PollTimeout::from(u16::try_from(ms).unwrap_or(u16::MAX))
            }
        };
        {
            let probe_fds = tracker.fds();
            let mut fds: Vec<PollFd> = std::iter::once((monitor.as_fd(), PollFlags::POLLIN))
                .chain(probe_fds)
                .map(|(fd, flags)| PollFd::new(fd, flags))
                .collect();
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    let e = std::io::Error::from(e);
                    return Err(Error::State(format!("poll: {e}")));
                }
            }
        }
        let mut wake = Wake {
            carrier: &mut carrier,
            seen: seen.as_ref(),
        };
        loop {
            let events = monitor.events(false)?;
            if events.is_empty() {
                break;
            }
            if let Some(w) = wake.worth_a_run(&events) {
                // A burst of events (a carrier flap sends several) settles first.
                settle.get_or_insert((Instant::now() + SETTLE, w));
            }
        }
        let now = Instant::now();
        if let Some((_, w)) = settle.filter(|s| s.0 <= now) {
            why = Some(w);
            settle = None;
        }
        if mwan3_look <= now {
            mwan3_look = now + MWAN3_LOOK;
            let states = mwan3_states();
            if states != mwan3 {
                mwan3 = states;
                why = Some("mwan3's interface states changed");
            }
        }
        let (ended, transitions) = tracker.tick(now);
        for t in &transitions {
            match t.verdict {
                track::Verdict::Online => info!("{t}"),
                _ => warn!("{t}"),
            }
        }
        if ended {
            tracker.publish();
        }
        if !transitions.is_empty() {
            let device = |t: &track::Transition| tracker.device_of(&t.group, &t.interface);
            verdicts.extend(
                transitions
                    .iter()
                    .filter_map(|t| planner::tracking_event(t, &device(t))),
            );
            why = Some("tracking changed a verdict");
        }
    }
}

/// The uplinks' tracking: each group's schedule and round in flight, and every record.
#[derive(Default)]
struct Tracker {
    groups: Vec<Group>,
    records: Vec<Record>,
    /// The sequence number of the last echo sent.
    seq: u16,
}

struct Group {
    name: String,
    track: Track,
    uplinks: Vec<Uplink>,
    /// When the next round starts.
    next: Instant,
    /// The round in flight, and when it ends at the latest.
    round: Option<(Round, Instant)>,
    /// When the last round started.
    started: Instant,
}

/// What following a reconcile did to the records.
enum Followed {
    Same,
    /// Records of uplinks no longer probed were dropped.
    Dropped,
    /// An uplink's record was of an earlier session: it starts anew (online, or unproven).
    NewSession,
}

impl Tracker {
    /// Takes the groups and uplinks a reconcile saw. An uplink that is new, or in a new
    /// session (another device, or netifd's uptime restarted: an `ifup`), has its group probed
    /// at once, and a record of its old session starts anew (`track::Record::renew`); online
    /// records of uplinks no longer probed are dropped, so they start online when they return,
    /// offline ones kept, so they prove themselves first.
    fn follow(&mut self, seen: Option<&Seen>, now: Instant) -> Followed {
        let Some(seen) = seen else {
            return Followed::Same;
        };
        let mut groups = Vec::new();
        for (name, track, uplinks) in &seen.probes {
            let old = self.groups.iter().position(|g| &g.name == name);
            let mut group = match old {
                Some(i) => self.groups.swap_remove(i),
                None => Group {
                    name: name.clone(),
                    track: track.clone(),
                    uplinks: Vec::new(),
                    next: now,
                    round: None,
                    started: now,
                },
            };
            let new = uplinks
                .iter()
                .any(|u| !group.uplinks.iter().any(|o| u.continues(o)));
            if new || group.track != *track {
                group.next = now;
            }
            group.track = track.clone();
            group.uplinks = uplinks.clone();
            groups.push(group);
        }
        self.groups = groups;
        let before = self.records.len();
        let mut renewed = false;
        let groups = &self.groups;
        self.records.retain_mut(|r| {
            let uplink = groups
                .iter()
                .filter(|g| g.name == r.group)
                .flat_map(|g| &g.uplinks)
                .find(|u| u.interface == r.interface);
            match uplink {
                // An offline one stays while its uplink is away (`track::judge`).
                None => !r.online,
                Some(u) if r.new_session(u.ifindex, u.uptime) => {
                    renewed |= !r.online || r.fails > 0;
                    r.renew(u.ifindex, u.uptime);
                    true
                }
                Some(_) => true,
            }
        });
        match (renewed, self.records.len() != before) {
            (true, _) => Followed::NewSession,
            (false, true) => Followed::Dropped,
            (false, false) => Followed::Same,
        }
    }

    /// The device `interface` is probed through in `group` (empty if it is no longer).
    fn device_of(&self, group: &str, interface: &str) -> String {
        let uplinks = self.groups.iter().filter(|g| g.name == group);
        let mut uplinks = uplinks.flat_map(|g| &g.uplinks);
        uplinks
            .find(|u| u.interface == interface)
            .map(|u| u.device.clone())
            .unwrap_or_default()
    }

    /// The next moment something is due: a round to start or to end.
    fn deadline(&self) -> Option<Instant> {
        let due = |g: &Group| match &g.round {
            Some((_, end)) => *end,
            None => g.next,
        };
        self.groups
            .iter()
            .filter(|g| !g.uplinks.is_empty() || g.round.is_some())
            .map(due)
            .min()
    }

    fn fds(&self) -> Vec<(std::os::fd::BorrowedFd<'_>, PollFlags)> {
        let rounds = self.groups.iter().filter_map(|g| g.round.as_ref());
        rounds.flat_map(|(r, _)| r.fds()).collect()
    }

    /// Reads answers, ends the rounds that are done (all answered, or timed out) and starts
    /// those that are due. Whether a round ended, and the verdicts that changed.
    fn tick(&mut self, now: Instant) -> (bool, Vec<track::Transition>) {
        let mut ended = false;
        let mut transitions = Vec::new();
        for g in &mut self.groups {
            if let Some((round, end)) = &mut g.round {
                round.receive();
                if round.answered() || *end <= now {
                    if let Some((round, _)) = g.round.take() {
                        let at = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs());
                        let probed = round.finish();
                        if log::log_enabled!(log::Level::Debug) {
                            let answers: Vec<String> = probed
                                .iter()
                                .map(|p| {
                                    let got = p.targets.iter().filter(|t| t.received > 0);
                                    let sent: u32 = p.targets.iter().map(|t| t.sent).sum();
                                    let back: u32 = p.targets.iter().map(|t| t.received).sum();
                                    let (n, of) = (got.count(), p.targets.len());
                                    format!("{} {n}/{of} ({back} of {sent} probes)", p.interface)
                                })
                                .collect();
                            debug!("{}: round: {}", g.name, answers.join(", "));
                        }
                        transitions.extend(track::judge(
                            &mut self.records,
                            &g.name,
                            &g.track,
                            probed,
                            at,
                        ));
                        // Paced by what the round found (`failure_interval`, …), from its start.
                        let wait = track::next_round(&self.records, &g.name, &g.track);
                        g.next = g.started + Duration::from_millis(u64::from(wait));
                        ended = true;
                    }
                }
            }
            if g.round.is_none() && g.next <= now && !g.uplinks.is_empty() {
                let (round, errors) = Round::start(
                    &g.uplinks,
                    &g.track.method,
                    &g.track.ips,
                    g.track.count,
                    &mut self.seq,
                );
                for e in errors {
                    warn!("{}: {e}", g.name);
                }
                let interval = Duration::from_millis(u64::from(g.track.interval));
                let timeout = Duration::from_millis(u64::from(g.track.timeout));
                g.round = Some((round, now + timeout));
                g.started = now;
                g.next = now + interval;
            }
        }
        (ended, transitions)
    }

    /// Writes the records where hotplug runs and `status` read them.
    fn publish(&self) {
        if let Err(e) = state::publish(&self.records) {
            warn!("could not write {}: {e}", state::PATH);
        }
    }
}

/// What `watch` goes by between runs: each device's carrier, and what the last run saw.
struct Wake<'a> {
    /// (index, has carrier) of every device.
    carrier: &'a mut Vec<(u32, bool)>,
    seen: Option<&'a Seen>,
}

impl Wake<'_> {
    /// Whether `events` call for a reconcile, and why.
    fn worth_a_run(&mut self, events: &[KernelEvent]) -> Option<&'static str> {
        let mut why = None;
        for event in events {
            let reason = match event {
                KernelEvent::Link {
                    index,
                    carrier: now,
                } => match self.carrier.iter_mut().find(|(i, _)| i == index) {
                    Some((_, before)) if before == now => None,
                    Some((_, before)) => {
                        *before = *now;
                        Some("a device's carrier changed")
                    }
                    None => {
                        self.carrier.push((*index, *now));
                        now.then_some("a new device")
                    }
                },
                KernelEvent::LinkGone { index } => {
                    self.carrier.retain(|(i, _)| i != index);
                    Some("a device went away")
                }
                // Its own probe comes and goes on every run that asks the kernel.
                KernelEvent::ObjectGone { id, protocol }
                    if *protocol == PROTOCOL
                        && *id != planner::PROBE_GROUP_ID
                        && *id != planner::PROBE_LEG_ID =>
                {
                    Some("a nexthop of ours was deleted")
                }
                KernelEvent::ObjectGone { .. } => None,
                // Without a plan yet (the first run failed), any device may matter.
                KernelEvent::DefaultRoute { devices } => devices
                    .iter()
                    .any(|d| self.seen.is_none_or(|s| s.devices.contains(d)))
                    .then_some("a default route of a group's candidate changed"),
                // The probes' source is the uplink's own address, as the dump has it.
                KernelEvent::Address { index } => self
                    .seen
                    .is_none_or(|s| s.devices.contains(index))
                    .then_some("an address of a group's candidate changed"),
                KernelEvent::Lost => Some("netlink events were lost"),
            };
            why = why.or(reason);
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_reconciles_on_carrier_changes_removals_and_our_deleted_objects_only() {
        let mut carrier = vec![(2, true), (3, true)];
        let mut wake = Wake {
            carrier: &mut carrier,
            seen: None,
        };
        let link = |index, carrier| KernelEvent::Link { index, carrier };
        // An MTU change or a repeat: nothing to do.
        assert_eq!(wake.worth_a_run(&[link(2, true)]), None);
        assert!(wake.worth_a_run(&[link(2, false)]).is_some());
        assert_eq!(wake.worth_a_run(&[link(2, false)]), None);
        assert!(wake.worth_a_run(&[link(2, true)]).is_some());
        // A new device without carrier can't be a live member yet; with carrier it may be.
        assert_eq!(wake.worth_a_run(&[link(9, false)]), None);
        assert!(wake.worth_a_run(&[link(10, true)]).is_some());
        assert!(
            wake.worth_a_run(&[KernelEvent::LinkGone { index: 3 }])
                .is_some()
        );
        let gone = |id, protocol| KernelEvent::ObjectGone { id, protocol };
        assert_eq!(wake.worth_a_run(&[gone(7, 4)]), None);
        assert!(wake.worth_a_run(&[gone(7, PROTOCOL), gone(8, 4)]).is_some());
        // Its own probe, removed by every run that asks the kernel, wakes nothing (or each
        // run would wake the next).
        assert_eq!(
            wake.worth_a_run(&[
                gone(planner::PROBE_GROUP_ID, PROTOCOL),
                gone(planner::PROBE_LEG_ID, PROTOCOL)
            ]),
            None
        );
        assert!(wake.worth_a_run(&[KernelEvent::Lost]).is_some());
        assert_eq!(carrier, [(2, true), (9, false), (10, true)]);
    }

    #[test]
    fn watch_follows_default_routes_on_candidate_devices_only() {
        let seen = Seen {
            members: vec![
                ("v6".into(), "wan1_6".into(), 2),
                ("v6".into(), "wan2_6".into(), 3),
            ],
            devices: vec![2, 3, 5],
            probes: vec![],
            notes: vec![],
        };
        let mut carrier = vec![(2, true), (3, true), (4, true), (5, false)];
        let mut wake = Wake {
            carrier: &mut carrier,
            seen: Some(&seen),
        };
        let default = |devices: &[u32]| KernelEvent::DefaultRoute {
            devices: devices.to_vec(),
        };
        // A candidate's device, member or not (5: up, no gateway yet); not a LAN's or a VPN's.
        assert!(wake.worth_a_run(&[default(&[3])]).is_some());
        assert!(wake.worth_a_run(&[default(&[5])]).is_some());
        assert_eq!(wake.worth_a_run(&[default(&[4])]), None);
        assert_eq!(
            wake.worth_a_run(&[default(&[])]),
            None,
            "unreachable default"
        );
        assert!(wake.worth_a_run(&[default(&[4, 2])]).is_some(), "multipath");
        // An address of a candidate's device (a new DHCPv6 lease), not of another.
        let address = |index| KernelEvent::Address { index };
        assert!(wake.worth_a_run(&[address(3)]).is_some());
        assert!(wake.worth_a_run(&[address(5)]).is_some());
        assert_eq!(wake.worth_a_run(&[address(4)]), None);
        // Before any plan, every default route may matter.
        let mut carrier = Vec::new();
        let mut blind = Wake {
            carrier: &mut carrier,
            seen: None,
        };
        assert!(blind.worth_a_run(&[default(&[4])]).is_some());
        // The next run is told who the members were.
        assert_eq!(
            seen.hints(),
            [
                Hint {
                    group: Some("v6".into()),
                    interface: "wan1_6".into()
                },
                Hint {
                    group: Some("v6".into()),
                    interface: "wan2_6".into()
                }
            ]
        );
    }
}
