//! Tells other packages of a plan's member events (`planner::MemberEvent`): the scripts in
//! `/etc/hotplug.d/ecmp-hotplug/` through `hotplug-call ecmp-hotplug` (its own subsystem, so
//! mwan3's scripts in hotplug.d/iface never take them for mwan3track's), with `ACTION`,
//! `GROUP`, `INTERFACE`, `DEVICE`, `REASON` in the environment; and a ubus event,
//! `ubus send ecmp-hotplug.member {...}` with the same fields.
//!
//! Both are found on PATH (`/sbin` and `/bin` on OpenWrt). They run after the kernel has the
//! run's routes, one after the other, within [`TIMEOUT`] for all of a run's events: a script
//! that hangs is killed with what it started, and said; one that fails is said. Neither ever
//! holds up routing. Where a command is missing (not an OpenWrt system) that is said at debug.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use log::{debug, warn};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;

use crate::planner::MemberEvent;

/// How long all of a run's events may take together.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The hotplug subsystem the scripts are in: `/etc/hotplug.d/<SUBSYSTEM>/`.
pub const SUBSYSTEM: &str = "ecmp-hotplug";

/// The ubus event's type.
pub const UBUS_EVENT: &str = "ecmp-hotplug.member";

#[derive(Serialize)]
struct Fields<'e> {
    action: &'static str,
    group: &'e str,
    interface: &'e str,
    device: &'e str,
    reason: &'e str,
}

impl<'e> Fields<'e> {
    fn of(e: &'e MemberEvent) -> Fields<'e> {
        Fields {
            action: e.action.name(),
            group: &e.group,
            interface: &e.interface,
            device: &e.device,
            reason: &e.reason,
        }
    }
}

/// The event in one line, as a dry run says it.
pub fn line(e: &MemberEvent) -> String {
    format!(
        "event {} {} {} ({})",
        e.action.name(),
        e.group,
        e.interface,
        e.reason
    )
}

/// Runs the scripts and sends the ubus event of each of `events`, in order.
pub fn announce(events: &[&MemberEvent]) {
    let deadline = Instant::now() + TIMEOUT;
    for e in events {
        debug!("{}", line(e));
        let mut scripts = Command::new("hotplug-call");
        scripts
            .arg(SUBSYSTEM)
            .env("ACTION", e.action.name())
            .env("GROUP", &e.group)
            .env("INTERFACE", &e.interface)
            .env("DEVICE", &e.device)
            .env("REASON", &e.reason);
        run(&mut scripts, "hotplug-call", e, deadline);
        // Serializing these plain strings can't fail.
        let json = serde_json::to_string(&Fields::of(e)).unwrap_or_default();
        let mut ubus = Command::new("ubus");
        ubus.args(["send", UBUS_EVENT, &json]);
        run(&mut ubus, "ubus send", e, deadline);
    }
}

/// Runs `cmd` to its end or to `deadline`, whichever is first, and says what went wrong.
fn run(cmd: &mut Command, what: &str, e: &MemberEvent, deadline: Instant) {
    let about = || format!("{what} for {} {} {}", e.action.name(), e.group, e.interface);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return debug!("{}: not on PATH", about());
        }
        Err(err) => return warn!("{}: {err}", about()),
    };
    match crate::ubus::wait(&mut child, deadline) {
        Ok(Some(status)) if status.success() => {}
        Ok(Some(status)) => warn!("{}: {status}", about()),
        Ok(None) => {
            // The whole group: a script's own children too.
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
            warn!(
                "{}: still running after {} s, stopped (routing was not held up)",
                about(),
                TIMEOUT.as_secs()
            );
        }
        Err(err) => warn!("{}: {err}", about()),
    }
}
