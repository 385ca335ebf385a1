//! ecmp-hotplug keeps one ECMP route per configured group equal to the uplinks netifd reports
//! up, using raw rtnetlink. `commands` holds one file per command; `gather` reads the facts,
//! `planner` (the pure core) turns them into one plan, `reconcile` applies it; `netlink`,
//! `sysctl`, `probe`, `ubus` and `state` are the only code that touches the system. See
//! docs/design.md for the why.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod apply;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dns;
pub mod dump;
pub mod error;
pub mod event;
pub mod gather;
pub mod lock;
pub mod log;
pub mod mwan3;
pub mod netlink;
pub mod notify;
pub mod planner;
pub mod probe;
pub mod reconcile;
pub mod report;
pub mod route;
pub mod state;
pub mod sysctl;
pub mod track;
pub mod ubus;
pub mod uci;
