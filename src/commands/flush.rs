//! `flush`: removes every route, nexthop object and rule of ours (`--dry-run`: says which).
//! It reads only the kernel: no config or dump is needed to take out what carries our mark.

use crate::cli::Options;
use crate::error::Error;
use crate::netlink::Kernel;
use crate::planner::{self, Installed};
use crate::reconcile::{execute, lock_for};

pub fn run(opts: &Options) -> Result<(), Error> {
    let _lock = lock_for(opts)?;
    let mut kernel = Kernel::open()?;
    let links = kernel.links()?;
    let routes = kernel.routes()?;
    let objects = kernel.objects()?.unwrap_or_default();
    let rules = kernel.rules()?;
    let installed = Installed {
        routes: &routes,
        objects: &objects,
        rules: rules.as_deref(),
    };
    execute(
        &mut kernel,
        &planner::flush(&installed),
        &links,
        opts.dry_run,
    )
    .0
}
