//! `status`: renders the plan a `sync` would make against what the kernel has, as text or
//! JSON; exit 1 when they differ. It never writes, so it asks the kernel nothing: where only
//! a try could tell whether resilient groups are taken, it goes by the planner's assumption.

use crate::cli::{DumpSource, Options};
use crate::error::Error;
use crate::gather::gather;
use crate::netlink::Kernel;
use crate::planner;
use crate::reconcile::{resilient, say};
use crate::report::{About, Report};

pub fn run(opts: &Options, json: bool) -> Result<(), Error> {
    let mut kernel = Kernel::open()?;
    let gathered = gather(opts, &mut kernel, Vec::new(), None)?;
    let facts = &gathered.facts;
    let plan = planner::plan(facts, resilient(facts, &mut kernel, false)?);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let report = Report::new(
        facts,
        &plan,
        About {
            config: gathered.config_source.clone(),
            dump: match &opts.dump {
                DumpSource::Ubus => "ubus (network.interface dump)".into(),
                DumpSource::Stdin => "stdin".into(),
                DumpSource::File(path) => path.display().to_string(),
            },
            now,
            tracking: gathered.watching.then_some(facts.health.tracked.as_slice()),
        },
    );
    if json {
        say(&report.to_json());
    } else {
        say(report.to_string().trim_end());
    }
    let out_of_sync = report.out_of_sync();
    if out_of_sync.is_empty() {
        Ok(())
    } else {
        Err(Error::OutOfSync(out_of_sync))
    }
}
