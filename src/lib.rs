//! ecmp-hotplug keeps one ECMP route per configured group equal to the uplinks netifd reports
//! up, using raw rtnetlink. `app` runs the commands; `plan` is the pure core; `netlink` is the
//! only code that touches the kernel. See docs/design.md for the why.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod app;
pub mod apply;
pub mod cli;
pub mod config;
pub mod dump;
pub mod event;
pub mod lock;
pub mod log;
pub mod mwan3;
pub mod netlink;
pub mod plan;
pub mod probe;
pub mod route;
pub mod state;
pub mod status;
pub mod sysctl;
pub mod track;
pub mod ubus;
pub mod uci;
pub mod watch;
