//! Where messages go: the local syslog (facility daemon, tag `ecmp-hotplug`, with the pid;
//! `logread -e ecmp-hotplug`) whenever stderr is not a terminal, so that what a run had to
//! say reaches the owner however it was started (hotplug, procd, an init script, rpcd, a
//! package's postinst); stderr as well for the commands people and scripts run. Info by
//! default, debug with `--verbose`. The syslog crate writes the lines (RFC 3164, as OpenWrt's
//! logd and busybox syslogd read them) behind the `log` facade, framed by our `Framing`.

use std::io::{IsTerminal, Write};

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::sync::{Mutex, OnceLock};

use syslog::{Facility, LogFormat, Logger, LoggerBackend, Severity};

/// Where a command's messages go when stderr is not a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// `hotplug`, `watch`: nobody reads their stderr; syslog only (stderr where nothing
    /// listens on `/dev/log`).
    Daemon,
    /// `sync`, `flush`: a script or an init script ran it; stderr and syslog.
    Script,
    /// `status`: its messages stay on stderr (rpcd and LuCI run it every few seconds), its
    /// failure reaches syslog too.
    Report,
}

/// The syslog connection, opened once by `init` when stderr is not a terminal.
static SYSLOG: OnceLock<Mutex<Logger<LoggerBackend, Framing>>> = OnceLock::new();

/// `log` records to stderr (`ecmp-hotplug: warning: …`) and/or syslog.
struct Sinks {
    stderr: bool,
    syslog: bool,
}

impl Log for Sinks {
    fn enabled(&self, meta: &Metadata) -> bool {
        meta.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if self.stderr {
            let prefix = match record.level() {
                Level::Error => "error: ",
                Level::Warn => "warning: ",
                Level::Debug | Level::Trace => "debug: ",
                Level::Info => "",
            };
            let _ = writeln!(std::io::stderr(), "ecmp-hotplug: {prefix}{}", record.args());
        }
        if self.syslog {
            to_syslog(record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// How each syslog line is framed: `<PRI>ecmp-hotplug[PID]: msg`, with `LOG_DAEMON` as
/// netifd's own scripts log, and no timestamp: RFC 3164 lets the receiver add it, and both
/// of OpenWrt's receivers stamp every line with their own clock anyway (ubox logd
/// `log_add`: drops 16 bytes as a timestamp where byte 15 is a space, which it never is
/// here; busybox syslogd: keeps a line without one and adds its time). The syslog crate's
/// own `Formatter3164` parses a time format description on every line: 26 KB of the `time`
/// crate on mipsel, for a stamp the receiver throws away.
#[derive(Clone)]
struct Framing {
    pid: u32,
}

impl<T: std::fmt::Display> LogFormat<T> for Framing {
    fn format<W: Write>(&self, w: &mut W, severity: Severity, message: T) -> syslog::Result<()> {
        let priority = Facility::LOG_DAEMON as u8 | severity as u8;
        write!(w, "<{priority}>ecmp-hotplug[{}]: {message}", self.pid).map_err(syslog::Error::Write)
    }
}

/// One line to the syslog connection, if there is one (what the syslog crate's
/// `BasicLogger` does, for our framing).
fn to_syslog(level: Level, message: &std::fmt::Arguments) {
    let Some(Ok(mut logger)) = SYSLOG.get().map(Mutex::lock) else {
        return;
    };
    let _ = match level {
        Level::Error => logger.err(message),
        Level::Warn => logger.warning(message),
        Level::Info => logger.info(message),
        Level::Debug | Level::Trace => logger.debug(message),
    };
}

fn formatter() -> Framing {
    Framing {
        pid: std::process::id(),
    }
}

/// Installs the logger for a command run for `audience`; at a terminal, a person reads
/// stderr and nothing goes to syslog.
pub fn init(audience: Audience, verbose: bool) {
    let level = if verbose {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let syslog = !std::io::stderr().is_terminal()
        && (SYSLOG.get().is_some()
            || syslog::unix(formatter())
                .is_ok_and(|logger| SYSLOG.set(Mutex::new(logger)).is_ok()));
    let sinks = Sinks {
        stderr: audience != Audience::Daemon || !syslog,
        syslog: syslog && audience != Audience::Report,
    };
    if log::set_boxed_logger(Box::new(sinks)).is_ok() {
        log::set_max_level(level);
    }
}

/// How a run ended, one line: on stderr always, and, where it `failed`, in syslog wherever
/// `init` opened it, whatever the command (what `logread -e ecmp-hotplug` is pointed at).
pub fn outcome(message: &dyn std::fmt::Display, failed: bool) {
    let _ = writeln!(std::io::stderr(), "ecmp-hotplug: {message}");
    if failed {
        to_syslog(Level::Error, &format_args!("{message}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn syslog_lines_carry_daemon_facility_tag_and_pid() {
        let dir = std::env::temp_dir().join(format!("ecmp-hotplug-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let server = UnixDatagram::bind(dir.join("log")).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        // It filters by the global level, as `init` sets it.
        log::set_max_level(LevelFilter::Info);
        assert!(
            SYSLOG
                .set(Mutex::new(
                    syslog::unix_custom(formatter(), dir.join("log")).unwrap()
                ))
                .is_ok()
        );
        let logger = Sinks {
            stderr: false,
            syslog: true,
        };
        logger.log(
            &Record::builder()
                .level(Level::Warn)
                .args(format_args!("wan left out"))
                .build(),
        );
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        // daemon (3) * 8 + warning (4) = 28, then tag and pid; the receiver adds the time.
        assert_eq!(
            line,
            format!("<28>ecmp-hotplug[{}]: wan left out", std::process::id())
        );
        // ubox logd strips 16 bytes after the priority as a timestamp when the 16th is a
        // space (`log_add`): with a tag of 12 bytes and `[` it never is, whatever the pid.
        for pid in [1, 12, 123, 4_194_304] {
            let framed = format!("ecmp-hotplug[{pid}]: wan left out");
            assert_ne!(framed.as_bytes()[15], b' ', "{framed}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
