//! The tracking state file: `watch` writes it (atomically: a whole new file renamed over
//! the old), hotplug runs and `status` read it. A file whose `watch` is no longer running
//! counts for nothing, so a dead watcher never keeps an uplink out.
//!
//! It is text, one line per record, mwan3track's way with its own state files:
//!
//! ```text
//! pid 1234
//! v6 wan1_6 5 60 online 0 3 1764000000 1763990000 2606:4700:4700::1111/2/2/12345/40/39/12001 …
//! ```
//!
//! group, interface, device index, uptime, online|offline, failed and passed rounds in a row,
//! last round and since (seconds since the epoch), then per target ip/sent/received/rtt_us of
//! the last round and sent/received/rtt_us of the recent ones (`track::RECENT`). A file of
//! the version before (no since, no recent figures) still reads: a new binary runs hotplug
//! before the package's restart of `watch` replaces the file. Names have
//! no blanks (netifd's and uci's don't). `status --json` shows the same records as JSON.
//! As JSON this file cost 8 KB more on mipsel (serde_json's reader instantiated for its
//! shape, and a writer), for a file no one but this tool reads.

use std::fmt::Write as _;

use crate::track::{Record, State, Target};

/// Under `/var/run` (a tmpfs on OpenWrt): gone at reboot, as the state it describes.
pub const DIR: &str = "/var/run/ecmp-hotplug";
pub const PATH: &str = "/var/run/ecmp-hotplug/track";
const TMP: &str = "/var/run/ecmp-hotplug/track.tmp";

/// Writes this process's `records` to `PATH`: a reader sees the old file or the new one,
/// never a part.
pub fn publish(records: &[Record]) -> std::io::Result<()> {
    let text = render(records, std::process::id());
    match std::fs::create_dir(DIR) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    std::fs::write(TMP, text)?;
    std::fs::rename(TMP, PATH)
}

/// The file's text for `records` of process `pid`.
fn render(records: &[Record], pid: u32) -> String {
    let mut text = format!("pid {pid}\n");
    for r in records {
        let online = if r.online { "online" } else { "offline" };
        let _ = write!(
            text,
            "{} {} {} {} {online} {} {} {} {}",
            r.group, r.interface, r.device, r.uptime, r.fails, r.passes, r.last_round, r.since
        );
        let rtt = |us: Option<u32>| us.map_or_else(|| "-".to_string(), |us| us.to_string());
        for t in &r.targets {
            let recent = r.recent.iter().find(|s| s.ip == t.ip);
            let (sent, received, us) =
                recent.map_or((0, 0, None), |s| (s.sent, s.received, s.rtt_us));
            let _ = write!(
                text,
                " {}/{}/{}/{}/{sent}/{received}/{}",
                t.ip,
                t.sent,
                t.received,
                rtt(t.rtt_us),
                rtt(us)
            );
        }
        text.push('\n');
    }
    text
}

/// The state a running `watch` published; `Ok(None)` when there is none, or its `watch` is
/// gone. A file that can't be read is the error.
pub fn load() -> Result<Option<State>, String> {
    let text = match std::fs::read_to_string(PATH) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{PATH}: {e}")),
    };
    let state = parse(&text).map_err(|e| format!("{PATH}: {e}"))?;
    Ok(running(state.pid).then_some(state))
}

fn parse(text: &str) -> Result<State, String> {
    let mut lines = text.lines();
    let pid = lines
        .next()
        .and_then(|l| l.strip_prefix("pid "))
        .and_then(|p| p.parse().ok())
        .ok_or("no pid")?;
    let mut state = State {
        pid,
        records: Vec::new(),
    };
    for line in lines {
        let bad = || format!("bad record: {line}");
        let f: Vec<&str> = line.split(' ').collect();
        let [
            group,
            interface,
            device,
            uptime,
            online,
            fails,
            passes,
            last_round,
            rest @ ..,
        ] = f.as_slice()
        else {
            return Err(bad());
        };
        let (since, targets) = match rest.split_first() {
            Some((since, targets)) if !since.contains('/') => (Some(*since), targets),
            _ => (None, rest),
        };
        let number = |s: &str| s.parse::<u64>().map_err(|_| bad());
        let mut record = Record {
            group: group.to_string(),
            interface: interface.to_string(),
            device: number(device)? as u32,
            uptime: number(uptime)?,
            online: match *online {
                "online" => true,
                "offline" => false,
                _ => return Err(bad()),
            },
            fails: number(fails)? as u32,
            passes: number(passes)? as u32,
            last_round: number(last_round)?,
            since: since.map(number).transpose()?.unwrap_or(0),
            targets: Vec::new(),
            recent: Vec::new(),
            window: Vec::new(),
        };
        for t in targets {
            let t: Vec<&str> = t.split('/').collect();
            let (ip, last, recent) = match t.as_slice() {
                [ip, last @ ..] if last.len() == 3 => (ip, last, None),
                [ip, last @ .., rs, rr, rt] if last.len() == 3 => (ip, last, Some([rs, rr, rt])),
                _ => return Err(bad()),
            };
            let ip = ip.parse().map_err(|_| bad())?;
            let target = |[sent, received, rtt]: [&&str; 3]| -> Result<Target, String> {
                Ok(Target {
                    ip,
                    sent: number(sent)? as u32,
                    received: number(received)? as u32,
                    rtt_us: number(rtt).ok().map(|n| n as u32),
                })
            };
            if let [sent, received, rtt] = last {
                record.targets.push(target([sent, received, rtt])?);
            }
            if let Some(recent) = recent {
                record.recent.push(target(recent)?);
            }
        }
        state.records.push(record);
    }
    Ok(state)
}

/// Whether `pid` is a running `watch` (not a process that got its number since).
fn running(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    cmdline.split(|&b| b == 0).any(|arg| arg == b"watch")
}

/// mwan3's state of each of `sections`, `/var/run/mwan3/iface_state/<section>` (name, first
/// line), those it has; `None` while mwan3 is not running (no `/var/run/mwan3`).
pub fn mwan3_states(sections: &[crate::mwan3::Section]) -> Option<Vec<(String, String)>> {
    if !std::path::Path::new(MWAN3_DIR).is_dir() {
        return None;
    }
    let read = |s: &crate::mwan3::Section| {
        let text = std::fs::read_to_string(format!("{MWAN3_DIR}/iface_state/{}", s.name)).ok()?;
        Some((s.name.clone(), text.lines().next()?.to_string()))
    };
    Some(sections.iter().filter_map(read).collect())
}

/// mwan3's run directory (`common.sh`: `MWAN3_STATUS_DIR`); `/etc/init.d/mwan3` counts the
/// service running while it exists and removes it on `stop`.
pub const MWAN3_DIR: &str = "/var/run/mwan3";
/// mwan3's config, read only for its `interface` sections (`mwan3::sections`).
pub const MWAN3_CONFIG: &str = "/etc/config/mwan3";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_watch_writes_reads_back() {
        let state = State {
            pid: 42,
            records: vec![Record {
                group: "v6".into(),
                interface: "wan1_6".into(),
                device: 5,
                uptime: 1000,
                online: false,
                fails: 3,
                passes: 0,
                last_round: 1_764_000_000,
                since: 1_763_990_000,
                targets: vec![Target {
                    ip: "2606:4700:4700::1111".parse().unwrap(),
                    sent: 2,
                    received: 1,
                    rtt_us: Some(12_345),
                }],
                recent: vec![Target {
                    ip: "2606:4700:4700::1111".parse().unwrap(),
                    sent: 40,
                    received: 0,
                    rtt_us: None,
                }],
                window: Vec::new(),
            }],
        };
        let text = render(&state.records, 42);
        assert_eq!(
            text,
            "pid 42\nv6 wan1_6 5 1000 offline 3 0 1764000000 1763990000 \
             2606:4700:4700::1111/2/1/12345/40/0/-\n"
        );
        assert_eq!(parse(&text).unwrap(), state);
        // The version before: no since, no recent figures.
        let old = parse(
            "pid 42\nv6 wan1_6 5 1000 offline 3 0 1764000000 2606:4700:4700::1111/2/1/12345\n",
        )
        .unwrap();
        assert_eq!((old.records[0].since, old.records[0].recent.len()), (0, 0));
        assert_eq!(old.records[0].targets, state.records[0].targets);
        assert!(parse("pid 1\nv6 wan1_6 5 0 online 0 0 0 0 2001:db8::1/2/1\n").is_err());
        assert!(parse("pid 1\nv6 wan1_6\n").is_err());
        assert!(parse("pid 1\nv6 wan1_6 5 0 maybe 0 0 0\n").is_err());
        assert!(parse("{}").is_err());
        let none = State {
            pid: 7,
            records: vec![],
        };
        assert_eq!(parse(&render(&[], 7)).unwrap(), none);
    }
}
