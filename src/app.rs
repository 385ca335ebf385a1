//! The commands: read the state, plan, and make the kernel match (or report how it differs).
//!
//! Order matters: the lock is taken before anything is read, so the run that writes last has
//! read last; the config and dump are fully validated before the kernel is touched, so bad
//! input leaves the kernel exactly as it was; groups are applied independently and every
//! failure is reported at the end.

use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

use log::{debug, info, warn};

use crate::cli::{Command, DumpSource, Options};
use crate::config::{self, Config, ConfigError, Mode};
use crate::dump::Dump;
use crate::event::Event;
use crate::netlink::{Conntrack, Kernel, KernelError};
use crate::plan::{self, Changes, Desired, Health, Hint, Installed, Paths, Resilience};
use crate::route::{Family, Links, Object, ProtocolName, Route, Rule, Sysctl};
use crate::{apply, lock, state, status, sysctl, ubus};

#[derive(Debug)]
pub enum Error {
    /// The hotplug environment is unusable.
    Event(String),
    Config(ConfigError),
    /// The interface dump could not be had or is not netifd's.
    State(String),
    Lock(String),
    /// The run would write, and this process may not: the command's name.
    NotRoot(&'static str),
    /// The kernel could not be read.
    Kernel(KernelError),
    /// Some groups were not applied; each entry names its group.
    Apply(Vec<String>),
    /// `status`: the kernel doesn't match the plan.
    OutOfSync(Vec<String>),
}

impl Error {
    /// Whether the run failed, rather than answered: `status` out of sync is its answer (exit
    /// 1, on stderr), which LuCI's polling must not repeat into syslog.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Error::OutOfSync(_))
    }

    /// The process exit code (README, "Exit codes").
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Apply(_) | Error::OutOfSync(_) => 1,
            Error::Event(_) | Error::Config(_) | Error::State(_) => 3,
            Error::Lock(_) | Error::NotRoot(_) => 4,
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
            Error::NotRoot(command) => write!(
                f,
                "{command} needs root (CAP_NET_ADMIN); status and sync --dry-run don't"
            ),
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

/// Runs `command`; `watch` is the long-running loop's entry (`watch::run`), handed in by the
/// binary so that this module, which the loop calls back into, does not import it.
pub fn run(
    command: &Command,
    opts: &Options,
    watch: fn(&Options) -> Result<(), Error>,
) -> Result<(), Error> {
    // Before the lock and anything else: a run that can't write creates nothing (a lock file
    // of another owner would stop root's next run).
    let writes = match command {
        Command::Hotplug => (!opts.dry_run).then_some("hotplug"),
        Command::Sync => (!opts.dry_run).then_some("sync"),
        Command::Flush => (!opts.dry_run).then_some("flush"),
        Command::Watch => Some("watch"),
        Command::Status { .. } => None,
    };
    if let Some(name) = writes.filter(|_| !nix::unistd::geteuid().is_root()) {
        return Err(Error::NotRoot(name));
    }
    match command {
        Command::Hotplug => hotplug(opts),
        Command::Sync => reconcile(opts, &[], None, &mut |_, _| {}),
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
    reconcile(opts, &hints, None, &mut |_, _| {})
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

/// mwan3's enabled interface sections, where mwan3 runs (none where it doesn't); a file
/// that can't be read or parsed is no word of mwan3's (its own `config_load` finds no
/// section then either), and says why.
pub(crate) fn mwan3_sections() -> Result<Vec<crate::mwan3::Section>, String> {
    let path = state::MWAN3_CONFIG;
    if !Path::new(state::MWAN3_DIR).is_dir() {
        return Ok(Vec::new());
    }
    std::fs::read(path)
        .map_err(|e| format!("{path}: {e}"))
        .and_then(|bytes| crate::mwan3::sections(&bytes).map_err(|e| format!("{path}:{e}")))
}

/// The config, and where it came from (for `status`).
fn load_config(opts: &Options) -> Result<(Config, String), Error> {
    let (path, explicit) = match &opts.config {
        Some(p) => (p.as_path(), true),
        None => (Path::new(config::DEFAULT_PATH), false),
    };
    let (config, warnings, builtin) = Config::load(path, explicit).map_err(Error::Config)?;
    for w in warnings {
        warn!("{w}");
    }
    let source = match builtin {
        true => format!("the built-in default ({} is missing)", path.display()),
        false => path.display().to_string(),
    };
    Ok((config, source))
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
    /// `None`: rules can't be read here (`Kernel::rules`).
    rules: Option<Vec<Rule>>,
    dump: Dump,
    health: Health,
    /// Whether a running `watch` published tracking records (`health.tracked`).
    watching: bool,
    /// Where the config came from: its file, or the built-in default.
    config_source: String,
}

impl Snapshot {
    fn objects(&self) -> &[Object] {
        self.objects.as_deref().unwrap_or_default()
    }

    fn installed(&self) -> Installed<'_> {
        Installed {
            routes: &self.installed,
            objects: self.objects(),
            rules: self.rules.as_deref(),
        }
    }
}

/// Reads everything a plan is made from.
fn snapshot(opts: &Options, kernel: &mut Kernel) -> Result<Snapshot, Error> {
    let (config, config_source) = load_config(opts)?;
    let dump = load_dump(&opts.dump)?;
    let links = kernel.links()?;
    let installed = kernel.routes()?;
    let objects = kernel.objects()?;
    let rules = kernel.rules()?;
    // A state file that can't be read is a warning: tracking then counts for nothing, as
    // without `watch`, rather than stopping the run.
    let tracking = state::load().unwrap_or_else(|e| {
        warn!("tracking state: {e}");
        None
    });
    let watching = tracking.is_some();
    let mwan3_sections = mwan3_sections().unwrap_or_else(|e| {
        warn!("{e}: mwan3's interface states are not read");
        Vec::new()
    });
    let health = Health {
        tracked: tracking.map(|s| s.records).unwrap_or_default(),
        mwan3_states: state::mwan3_states(&mwan3_sections),
        mwan3_sections,
    };
    Ok(Snapshot {
        config,
        links,
        installed,
        objects,
        rules,
        dump,
        health,
        watching,
        config_source,
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
    paths: Paths,
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
    let desired = plan::desired(&snap.dump, config, &snap.links, resilient, &snap.health);
    let mut settings = Vec::new();
    for setting in plan::settings(config, &desired) {
        let have = sysctl::read(&setting.sysctl)?;
        if have.is_none() {
            debug!("this kernel has no {}", setting.sysctl);
        }
        settings.push((setting, have));
    }
    let paths = plan::uplink_paths(&desired);
    let changes = plan::changes(&desired, &paths, &snap.installed(), &settings);
    Ok(Plan {
        desired,
        changes,
        paths,
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
    fn write_rule(&mut self, rule: &Rule) -> Result<(), String> {
        self.0.write_rule(rule).map_err(|e| e.to_string())
    }
    fn delete_rule(&mut self, rule: &Rule) -> Result<(), String> {
        self.0.delete_rule(rule).map_err(|e| e.to_string())
    }
    fn flush_conntrack(
        &mut self,
        family: Family,
        addresses: &[IpAddr],
    ) -> Result<Option<usize>, String> {
        Conntrack::open()
            .and_then(|mut c| c.delete_translated(family, addresses))
            .map(Some)
            .map_err(|e| e.to_string())
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
    fn write_rule(&mut self, _: &Rule) -> Result<(), String> {
        Ok(())
    }
    fn delete_rule(&mut self, _: &Rule) -> Result<(), String> {
        Ok(())
    }
    fn flush_conntrack(&mut self, _: Family, _: &[IpAddr]) -> Result<Option<usize>, String> {
        Ok(None)
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
        for line in outcome.done.iter().chain(&outcome.details) {
            say(&format!("dry run: {line}"));
        }
        outcome
    } else {
        let outcome = apply::apply(&mut Live(kernel), changes, links);
        outcome.done.iter().for_each(|line| info!("{line}"));
        outcome.details.iter().for_each(|line| debug!("{line}"));
        outcome
    };
    if outcome.errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Apply(outcome.errors))
    }
}

/// Reads everything, plans and applies. `hints` name who may have just left a group (for the
/// log); `said`: in `watch`, the health notes its last run said (`plan::health_notes`), so
/// that only changes are said again; `saw`, when the plan was made, is handed the desired
/// groups and what the run said of their health (`watch` keeps what it needs of them).
pub(crate) fn reconcile(
    opts: &Options,
    hints: &[Hint],
    said: Option<&[String]>,
    saw: &mut dyn FnMut(&[Desired], Vec<String>),
) -> Result<(), Error> {
    let _lock = lock_for(opts)?;
    let mut kernel = Kernel::open()?;
    // The second pass reads and plans again after the kernel refused a change that was no
    // conflict: what the first read may have changed under it (a device gone takes its
    // nexthops along). What the run says of the groups is said once, by the first.
    for again in [false, true] {
        let snap = snapshot(opts, &mut kernel)?;
        let plan = plan(&snap, &mut kernel, !opts.dry_run)?;
        let notes = plan::health_notes(&plan.desired);
        if !again {
            say_plan(&snap, &plan, &notes, said, hints);
        }
        saw(&plan.desired, notes);
        match execute(&mut kernel, &plan.changes, &snap.links, opts.dry_run) {
            Err(Error::Apply(errors))
                if !again && !opts.dry_run && errors.len() > plan.changes.conflicts.len() =>
            {
                info!("planning again: {}", errors.join("; "));
            }
            done => return done,
        }
    }
    Ok(())
}

/// What a reconcile says of its plan before it applies it: the mode the kernel allows, the
/// candidates left out, the groups' health (in `watch`, only what changed since `said`),
/// and who left a group.
fn say_plan(
    snap: &Snapshot,
    plan: &Plan,
    notes: &[String],
    said: Option<&[String]>,
    hints: &[Hint],
) {
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
    match said {
        Some(said) => {
            for note in notes.iter().filter(|n| !said.contains(n)) {
                warn!("{note}");
            }
            for note in said.iter().filter(|n| !notes.contains(n)) {
                info!("no longer: {note}");
            }
        }
        None => notes.iter().for_each(|n| debug!("{n}")),
    }
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
}

fn flush(opts: &Options) -> Result<(), Error> {
    let _lock = lock_for(opts)?;
    let mut kernel = Kernel::open()?;
    let links = kernel.links()?;
    let installed = kernel.routes()?;
    let objects = kernel.objects()?.unwrap_or_default();
    let rules = kernel.rules()?;
    let installed = Installed {
        routes: &installed,
        objects: &objects,
        rules: rules.as_deref(),
    };
    let changes = plan::changes(&[], &Paths::default(), &installed, &[]);
    execute(&mut kernel, &changes, &links, opts.dry_run)
}

fn show_status(opts: &Options, json: bool) -> Result<(), Error> {
    let mut kernel = Kernel::open()?;
    let snap = snapshot(opts, &mut kernel)?;
    let plan = plan(&snap, &mut kernel, false)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let report = status::Report::new(
        &snap.config,
        &plan.desired,
        &snap.installed,
        &plan.changes,
        &snap.links,
        &plan.paths,
        status::About {
            config: snap.config_source.clone(),
            dump: match &opts.dump {
                DumpSource::Ubus => "ubus (network.interface dump)".into(),
                DumpSource::Stdin => "stdin".into(),
                DumpSource::File(path) => path.display().to_string(),
            },
            now,
            tracking: snap.watching.then_some(snap.health.tracked.as_slice()),
            rules_read: snap.rules.is_some(),
        },
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
