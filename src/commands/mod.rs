//! The commands, one file each; each gathers, plans, applies and says what it did through
//! the shared pipeline (`gather`, `reconcile`).

pub mod flush;
pub mod hotplug;
pub mod status;
pub mod sync;
pub mod watch;

use crate::cli::{Command, Options};
use crate::error::Error;

/// Runs `command`.
pub fn run(command: &Command, opts: &Options) -> Result<(), Error> {
    // Before the lock and anything else: a run that can't write creates nothing (a lock file
    // of another owner would stop root's next run).
    if let Some(name) = writes(command, opts).filter(|_| !nix::unistd::geteuid().is_root()) {
        return Err(Error::NotRoot(name));
    }
    match command {
        Command::Hotplug => hotplug::run(opts),
        Command::Sync => sync::run(opts),
        Command::Status { json } => status::run(opts, *json),
        Command::Flush => flush::run(opts),
        Command::Watch => watch::run(opts),
    }
}

/// The name of a command that will write to the kernel, as its error names it.
fn writes(command: &Command, opts: &Options) -> Option<&'static str> {
    match command {
        Command::Hotplug => (!opts.dry_run).then_some("hotplug"),
        Command::Sync => (!opts.dry_run).then_some("sync"),
        Command::Flush => (!opts.dry_run).then_some("flush"),
        Command::Watch => Some("watch"),
        Command::Status { .. } => None,
    }
}
