//! Command line: parse arguments, install logging, run, map the error to an exit code.

use std::io::Write;
use std::process::ExitCode;

use ecmp_hotplug::cli::{self, Command, Invocation};
use ecmp_hotplug::commands;
use ecmp_hotplug::log::{self, Audience};

fn main() -> ExitCode {
    // args_os: `std::env::args` panics on an argument that isn't UTF-8.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // Writes to stdout ignore errors: `--version | head` must not panic on a closed pipe.
    let (command, opts, verbose) = match cli::parse(&args) {
        Ok(Invocation::Run {
            command,
            options,
            verbose,
        }) => (command, options, verbose),
        Ok(Invocation::Help(text)) => {
            let _ = writeln!(std::io::stdout(), "{}", text.trim_end());
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Usage(text)) => {
            let _ = writeln!(std::io::stderr(), "{}", text.trim_end());
            return ExitCode::from(2);
        }
        Ok(Invocation::Version) => {
            let _ = writeln!(
                std::io::stdout(),
                "ecmp-hotplug {}",
                env!("CARGO_PKG_VERSION")
            );
            return ExitCode::SUCCESS;
        }
        // A usage error exits 2 (README, "Exit codes"), not 1, which means a group was not
        // applied. A script's wrong call is logged as any failure is.
        Err(e) => {
            log::init(Audience::Report, false);
            log::outcome(&format_args!("{e}; see ecmp-hotplug --help"), true);
            return ExitCode::from(2);
        }
    };
    let audience = match command {
        Command::Hotplug | Command::Watch => Audience::Daemon,
        Command::Sync | Command::Flush => Audience::Script,
        Command::Status { .. } => Audience::Report,
    };
    log::init(audience, verbose);
    match commands::run(&command, &opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::outcome(&e, e.is_failure());
            ExitCode::from(e.exit_code())
        }
    }
}
