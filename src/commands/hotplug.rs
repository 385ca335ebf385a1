//! `hotplug`: what `/sbin/hotplug-call iface` runs on every interface event. It reads the
//! event from the environment and reconciles; the event itself only names who may have
//! left a group (`planner::event_hints`), since every run reads the whole state.

use log::debug;

use crate::cli::Options;
use crate::error::Error;
use crate::event::Event;
use crate::planner;
use crate::reconcile::reconcile;

pub fn run(opts: &Options) -> Result<(), Error> {
    let event = Event::from_env(|k| std::env::var_os(k)).map_err(Error::Event)?;
    if !event.action.reconciles() {
        debug!("ignoring action {}", event.raw_action);
        return Ok(());
    }
    debug!("event: {event}");
    reconcile(opts, &planner::event_hints(&event), None, &[], &mut |_| {})
}
