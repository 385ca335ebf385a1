//! Where messages go: syslog (tag `ecmp-hotplug`, read with `logread`) when hotplug runs us,
//! stderr when a person does. Info by default, debug with `--verbose`.
//!
//! Syslog is one datagram per message to `/dev/log` in the form `<PRI>ecmp-hotplug[PID]: msg`,
//! which OpenWrt's logd and busybox syslogd timestamp themselves. The `syslog` crate does the
//! same plus an RFC 3164 timestamp, and its `time` dependency cost ~40 KiB of the mipsel
//! binary (`nm --size-sort`), so it is not used.

use std::io::Write;
use std::os::unix::net::UnixDatagram;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// `LOG_DAEMON`, as netifd's own scripts log.
const FACILITY: u8 = 3;

enum Sink {
    Stderr,
    Syslog(UnixDatagram),
}

struct Logger {
    sink: Sink,
    level: LevelFilter,
}

fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

impl Log for Logger {
    fn enabled(&self, meta: &Metadata) -> bool {
        meta.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match &self.sink {
            Sink::Stderr => {
                let prefix = match record.level() {
                    Level::Error => "error: ",
                    Level::Warn => "warning: ",
                    Level::Debug | Level::Trace => "debug: ",
                    Level::Info => "",
                };
                let _ = writeln!(std::io::stderr(), "ecmp-hotplug: {prefix}{}", record.args());
            }
            Sink::Syslog(socket) => {
                let pri = FACILITY * 8 + severity(record.level());
                let line = format!(
                    "<{pri}>ecmp-hotplug[{}]: {}",
                    std::process::id(),
                    record.args()
                );
                let _ = socket.send(line.as_bytes());
            }
        }
    }

    fn flush(&self) {}
}

fn syslog() -> Option<UnixDatagram> {
    let socket = UnixDatagram::unbound().ok()?;
    socket.connect("/dev/log").ok()?;
    Some(socket)
}

/// Installs the logger. `to_syslog` falls back to stderr where nothing listens on
/// `/dev/log`; returns whether messages go to syslog.
pub fn init(to_syslog: bool, verbose: bool) -> bool {
    let level = if verbose {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let sink = match to_syslog.then(syslog).flatten() {
        Some(socket) => Sink::Syslog(socket),
        None => Sink::Stderr,
    };
    let syslogging = matches!(sink, Sink::Syslog(_));
    if log::set_boxed_logger(Box::new(Logger { sink, level })).is_ok() {
        log::set_max_level(level);
    }
    syslogging
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_lines_carry_daemon_facility_and_tag() {
        let dir = std::env::temp_dir().join(format!("ecmp-hotplug-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let server = UnixDatagram::bind(dir.join("log")).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        client.connect(dir.join("log")).unwrap();
        let logger = Logger {
            sink: Sink::Syslog(client),
            level: LevelFilter::Info,
        };
        logger.log(
            &Record::builder()
                .level(Level::Warn)
                .args(format_args!("wan left out"))
                .build(),
        );
        logger.log(
            &Record::builder()
                .level(Level::Debug)
                .args(format_args!("hidden"))
                .build(),
        );
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert_eq!(
            line,
            format!("<28>ecmp-hotplug[{}]: wan left out", std::process::id())
        );
        server.set_nonblocking(true).unwrap();
        assert!(server.recv(&mut buf).is_err(), "debug is below the level");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
