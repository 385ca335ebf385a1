//! What a run can fail with, and the exit code each failure is (README, "Exit codes").

use std::fmt;

use crate::config::ConfigError;
use crate::netlink::KernelError;

#[derive(Debug)]
pub enum Error {
    /// The hotplug environment is unusable.
    Event(String),
    Config(ConfigError),
    /// The interface dump could not be had or is not netifd's.
    State(String),
    Lock(String),
    /// The run would write, and this process may not: the command's name.
    NotRoot(&'static str),
    /// The kernel could not be read.
    Kernel(KernelError),
    /// Some groups were not applied; each entry names its group.
    Apply(Vec<String>),
    /// `status`: the kernel doesn't match the plan.
    OutOfSync(Vec<String>),
}

impl Error {
    /// Whether the run failed, rather than answered: `status` out of sync is its answer (exit
    /// 1, on stderr), which LuCI's polling must not repeat into syslog.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Error::OutOfSync(_))
    }

    /// The process exit code (README, "Exit codes").
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Apply(_) | Error::OutOfSync(_) => 1,
            Error::Event(_) | Error::Config(_) | Error::State(_) => 3,
            Error::Lock(_) | Error::NotRoot(_) => 4,
            Error::Kernel(_) => 5,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Event(e) => write!(f, "hotplug environment: {e}"),
            Error::Config(e) => e.fmt(f),
            Error::State(e) => write!(f, "interface state: {e}"),
            Error::Lock(e) => e.fmt(f),
            Error::NotRoot(command) => write!(
                f,
                "{command} needs root (CAP_NET_ADMIN); status and sync --dry-run don't"
            ),
            Error::Kernel(e) => write!(f, "kernel: {e}"),
            Error::Apply(errors) => f.write_str(&errors.join("; ")),
            Error::OutOfSync(groups) => write!(f, "not in sync: {}", groups.join(", ")),
        }
    }
}

impl std::error::Error for Error {}

impl From<KernelError> for Error {
    fn from(e: KernelError) -> Error {
        Error::Kernel(e)
    }
}
