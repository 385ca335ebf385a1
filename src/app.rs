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
use crate::event::{Action, Event};
use crate::netlink::{self, Kernel, KernelError, KernelEvent, Monitor};
use crate::plan::{self, Change, Changes, Conflict, Desired, Hint};
use crate::route::{Family, Links, Object, ObjectKind, PROTOCOL, ProtocolName, Route};
use crate::status;
use crate::{lock, ubus};

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
    // The interface an event takes down may have lost its leg to the kernel already (with
    // its device's carrier); the event is then the only word of it for the log.
    let hints: Vec<Hint> = match (&event.action, &event.interface) {
        (Action::Ifdown | Action::IfupFailed | Action::Disconnected, Some(interface)) => {
            vec![Hint {
                group: None,
                interface: interface.clone(),
            }]
        }
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

/// Whether `auto` groups get resilient nexthop groups this run. An installed resilient group
/// of ours answers it; otherwise the kernel is asked by trying, once, when a group that may
/// use one has a member to install (`probe`). Without asking (status, dry runs, nothing to
/// install, or a try the kernel refused for another reason than the answer) it goes by what
/// is installed: a kernel with nexthop objects has them, unless an `auto` group's route is
/// already a multipath one of ours.
fn resilient_support(snap: &Snapshot, kernel: &mut Kernel, probe: bool) -> Result<bool, Error> {
    let config = &snap.config;
    let wanted = config.enabled
        && config
            .groups
            .iter()
            .any(|g| g.mode(config) != Mode::Multipath);
    let Some(objects) = &snap.objects else {
        return Ok(false);
    };
    if !wanted || std::env::var_os(NO_RESILIENT_ENV).is_some() {
        return Ok(false);
    }
    let ours = |o: &&Object| o.is_owned();
    if objects.iter().filter(ours).any(|o| {
        matches!(
            o.kind,
            ObjectKind::Group {
                resilient: Some(_),
                ..
            }
        )
    }) {
        return Ok(true);
    }
    let fell_back = || {
        !config.groups.iter().any(|g| {
            g.mode(config) == Mode::Auto
                && snap
                    .installed
                    .iter()
                    .any(|r| r.is_owned() && r.holds(&g.key) && r.nh_id.is_none())
        })
    };
    // Members as multipath would have them (it keeps those without carrier): none means the
    // answer changes nothing this run (early boot, `network restart`), so don't ask.
    let to_install = plan::desired(&snap.dump, config, &snap.links, false)
        .iter()
        .any(|d| d.group.mode(config) != Mode::Multipath && !d.members.is_empty());
    if !probe || !to_install {
        return Ok(fell_back());
    }
    // What a killed probe left behind is ours and in the way; anything else there is not.
    for id in [plan::PROBE_GROUP, plan::PROBE_LEG] {
        match objects.iter().find(|o| o.id == id) {
            Some(o) if o.is_owned() => kernel.delete_object(id)?,
            Some(o) => {
                warn!(
                    "nexthop id {id} is held by an object of proto {}: can't try resilient groups",
                    ProtocolName(o.protocol)
                );
                return Ok(fell_back());
            }
            None => {}
        }
    }
    // A refusal for another reason (a full table, …) tells nothing about resilient groups:
    // go by what is installed, and the next run asks again.
    kernel
        .takes_resilient_groups(plan::PROBE_GROUP, plan::PROBE_LEG)
        .or_else(|e| {
            warn!("could not try a resilient nexthop group: {e}");
            Ok(fell_back())
        })
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
    let resilient = resilient_support(&snap, &mut kernel, !opts.dry_run)?;
    if !resilient && snap.config.enabled {
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
    let desired = plan::desired(&snap.dump, &snap.config, &snap.links, resilient);
    warn_skipped(&desired);
    *seen = Some(Seen::of(&desired));
    let mut errors = Vec::new();
    if snap.config.enabled {
        if let Err(e) = apply_hash_policy(&snap.config, opts.dry_run) {
            errors.push(e.to_string());
        }
    }
    for (family, device) in linkdown_devices(&desired) {
        if let Err(e) = ignore_linkdown(family, device, opts.dry_run) {
            errors.push(e.to_string());
        }
    }
    let changes = plan::changes(&desired, &snap.installed, snap.objects());
    let departures = plan::departures(
        &desired,
        &snap.installed,
        snap.objects(),
        &snap.links,
        hints,
    );
    for departure in departures
        .iter()
        .filter(|d| !changes.conflicts.iter().any(|c| c.group() == d.group))
    {
        info!("{departure}");
    }
    errors.extend(apply(&mut kernel, &changes, &snap.links, opts.dry_run));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Apply(errors))
    }
}

/// Every (family, device) that carries a leg of a multipath route, once. (A few entries: a
/// linear check is smaller code than sorting or a B-tree, which cost 2–5 KB on mipsel.)
fn linkdown_devices<'d>(desired: &'d [Desired]) -> Vec<(Family, &'d str)> {
    let mut devices = Vec::new();
    for d in desired.iter().filter(|d| d.mode == Mode::Multipath) {
        for m in &d.members {
            let entry = (d.group.family(), m.device.as_str());
            if !devices.contains(&entry) {
                devices.push(entry);
            }
        }
    }
    devices
}

/// A multipath leg whose device loses carrier stays in the route, flagged `linkdown`; with
/// `ignore_routes_with_linkdown` the kernel skips it (`dead linkdown`) and takes it back by
/// itself with the carrier, without a hotplug event (netifd sends none for `force_link`
/// interfaces). Set only where it is off (any non-zero value is on), and never reset.
fn ignore_linkdown(family: Family, device: &str, dry_run: bool) -> Result<(), KernelError> {
    let have = netlink::ignores_linkdown(family, device)?.map(|v| u8::from(v != 0));
    let name = format!("net.{family}.conf.{device}.ignore_routes_with_linkdown");
    settle(&name, have, 1, dry_run, || {
        netlink::set_ignore_linkdown(family, device)
    })
}

/// Brings sysctl `name` from `have` to `want` where they differ: a dry run only says so, a
/// real run logs and writes. `None`: this kernel doesn't have it.
fn settle(
    name: &str,
    have: Option<u8>,
    want: u8,
    dry_run: bool,
    set: impl FnOnce() -> Result<(), KernelError>,
) -> Result<(), KernelError> {
    match have {
        Some(have) if have != want => {
            if dry_run {
                say(&format!("dry run: {name} {have} -> {want}"));
                Ok(())
            } else {
                info!("{name} {have} -> {want}");
                set()
            }
        }
        Some(_) => Ok(()),
        None => {
            debug!("this kernel has no {name}");
            Ok(())
        }
    }
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
    let changes = plan::changes(&[], &installed, &objects);
    let errors = apply(&mut kernel, &changes, &links, opts.dry_run);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Apply(errors))
    }
}

fn show_status(opts: &Options, json: bool) -> Result<(), Error> {
    let mut kernel = Kernel::open()?;
    let snap = snapshot(opts, &mut kernel)?;
    let resilient = resilient_support(&snap, &mut kernel, false)?;
    let desired = plan::desired(&snap.dump, &snap.config, &snap.links, resilient);
    let changes = plan::changes(&desired, &snap.installed, snap.objects());
    let report = status::Report::new(
        &snap.config,
        &desired,
        &snap.installed,
        &changes,
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

fn apply_hash_policy(config: &Config, dry_run: bool) -> Result<(), KernelError> {
    let Some(want) = config.hash_policy.sysctl() else {
        return Ok(());
    };
    for family in [Family::V4, Family::V6] {
        let name = format!("net.{family}.fib_multipath_hash_policy");
        settle(&name, netlink::hash_policy(family)?, want, dry_run, || {
            netlink::set_hash_policy(family, want)
        })?;
    }
    Ok(())
}

/// Carries out `changes`; returns one message per group that could not be applied.
fn apply(kernel: &mut Kernel, changes: &Changes, links: &Links, dry_run: bool) -> Vec<String> {
    let mut errors: Vec<String> = changes
        .conflicts
        .iter()
        .map(|c| match c {
            Conflict::Route { group, route } => format!(
                "{group}: {} is held by a route of proto {} ({}) that ecmp-hotplug did not write; left as it is",
                route.key,
                ProtocolName(route.protocol),
                links.describe(&route.nexthops)
            ),
            Conflict::Object { group, object } => format!(
                "{group}: nexthop id {} is held by an object of proto {} that ecmp-hotplug did not write; left as it is",
                object.id,
                ProtocolName(object.protocol)
            ),
            Conflict::Unsupported { group } => format!(
                "{group}: mode resilient, but this kernel takes no resilient nexthop groups (Linux 5.13 has them; mode auto falls back to multipath); left as it is"
            ),
        })
        .collect();
    if dry_run && changes.changes.is_empty() {
        say("nothing to change");
    }
    // A group that failed is not touched again this run: its later steps would build on
    // what is missing (a route through a group that wasn't written). A nexthop the kernel
    // refuses (its device vanished since the kernel was read, its gateway is off-link) fails
    // alone: the group is written without it, the run exits 1 naming it, and the next run
    // tries it again.
    let mut failed: Vec<&str> = Vec::new();
    let mut refused: Vec<u32> = Vec::new();
    for change in &changes.changes {
        let group = match change {
            Change::Write { group, .. } | Change::WriteObject { group, .. } => Some(group),
            Change::Delete { group, .. } | Change::DeleteObject { group, .. } => group.as_ref(),
        };
        if group.is_some_and(|g| failed.contains(&g.as_str())) {
            continue;
        }
        let mut what = describe(change, links);
        if dry_run {
            say(&format!("dry run: {what}"));
            continue;
        }
        let outcome = match change {
            Change::Write {
                group,
                route,
                create,
            } => write_route(kernel, group, route, *create, links, &mut errors).map(|partial| {
                if let Some(route) = partial {
                    what = format!(
                        "{group}: {} -> {}",
                        route.key,
                        links.describe(&route.nexthops)
                    );
                }
            }),
            Change::Delete { route, .. } => kernel.delete(route).map_err(|e| e.to_string()),
            Change::WriteObject { object, create, .. } => {
                let (object, dropped) = without_refused(object, &refused);
                if dropped > 0 {
                    what = format!("{what} ({dropped} refused)");
                }
                match &object.kind {
                    ObjectKind::Group { members, .. } if members.is_empty() => {
                        Err("the kernel took none of its nexthops".into())
                    }
                    _ => kernel
                        .write_object(&object, *create)
                        .map_err(|e| e.to_string()),
                }
            }
            Change::DeleteObject { object, .. } => {
                kernel.delete_object(object.id).map_err(|e| e.to_string())
            }
        };
        match outcome {
            Ok(()) => info!("{what}"),
            Err(e) => {
                errors.push(format!("{what}: {e}"));
                match change {
                    Change::WriteObject { object, .. }
                        if matches!(object.kind, ObjectKind::Leg { .. }) =>
                    {
                        refused.push(object.id)
                    }
                    _ => failed.extend(group.map(String::as_str)),
                }
            }
        }
    }
    errors
}

/// `object` as it is written this run: a group without the legs in `refused`; and how many
/// it lost.
fn without_refused(object: &Object, refused: &[u32]) -> (Object, usize) {
    let mut object = object.clone();
    let mut dropped = 0;
    if let ObjectKind::Group { members, .. } = &mut object.kind {
        let before = members.len();
        members.retain(|m| !refused.contains(&m.0));
        dropped = before - members.len();
    }
    (object, dropped)
}

/// Writes `route`. When the kernel refuses a multipath route as a whole, the legs it takes are
/// found one at a time and those installed, each refused one reported in `errors`; the route
/// written then is returned.
fn write_route(
    kernel: &mut Kernel,
    group: &str,
    route: &Route,
    create: bool,
    links: &Links,
    errors: &mut Vec<String>,
) -> Result<Option<Route>, String> {
    let whole = match kernel.write(route, create) {
        Ok(()) => return Ok(None),
        Err(e) if route.nh_id.is_some() || route.nexthops.len() < 2 => return Err(e.to_string()),
        Err(e) => e,
    };
    let mut taken = Route {
        nexthops: Vec::new(),
        ..route.clone()
    };
    let mut create = create;
    for nh in &route.nexthops {
        taken.nexthops.push(*nh);
        if let Err(e) = kernel.write(&taken, create) {
            taken.nexthops.pop();
            errors.push(format!(
                "{group}: {} refused: {e}",
                links.describe(std::slice::from_ref(nh))
            ));
        } else {
            create = false;
        }
    }
    if taken.nexthops.is_empty() {
        Err(whole.to_string())
    } else {
        Ok(Some(taken))
    }
}

/// One line about one change, for the log and dry runs.
fn describe(change: &Change, links: &Links) -> String {
    let via = |route: &Route| match route.nh_id {
        Some(id) => format!("nexthop group {id} ({})", links.describe(&route.nexthops)),
        None => links.describe(&route.nexthops),
    };
    match change {
        Change::Write { group, route, .. } => format!("{group}: {} -> {}", route.key, via(route)),
        Change::Delete {
            group: Some(group),
            route,
        } => format!("{group}: removed {} (no members)", route.key),
        Change::Delete { group: None, route } => {
            format!("removed {} (no group wants it)", route.key)
        }
        Change::WriteObject { group, object, .. } => {
            format!("{group}: nexthop {}", describe_object(object, links))
        }
        Change::DeleteObject {
            group: Some(group),
            object,
        } => format!("{group}: removed nexthop {} to recreate it", object.id),
        Change::DeleteObject {
            group: None,
            object,
        } => format!("removed nexthop {} (no group wants it)", object.id),
    }
}

fn describe_object(object: &Object, links: &Links) -> String {
    match &object.kind {
        ObjectKind::Leg {
            ifindex, gateway, ..
        } => format!("{} {}", object.id, links.leg(*ifindex, *gateway)),
        ObjectKind::Group { members, .. } => match members.len() {
            1 => format!("group {} of 1 nexthop", object.id),
            n => format!("group {} of {n} nexthops", object.id),
        },
        ObjectKind::Other => object.id.to_string(),
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
