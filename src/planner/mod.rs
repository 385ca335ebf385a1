//! The pure core: the facts a run gathered → one [`Plan`]: what each group's route should
//! be, the kernel writes that make it so, and what the run should say.
//!
//! No I/O, no clock, no logging: why an interface was left out, who left a group and which
//! lines are worth a warning come back as data (notes) for the command to log and for `status`
//! to show. Everything is ordered (by interface name, by nexthop), so the same facts always
//! give the same plan and the same log lines.
//!
//! The layers, each in its own file with its tests: `ids` (object ids), `desired` (members
//! and reasons), `health` (tracking and mwan3 verdicts), `settings` (sysctls), `paths`
//! (uplink paths), `changes` (the writes and conflicts), `departures` (who leaves), and
//! `resilience` (whether `auto` groups get resilient groups, as far as the facts tell).

mod changes;
mod departures;
mod desired;
mod events;
mod health;
mod ids;
mod member;
mod paths;
mod probes;
mod resilience;
mod settings;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeSet;

pub use changes::{Change, Changes, Conflict, Installed, changes};
pub use departures::{Departure, Hint, departures, event_hints};
pub use desired::{Desired, desired, gateway};
pub use events::{Action, MemberEvent, USABLE, tracking as tracking_event};
pub use health::{FAIL_OPEN, HELD, Health};
pub use ids::{OBJECT_ID_BASE, PROBE_GROUP_ID, PROBE_LEG_ID, group_ids};
pub use member::{Member, Reason, Skip};
pub use paths::{PATH_PRIORITY, PATH_TABLE_BASE, PATHS, Paths, path_table, uplink_paths};
pub use probes::Uplink;
pub use resilience::{Resilience, resilience};
pub use settings::{Setting, settings, sysctls_to_read};

use crate::config::{Config, Mode};
use crate::dump::Dump;
use crate::route::{Links, Object, ProtocolName, Route, RouteKey, Rule, Sysctl};

/// Everything a plan is made from, gathered before planning.
#[derive(Clone, Debug)]
pub struct Facts {
    pub config: Config,
    pub dump: Dump,
    pub links: Links,
    pub routes: Vec<Route>,
    /// `None`: the kernel has no nexthop objects.
    pub objects: Option<Vec<Object>>,
    /// `None`: rules can't be read here (`Kernel::rules`).
    pub rules: Option<Vec<Rule>>,
    pub health: Health,
    /// The sysctls `sysctls_to_read` names, with their values (`None`: this kernel has none).
    pub sysctls: Vec<(Sysctl, Option<u8>)>,
    /// Behave as on a kernel without resilient groups (`ECMP_HOTPLUG_NO_RESILIENT`: the
    /// tests' way to a fallback this kernel won't take).
    pub no_resilient: bool,
    /// Who may have just left a group although the kernel shows nothing of it any more.
    pub hints: Vec<Hint>,
    /// In `watch`: the health notes its last run said, so only changes are said again.
    pub said: Option<Vec<String>>,
}

impl Facts {
    pub fn objects(&self) -> &[Object] {
        self.objects.as_deref().unwrap_or_default()
    }

    pub fn installed(&self) -> Installed<'_> {
        Installed {
            routes: &self.routes,
            objects: self.objects(),
            rules: self.rules.as_deref(),
        }
    }

    /// What the facts say of resilient groups (`resilience`).
    pub fn resilience(&self) -> Resilience {
        resilience(
            &self.dump,
            &self.config,
            &self.links,
            &self.routes,
            self.objects.as_deref(),
            self.no_resilient,
        )
    }
}

/// How loud a note is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
}

/// One thing a run should say, in the order it should say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub level: Level,
    pub text: String,
}

impl Note {
    fn new(level: Level, text: String) -> Note {
        Note { level, text }
    }
}

/// A run's plan.
#[derive(Clone, Debug)]
pub struct Plan<'f> {
    pub desired: Vec<Desired<'f>>,
    pub paths: Paths,
    pub changes: Changes,
    /// Whether `auto` groups got resilient nexthop groups.
    pub resilient: bool,
    /// What the groups' health is (`health_notes`): `watch` keeps them as the next `said`.
    pub health: Vec<String>,
    pub notes: Vec<Note>,
    /// Who joins and who leaves each group, for other packages (`notify`), once the changes
    /// of its group are made.
    pub events: Vec<MemberEvent>,
}

/// Where a group stands against the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    InSync,
    OutOfSync,
    /// A route or object the tool did not write is in the way, or the kernel lacks the mode.
    Conflict,
}

/// The plan of a run: `resilient` is the kernel's answer (or the assumption) for `auto` groups.
pub fn plan(facts: &Facts, resilient: bool) -> Plan<'_> {
    let config = &facts.config;
    let desired = desired(&facts.dump, config, &facts.links, resilient, &facts.health);
    let mut notes = Vec::new();
    if let Some(g) = config
        .groups
        .iter()
        .find(|g| !resilient && config.enabled && g.mode(config) == Mode::Auto)
    {
        notes.push(Note::new(
            Level::Info,
            format!(
                "this kernel takes no resilient nexthop groups (Linux 5.13 has them): {} and other auto groups use a multipath route",
                g.name
            ),
        ));
    }
    let mut wanted = Vec::new();
    for setting in settings(config, &desired) {
        let have = facts
            .sysctls
            .iter()
            .find(|(s, _)| *s == setting.sysctl)
            .and_then(|(_, have)| *have);
        if have.is_none() {
            notes.push(Note::new(
                Level::Debug,
                format!("this kernel has no {}", setting.sysctl),
            ));
        }
        wanted.push((setting, have));
    }
    let paths = uplink_paths(&desired);
    let changes = changes(&desired, &paths, &facts.installed(), &wanted);
    notes.extend(left_out(&desired));
    let health = health_notes(&desired);
    match &facts.said {
        Some(said) => {
            let new = health.iter().filter(|n| !said.contains(n));
            notes.extend(new.map(|n| Note::new(Level::Warn, n.clone())));
            let gone = said.iter().filter(|n| !health.contains(n));
            notes.extend(gone.map(|n| Note::new(Level::Info, format!("no longer: {n}"))));
        }
        None => notes.extend(health.iter().map(|n| Note::new(Level::Debug, n.clone()))),
    }
    notes.extend(tier_changes(&desired, facts, &changes));
    let departures = departures(
        &desired,
        &facts.routes,
        facts.objects(),
        &facts.links,
        &facts.hints,
    );
    let conflicted = |group: &str| changes.conflicts.iter().any(|c| c.group() == group);
    notes.extend(
        departures
            .iter()
            .filter(|d| !conflicted(&d.group))
            .map(|d| Note::new(Level::Info, d.to_string())),
    );
    let events = events::membership(
        &desired,
        &departures,
        &facts.routes,
        facts.objects(),
        &facts.links,
        &conflicted,
    );
    Plan {
        desired,
        paths,
        changes,
        resilient,
        health,
        notes,
        events,
    }
}

/// What `flush` writes: the changes of a plan that wants nothing, from what is installed.
pub fn flush(installed: &Installed) -> Changes {
    changes(&[], &Paths::default(), installed, &[])
}

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

/// Where a group's route moves from one tier to another (a `metric` of its members): every
/// flow of the group may move then, which a member leaving or joining within a tier never
/// does in a resilient group.
fn tier_changes(desired: &[Desired], facts: &Facts, changes: &Changes) -> Vec<Note> {
    let mut notes = Vec::new();
    for d in desired {
        if changes.conflicts.iter().any(|c| c.group() == d.group.name) {
            continue;
        }
        let Some(to) = d.members.iter().map(|m| m.metric).min() else {
            continue;
        };
        let installed = d.installed(&facts.routes, facts.objects());
        let from = installed
            .filter_map(|(ifindex, _)| d.uplinks.iter().find(|u| u.nexthop.ifindex == ifindex))
            .map(|u| u.metric)
            .min();
        if let Some(from) = from.filter(|from| *from != to) {
            notes.push(Note::new(
                Level::Info,
                format!(
                    "{}: members of metric {to} take over from metric {from}; every flow of the group may move",
                    d.group.name
                ),
            ));
        }
    }
    notes
}

/// One warning per left-out interface whose reason is worth reading, however many groups
/// it is a candidate in; the rest at debug, per group.
fn left_out(desired: &[Desired]) -> Vec<Note> {
    let mut notes = Vec::new();
    let mut seen = BTreeSet::new();
    for skip in desired.iter().flat_map(|d| &d.skipped) {
        let text = format!("{} left out: {}", skip.interface, skip.reason);
        if skip.reason.worth_a_warning() && seen.insert(text.clone()) {
            notes.push(Note::new(Level::Warn, text));
        }
    }
    for d in desired {
        for skip in d.skipped.iter().filter(|s| !s.reason.worth_a_warning()) {
            notes.push(Note::new(
                Level::Debug,
                format!(
                    "{}: {} left out: {}",
                    d.group.name, skip.interface, skip.reason
                ),
            ));
        }
    }
    notes
}

impl Resilience {
    /// What a run says of the answer before it plans: only a probe id held by another's
    /// object is worth a word (the kernel can't be asked).
    pub fn note(&self) -> Option<Note> {
        match self {
            Resilience::Blocked { id, protocol, .. } => Some(Note::new(
                Level::Warn,
                format!(
                    "nexthop id {id} is held by an object of proto {}: can't try resilient groups",
                    ProtocolName(*protocol)
                ),
            )),
            _ => None,
        }
    }
}

impl Plan<'_> {
    /// Where group `name` stands: a conflict leaves it alone; a change of its own means the
    /// kernel differs.
    pub fn state(&self, name: &str) -> GroupState {
        if self.changes.conflicts.iter().any(|c| c.group() == name) {
            GroupState::Conflict
        } else if self.changes.changes.iter().any(|c| c.group() == Some(name)) {
            GroupState::OutOfSync
        } else {
            GroupState::InSync
        }
    }

    /// Whether the uplink path at `key` is written by this plan (so the kernel differs).
    pub fn path_written(&self, key: &RouteKey) -> bool {
        self.changes.changes.iter().any(|c| match c {
            Change::Write { group, route, .. } => group == PATHS && route.key == *key,
            _ => false,
        })
    }

    /// Whether any of `rules` is missing from the kernel (this plan writes it).
    pub fn rules_missing(&self, rules: &[Rule]) -> bool {
        let written = |c: &Change| matches!(c, Change::WriteRule(r) if rules.contains(r));
        self.changes.changes.iter().any(written)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;

    /// Two groups over the same candidates, one of them on a device the kernel lacks
    /// (worth a warning) and one down (normal life).
    fn two_groups() -> Facts {
        let cfg = config(
            vec![
                group("a", "2000::/3", &["dhcpv6"], &[]),
                group("b", "2000::/4", &["dhcpv6"], &[]),
            ],
            &[],
        );
        let d = dump(&format!(
            r#"{},{},{{"interface":"wanb_6","up":false,"proto":"dhcpv6","data":{{}}}}"#,
            v6_iface("wan6", "eth1", "fe80::1"),
            v6_iface("wanx_6", "nosuch", "fe80::9")
        ));
        facts(cfg, d)
    }

    #[test]
    fn left_out_candidates_are_one_warning_each_and_normal_life_is_debug_per_group() {
        let f = two_groups();
        let plan = plan(&f, true);
        let notes = notes_of(&plan);
        let warned: Vec<&String> = notes
            .iter()
            .filter(|(l, _)| *l == Level::Warn)
            .map(|(_, t)| t)
            .collect();
        assert_eq!(
            warned,
            ["wanx_6 left out: device nosuch does not exist"],
            "once, though it is a candidate of both groups"
        );
        let down: Vec<&(Level, String)> =
            notes.iter().filter(|(_, t)| t.contains("wanb_6")).collect();
        assert_eq!(
            down,
            [
                &(Level::Debug, "a: wanb_6 left out: down".to_string()),
                &(Level::Debug, "b: wanb_6 left out: down".to_string())
            ]
        );
    }

    #[test]
    fn an_auto_group_without_resilient_groups_is_said_once_at_info() {
        let f = two_groups();
        let no = notes_of(&plan(&f, false));
        let said: Vec<_> = no
            .iter()
            .filter(|(_, t)| t.contains("Linux 5.13"))
            .collect();
        assert_eq!(said.len(), 1, "{no:?}");
        assert_eq!(said[0].0, Level::Info);
        assert!(said[0].1.contains(": a and other auto groups"), "{said:?}");
        let yes = notes_of(&plan(&f, true));
        assert!(!yes.iter().any(|(_, t)| t.contains("Linux 5.13")));
        // A config of multipath groups has nothing to miss.
        let mut f = two_groups();
        f.config.mode = Mode::Multipath;
        assert!(
            !notes_of(&plan(&f, false))
                .iter()
                .any(|(_, t)| t.contains("Linux 5.13"))
        );
    }

    #[test]
    fn health_notes_are_debug_without_said_and_only_changes_are_said_in_watch() {
        let (cfg, d) = tracked(&[]);
        let mut f = facts(cfg, d);
        // Every member offline: fail open.
        f.health.tracked = ["wan6", "wanb_6", "wanc_6"]
            .iter()
            .zip([2, 3, 6])
            .map(|(i, dev)| record(i, dev, false, 3))
            .collect();
        let fail_open = format!("v6: {FAIL_OPEN}");
        let of = |f: &Facts| {
            let p = plan(f, true);
            let notes = notes_of(&p);
            let about: Vec<(Level, String)> = notes
                .into_iter()
                .filter(|(_, t)| t.contains(FAIL_OPEN))
                .collect();
            (p.health.clone(), about)
        };
        assert_eq!(
            of(&f),
            (
                vec![fail_open.clone()],
                vec![(Level::Debug, fail_open.clone())]
            ),
            "a hotplug run keeps no state: it would repeat it on every event"
        );
        f.said = Some(Vec::new());
        assert_eq!(of(&f).1, [(Level::Warn, fail_open.clone())], "new in watch");
        f.said = Some(vec![fail_open.clone()]);
        assert_eq!(of(&f).1, [], "said already");
        f.health.tracked.clear();
        assert_eq!(
            of(&f),
            (
                vec![],
                vec![(Level::Info, format!("no longer: {fail_open}"))]
            )
        );
    }

    #[test]
    fn a_departure_is_said_unless_its_group_is_in_conflict() {
        let mut f = two_groups();
        f.hints = vec![Hint {
            group: None,
            interface: "wanb_6".into(),
        }];
        let left = |f: &Facts| {
            notes_of(&plan(f, true))
                .into_iter()
                .filter(|(l, _)| *l == Level::Info)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            left(&f),
            [
                (Level::Info, "wanb_6 left a: down".to_string()),
                (Level::Info, "wanb_6 left b: down".to_string())
            ]
        );
        // Group b's key held by someone else's route: b is left alone, so nobody left it.
        f.routes = vec![installed(
            "2000::/4",
            1024,
            3,
            vec![nh(2, Some("fe80::7"), 1)],
        )];
        assert_eq!(left(&f), [(Level::Info, "wanb_6 left a: down".to_string())]);
        assert_eq!(plan(&f, true).state("b"), GroupState::Conflict);
    }

    #[test]
    fn a_group_s_state_comes_from_its_own_changes_and_conflicts() {
        let mut f = two_groups();
        let p = plan(&f, false);
        assert_eq!(p.state("a"), GroupState::OutOfSync, "nothing installed yet");
        // As installed: in sync.
        let routes: Vec<Route> = p
            .desired
            .iter()
            .map(|d| d.route.clone())
            .chain(p.paths.routes.iter().cloned())
            .collect();
        let rules = p.paths.rules.clone();
        f.routes = routes;
        f.rules = Some(rules);
        let p = plan(&f, false);
        assert_eq!(
            (p.state("a"), p.state("b")),
            (GroupState::InSync, GroupState::InSync)
        );
        assert!(!p.path_written(&p.paths.routes[0].key));
        assert!(!p.rules_missing(&p.paths.rules));
        // One rule gone: that path's rules are missing, the groups stay in sync.
        let gone = p.paths.rules[1].clone();
        let rest = p.paths.rules[2..].to_vec();
        f.rules = Some(rest);
        let p = plan(&f, false);
        assert!(p.rules_missing(std::slice::from_ref(&gone)));
        assert_eq!(p.state("a"), GroupState::InSync);
    }

    #[test]
    fn a_sysctl_the_kernel_lacks_is_a_debug_note_and_no_change() {
        let mut f = two_groups();
        f.config.mode = Mode::Multipath;
        f.sysctls = sysctls_to_read(&f.config, &f.dump, &f.links)
            .into_iter()
            .map(|s| (s, None))
            .collect();
        let p = plan(&f, false);
        assert!(
            !p.changes
                .changes
                .iter()
                .any(|c| matches!(c, Change::Sysctl { .. }))
        );
        assert!(
            notes_of(&p).contains(&(
                Level::Debug,
                "this kernel has no net.ipv6.conf.eth1.ignore_routes_with_linkdown".into()
            )),
            "{:?}",
            notes_of(&p)
        );
    }

    #[test]
    fn only_a_probe_id_held_by_another_s_object_is_worth_a_word_before_planning() {
        let blocked = Resilience::Blocked {
            id: PROBE_GROUP_ID,
            protocol: 3,
            assume: true,
        };
        let note = blocked.note().unwrap();
        assert_eq!(note.level, Level::Warn);
        assert!(
            note.text
                .starts_with("nexthop id 3959422976 is held by an object of proto boot"),
            "{}",
            note.text
        );
        assert_eq!(Resilience::Known(true).note(), None);
        let ask = Resilience::Ask {
            stale: Vec::new(),
            assume: true,
        };
        assert_eq!(ask.note(), None);
    }

    #[test]
    fn a_tier_change_is_said_a_change_within_a_tier_is_not() {
        let (mut cfg, d) = tracked(&[]);
        cfg.metrics = [("wanc_6".to_string(), 2)].into_iter().collect();
        let mut f = facts(cfg, d);
        let said = |f: &Facts| {
            notes_of(&plan(f, false))
                .into_iter()
                .filter(|(_, t)| t.contains("take over"))
                .collect::<Vec<_>>()
        };
        // Nothing installed yet: no tier to change from.
        assert_eq!(said(&f), []);
        // The backup (wanc_6, eth3 = 6) carries the route; the primaries are back.
        f.routes = vec![installed(
            "2000::/3",
            1024,
            PROTOCOL,
            vec![nh(6, Some("fe80::3"), 1)],
        )];
        assert_eq!(
            said(&f),
            [(
                Level::Info,
                "v6: members of metric 1 take over from metric 2; every flow of the group may move"
                    .to_string()
            )]
        );
        // One primary installed, the other joins: the same tier, nothing to say.
        f.routes = vec![installed(
            "2000::/3",
            1024,
            PROTOCOL,
            vec![nh(2, Some("fe80::1"), 1)],
        )];
        assert_eq!(said(&f), []);
    }
}
