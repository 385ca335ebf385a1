//! The command line, parsed by argh: `ecmp-hotplug <command> [options]`, each option also
//! taken before the command (`ecmp-hotplug --dry-run sync`, as earlier versions took it).
//!
//! Arguments reach argh as UTF-8 or not at all: one that isn't (a path from a Latin-1 shell)
//! is a usage error, not a panic (`std::env::args` would abort the router build).

use std::ffi::OsString;
use std::path::PathBuf;

use argh::FromArgs;

/// Where the interface state comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DumpSource {
    Ubus,
    Stdin,
    File(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `None`: the default path, where a missing file means the built-in config.
    pub config: Option<PathBuf>,
    pub dump: DumpSource,
    pub dry_run: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Hotplug,
    Sync,
    Status { json: bool },
    Flush,
    Watch,
}

/// Keep ECMP routes over an OpenWrt router's uplinks in step with netifd. The options may
/// also follow the command; `ecmp-hotplug <command> --help` says which it takes.
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

// Each command's description names the options it takes (`TAKES`), which argh declares once,
// on `Args`: as fields of every command they cost 4.4 KB on mipsel.

/// Reconcile on an /etc/hotplug.d/iface event (reads ACTION, INTERFACE, DEVICE). Takes
/// --config FILE, --dump FILE, --dry-run, --verbose (-v).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "hotplug")]
struct Hotplug {}

/// Reconcile every group now (needs root; --dry-run doesn't). Takes --config FILE, --dump
/// FILE, --dry-run, --verbose (-v).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "sync")]
struct Sync {}

/// Show each group's mode, desired and installed nexthops; exit 1 if they differ. Takes
/// --config FILE, --dump FILE, --verbose (-v).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "status")]
struct Status {
    /// one line of JSON, for scripts and LuCI
    #[argh(switch)]
    json: bool,
}

/// Remove every route and nexthop object this tool installed, and nothing else. Takes
/// --dry-run, --verbose (-v).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "flush")]
struct Flush {}

/// Stay in the foreground and reconcile on carrier, default-route and nexthop changes the
/// kernel reports (procd runs it). Takes --config FILE, --dump FILE, --verbose (-v).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "watch")]
struct Watch {}

/// The options each command takes after its name; `--config` and `--dump` take a value.
const TAKES: [(&str, &[&str]); 5] = [
    (
        "hotplug",
        &["--config", "--dump", "--dry-run", "--verbose", "-v"],
    ),
    (
        "sync",
        &["--config", "--dump", "--dry-run", "--verbose", "-v"],
    ),
    ("status", &["--config", "--dump", "--verbose", "-v"]),
    ("flush", &["--dry-run", "--verbose", "-v"]),
    ("watch", &["--config", "--dump", "--verbose", "-v"]),
];

fn takes_value(option: &str) -> bool {
    matches!(option, "--config" | "--dump")
}

/// The arguments with the options a command takes moved from after its name to before it,
/// where argh reads them; any other argument stays where it is (argh refuses what a command
/// doesn't take). An option with a value given on both sides must say the same.
fn options_first<'a>(args: &[&'a str]) -> Result<Vec<&'a str>, String> {
    let mut previous = "";
    let Some((at, takes)) = args.iter().enumerate().find_map(|(i, a)| {
        let command = TAKES
            .iter()
            .find(|(name, _)| name == a && !takes_value(previous));
        previous = a;
        command.map(|(_, takes)| (i, *takes))
    }) else {
        return Ok(args.to_vec());
    };
    let (before, after) = args.split_at(at);
    let mut moved: Vec<&str> = Vec::new();
    let mut rest: Vec<&str> = Vec::new();
    let mut after = after.iter();
    while let Some(&arg) = after.next() {
        if !takes.contains(&arg) {
            rest.push(arg);
            continue;
        }
        if !takes_value(arg) {
            moved.push(arg);
            continue;
        }
        let Some(&value) = after.next() else {
            return Err(format!("No value provided for option '{arg}'."));
        };
        let given: Vec<Option<&&str>> = before
            .windows(2)
            .chain(moved.windows(2))
            .filter(|w| w.first() == Some(&arg))
            .map(|w| w.get(1))
            .collect();
        match given.first() {
            None => moved.extend([arg, value]),
            // Said twice alike: once is enough for argh.
            Some(&Some(&v)) if v == value => {}
            Some(_) => {
                return Err(format!(
                    "{arg} is given before and after the command, with different values"
                ));
            }
        }
    }
    Ok([before, &moved, &rest].concat())
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
        if !takes_value(previous) {
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
    let strs = options_first(&strs)?;
    let args = match Args::from_args(&["ecmp-hotplug"], &strs) {
        Ok(args) => args,
        Err(exit) => {
            return match exit.status {
                Ok(()) => Ok(Invocation::Help(exit.output)),
                Err(()) => Err(exit.output.trim_end().to_string()),
            };
        }
    };
    let command = match args.command {
        Sub::Hotplug(_) => Command::Hotplug,
        Sub::Sync(_) => Command::Sync,
        Sub::Status(Status { json }) => Command::Status { json },
        Sub::Flush(_) => Command::Flush,
        Sub::Watch(_) => Command::Watch,
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
