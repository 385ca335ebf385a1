//! The command line, parsed by argh: `ecmp-hotplug <command> [options]`, each option also
//! taken before the command (`ecmp-hotplug --dry-run sync`, as earlier versions took it).
//!
//! Arguments reach argh as UTF-8 or not at all: one that isn't (a path from a Latin-1 shell)
//! is a usage error, not a panic (`std::env::args` would abort the router build).

use std::ffi::OsString;
use std::path::PathBuf;

use argh::FromArgs;

use crate::app::{Command, DumpSource, Options};

/// Keep ECMP routes over an OpenWrt router's uplinks in step with netifd. Run `ecmp-hotplug
/// <command> --help` for a command's options.
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
    #[argh(switch, short = 'v')]
    verbose: bool,
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    #[argh(subcommand)]
    command: Sub,
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
struct Hotplug {
    /// config file (default /etc/config/ecmp-hotplug)
    #[argh(option, arg_name = "FILE")]
    config: Option<PathBuf>,
    /// read the interface dump from FILE ('-' for stdin) instead of ubus
    #[argh(option, arg_name = "FILE")]
    dump: Option<String>,
    /// print the changes, make none
    #[argh(switch)]
    dry_run: bool,
    /// debug logging
    #[argh(switch, short = 'v')]
    verbose: bool,
}

/// Reconcile every group now (needs root; --dry-run doesn't).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "sync")]
struct Sync {
    /// config file (default /etc/config/ecmp-hotplug)
    #[argh(option, arg_name = "FILE")]
    config: Option<PathBuf>,
    /// read the interface dump from FILE ('-' for stdin) instead of ubus
    #[argh(option, arg_name = "FILE")]
    dump: Option<String>,
    /// print the changes, make none
    #[argh(switch)]
    dry_run: bool,
    /// debug logging
    #[argh(switch, short = 'v')]
    verbose: bool,
}

/// Show each group's mode, desired and installed nexthops; exit 1 if they differ.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "status")]
struct Status {
    /// one line of JSON, for scripts and LuCI
    #[argh(switch)]
    json: bool,
    /// config file (default /etc/config/ecmp-hotplug)
    #[argh(option, arg_name = "FILE")]
    config: Option<PathBuf>,
    /// read the interface dump from FILE ('-' for stdin) instead of ubus
    #[argh(option, arg_name = "FILE")]
    dump: Option<String>,
    /// debug logging
    #[argh(switch, short = 'v')]
    verbose: bool,
}

/// Remove every route and nexthop object this tool installed, and nothing else.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "flush")]
struct Flush {
    /// print the changes, make none
    #[argh(switch)]
    dry_run: bool,
    /// debug logging
    #[argh(switch, short = 'v')]
    verbose: bool,
}

/// Stay in the foreground and reconcile on carrier, default-route and nexthop changes the
/// kernel reports (procd runs it).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "watch")]
struct Watch {
    /// config file (default /etc/config/ecmp-hotplug)
    #[argh(option, arg_name = "FILE")]
    config: Option<PathBuf>,
    /// read the interface dump from FILE ('-' for stdin) instead of ubus
    #[argh(option, arg_name = "FILE")]
    dump: Option<String>,
    /// debug logging
    #[argh(switch, short = 'v')]
    verbose: bool,
}

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
    /// No command at all: the program's help, for stderr (exit 2).
    Usage(String),
    Version,
}

/// What a command took after its name; `None` where it takes no such option.
struct Given {
    config: Option<PathBuf>,
    dump: Option<String>,
    dry_run: bool,
    verbose: bool,
}

/// One option given both before and after the command must say the same.
fn either<T: PartialEq>(
    before: Option<T>,
    after: Option<T>,
    name: &str,
) -> Result<Option<T>, String> {
    match (before, after) {
        (Some(a), Some(b)) if a != b => Err(format!(
            "--{name} is given before and after the command, with different values"
        )),
        (a, b) => Ok(b.or(a)),
    }
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
    if strs.is_empty() {
        return match Args::from_args(&["ecmp-hotplug"], &["--help"]) {
            Err(exit) => Ok(Invocation::Usage(exit.output)),
            Ok(_) => Err("no command given".into()),
        };
    }
    // `-h` as most tools take it, and `--version` needing no command, unless either is an
    // option's value (`--config -h`).
    let mut previous = "";
    let mut version = false;
    for s in strs.iter_mut() {
        if !matches!(previous, "--config" | "--dump") {
            if *s == "-h" {
                *s = "--help";
            }
            version |= *s == "--version";
        }
        previous = s;
    }
    if version && !strs.contains(&"--help") {
        return Ok(Invocation::Version);
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
    let none = |dry_run, verbose| Given {
        config: None,
        dump: None,
        dry_run,
        verbose,
    };
    let (command, given) = match args.command {
        Sub::Hotplug(Hotplug {
            config,
            dump,
            dry_run,
            verbose,
        }) => (
            Command::Hotplug,
            Given {
                config,
                dump,
                dry_run,
                verbose,
            },
        ),
        Sub::Sync(Sync {
            config,
            dump,
            dry_run,
            verbose,
        }) => (
            Command::Sync,
            Given {
                config,
                dump,
                dry_run,
                verbose,
            },
        ),
        Sub::Status(Status {
            json,
            config,
            dump,
            verbose,
        }) => (
            Command::Status { json },
            Given {
                config,
                dump,
                dry_run: false,
                verbose,
            },
        ),
        Sub::Flush(Flush { dry_run, verbose }) => (Command::Flush, none(dry_run, verbose)),
        Sub::Watch(Watch {
            config,
            dump,
            verbose,
        }) => (
            Command::Watch,
            Given {
                config,
                dump,
                dry_run: false,
                verbose,
            },
        ),
    };
    let config = either(args.config, given.config, "config")?;
    let dump = match either(args.dump, given.dump, "dump")?.as_deref() {
        None => DumpSource::Ubus,
        Some("-") => DumpSource::Stdin,
        Some(path) => DumpSource::File(PathBuf::from(path)),
    };
    Ok(Invocation::Run {
        command,
        options: Options {
            config,
            dump,
            dry_run: args.dry_run || given.dry_run,
        },
        verbose: args.verbose || given.verbose,
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
        // The same after the command, each where it applies.
        let Invocation::Run {
            command,
            options,
            verbose,
        } = parse(&[
            "status",
            "--json",
            "--config",
            "/tmp/c",
            "--dump",
            "-",
            "--verbose",
        ])
        .unwrap()
        else {
            panic!()
        };
        assert_eq!(command, Command::Status { json: true });
        assert_eq!(options.config, Some(PathBuf::from("/tmp/c")));
        assert_eq!(options.dump, DumpSource::Stdin);
        assert!(verbose && !options.dry_run);
        for args in [
            &["sync", "--dry-run"][..],
            &["flush", "--dry-run"],
            &["hotplug", "--dry-run", "--dump", "/d"],
            &["--dump", "/d", "sync", "--dry-run"],
        ] {
            let Ok(Invocation::Run { options, .. }) = parse(args) else {
                panic!("{args:?}")
            };
            assert!(options.dry_run, "{args:?}");
        }
        // Given on both sides, an option must agree with itself.
        assert!(parse(&["--config", "/a", "sync", "--config", "/a"]).is_ok());
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
        assert!(
            top.contains("<command>") && !top.contains("[<command>]"),
            "{top}"
        );
        let Ok(Invocation::Help(status)) = parse(&["status", "--help"]) else {
            panic!()
        };
        assert!(status.contains("--json"), "per-command help: {status}");
        assert!(
            !status.contains("--dry-run"),
            "status never writes: {status}"
        );
        // Each command's help lists what it takes.
        for (command, has, lacks) in [
            (
                "sync",
                &["--dry-run", "--config", "--dump", "--verbose"][..],
                &["--json"][..],
            ),
            ("hotplug", &["--dry-run", "--config", "--dump"], &["--json"]),
            (
                "flush",
                &["--dry-run", "--verbose"],
                &["--config", "--dump"],
            ),
            (
                "watch",
                &["--config", "--dump", "--verbose"],
                &["--dry-run"],
            ),
        ] {
            for help in ["--help", "-h"] {
                let Ok(Invocation::Help(text)) = parse(&[command, help]) else {
                    panic!("{command} {help}")
                };
                assert!(has.iter().all(|o| text.contains(o)), "{command}: {text}");
                assert!(!lacks.iter().any(|o| text.contains(o)), "{command}: {text}");
            }
        }
        assert_eq!(parse(&["-h"]), parse(&["--help"]));
        // A bare call gets the usage (for stderr), not a riddle.
        let Ok(Invocation::Usage(usage)) = parse(&[]) else {
            panic!()
        };
        assert_eq!(Ok(Invocation::Help(usage)), parse(&["--help"]));
        assert_eq!(parse(&["--version"]), Ok(Invocation::Version));
        // `-h` as a value is a value.
        let Ok(Invocation::Run { options, .. }) = parse(&["sync", "--config", "-h"]) else {
            panic!()
        };
        assert_eq!(options.config, Some(PathBuf::from("-h")));
        for (args, error) in [
            (&["--bogus", "sync"][..], "Unrecognized argument: --bogus"),
            (&["status", "--x"], "Unrecognized argument: --x"),
            (&["sync", "--json"], "Unrecognized argument: --json"),
            (&["sync", "flush"], "Unrecognized argument: flush"),
            (&["--config"], "No value provided for option '--config'"),
            (&["route"], "Unrecognized argument: route"),
            (&["status", "--dry-run"], "Unrecognized argument: --dry-run"),
            (
                &["flush", "--config", "/c"],
                "Unrecognized argument: --config",
            ),
            (
                &["--config", "/a", "sync", "--config", "/b"],
                "--config is given before and after the command",
            ),
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
