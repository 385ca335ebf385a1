//! What the kernel (or something pretending to be it) sends back: a datagram split into
//! messages, each read as a route, a link, a nexthop object and an error/ack.
#![no_main]

use ecmp_hotplug::netlink::{nexthop, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(messages) = wire::messages(data) {
        for (header, payload) in messages {
            let _ = wire::route(payload);
            let _ = wire::link(payload);
            let _ = wire::link_state(payload);
            let _ = nexthop::object(payload);
            let _ = wire::error(&header, payload);
        }
    }
});
