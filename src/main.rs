//! Command line: parse arguments, install logging, run, map the error to an exit code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;
use ecmp_hotplug::app::{self, Command, DumpSource, Options};

/// Keep ECMP routes over an OpenWrt router's uplinks in step with netifd.
#[derive(FromArgs)]
struct Args {
    /// config file (default /etc/config/ecmp-hotplug; built-in default if that is missing)
    #[argh(option)]
    config: Option<PathBuf>,
    /// read the interface dump from FILE ('-' for stdin) instead of ubus
    #[argh(option)]
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

#[derive(FromArgs)]
#[argh(subcommand)]
enum Sub {
    Hotplug(Hotplug),
    Sync(Sync),
    Status(Status),
    Flush(Flush),
    Watch(Watch),
}

/// reconcile on an /etc/hotplug.d/iface event (reads ACTION, INTERFACE, DEVICE)
#[derive(FromArgs)]
#[argh(subcommand, name = "hotplug")]
struct Hotplug {}

/// reconcile every group now
#[derive(FromArgs)]
#[argh(subcommand, name = "sync")]
struct Sync {}

/// show each group's desired and installed nexthops; exit 1 if they differ
#[derive(FromArgs)]
#[argh(subcommand, name = "status")]
struct Status {
    /// machine-readable output
    #[argh(switch)]
    json: bool,
}

/// remove every route this tool installed, and nothing else
#[derive(FromArgs)]
#[argh(subcommand, name = "flush")]
struct Flush {}

/// stay in the foreground and reconcile when an uplink's carrier returns or the kernel drops
/// a nexthop of ours (run by procd: /etc/init.d/ecmp-hotplug)
#[derive(FromArgs)]
#[argh(subcommand, name = "watch")]
struct Watch {}

/// Like `argh::from_env`, but a usage error exits 2 (README, "Exit codes"), not 1, which
/// means a group was not applied.
fn parse_args() -> Result<Args, ExitCode> {
    let argv: Vec<String> = std::env::args().collect();
    let name = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or("ecmp-hotplug");
    let rest: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    Args::from_args(&[name], &rest).map_err(|early| {
        if early.status.is_ok() {
            let _ = write!(std::io::stdout(), "{}", early.output);
            ExitCode::SUCCESS
        } else {
            let _ = write!(std::io::stderr(), "{}", early.output);
            ExitCode::from(2)
        }
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if args.version {
        // `--version | head` must not panic on a closed pipe either.
        let _ = writeln!(
            std::io::stdout(),
            "ecmp-hotplug {}",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    let Some(sub) = args.command else {
        let _ = writeln!(
            std::io::stderr(),
            "ecmp-hotplug: no command given; see ecmp-hotplug --help"
        );
        return ExitCode::from(2);
    };
    let command = match sub {
        Sub::Hotplug(_) => Command::Hotplug,
        Sub::Sync(_) => Command::Sync,
        Sub::Status(s) => Command::Status { json: s.json },
        Sub::Flush(_) => Command::Flush,
        Sub::Watch(_) => Command::Watch,
    };
    // The final error goes to stderr always, and to syslog too when that is where logs go.
    let to_syslog = ecmp_hotplug::log::init(command == Command::Hotplug, args.verbose);
    let dump = match args.dump.as_deref() {
        None => DumpSource::Ubus,
        Some("-") => DumpSource::Stdin,
        Some(path) => DumpSource::File(PathBuf::from(path)),
    };
    let opts = Options {
        config: args.config,
        dump,
        dry_run: args.dry_run,
    };
    match app::run(&command, &opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if to_syslog {
                log::error!("{e}");
            }
            let _ = writeln!(std::io::stderr(), "ecmp-hotplug: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
