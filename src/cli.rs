//! The command line, parsed by argh: `ecmp-hotplug [OPTIONS] <command> [--json]`.
//!
//! Arguments reach argh as UTF-8 or not at all: one that isn't (a path from a Latin-1 shell)
//! is a usage error, not a panic (`std::env::args` would abort the router build).

use std::ffi::OsString;
use std::path::PathBuf;

use argh::FromArgs;

use crate::app::{Command, DumpSource, Options};

/// Keep ECMP routes over an OpenWrt router's uplinks in step with netifd.
#[derive(FromArgs, Debug, PartialEq)]
struct Args {
    /// config file (default /etc/config/ecmp-hotplug; the built-in default if that is
    /// missing)
    #[argh(option, arg_name = "FILE")]
    config: Option<PathBuf>,
    /// read the interface dump from FILE ('-' for stdin) instead of ubus
    #[argh(option, arg_name = "FILE")]
    dump: Option<String>,
    /// print the changes, make none
    #[argh(switch)]
    dry_run: bool,
    /// debug logging
    #[argh(switch)]
    verbose: bool,
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    #[argh(subcommand)]
    command: Option<Sub>,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
enum Sub {
    Hotplug(Hotplug),
    Sync(Sync),
    Status(Status),
    Flush(Flush),
    Watch(Watch),
}

/// Reconcile on an /etc/hotplug.d/iface event (reads ACTION, INTERFACE, DEVICE).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "hotplug")]
struct Hotplug {}

/// Reconcile every group now.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "sync")]
struct Sync {}

/// Show each group's mode, desired and installed nexthops; exit 1 if they differ.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "status")]
struct Status {
    /// one line of JSON, for scripts and LuCI
    #[argh(switch)]
    json: bool,
}

/// Remove every route and nexthop object this tool installed, and nothing else.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "flush")]
struct Flush {}

/// Stay in the foreground and reconcile on carrier, default-route and nexthop changes the
/// kernel reports (procd runs it).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "watch")]
struct Watch {}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Run {
        command: Command,
        options: Options,
        verbose: bool,
    },
    /// `--help` of the program or a command: the text, for stdout.
    Help(String),
    Version,
}

/// Parses the arguments after the program name. `Err` is a usage error, for stderr (exit 2).
pub fn parse(args: &[OsString]) -> Result<Invocation, String> {
    let mut strs = Vec::with_capacity(args.len());
    for arg in args {
        match arg.to_str() {
            Some(s) => strs.push(s),
            None => return Err(format!("argument {arg:?} is not valid UTF-8")),
        }
    }
    let args = match Args::from_args(&["ecmp-hotplug"], &strs) {
        Ok(args) => args,
        Err(exit) => {
            return match exit.status {
                Ok(()) => Ok(Invocation::Help(exit.output)),
                Err(()) => Err(exit.output.trim_end().to_string()),
            };
        }
    };
    if args.version {
        return Ok(Invocation::Version);
    }
    let command = match args.command {
        None => return Err("no command given".into()),
        Some(Sub::Hotplug(_)) => Command::Hotplug,
        Some(Sub::Sync(_)) => Command::Sync,
        Some(Sub::Status(Status { json })) => Command::Status { json },
        Some(Sub::Flush(_)) => Command::Flush,
        Some(Sub::Watch(_)) => Command::Watch,
    };
    let dump = match args.dump.as_deref() {
        None => DumpSource::Ubus,
        Some("-") => DumpSource::Stdin,
        Some(path) => DumpSource::File(PathBuf::from(path)),
    };
    Ok(Invocation::Run {
        command,
        options: Options {
            config: args.config,
            dump,
            dry_run: args.dry_run,
        },
        verbose: args.verbose,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn parse(args: &[&str]) -> Result<Invocation, String> {
        super::parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn options_then_a_command() {
        let Invocation::Run {
            command,
            options,
            verbose,
        } = parse(&[
            "--config",
            "/tmp/c",
            "--dump",
            "-",
            "--dry-run",
            "--verbose",
            "status",
            "--json",
        ])
        .unwrap()
        else {
            panic!()
        };
        assert_eq!(command, Command::Status { json: true });
        assert_eq!(options.config, Some(PathBuf::from("/tmp/c")));
        assert_eq!(options.dump, DumpSource::Stdin);
        assert!(options.dry_run && verbose);
        let Invocation::Run { options, .. } = parse(&["--dump", "/d.json", "watch"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(options.dump, DumpSource::File("/d.json".into()));
        assert_eq!(options.config, None);
        for (args, want) in [
            (&["hotplug"][..], Command::Hotplug),
            (&["sync"], Command::Sync),
            (&["flush"], Command::Flush),
            (&["status"], Command::Status { json: false }),
        ] {
            assert!(matches!(parse(args), Ok(Invocation::Run { command, .. }) if command == want));
        }
    }

    #[test]
    fn help_version_and_usage_errors() {
        let Ok(Invocation::Help(top)) = parse(&["--help"]) else {
            panic!()
        };
        assert!(
            top.contains("Usage: ecmp-hotplug") && top.contains("watch"),
            "{top}"
        );
        let Ok(Invocation::Help(status)) = parse(&["status", "--help"]) else {
            panic!()
        };
        assert!(status.contains("--json"), "per-command help: {status}");
        assert_eq!(parse(&["--version"]), Ok(Invocation::Version));
        for (args, error) in [
            (&[][..], "no command given"),
            (&["--bogus"], "Unrecognized argument: --bogus"),
            (&["status", "--x"], "Unrecognized argument: --x"),
            (&["sync", "--json"], "Unrecognized argument: --json"),
            (&["sync", "flush"], "Unrecognized argument: flush"),
            (&["--config"], "No value provided for option '--config'"),
            (&["route"], "Unrecognized argument: route"),
            (&["sync", "--dry-run"], "Unrecognized argument: --dry-run"),
        ] {
            let e = parse(args).unwrap_err();
            assert!(e.contains(error), "{args:?}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        // A non-UTF-8 argument is a usage error, whichever it is.
        let latin1 = OsString::from_vec(b"/etc/config/\xff".to_vec());
        let e = super::parse(&[OsString::from("--config"), latin1, "sync".into()]).unwrap_err();
        assert!(e.contains("is not valid UTF-8"), "{e}");
    }
}
