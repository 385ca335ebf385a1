//! Reading everything a plan is made from, before anything is planned: the config, the
//! interface dump, the kernel's links, routes, nexthop objects, rules and the sysctls any
//! candidate could need, `watch`'s tracking records and mwan3's interface states.
//!
//! The config and dump are fully validated here, so bad input stops the run before the kernel
//! is touched.

use std::io::Read;
use std::path::Path;

use log::warn;

use crate::cli::{DumpSource, Options};
use crate::config::{self, Config};
use crate::dump::{Dump, Wanted};
use crate::error::Error;
use crate::netlink::Kernel;
use crate::planner::{self, Facts, Health, Hint};
use crate::{state, sysctl, ubus};

/// Set (to anything) in the environment, this makes ecmp-hotplug treat the kernel as one
/// without resilient nexthop groups (Linux < 5.13): how the tests reach the fallback here.
const NO_RESILIENT_ENV: &str = "ECMP_HOTPLUG_NO_RESILIENT";

/// What a run gathered: the facts, and what `status` says of where they came from.
pub struct Gathered {
    pub facts: Facts,
    /// The config file, or the built-in default.
    pub config_source: String,
    /// Whether a running `watch` published tracking records (`facts.health.tracked`).
    pub watching: bool,
}

/// Reads everything a plan is made from. `hints` and `said` are the caller's own (the
/// event's interface; what `watch` said last).
pub fn gather(
    opts: &Options,
    kernel: &mut Kernel,
    hints: Vec<Hint>,
    said: Option<Vec<String>>,
) -> Result<Gathered, Error> {
    let (config, config_source) = load_config(opts)?;
    let wanted =
        |name: &str, proto: Option<&str>| config.groups.iter().any(|g| g.wants(name, proto));
    let dump = load_dump(&opts.dump, &wanted)?;
    let links = kernel.links()?;
    let routes = kernel.routes()?;
    let objects = kernel.objects()?;
    let rules = kernel.rules()?;
    let mut sysctls = Vec::new();
    for name in planner::sysctls_to_read(&config, &dump, &links) {
        let have = sysctl::read(&name)?;
        sysctls.push((name, have));
    }
    // A state file that can't be read is a warning: tracking then counts for nothing, as
    // without `watch`, rather than stopping the run.
    let tracking = state::load().unwrap_or_else(|e| {
        warn!("tracking state: {e}");
        None
    });
    let watching = tracking.is_some();
    let mwan3_sections = mwan3_sections().unwrap_or_else(|e| {
        warn!("{e}: mwan3's interface states are not read");
        Vec::new()
    });
    let health = Health {
        tracked: tracking.map(|s| s.records).unwrap_or_default(),
        mwan3_states: state::mwan3_states(&mwan3_sections),
        mwan3_sections,
    };
    let facts = Facts {
        config,
        dump,
        links,
        routes,
        objects,
        rules,
        health,
        sysctls,
        no_resilient: std::env::var_os(NO_RESILIENT_ENV).is_some(),
        hints,
        said,
    };
    Ok(Gathered {
        facts,
        config_source,
        watching,
    })
}

/// mwan3's enabled interface sections, where mwan3 runs (none where it doesn't); a file
/// that can't be read or parsed is no word of mwan3's (its own `config_load` finds no
/// section then either), and says why.
pub fn mwan3_sections() -> Result<Vec<crate::mwan3::Section>, String> {
    let path = state::MWAN3_CONFIG;
    if !Path::new(state::MWAN3_DIR).is_dir() {
        return Ok(Vec::new());
    }
    std::fs::read(path)
        .map_err(|e| format!("{path}: {e}"))
        .and_then(|bytes| crate::mwan3::sections(&bytes).map_err(|e| format!("{path}:{e}")))
}

/// The config, and where it came from (for `status`).
fn load_config(opts: &Options) -> Result<(Config, String), Error> {
    let (path, explicit) = match &opts.config {
        Some(p) => (p.as_path(), true),
        None => (Path::new(config::DEFAULT_PATH), false),
    };
    let (config, warnings, builtin) = Config::load(path, explicit).map_err(Error::Config)?;
    for w in warnings {
        warn!("{w}");
    }
    let source = match builtin {
        true => format!("the built-in default ({} is missing)", path.display()),
        false => path.display().to_string(),
    };
    Ok((config, source))
}

fn load_dump(source: &DumpSource, wanted: Wanted) -> Result<Dump, Error> {
    // One byte past the limit is enough for Dump::parse to refuse it; never read more.
    let limit = crate::dump::MAX_DUMP_BYTES as u64 + 1;
    let read = |name: &str, reader: &mut dyn Read| {
        let mut buf = Vec::new();
        reader
            .take(limit)
            .read_to_end(&mut buf)
            .map(|_| buf)
            .map_err(|e| Error::State(format!("reading the dump from {name}: {e}")))
    };
    let bytes = match source {
        DumpSource::Ubus => ubus::dump(ubus::TIMEOUT).map_err(Error::State)?,
        DumpSource::Stdin => read("stdin", &mut std::io::stdin())?,
        DumpSource::File(path) => {
            let mut file = std::fs::File::open(path)
                .map_err(|e| Error::State(format!("{}: {e}", path.display())))?;
            read(&path.display().to_string(), &mut file)?
        }
    };
    Dump::parse_for(&bytes, wanted).map_err(|e| Error::State(e.to_string()))
}
