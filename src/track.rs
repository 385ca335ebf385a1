//! Tracking's pure part: what a round of probes means for each uplink. `watch` sends the
//! probes (`probe`), hands each group's round here, publishes the records (`state`) and
//! reconciles when one changes its verdict; the planner reads the records (`planner::Health`).
//!
//! The rules are mwan3track's where it has them (`down` failed rounds in a row make an uplink
//! offline, `up` passed rounds online again, a round passes when `reliability` targets
//! answered), and two of its own: a round that fails for every uplink of a group at once
//! condemns none of them (their own failure is likelier than all the uplinks', and the group
//! must not shrink for it), and an uplink's record starts anew, online, with a new device (a
//! new session).

use std::net::IpAddr;

use serde::Serialize;

use crate::config::Track;

/// One uplink's tracking in one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    pub group: String,
    pub interface: String,
    /// Index of the device it was probed through; another device is another session.
    pub device: u32,
    /// netifd's uptime of its session when last seen: one that went back is a new `ifup`.
    pub uptime: u64,
    pub online: bool,
    /// Failed rounds in a row (0 after a passed one) …
    pub fails: u32,
    /// … and passed rounds in a row (0 after a failed one).
    pub passes: u32,
    /// When its last round ended, in seconds since the epoch.
    pub last_round: u64,
    /// Since when it is `online` (or not), in seconds since the epoch: its last verdict
    /// change, or its first round.
    pub since: u64,
    /// The last round, per target.
    pub targets: Vec<Target>,
    /// The last `RECENT` rounds, per target summed up: what `status` shows of loss and latency.
    pub recent: Vec<Target>,
    /// Those rounds (only `watch` has them; a published record has only their sum).
    #[serde(skip)]
    pub window: Vec<Vec<Target>>,
}

/// Rounds a record's `recent` figures are over: half a minute at the default interval.
pub const RECENT: usize = 20;

/// Per target, the sum of `rounds`: probes sent and answered, and the average round trip
/// of every answer.
fn sum_up(rounds: &[Vec<Target>]) -> Vec<Target> {
    let mut sums: Vec<(Target, u64)> = Vec::new();
    for t in rounds.iter().flatten() {
        let i = match sums.iter().position(|(s, _)| s.ip == t.ip) {
            Some(i) => i,
            None => {
                let blank = Target {
                    ip: t.ip,
                    sent: 0,
                    received: 0,
                    rtt_us: None,
                };
                sums.push((blank, 0));
                sums.len() - 1
            }
        };
        if let Some((sum, rtt_total)) = sums.get_mut(i) {
            sum.sent += t.sent;
            sum.received += t.received;
            *rtt_total += u64::from(t.rtt_us.unwrap_or(0)) * u64::from(t.received);
        }
    }
    sums.into_iter()
        .map(|(mut t, total)| {
            t.rtt_us = (t.received > 0).then(|| (total / u64::from(t.received)) as u32);
            t
        })
        .collect()
}

/// One target's part of a round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    pub ip: IpAddr,
    pub sent: u32,
    pub received: u32,
    /// The average round trip of its answers in the round, in microseconds.
    pub rtt_us: Option<u32>,
}

impl Target {
    /// Counts an answer that took `rtt_us`, keeping `rtt_us` the average of the round's
    /// answers (ping's `avg`, what `check_quality` judges).
    pub fn count_answer(&mut self, rtt_us: u64) {
        let before = u64::from(self.rtt_us.unwrap_or(0)) * u64::from(self.received);
        self.received += 1;
        self.rtt_us = Some(((before + rtt_us) / u64::from(self.received)) as u32);
    }

    /// Its loss in the round, in percent of the echoes sent, as ping prints it (rounded
    /// down); 100 when nothing was sent.
    pub fn loss(&self) -> u32 {
        match self.sent {
            0 => 100,
            sent => sent.saturating_sub(self.received).saturating_mul(100) / sent,
        }
    }

    /// Whether it counts toward `reliability`: any answer, or with `check_quality` mwan3track's
    /// rule (`Quality`): `Some(false)` failed, `None` between the thresholds (neither).
    pub fn passes(&self, quality: Option<&crate::config::Quality>) -> Option<bool> {
        let Some(q) = quality else {
            return Some(self.received > 0);
        };
        // mwan3track: no answer is loss 100 and latency 999999; its latency is ping's
        // average in whole milliseconds.
        let (loss, latency) = match self.rtt_us.filter(|_| self.received > 0) {
            Some(us) => (self.loss(), us / 1000),
            None => (100, 999_999),
        };
        if loss >= q.failure_loss || latency >= q.failure_latency {
            Some(false)
        } else if loss <= q.recovery_loss && latency <= q.recovery_latency {
            Some(true)
        } else {
            None
        }
    }
}

/// The one rule of sessions: an uplink seen on (device, uptime) `now` is in another session
/// than when it was seen `before` if its device changed or netifd's uptime went back
/// (netifd restarts it with every `ifup`, and a netifd restart with every interface).
pub fn new_session(before: (u32, u64), now: (u32, u64)) -> bool {
    now.0 != before.0 || now.1 < before.1
}

impl Record {
    /// Whether an uplink on `device`, up for `uptime` seconds, is in another session than
    /// this record's: another device, or an uptime that went back (netifd restarts it with
    /// every `ifup`).
    pub fn new_session(&self, device: u32, uptime: u64) -> bool {
        new_session((self.device, self.uptime), (device, uptime))
    }

    /// Starts the record anew for a new session on `device`, no rounds in it yet: online if
    /// the last session was, else unproven (`unproven`).
    pub fn renew(&mut self, device: u32, uptime: u64) {
        self.device = device;
        self.uptime = uptime;
        self.fails = 0;
        self.passes = 0;
        self.last_round = 0;
    }

    /// A new session of an uplink that was offline, not probed yet: it stays out until a
    /// round passes (one is enough: a new session is judged afresh, but not let in on its
    /// word alone, which a netifd restart would give every dead uplink).
    pub fn unproven(&self) -> bool {
        !self.online && self.last_round == 0
    }

    /// How many targets answered in the last round.
    pub fn answered(&self) -> u32 {
        self.targets.iter().filter(|t| t.received > 0).count() as u32
    }
}

/// One uplink's probes in a round: interface, device index, and per target what came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probed {
    pub interface: String,
    pub device: u32,
    pub uptime: u64,
    pub targets: Vec<Target>,
    /// `false`: not probed, as it has no usable address of its own yet (odhcp6c binds the
    /// DHCPv6 address seconds after netifd puts the interface up; a new address is tentative
    /// during DAD). Probes without one would leave with another uplink's source and be
    /// answered through that one, if at all: the round tells nothing of this uplink.
    pub probed: bool,
}

/// A verdict that changed in a round (every change calls for a plan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub group: String,
    pub interface: String,
    pub verdict: Verdict,
    pub answered: u32,
    pub targets: u32,
    pub rounds: u32,
}

/// What tracking says of an uplink, as the planner uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Online,
    /// Failed `down` rounds in a row, all of them rounds that every uplink of its group
    /// failed: kept online, and counted as condemned for fail-open.
    Held,
    Offline,
}

impl std::fmt::Display for Transition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (state, what) = match self.verdict {
            Verdict::Online => ("online", "passed"),
            Verdict::Held => ("kept, as every member failed too", "failed"),
            Verdict::Offline => ("offline", "failed"),
        };
        write!(
            f,
            "{}: {} is {state}: {} of {} targets answered, {} rounds {what} in a row",
            self.group, self.interface, self.answered, self.targets, self.rounds
        )
    }
}

impl Record {
    /// Its verdict with `down` failed rounds to condemn.
    pub fn verdict(&self, down: u32) -> Verdict {
        match (self.online, self.fails >= down) {
            (false, _) => Verdict::Offline,
            (true, true) => Verdict::Held,
            (true, false) => Verdict::Online,
        }
    }
}

/// Applies one round of `group`'s probes to `records` and returns the verdicts it changed.
/// `now`: the round's end. Online records of the group's uplinks that were not probed (down,
/// no longer candidates, opted out) are dropped: when they come back they start online.
/// Offline ones are kept: they come back unproven, and join once a round passes.
pub fn judge(
    records: &mut Vec<Record>,
    group: &str,
    track: &Track,
    round: Vec<Probed>,
    now: u64,
) -> Vec<Transition> {
    // Offline records stay while their uplinks are away: a netifd restart takes every
    // uplink down and up, and must not make a dead one new.
    records.retain(|r| {
        r.group != group || !r.online || round.iter().any(|p| p.interface == r.interface)
    });
    let quality = track.quality.as_ref();
    let passed = |p: &Probed| {
        let up = p.targets.iter().filter(|t| t.passes(quality) == Some(true));
        up.count() as u32 >= track.reliability
    };
    let everyone_failed = !round.iter().filter(|p| p.probed).any(passed);
    let mut out = Vec::new();
    for p in round {
        let pass = passed(&p);
        let i = match records
            .iter()
            .position(|r| r.group == group && r.interface == p.interface)
        {
            Some(i) => i,
            None => {
                records.push(Record {
                    group: group.to_string(),
                    interface: p.interface.clone(),
                    device: p.device,
                    uptime: p.uptime,
                    online: true,
                    fails: 0,
                    passes: 0,
                    last_round: 0,
                    since: now,
                    targets: Vec::new(),
                    recent: Vec::new(),
                    window: Vec::new(),
                });
                records.len() - 1
            }
        };
        let Some(r) = records.get_mut(i) else {
            continue;
        };
        let before = r.verdict(track.down);
        if r.new_session(p.device, p.uptime) {
            r.renew(p.device, p.uptime);
        }
        let unproven = r.unproven();
        r.uptime = p.uptime;
        if !p.probed {
            continue;
        }
        if pass {
            r.passes = r.passes.saturating_add(1);
            r.fails = 0;
        } else {
            r.fails = r.fails.saturating_add(1);
            r.passes = 0;
        }
        let same_targets =
            |w: &Vec<Target>| w.iter().map(|t| t.ip).eq(p.targets.iter().map(|t| t.ip));
        if !r.window.last().is_none_or(same_targets) {
            r.window.clear();
        }
        r.window.push(p.targets.clone());
        if r.window.len() > RECENT {
            r.window.remove(0);
        }
        r.recent = sum_up(&r.window);
        r.targets = p.targets;
        r.last_round = now;
        let flip = match r.online {
            true => r.fails >= track.down && !everyone_failed,
            false => r.passes >= track.up || (unproven && pass),
        };
        r.online ^= flip;
        if flip {
            r.since = now;
        }
        let verdict = r.verdict(track.down);
        if verdict != before {
            out.push(Transition {
                group: group.to_string(),
                interface: r.interface.clone(),
                verdict,
                answered: r.answered(),
                targets: r.targets.len() as u32,
                rounds: r.fails.max(r.passes),
            });
        }
    }
    out
}

/// Milliseconds from a group's round's start to its next, as mwan3track paces an interface:
/// `failure_interval` while one of its uplinks is failing (online, its last round failed),
/// `recovery_interval` while one is recovering (offline, its last round passed), `interval`
/// otherwise; where uplinks of both kinds are, the shorter, since one round probes every
/// uplink of the group. Unset, the first two are `timeout` (mwan3track: `interval`): the next
/// round starts as the last one ends, so `down` failed rounds take `down` × `timeout`.
pub fn next_round(records: &[Record], group: &str, track: &Track) -> u32 {
    let paced = records.iter().filter(|r| r.group == group).map(|r| {
        match (r.online, r.fails > 0, r.passes > 0) {
            (true, true, _) => track.failing_pace(),
            (false, _, true) => track.recovering_pace(),
            _ => u32::MAX,
        }
    });
    match paced.min() {
        Some(u32::MAX) | None => track.interval,
        Some(wait) => wait,
    }
}

/// What `watch` publishes for hotplug runs and `status`: its pid (a state whose `watch` is
/// gone counts for nothing) and every record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub pid: u32,
    pub records: Vec<Record>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TRACK;

    fn probed(interface: &str, device: u32, answers: &[u32]) -> Probed {
        Probed {
            interface: interface.into(),
            device,
            uptime: 100,
            probed: true,
            targets: answers
                .iter()
                .enumerate()
                .map(|(i, &received)| Target {
                    ip: IpAddr::from([192, 0, 2, i as u8]),
                    sent: 2,
                    received,
                    rtt_us: (received > 0).then_some(1000),
                })
                .collect(),
        }
    }

    #[test]
    fn an_uplink_without_a_usable_address_is_not_probed_yet_not_failing() {
        let track = Track { down: 2, ..TRACK };
        let unprobed = |name| Probed {
            probed: false,
            ..probed(name, 3, &[0])
        };
        let mut records = Vec::new();
        // Rounds in which it can't be probed: no verdict moves, its record waits online.
        for now in 1..=5 {
            let changed = judge(
                &mut records,
                "v6",
                &track,
                vec![probed("a", 2, &[2]), unprobed("b")],
                now,
            );
            assert!(changed.is_empty(), "{changed:?}");
        }
        assert_eq!(state(&records, "b"), (true, 0, 0));
        let b = records.iter().find(|r| r.interface == "b").unwrap();
        assert_eq!(b.last_round, 0, "no round yet");
        // It takes no part in the round: `a` failing is every probed uplink failing, so `a`
        // is held (online, failing), as when every uplink fails.
        for now in 6..=7 {
            judge(
                &mut records,
                "v6",
                &track,
                vec![probed("a", 2, &[0]), unprobed("b")],
                now,
            );
        }
        assert_eq!(state(&records, "a"), (true, 2, 0));
        assert_eq!(state(&records, "b"), (true, 0, 0));
    }

    fn state(records: &[Record], interface: &str) -> (bool, u32, u32) {
        let r = records.iter().find(|r| r.interface == interface).unwrap();
        (r.online, r.fails, r.passes)
    }

    #[test]
    fn down_failed_rounds_make_offline_and_up_passed_rounds_online_again() {
        let track = Track {
            ips: Vec::new(),
            down: 3,
            up: 2,
            reliability: 1,
            ..TRACK
        };
        let mut records = Vec::new();
        let round = |records: &mut Vec<Record>, wan1: &[u32]| {
            judge(
                records,
                "v6",
                &track,
                vec![probed("wan1", 5, wan1), probed("wan2", 6, &[2, 2])],
                100,
            )
        };
        // A loss is not a failure while one target answers (reliability 1).
        assert_eq!(round(&mut records, &[0, 1]), []);
        assert_eq!(state(&records, "wan1"), (true, 0, 1));
        assert_eq!(round(&mut records, &[0, 0]), []);
        assert_eq!(round(&mut records, &[0, 0]), []);
        let t = round(&mut records, &[0, 0]);
        assert_eq!(t.len(), 1);
        assert_eq!(
            t[0].to_string(),
            "v6: wan1 is offline: 0 of 2 targets answered, 3 rounds failed in a row"
        );
        assert_eq!(state(&records, "wan1"), (false, 3, 0));
        assert_eq!(round(&mut records, &[1, 0]), []);
        let t = round(&mut records, &[1, 0]);
        assert_eq!(t[0].verdict, Verdict::Online, "{t:?}");
        assert_eq!(records[0].last_round, 100);
    }

    #[test]
    fn a_record_keeps_since_when_its_verdict_holds_and_sums_up_the_recent_rounds() {
        let track = Track {
            ips: Vec::new(),
            down: 2,
            up: 1,
            ..TRACK
        };
        let mut records = Vec::new();
        let round = |records: &mut Vec<Record>, wan1: &[u32], now| {
            judge(
                records,
                "v6",
                &track,
                vec![probed("wan1", 5, wan1), probed("wan2", 6, &[2])],
                now,
            )
        };
        round(&mut records, &[2, 1], 100);
        assert_eq!(records[0].since, 100, "its first round");
        round(&mut records, &[0, 0], 101);
        round(&mut records, &[0, 0], 102);
        assert_eq!((records[0].online, records[0].since), (false, 102));
        round(&mut records, &[0, 0], 103);
        assert_eq!(records[0].since, 102, "still offline since");
        round(&mut records, &[2, 2], 104);
        assert_eq!((records[0].online, records[0].since), (true, 104));
        // Five rounds of 2 probes to each target: the first target 6 of 10 answered, each in
        // 1 ms; the second 5.
        let recent = &records[0].recent;
        let figures: Vec<_> = recent
            .iter()
            .map(|t| (t.sent, t.received, t.rtt_us))
            .collect();
        assert_eq!(figures, [(10, 4, Some(1000)), (10, 3, Some(1000))]);
        assert_eq!(recent[0].loss(), 60);
        // Only the last RECENT rounds count.
        for now in 105..105 + RECENT as u64 {
            round(&mut records, &[2, 2], now);
        }
        assert_eq!(records[0].recent[0].sent, 2 * RECENT as u32);
        assert_eq!(records[0].recent[0].received, 2 * RECENT as u32);
        assert_eq!(records[0].window.len(), RECENT);
    }

    #[test]
    fn a_round_that_fails_everywhere_condemns_nobody() {
        let track = Track {
            ips: Vec::new(),
            down: 2,
            ..TRACK
        };
        let mut records = Vec::new();
        let both = |records: &mut Vec<Record>, a: u32, b: u32| {
            judge(
                records,
                "v6",
                &track,
                vec![probed("wan1", 5, &[a]), probed("wan2", 6, &[b])],
                1,
            )
        };
        // wan1 is one failed round ahead of wan2 when everything fails at once: each is held
        // (online) as it reaches `down`, which the planner hears of (fail-open counts it).
        assert_eq!(both(&mut records, 0, 1), []);
        let held = |t: Vec<Transition>| -> Vec<(String, Verdict)> {
            t.into_iter().map(|t| (t.interface, t.verdict)).collect()
        };
        assert_eq!(
            held(both(&mut records, 0, 0)),
            [("wan1".into(), Verdict::Held)]
        );
        assert_eq!(
            held(both(&mut records, 0, 0)),
            [("wan2".into(), Verdict::Held)]
        );
        for _ in 0..3 {
            assert_eq!(both(&mut records, 0, 0), [], "not even for one round");
        }
        assert_eq!(state(&records, "wan1"), (true, 6, 0));
        // Once another uplink passes, the one still failing goes.
        let t = held(both(&mut records, 0, 1));
        assert_eq!(
            t,
            [
                ("wan1".into(), Verdict::Offline),
                ("wan2".into(), Verdict::Online)
            ]
        );
    }

    #[test]
    fn a_new_session_is_judged_afresh_and_an_offline_one_proves_itself_first() {
        let track = Track {
            ips: Vec::new(),
            down: 1,
            up: 5,
            ..TRACK
        };
        let mut records = Vec::new();
        let run = |records: &mut Vec<Record>, round| judge(records, "v6", &track, round, 1);
        run(
            &mut records,
            vec![probed("wan1", 5, &[0]), probed("wan2", 6, &[1])],
        );
        assert_eq!(state(&records, "wan1"), (false, 1, 0));
        // A new session (another ppp device) of an offline uplink joins on its first passed
        // round, not after `up` of them.
        run(
            &mut records,
            vec![probed("wan1", 9, &[1]), probed("wan2", 6, &[1])],
        );
        assert_eq!(state(&records, "wan1"), (true, 0, 1));
        run(
            &mut records,
            vec![probed("wan1", 9, &[0]), probed("wan2", 6, &[1])],
        );
        assert_eq!(state(&records, "wan1"), (false, 1, 0));
        // Not probed (down, or all of netifd restarting): an offline record is kept …
        run(&mut records, vec![probed("wan2", 6, &[1])]);
        assert_eq!(records.len(), 2);
        assert!(!records[0].unproven());
        // … and a new session on the same device (netifd's uptime restarted) that fails its
        // first round stays offline, now for `up` rounds.
        let mut later = probed("wan1", 9, &[0]);
        later.uptime = 3;
        run(&mut records, vec![later.clone(), probed("wan2", 6, &[1])]);
        assert_eq!(state(&records, "wan1"), (false, 1, 0));
        later.targets[0].received = 1;
        run(&mut records, vec![later, probed("wan2", 6, &[1])]);
        assert_eq!(state(&records, "wan1"), (false, 0, 1));
        // An online record not probed is forgotten: back, it starts online.
        run(&mut records, vec![probed("wan1", 9, &[1])]);
        assert!(!records.iter().any(|r| r.interface == "wan2"));
        run(
            &mut records,
            vec![probed("wan1", 9, &[1]), probed("wan2", 6, &[1])],
        );
        assert_eq!(state(&records, "wan2"), (true, 0, 1));
    }

    #[test]
    fn with_check_quality_a_target_passes_on_mwan3track_s_loss_and_latency_rule() {
        // mwan3track (check_quality 1): loss >= failure_loss or latency >= failure_latency
        // is "down"; loss <= recovery_loss and latency <= recovery_latency "up"; otherwise
        // "skipped", which counts toward neither. No answer: loss 100, latency 999999.
        let q = crate::config::QUALITY; // 1000 ms / 500 ms, 40 % / 10 %
        let t = |sent, received, ms: Option<u32>| Target {
            ip: IpAddr::from([192, 0, 2, 1]),
            sent,
            received,
            rtt_us: ms.map(|ms| ms * 1000),
        };
        let cases = [
            ("all answered, fast", t(10, 10, Some(20)), Some(true)),
            (
                "10 % lost: at the recovery threshold",
                t(10, 9, Some(20)),
                Some(true),
            ),
            ("20 % lost: between", t(10, 8, Some(20)), None),
            (
                "40 % lost: at the failure threshold",
                t(10, 6, Some(20)),
                Some(false),
            ),
            (
                "500 ms: at the recovery threshold",
                t(10, 10, Some(500)),
                Some(true),
            ),
            ("700 ms: between", t(10, 10, Some(700)), None),
            (
                "1000 ms: at the failure threshold",
                t(10, 10, Some(1000)),
                Some(false),
            ),
            ("nothing back", t(10, 0, None), Some(false)),
            ("nothing sent", t(0, 0, None), Some(false)),
            (
                "1 of 3 lost: 33 %, rounded down as ping does",
                t(3, 2, Some(20)),
                None,
            ),
        ];
        for (case, target, want) in cases {
            assert_eq!(target.passes(Some(&q)), want, "{case}");
        }
        // Without check_quality any answer passes, however slow or lossy.
        assert_eq!(t(10, 1, Some(5000)).passes(None), Some(true));
        assert_eq!(t(10, 0, None).passes(None), Some(false));
        // A round of two targets with reliability 1: one between the thresholds and one
        // lost fail it; a quality group judges by the rule.
        let mut track = Track { down: 1, ..TRACK };
        track.quality = Some(q);
        let mut records = Vec::new();
        let mut lossy = probed("wan", 2, &[2, 0]);
        lossy.targets[0] = t(10, 8, Some(20));
        lossy.targets[1] = t(10, 0, None);
        let healthy = probed("wanb", 3, &[2, 2]);
        let out = judge(&mut records, "g", &track, vec![lossy, healthy], 1);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            (out[0].interface.as_str(), out[0].verdict),
            ("wan", Verdict::Offline)
        );
    }

    #[test]
    fn rounds_are_paced_as_mwan3track_paces_an_interface() {
        let track = Track {
            interval: 5000,
            failure_interval: Some(1000),
            recovery_interval: Some(2000),
            ..TRACK
        };
        let r = |online, fails, passes| Record {
            group: "g".into(),
            interface: "wan".into(),
            device: 2,
            uptime: 1,
            online,
            fails,
            passes,
            last_round: 1,
            since: 1,
            targets: Vec::new(),
            recent: Vec::new(),
            window: Vec::new(),
        };
        // (records, milliseconds to the next round)
        let cases = [
            (vec![], 5000),
            (vec![r(true, 0, 4)], 5000),
            (vec![r(true, 1, 0)], 1000),
            (vec![r(false, 0, 1)], 2000),
            (vec![r(false, 3, 0)], 5000),
            (vec![r(true, 0, 4), r(false, 0, 1)], 2000),
            (vec![r(true, 2, 0), r(false, 0, 1)], 1000),
        ];
        for (records, want) in cases {
            assert_eq!(next_round(&records, "g", &track), want, "{records:?}");
        }
        // Unset, both are the timeout: the next round starts as the last one ends.
        assert_eq!(next_round(&[r(true, 1, 0)], "g", &TRACK), TRACK.timeout);
        assert_eq!(next_round(&[r(false, 0, 1)], "g", &TRACK), TRACK.timeout);
    }
}
