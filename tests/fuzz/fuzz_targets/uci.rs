//! /etc/config/ecmp-hotplug as someone may have edited it: the UCI tokenizer and the config
//! validation on top of it.
#![no_main]

use ecmp_hotplug::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Config::parse(data, "/etc/config/ecmp-hotplug");
});
