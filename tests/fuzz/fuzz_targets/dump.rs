//! netifd's dump as ubus could print it: parsed, and when it parses, planned with the
//! built-in config, so that whatever the JSON holds reaches the planner too.
#![no_main]

use ecmp_hotplug::config::Config;
use ecmp_hotplug::dump::Dump;
use ecmp_hotplug::planner;
use ecmp_hotplug::route::{Link, Links};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(dump) = Dump::parse(data) {
        let mut links = Links::default();
        for (index, name) in ["wan", "wan6", "pppoe-wan", "eth1"].into_iter().enumerate() {
            links.insert(Link {
                name: name.into(),
                index: index as u32 + 2,
                carrier: index % 2 == 0,
            });
        }
        let facts = planner::Facts {
            config: Config::builtin(),
            dump,
            links,
            routes: Vec::new(),
            objects: Some(Vec::new()),
            rules: Some(Vec::new()),
            health: planner::Health::default(),
            sysctls: Vec::new(),
            no_resilient: false,
            hints: Vec::new(),
            said: None,
        };
        let _ = facts.resilience();
        for resilient in [false, true] {
            let _ = planner::plan(&facts, resilient);
        }
    }
});
