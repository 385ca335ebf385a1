//! The command line: `ecmp-hotplug [OPTIONS] <command> [--json]`.
//!
//! Parsed by hand: argh, which did this before, cost 11 KB of the mipsel binary for five
//! switches and five commands (README, "Where the bytes went").

use std::path::PathBuf;

use crate::app::{Command, DumpSource, Options};

pub const USAGE: &str = "\
Usage: ecmp-hotplug [--config FILE] [--dump FILE] [--dry-run] [--verbose] <command>

Keep ECMP routes over an OpenWrt router's uplinks in step with netifd.

Options:
  --config FILE   config file (default /etc/config/ecmp-hotplug; the built-in
                  default if that is missing)
  --dump FILE     read the interface dump from FILE ('-' for stdin) instead of ubus
  --dry-run       print the changes, make none
  --verbose       debug logging
  --version       print the version and exit
  --help          print this and exit

Commands:
  hotplug         reconcile on an /etc/hotplug.d/iface event (reads ACTION,
                  INTERFACE, DEVICE)
  sync            reconcile every group now
  status [--json] show each group's mode, desired and installed nexthops; exit 1
                  if they differ
  flush           remove every route and nexthop object this tool installed, and
                  nothing else
  watch           stay in the foreground and reconcile when an uplink's carrier
                  returns or the kernel drops a nexthop of ours (procd runs it)
";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Run {
        command: Command,
        options: Options,
        verbose: bool,
    },
    Help,
    Version,
}

/// Parses the arguments after the program name. `Err` is a usage error, for stderr.
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut options = Options {
        config: None,
        dump: DumpSource::Ubus,
        dry_run: false,
    };
    let mut verbose = false;
    let mut command = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match (arg.as_str(), &mut command) {
            ("--help" | "-h", _) => return Ok(Invocation::Help),
            ("--version", None) => return Ok(Invocation::Version),
            ("--config", None) => options.config = Some(PathBuf::from(value(arg)?)),
            ("--dump", None) => {
                options.dump = match value(arg)?.as_str() {
                    "-" => DumpSource::Stdin,
                    path => DumpSource::File(PathBuf::from(path)),
                }
            }
            ("--dry-run", None) => options.dry_run = true,
            ("--verbose", None) => verbose = true,
            ("--json", Some(Command::Status { json })) => *json = true,
            (name, None) if !name.starts_with('-') => {
                command = Some(match name {
                    "hotplug" => Command::Hotplug,
                    "sync" => Command::Sync,
                    "status" => Command::Status { json: false },
                    "flush" => Command::Flush,
                    "watch" => Command::Watch,
                    _ => return Err(format!("unknown command '{name}'")),
                })
            }
            (other, _) => return Err(format!("unexpected argument '{other}'")),
        }
    }
    match command {
        Some(command) => Ok(Invocation::Run {
            command,
            options,
            verbose,
        }),
        None => Err("no command given".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation, String> {
        super::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
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
        for (args, want) in [
            (&["hotplug"][..], Command::Hotplug),
            (&["sync"], Command::Sync),
            (&["flush"], Command::Flush),
        ] {
            assert!(matches!(parse(args), Ok(Invocation::Run { command, .. }) if command == want));
        }
    }

    #[test]
    fn help_version_and_usage_errors() {
        assert_eq!(parse(&["--help"]), Ok(Invocation::Help));
        assert_eq!(parse(&["watch", "--help"]), Ok(Invocation::Help));
        assert_eq!(parse(&["--version"]), Ok(Invocation::Version));
        for (args, error) in [
            (&[][..], "no command given"),
            (&["--bogus"], "unexpected argument '--bogus'"),
            (&["status", "--x"], "unexpected argument '--x'"),
            (&["sync", "--json"], "unexpected argument '--json'"),
            (&["sync", "flush"], "unexpected argument 'flush'"),
            (&["--config"], "--config needs a value"),
            (&["route"], "unknown command 'route'"),
            (&["sync", "--dry-run"], "unexpected argument '--dry-run'"),
        ] {
            assert_eq!(parse(args), Err(error.to_string()), "{args:?}");
        }
    }
}
