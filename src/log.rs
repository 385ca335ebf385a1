//! Where messages go: the local syslog (facility daemon, tag `ecmp-hotplug`, with the pid;
//! `logread -e ecmp-hotplug`) for the runs hotplug and procd start, `hotplug` and `watch`;
//! stderr when a person runs the tool at a terminal, or where nothing listens on `/dev/log`.
//! Info by default, debug with `--verbose`. The syslog crate writes the lines (RFC 3164, as
//! OpenWrt's logd and busybox syslogd read them) behind the `log` facade, framed by our
//! `Framing`.

use std::io::{IsTerminal, Write};

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::sync::Mutex;

use syslog::{Facility, LogFormat, Logger, LoggerBackend, Severity};

/// Messages for a person: `ecmp-hotplug: warning: …` on stderr.
struct Stderr;

impl Log for Stderr {
    fn enabled(&self, meta: &Metadata) -> bool {
        meta.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let prefix = match record.level() {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            Level::Debug | Level::Trace => "debug: ",
            Level::Info => "",
        };
        let _ = writeln!(std::io::stderr(), "ecmp-hotplug: {prefix}{}", record.args());
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

/// `log` records to the syslog crate's logger (what its `BasicLogger` does for its own
/// framing only).
struct Syslog(Mutex<Logger<LoggerBackend, Framing>>);

impl Log for Syslog {
    fn enabled(&self, meta: &Metadata) -> bool {
        meta.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Ok(mut logger) = self.0.lock() else {
            return;
        };
        let message = record.args();
        let _ = match record.level() {
            Level::Error => logger.err(message),
            Level::Warn => logger.warning(message),
            Level::Info => logger.info(message),
            Level::Debug | Level::Trace => logger.debug(message),
        };
    }

    fn flush(&self) {}
}

fn formatter() -> Framing {
    Framing {
        pid: std::process::id(),
    }
}

/// Installs the logger. `to_syslog`: the command is one that hotplug or procd runs; a
/// terminal on stderr still means a person reads it. Returns whether messages go to syslog.
pub fn init(to_syslog: bool, verbose: bool) -> bool {
    let level = if verbose {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let syslog = (to_syslog && !std::io::stderr().is_terminal())
        .then(|| syslog::unix(formatter()).ok())
        .flatten();
    let syslogging = syslog.is_some();
    let logger: Box<dyn Log> = match syslog {
        Some(logger) => Box::new(Syslog(Mutex::new(logger))),
        None => Box::new(Stderr),
    };
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(level);
    }
    syslogging
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
        let logger = Syslog(Mutex::new(
            syslog::unix_custom(formatter(), dir.join("log")).unwrap(),
        ));
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
