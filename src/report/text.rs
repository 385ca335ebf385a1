//! `status` as text, for people.

use std::fmt;

use super::{Installed, Leg, Report, RuleState, Tracked, flag_names, policy_name, verdict};
use crate::config::{Method, Seconds, Track};
use crate::planner::{FAIL_OPEN, HELD};
use crate::route::{ProtocolName, TableName, leg_text};

fn write_legs(f: &mut fmt::Formatter<'_>, title: &str, legs: &[Leg]) -> fmt::Result {
    if legs.is_empty() {
        return writeln!(f, "  {title:<10} none");
    }
    for (i, l) in legs.iter().enumerate() {
        let title = if i == 0 { title } else { "" };
        let who = l
            .interface
            .as_deref()
            .map(|i| format!("{i}: "))
            .unwrap_or_default();
        write!(
            f,
            "  {title:<10} {who}{} weight {}",
            leg_text(&l.device, l.nexthop.gateway),
            l.nexthop.weight
        )?;
        let flags = flag_names(l.flags);
        if !flags.is_empty() {
            write!(f, " ({})", flags.join(", "))?;
        }
        if let Some(s) = &l.standing {
            write!(f, ", {}% of the group, metric {}", s.share, s.metric)?;
            if let Some(up) = s.uptime {
                write!(f, ", up {}", span(up))?;
            }
        }
        writeln!(f)?;
    }
    Ok(())
}

/// `n thing` or `n things`.
fn count(n: u32, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// `probes:    dns (track_method) to 2606:4700:4700::1111 2001:4860:4860::8888 (track_ip), …`:
/// how a group tracks, each figure with the option that sets it (mwan3track's names).
fn write_track(f: &mut fmt::Formatter<'_>, t: &Track) -> fmt::Result {
    write!(f, "  {:<10} {} (track_method)", "probes:", t.method.name())?;
    match &t.method {
        Method::Ping => {}
        Method::Dns { port, name } => {
            write!(f, " for {name} (track_name), port {port} (track_port),")?
        }
        Method::Tcp { port } => write!(f, ", port {port} (track_port),")?,
    }
    let ips: Vec<String> = t.ips.iter().map(|ip| ip.to_string()).collect();
    write!(
        f,
        " to {} (track_ip), {} each (count) every {} s (interval), {} s to answer (timeout), \
         {} to answer (reliability); out after {} failed rounds (down), in after {} passed (up), \
         rounds {} s apart while failing (failure_interval), {} s while recovering \
         (recovery_interval)",
        ips.join(" "),
        t.count,
        Seconds(t.interval),
        Seconds(t.timeout),
        t.reliability,
        t.down,
        t.up,
        Seconds(t.failing_pace()),
        Seconds(t.recovering_pace()),
    )?;
    if let Some(q) = &t.quality {
        write!(
            f,
            "; check_quality: a target fails at {}% lost (failure_loss) or {} ms (failure_latency), \
             passes at {}% (recovery_loss) and {} ms (recovery_latency)",
            q.failure_loss, q.failure_latency, q.recovery_loss, q.recovery_latency
        )?;
    }
    writeln!(f)
}

/// A session's length as people say it: `42 s`, `12 min`, `3h12m`, `2d4h`.
fn span(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `12 s ago`, `3 min ago`, `2 h ago`.
fn ago(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s => format!("{} h ago", s / 3600),
    }
}

/// `wan1_6 (wan1): online for 3h12m, 3 rounds passed in a row, last round 1 s ago;
/// 2606:4700::1111 12.3 ms, 0 of 60 lost; …`: per target its recent rounds (`track::RECENT`).
fn write_record(f: &mut fmt::Formatter<'_>, title: &str, t: &Tracked) -> fmt::Result {
    let r = &t.record;
    let (rounds, what) = match r.fails {
        0 => (r.passes, "passed"),
        n => (n, "failed"),
    };
    write!(
        f,
        "  {title:<10} {} ({}): {}",
        r.interface,
        t.device,
        verdict(r)
    )?;
    match t.for_seconds {
        Some(s) => write!(f, " for {}, ", span(s))?,
        None => write!(f, ", ")?,
    }
    match (r.last_round, t.seconds_ago) {
        (0, _) => write!(f, "no round yet")?,
        (_, when) => write!(
            f,
            "{} {what} in a row, last round {}",
            count(rounds, "round"),
            when.map_or_else(|| "in the future (the clock went back)".into(), ago)
        )?,
    }
    for last in &r.targets {
        let target = r.recent.iter().find(|t| t.ip == last.ip).unwrap_or(last);
        match target.rtt_us {
            Some(us) => write!(f, "; {} {}.{} ms,", target.ip, us / 1000, us % 1000 / 100)?,
            None => write!(f, "; {}", target.ip)?,
        }
        let lost = target.sent - target.received.min(target.sent);
        write!(f, " {lost} of {} lost", target.sent)?;
    }
    writeln!(f)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "config {}; interfaces from {}", self.config, self.dump)?;
        writeln!(
            f,
            "{}, hash policy {}",
            if self.enabled { "enabled" } else { "disabled" },
            policy_name(self.hash_policy)
        )?;
        for g in &self.groups {
            writeln!(
                f,
                "group {} ({}): {} table {} metric {}, {}: {}",
                g.name,
                g.key.family(),
                g.key.dst,
                TableName(g.key.table),
                g.key.metric,
                g.mode,
                g.state.name()
            )?;
            if let Some(id) = g.nexthop_group {
                writeln!(f, "  {:<10} {id}", "group id:")?;
            }
            write_legs(f, "desired:", &g.desired)?;
            match &g.installed {
                None => write_legs(f, "installed:", &[])?,
                Some(i) if i.protocol != crate::route::PROTOCOL => {
                    let proto = ProtocolName(i.protocol);
                    writeln!(
                        f,
                        "  {:<10} a route of proto {proto}, not ours",
                        "installed:"
                    )?;
                    write_legs(f, "", &i.legs)?;
                }
                Some(Installed {
                    nexthop_group: Some(id),
                    legs,
                    ..
                }) => {
                    writeln!(f, "  {:<10} through nexthop group {id}", "installed:")?;
                    write_legs(f, "", legs)?;
                }
                Some(i) => write_legs(f, "installed:", &i.legs)?,
            }
            for (i, (iface, reason, _)) in g.skipped.iter().enumerate() {
                writeln!(
                    f,
                    "  {:<10} {iface}: {reason}",
                    if i == 0 { "left out:" } else { "" }
                )?;
            }
            if g.fail_open {
                writeln!(f, "  {:<10} {FAIL_OPEN}", "warning:")?;
            } else if !g.held.is_empty() {
                writeln!(f, "  {:<10} {} {HELD}", "held:", g.held.join(", "))?;
            }
            if let Some(t) = &g.track {
                write_track(f, t)?;
            }
            match &g.tracking {
                None => {}
                Some(None) => writeln!(
                    f,
                    "  {:<10} watch is not running: every member counts as online",
                    "tracking:"
                )?,
                Some(Some(records)) if records.is_empty() => {
                    writeln!(f, "  {:<10} no round yet", "tracking:")?
                }
                Some(Some(records)) => {
                    for (i, t) in records.iter().enumerate() {
                        write_record(f, if i == 0 { "tracking:" } else { "" }, t)?;
                    }
                }
            }
        }
        for p in &self.uplink_paths {
            let rules = match p.rule {
                RuleState::InPlace => "rules in place",
                RuleState::Missing => "rules missing",
                RuleState::Unknown => "rules can't be read here",
            };
            writeln!(
                f,
                "uplink path: {} ({}): table {} default {}, {rules}: {}",
                p.device,
                p.family,
                p.table,
                leg_text(&p.device, p.gateway),
                if p.in_sync() {
                    "in sync"
                } else {
                    "out of sync"
                }
            )?;
        }
        for k in &self.stale {
            writeln!(f, "stale: {k} (ours, no group wants it; sync removes it)")?;
        }
        for id in &self.stale_objects {
            writeln!(
                f,
                "stale: nexthop id {id} (ours, no group wants it; sync removes it)"
            )?;
        }
        for r in &self.stale_rules {
            writeln!(
                f,
                "stale: {r} (ours, no uplink path wants it; sync removes it)"
            )?;
        }
        for s in &self.sysctls {
            writeln!(
                f,
                "sysctl: {} is {}, the plan wants {} (sync sets it)",
                s.name, s.have, s.want
            )?;
        }
        Ok(())
    }
}
