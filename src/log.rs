//! Where messages go: the local syslog (facility daemon, tag `ecmp-hotplug`, with the pid;
//! `logread -e ecmp-hotplug`) for the runs hotplug and procd start, `hotplug` and `watch`;
//! stderr when a person runs the tool at a terminal, or where nothing listens on `/dev/log`.
//! Info by default, debug with `--verbose`. The syslog crate writes the lines (RFC 3164, as
//! OpenWrt's logd and busybox syslogd read them) behind the `log` facade.

use std::io::{IsTerminal, Write};

use log::{Level, LevelFilter, Log, Metadata, Record};
use syslog::{BasicLogger, Facility, Formatter3164};

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

/// How each syslog line is framed: `<PRI>TIMESTAMP ecmp-hotplug[PID]: msg`, with `LOG_DAEMON`
/// as netifd's own scripts log.
fn formatter() -> Formatter3164 {
    Formatter3164 {
        facility: Facility::LOG_DAEMON,
        hostname: None,
        process: "ecmp-hotplug".into(),
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
        Some(logger) => Box::new(BasicLogger::new(logger)),
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
        // BasicLogger filters by the global level, as `init` sets it.
        log::set_max_level(LevelFilter::Info);
        let logger = BasicLogger::new(syslog::unix_custom(formatter(), dir.join("log")).unwrap());
        logger.log(
            &Record::builder()
                .level(Level::Warn)
                .args(format_args!("wan left out"))
                .build(),
        );
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        // daemon (3) * 8 + warning (4) = 28, then syslogd's timestamp, then tag and pid.
        assert!(line.starts_with("<28>"), "{line}");
        assert!(
            line.ends_with(&format!(
                " ecmp-hotplug[{}]: wan left out",
                std::process::id()
            )),
            "{line}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
