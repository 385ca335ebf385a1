//! `sync`: makes the kernel match the plan now (`--dry-run`: says what it would write).

use crate::cli::Options;
use crate::error::Error;
use crate::reconcile::reconcile;

pub fn run(opts: &Options) -> Result<(), Error> {
    reconcile(opts, &[], None, &[], &mut |_| {})
}
