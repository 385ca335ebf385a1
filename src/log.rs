//! Where messages go: syslog (tag `ecmp-hotplug`, read with `logread`) when hotplug runs us,
//! stderr when a person does. Info by default, debug with `--verbose`.

use std::io::Write;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};
use syslog::{Facility, Formatter3164, LoggerBackend};

enum Sink {
    Stderr,
    Syslog(Mutex<syslog::Logger<LoggerBackend, Formatter3164>>),
}

struct Logger {
    sink: Sink,
    level: LevelFilter,
}

impl Log for Logger {
    fn enabled(&self, meta: &Metadata) -> bool {
        meta.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = record.args();
        match &self.sink {
            Sink::Stderr => {
                let prefix = match record.level() {
                    Level::Error => "error: ",
                    Level::Warn => "warning: ",
                    Level::Debug | Level::Trace => "debug: ",
                    Level::Info => "",
                };
                let _ = writeln!(std::io::stderr(), "ecmp-hotplug: {prefix}{msg}");
            }
            Sink::Syslog(logger) => {
                let Ok(mut logger) = logger.lock() else {
                    return;
                };
                let _ = match record.level() {
                    Level::Error => logger.err(msg),
                    Level::Warn => logger.warning(msg),
                    Level::Info => logger.info(msg),
                    Level::Debug | Level::Trace => logger.debug(msg),
                };
            }
        }
    }

    fn flush(&self) {}
}

/// Installs the logger. `syslog` falls back to stderr where there is no `/dev/log`; returns
/// whether messages go to syslog.
pub fn init(syslog: bool, verbose: bool) -> bool {
    let level = if verbose {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let sink = if syslog {
        let formatter = Formatter3164 {
            facility: Facility::LOG_DAEMON,
            hostname: None,
            process: "ecmp-hotplug".into(),
            pid: std::process::id(),
        };
        match syslog::unix(formatter) {
            Ok(logger) => Sink::Syslog(Mutex::new(logger)),
            Err(_) => Sink::Stderr,
        }
    } else {
        Sink::Stderr
    };
    let to_syslog = matches!(sink, Sink::Syslog(_));
    if log::set_boxed_logger(Box::new(Logger { sink, level })).is_ok() {
        log::set_max_level(level);
    }
    to_syslog
}
