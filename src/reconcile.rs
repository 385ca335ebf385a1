//! The pipeline every command that plans shares: take the lock, gather, ask the kernel the
//! one question (resilient groups), plan, log the plan's notes, and apply (or, in a dry run,
//! say) its changes.
//!
//! Order matters: the lock is taken before anything is read, so the run that writes last has
//! read last; the facts are gathered (and the input validated) before the kernel is touched,
//! so bad input leaves the kernel exactly as it was; groups are applied independently and
//! every failure is reported at the end.

use std::net::IpAddr;
use std::path::Path;

use log::{debug, info, warn};

use crate::cli::Options;
use crate::error::Error;
use crate::gather::{Gathered, gather};
use crate::netlink::{Conntrack, Kernel};
use crate::planner::{self, Changes, Hint, Level, MemberEvent, Note, Plan, Resilience};
use crate::route::{Family, Links, Object, Route, Rule, Sysctl};
use crate::{apply, lock, notify, sysctl};

/// Prints to stdout. A reader that went away (`status | head`) ends the output, not the run:
/// `println!` would panic, which a router build turns into an abort.
pub fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"));
}

/// Logs a plan's notes at their level.
pub fn log_notes(notes: &[Note]) {
    for note in notes {
        match note.level {
            Level::Warn => warn!("{}", note.text),
            Level::Info => info!("{}", note.text),
            Level::Debug => debug!("{}", note.text),
        }
    }
}

/// Taken for every run that may write; a dry run writes nothing and takes none.
pub fn lock_for(opts: &Options) -> Result<Option<lock::Lock>, Error> {
    if opts.dry_run {
        return Ok(None);
    }
    lock::acquire(Path::new(lock::PATH), lock::TIMEOUT)
        .map(Some)
        .map_err(Error::Lock)
}

/// Whether `auto` groups get resilient nexthop groups: what the facts tell, or, where they
/// can't and the run may write (`ask`), the kernel's answer to a try with the probe's ids;
/// otherwise, and where the try tells nothing, the planner's assumption.
pub fn resilient(facts: &planner::Facts, kernel: &mut Kernel, ask: bool) -> Result<bool, Error> {
    let resilience = facts.resilience();
    log_notes(resilience.note().as_slice());
    Ok(match resilience {
        Resilience::Known(answer) | Resilience::Blocked { assume: answer, .. } => answer,
        Resilience::Ask { assume, .. } if !ask => assume,
        Resilience::Ask { stale, assume } => {
            for id in stale {
                kernel.delete_object(id)?;
            }
            kernel
                .takes_resilient_groups(planner::PROBE_GROUP_ID, planner::PROBE_LEG_ID)
                .unwrap_or_else(|e| {
                    warn!("could not try a resilient nexthop group: {e}");
                    assume
                })
        }
    })
}

/// Reads everything, plans and applies. `hints` name who may have just left a group (for the
/// log); `said`: in `watch`, the health notes its last run said (`Plan::health`), so that
/// only changes are said again; `saw`, when the plan was made, is handed it (`watch` keeps
/// what it needs of it). Then, the kernel changed and the lock given back, the events:
/// `first` (what `watch`'s tracking found, which made this run) and the plan's joins and
/// leaves of the groups it changed. Scripts run after routing and hold up no other run.
pub fn reconcile(
    opts: &Options,
    hints: &[Hint],
    said: Option<&[String]>,
    first: &[MemberEvent],
    saw: &mut dyn FnMut(&Plan),
) -> Result<(), Error> {
    let mut events = first.to_vec();
    let done = plan_and_apply(opts, hints, said, saw, &mut events);
    match opts.dry_run {
        true => events
            .iter()
            .for_each(|e| say(&format!("dry run: {}", notify::line(e)))),
        false => notify::announce(&events.iter().collect::<Vec<_>>()),
    }
    done
}

/// `reconcile` under the lock: its events are added to `events`.
fn plan_and_apply(
    opts: &Options,
    hints: &[Hint],
    said: Option<&[String]>,
    saw: &mut dyn FnMut(&Plan),
    events: &mut Vec<MemberEvent>,
) -> Result<(), Error> {
    let _lock = lock_for(opts)?;
    let mut kernel = Kernel::open()?;
    // The second pass reads and plans again after the kernel refused a change that was no
    // conflict: what the first read may have changed under it (a device gone takes its
    // nexthops along). What the run says of the groups is said once, by the first.
    for again in [false, true] {
        let Gathered { facts, .. } = gather(
            opts,
            &mut kernel,
            hints.to_vec(),
            said.map(<[String]>::to_vec),
        )?;
        let resilient = resilient(&facts, &mut kernel, !opts.dry_run)?;
        let plan = planner::plan(&facts, resilient);
        if !again {
            log_notes(&plan.notes);
        }
        saw(&plan);
        let (done, failed) = execute(&mut kernel, &plan.changes, &facts.links, opts.dry_run);
        let made = plan.events.iter().filter(|e| !failed.contains(&e.group));
        events.extend(made.cloned());
        match done {
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

/// The kernel, as the executor writes to it.
pub struct Live<'k>(&'k mut Kernel);

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
/// info line, each failure part of the error. Also the groups left alone or whose changes
/// failed.
pub fn execute(
    kernel: &mut Kernel,
    changes: &Changes,
    links: &Links,
    dry_run: bool,
) -> (Result<(), Error>, Vec<String>) {
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
    let result = match outcome.errors.is_empty() {
        true => Ok(()),
        false => Err(Error::Apply(outcome.errors)),
    };
    (result, outcome.failed)
}
