//! The commands: read the state, plan, and make the kernel match (or report how it differs).
//!
//! Order matters: the lock is taken before anything is read, so the run that writes last has
//! read last; the config and dump are fully validated before the kernel is touched, so bad
//! input leaves the kernel exactly as it was; groups are applied independently and every
//! failure is reported at the end.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use log::{debug, error, info, warn};

use crate::config::{self, Config, ConfigError, Mode};
use crate::dump::Dump;
use crate::event::Event;
use crate::netlink::{Kernel, KernelError, KernelEvent, Monitor};
use crate::plan::{self, Changes, Desired, Hint, Resilience};
use crate::route::{Links, Object, PROTOCOL, ProtocolName, Route, Sysctl};
use crate::{apply, lock, status, sysctl, ubus};

/// Where the interface state comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DumpSource {
    Ubus,
    Stdin,
    File(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `None`: the default path, where a missing file means the built-in config.
    pub config: Option<PathBuf>,
    pub dump: DumpSource,
    pub dry_run: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Hotplug,
    Sync,
    Status { json: bool },
    Flush,
    Watch,
}

#[derive(Debug)]
pub enum Error {
    /// The hotplug environment is unusable.
    Event(String),
    Config(ConfigError),
    /// The interface dump could not be had or is not netifd's.
    State(String),
    Lock(String),
    /// The kernel could not be read.
    Kernel(KernelError),
    /// Some groups were not applied; each entry names its group.
    Apply(Vec<String>),
    /// `status`: the kernel doesn't match the plan.
    OutOfSync(Vec<String>),
}

impl Error {
    /// The process exit code (README, "Exit codes").
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Apply(_) | Error::OutOfSync(_) => 1,
            Error::Event(_) | Error::Config(_) | Error::State(_) => 3,
            Error::Lock(_) => 4,
            Error::Kernel(_) => 5,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Event(e) => write!(f, "hotplug environment: {e}"),
            Error::Config(e) => e.fmt(f),
            Error::State(e) => write!(f, "interface state: {e}"),
            Error::Lock(e) => e.fmt(f),
            Error::Kernel(e) => write!(f, "kernel: {e}"),
            Error::Apply(errors) => f.write_str(&errors.join("; ")),
            Error::OutOfSync(groups) => write!(f, "not in sync: {}", groups.join(", ")),
        }
    }
}

impl std::error::Error for Error {}

impl From<KernelError> for Error {
    fn from(e: KernelError) -> Error {
        Error::Kernel(e)
    }
}

pub fn run(command: &Command, opts: &Options) -> Result<(), Error> {
    match command {
        Command::Hotplug => hotplug(opts),
        Command::Sync => reconcile(opts, &[], &mut None),
        Command::Status { json } => show_status(opts, *json),
        Command::Flush => flush(opts),
        Command::Watch => watch(opts),
    }
}

fn hotplug(opts: &Options) -> Result<(), Error> {
    let event = Event::from_env(|k| std::env::var_os(k)).map_err(Error::Event)?;
    if !event.action.reconciles() {
        debug!("ignoring action {}", event.raw_action);
        return Ok(());
    }
    debug!("event: {event}");
    let hints: Vec<Hint> = match &event.interface {
        Some(interface) if event.action.takes_down() => vec![Hint {
            group: None,
            interface: interface.clone(),
        }],
        _ => Vec::new(),
    };
    reconcile(opts, &hints, &mut None)
}

/// Prints to stdout. A reader that went away (`status | head`) ends the output, not the run:
/// `println!` would panic, which a router build turns into an abort.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"));
}

/// Taken for every run that may write; a dry run writes nothing and takes none.
fn lock_for(opts: &Options) -> Result<Option<lock::Lock>, Error> {
    if opts.dry_run {
        return Ok(None);
    }
    lock::acquire(Path::new(lock::PATH), lock::TIMEOUT)
        .map(Some)
        .map_err(Error::Lock)
}

fn load_config(opts: &Options) -> Result<Config, Error> {
    let (path, explicit) = match &opts.config {
        Some(p) => (p.as_path(), true),
        None => (Path::new(config::DEFAULT_PATH), false),
    };
    let (config, warnings) = Config::load(path, explicit).map_err(Error::Config)?;
    for w in warnings {
        warn!("{w}");
    }
    Ok(config)
}

fn load_dump(source: &DumpSource) -> Result<Dump, Error> {
    // One byte past the limit is enough for Dump::parse to refuse it; never read more.
    let limit = crate::dump::MAX_DUMP_BYTES as u64 + 1;
    let read = |name: &str, reader: &mut dyn Read| {
        let mut buf = Vec::new();
        reader
            .take(limit)
            .read_to_end(&mut buf)
            .map(|_| buf)
            .map_err(|e| Error::State(format!("reading the dump from {name}: {e}")))
    };
    let bytes = match source {
        DumpSource::Ubus => ubus::dump(ubus::TIMEOUT).map_err(Error::State)?,
        DumpSource::Stdin => read("stdin", &mut std::io::stdin())?,
        DumpSource::File(path) => {
            let mut file = std::fs::File::open(path)
                .map_err(|e| Error::State(format!("{}: {e}", path.display())))?;
            read(&path.display().to_string(), &mut file)?
        }
    };
    Dump::parse(&bytes).map_err(|e| Error::State(e.to_string()))
}

/// Everything a plan is made from, read in one go.
struct Snapshot {
    config: Config,
    links: Links,
    installed: Vec<Route>,
    /// `None`: the kernel has no nexthop objects.
    objects: Option<Vec<Object>>,
    dump: Dump,
}

impl Snapshot {
    fn objects(&self) -> &[Object] {
        self.objects.as_deref().unwrap_or_default()
    }
}

fn snapshot(opts: &Options, kernel: &mut Kernel) -> Result<Snapshot, Error> {
    let config = load_config(opts)?;
    let dump = load_dump(&opts.dump)?;
    let links = kernel.links()?;
    let installed = kernel.routes()?;
    let objects = kernel.objects()?;
    Ok(Snapshot {
        config,
        links,
        installed,
        objects,
        dump,
    })
}

/// Set (to anything) in the environment, this makes ecmp-hotplug treat the kernel as one
/// without resilient nexthop groups (Linux < 5.13): how the tests reach the fallback here.
const NO_RESILIENT_ENV: &str = "ECMP_HOTPLUG_NO_RESILIENT";

/// A run's plan: what each group should be, the changes that make the kernel so, and
/// whether `auto` groups got resilient nexthop groups.
struct Plan<'c> {
    desired: Vec<Desired<'c>>,
    changes: Changes,
    resilient: bool,
}

/// Plans a run from `snap`. `ask`: the run may write, so where the planner can't tell whether
/// the kernel takes resilient groups, the kernel is asked (by trying); otherwise, and where
/// the try tells nothing, the planner's assumption stands. Reads the sysctls the plan needs.
fn plan<'c>(snap: &'c Snapshot, kernel: &mut Kernel, ask: bool) -> Result<Plan<'c>, Error> {
    let config = &snap.config;
    let forced_off = std::env::var_os(NO_RESILIENT_ENV).is_some();
    let resilience = plan::resilience(
        &snap.dump,
        config,
        &snap.links,
        &snap.installed,
        snap.objects.as_deref(),
        forced_off,
    );
    let resilient = match resilience {
        Resilience::Known(answer) => answer,
        Resilience::Blocked {
            id,
            protocol,
            assume,
        } => {
            warn!(
                "nexthop id {id} is held by an object of proto {}: can't try resilient groups",
                ProtocolName(protocol)
            );
            assume
        }
        Resilience::Ask { assume, .. } if !ask => assume,
        Resilience::Ask { stale, assume } => {
            for id in stale {
                kernel.delete_object(id)?;
            }
            kernel
                .takes_resilient_groups(plan::PROBE_GROUP, plan::PROBE_LEG)
                .unwrap_or_else(|e| {
                    warn!("could not try a resilient nexthop group: {e}");
                    assume
                })
        }
    };
    let desired = plan::desired(&snap.dump, config, &snap.links, resilient);
    let mut settings = Vec::new();
    for setting in plan::settings(config, &desired) {
        let have = sysctl::read(&setting.sysctl)?;
        if have.is_none() {
            debug!("this kernel has no {}", setting.sysctl);
        }
        settings.push((setting, have));
    }
    let changes = plan::changes(&desired, &snap.installed, snap.objects(), &settings);
    Ok(Plan {
        desired,
        changes,
        resilient,
    })
}

/// The kernel, as the executor writes to it.
struct Live<'k>(&'k mut Kernel);

impl apply::Seam for Live<'_> {
    fn write_route(&mut self, route: &Route, create: bool) -> Result<(), String> {
        self.0.write(route, create).map_err(|e| e.to_string())
    }
    fn delete_route(&mut self, route: &Route) -> Result<(), String> {
        self.0.delete(route).map_err(|e| e.to_string())
    }
    fn write_object(&mut self, object: &Object, create: bool) -> Result<(), String> {
        self.0
            .write_object(object, create)
            .map_err(|e| e.to_string())
    }
    fn delete_object(&mut self, id: u32) -> Result<(), String> {
        self.0.delete_object(id).map_err(|e| e.to_string())
    }
    fn set_sysctl(&mut self, sysctl: &Sysctl, value: u8) -> Result<(), String> {
        sysctl::write(sysctl, value).map_err(|e| e.to_string())
    }
}

/// A dry run: every write is taken, none is made; the executor's lines are what it says.
struct DryRun;

impl apply::Seam for DryRun {
    fn write_route(&mut self, _: &Route, _: bool) -> Result<(), String> {
        Ok(())
    }
    fn delete_route(&mut self, _: &Route) -> Result<(), String> {
        Ok(())
    }
    fn write_object(&mut self, _: &Object, _: bool) -> Result<(), String> {
        Ok(())
    }
    fn delete_object(&mut self, _: u32) -> Result<(), String> {
        Ok(())
    }
    fn set_sysctl(&mut self, _: &Sysctl, _: u8) -> Result<(), String> {
        Ok(())
    }
}

/// Carries out `changes` (or, in a dry run, says them) and reports: each change made is an
/// info line, each failure part of the error.
fn execute(
    kernel: &mut Kernel,
    changes: &Changes,
    links: &Links,
    dry_run: bool,
) -> Result<(), Error> {
    let outcome = if dry_run {
        if changes.changes.is_empty() {
            say("nothing to change");
        }
        let outcome = apply::apply(&mut DryRun, changes, links);
        for line in &outcome.done {
            say(&format!("dry run: {line}"));
        }
        outcome
    } else {
        let outcome = apply::apply(&mut Live(kernel), changes, links);
        for line in &outcome.done {
            info!("{line}");
        }
        outcome
    };
    if outcome.errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Apply(outcome.errors))
    }
}

/// What a reconcile saw, for `watch`: who was in each group, and where a default route
/// matters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Seen {
    /// (group, interface, device index) of every member.
    members: Vec<(String, String, u32)>,
    /// The devices of every group's candidates.
    devices: Vec<u32>,
}

impl Seen {
    fn of(desired: &[Desired]) -> Seen {
        let mut seen = Seen::default();
        for d in desired {
            for m in &d.members {
                seen.members
                    .push((d.group.name.clone(), m.interface.clone(), m.nexthop.ifindex));
            }
            for device in d.devices() {
                if !seen.devices.contains(&device) {
                    seen.devices.push(device);
                }
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

/// Reads everything, plans and applies. `hints` name who may have just left a group (for the
/// log); `seen`, when the plan was made, receives what it saw.
fn reconcile(opts: &Options, hints: &[Hint], seen: &mut Option<Seen>) -> Result<(), Error> {
    let _lock = lock_for(opts)?;
    let mut kernel = Kernel::open()?;
    let snap = snapshot(opts, &mut kernel)?;
    let plan = plan(&snap, &mut kernel, !opts.dry_run)?;
    if !plan.resilient && snap.config.enabled {
        if let Some(g) = snap
            .config
            .groups
            .iter()
            .find(|g| g.mode(&snap.config) == Mode::Auto)
        {
            info!(
                "this kernel takes no resilient nexthop groups (Linux 5.13 has them): {} and other auto groups use a multipath route",
                g.name
            );
        }
    }
    warn_skipped(&plan.desired);
    *seen = Some(Seen::of(&plan.desired));
    let departures = plan::departures(
        &plan.desired,
        &snap.installed,
        snap.objects(),
        &snap.links,
        hints,
    );
    for departure in departures
        .iter()
        .filter(|d| !plan.changes.conflicts.iter().any(|c| c.group() == d.group))
    {
        info!("{departure}");
    }
    execute(&mut kernel, &plan.changes, &snap.links, opts.dry_run)
}

/// How long `watch` lets a burst of events (a carrier flap sends several) settle before it
/// reconciles once for all of them.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

/// Reconciles at start, then whenever a device's carrier changes, a device goes away, a
/// default route on a device of a group's candidates appears, changes or goes away, someone
/// deletes a nexthop object of ours, or events were lost. In between it sleeps in `recv`:
/// no timer, no polling. Failed reconciles are logged and the next event tries again; only
/// losing the netlink socket ends it (procd starts it again).
fn watch(opts: &Options) -> Result<(), Error> {
    let mut monitor = Monitor::open()?;
    let mut carrier = Kernel::open()?.links()?.carriers();
    info!("watching link, route and nexthop events");
    let mut why = "start";
    let mut seen: Option<Seen> = None;
    loop {
        debug!("reconciling: {why}");
        // The members of the last run may have lost their legs to the kernel since (carrier,
        // device gone): they are named for the log. The kernel's link notification can come
        // up to a second after the carrier and the leg went (linkwatch), so this goes by who
        // was a member, not by which events came.
        let before = seen.take();
        let hints = before.as_ref().map(Seen::hints).unwrap_or_default();
        if let Err(e) = reconcile(opts, &hints, &mut seen) {
            error!("{e}");
        }
        // A run that could not plan keeps what the last one saw.
        seen = seen.or(before);
        let mut wake = Wake {
            carrier: &mut carrier,
            seen: seen.as_ref(),
        };
        why = loop {
            let events = monitor.events(true)?;
            if let Some(why) = wake.worth_a_run(&events) {
                break why;
            }
        };
        std::thread::sleep(SETTLE);
        loop {
            let events = monitor.events(false)?;
            if events.is_empty() {
                break;
            }
            wake.worth_a_run(&events);
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
                        && *id != plan::PROBE_GROUP
                        && *id != plan::PROBE_LEG =>
                {
                    Some("a nexthop of ours was deleted")
                }
                KernelEvent::ObjectGone { .. } => None,
                // Without a plan yet (the first run failed), any device may matter.
                KernelEvent::DefaultRoute { devices } => devices
                    .iter()
                    .any(|d| self.seen.is_none_or(|s| s.devices.contains(d)))
                    .then_some("a default route of a group's candidate changed"),
                KernelEvent::Lost => Some("netlink events were lost"),
            };
            why = why.or(reason);
        }
        why
    }
}

fn flush(opts: &Options) -> Result<(), Error> {
    let _lock = lock_for(opts)?;
    let mut kernel = Kernel::open()?;
    let links = kernel.links()?;
    let installed = kernel.routes()?;
    let objects = kernel.objects()?.unwrap_or_default();
    let changes = plan::changes(&[], &installed, &objects, &[]);
    execute(&mut kernel, &changes, &links, opts.dry_run)
}

fn show_status(opts: &Options, json: bool) -> Result<(), Error> {
    let mut kernel = Kernel::open()?;
    let snap = snapshot(opts, &mut kernel)?;
    let plan = plan(&snap, &mut kernel, false)?;
    let report = status::Report::new(
        &snap.config,
        &plan.desired,
        &snap.installed,
        &plan.changes,
        &snap.links,
    );
    if json {
        say(&report.to_json());
    } else {
        say(report.to_string().trim_end());
    }
    let out_of_sync = report.out_of_sync();
    if out_of_sync.is_empty() {
        Ok(())
    } else {
        Err(Error::OutOfSync(out_of_sync))
    }
}

/// One warning per left-out interface whose reason is worth reading, however many groups
/// it is a candidate in.
fn warn_skipped(desired: &[Desired]) {
    let mut seen = std::collections::BTreeSet::new();
    for skip in desired.iter().flat_map(|d| &d.skipped) {
        if skip.reason.worth_a_warning()
            && seen.insert((skip.interface.clone(), skip.reason.to_string()))
        {
            warn!("{} left out: {}", skip.interface, skip.reason);
        }
    }
    for d in desired {
        for skip in d.skipped.iter().filter(|s| !s.reason.worth_a_warning()) {
            debug!(
                "{}: {} left out: {}",
                d.group.name, skip.interface, skip.reason
            );
        }
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
                gone(plan::PROBE_GROUP, PROTOCOL),
                gone(plan::PROBE_LEG, PROTOCOL)
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
