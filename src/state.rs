//! The tracking state file: `watch` writes it (atomically: a whole new file renamed over
//! the old), hotplug runs and `status` read it. A file whose `watch` is no longer running
//! counts for nothing, so a dead watcher never keeps an uplink out.
//!
//! It is JSON, `{"pid":N,"records":[ROW,…]}`, one flat array per record: group, interface,
//! device, uptime, online, fails, passes, last_round, then ip, sent, received, rtt_us for
//! each target.
//! Rows are read with the interface dump's reader (`dump::Scalar`); records as objects with a
//! derived `Deserialize` cost 12 KB on mipsel, rows 3 KB.

use serde::{Deserialize, Serialize};

use crate::dump::{Kind, Scalar};
use crate::track::{Record, State, Target};

/// Under `/var/run` (a tmpfs on OpenWrt): gone at reboot, as the state it describes.
pub const DIR: &str = "/var/run/ecmp-hotplug";
pub const PATH: &str = "/var/run/ecmp-hotplug/track.json";
const TMP: &str = "/var/run/ecmp-hotplug/track.json.tmp";

#[derive(Serialize)]
struct Published<'a> {
    pid: u32,
    records: Vec<Row<'a>>,
}

/// The fields of a row before its targets.
const HEAD: usize = 8;

/// A record as a row.
struct Row<'a>(&'a Record);

impl Serialize for Row<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let r = self.0;
        let mut row = s.serialize_seq(Some(HEAD + 4 * r.targets.len()))?;
        row.serialize_element(&r.group)?;
        row.serialize_element(&r.interface)?;
        row.serialize_element(&u64::from(r.device))?;
        row.serialize_element(&r.uptime)?;
        row.serialize_element(&r.online)?;
        row.serialize_element(&u64::from(r.fails))?;
        row.serialize_element(&u64::from(r.passes))?;
        row.serialize_element(&r.last_round)?;
        for t in &r.targets {
            row.serialize_element(&t.ip.to_string())?;
            row.serialize_element(&u64::from(t.sent))?;
            row.serialize_element(&u64::from(t.received))?;
            row.serialize_element(&t.rtt_us.map(u64::from))?;
        }
        row.end()
    }
}

/// Writes `state` to `PATH`: a reader sees the old file or the new one, never a part.
pub fn publish(state: &State) -> std::io::Result<()> {
    let published = Published {
        pid: state.pid,
        records: state.records.iter().map(Row).collect(),
    };
    let text = serde_json::to_string(&published).map_err(std::io::Error::other)?;
    match std::fs::create_dir(DIR) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    std::fs::write(TMP, text)?;
    std::fs::rename(TMP, PATH)
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

mod raw {
    use super::*;

    #[derive(Deserialize)]
    pub struct State<'a> {
        #[serde(borrow)]
        pub pid: Option<Scalar<'a>>,
        #[serde(borrow)]
        pub records: Option<Kind<Vec<Kind<Vec<Scalar<'a>>>>>>,
    }
}

fn parse(json: &str) -> Result<State, String> {
    let doc: raw::State = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let number = |v: Option<&Scalar>, what: &str| match v {
        Some(Scalar::Int(n)) if *n >= 0 => Ok(*n as u64),
        _ => Err(format!("{what} is not a number")),
    };
    let text = |v: Option<&Scalar>, what: &str| match v {
        Some(Scalar::Str(s)) => Ok(s.to_string()),
        _ => Err(format!("{what} is not a string")),
    };
    let mut state = State {
        pid: number(doc.pid.as_ref(), "pid")? as u32,
        records: Vec::new(),
    };
    let rows = match &doc.records {
        Some(Kind::Is(rows)) => rows.as_slice(),
        _ => return Err("no records".into()),
    };
    for row in rows {
        let Kind::Is(row) = row else {
            return Err("a record is not a list".into());
        };
        let (head, targets) = row.split_at(row.len().min(HEAD));
        let field = |i: usize| head.get(i);
        let mut record = Record {
            group: text(field(0), "group")?,
            interface: text(field(1), "interface")?,
            device: number(field(2), "device")? as u32,
            uptime: number(field(3), "uptime")?,
            online: match field(4) {
                Some(Scalar::Bool(b)) => *b,
                _ => return Err("online is not a boolean".into()),
            },
            fails: number(field(5), "fails")? as u32,
            passes: number(field(6), "passes")? as u32,
            last_round: number(field(7), "last_round")?,
            targets: Vec::new(),
        };
        for t in targets.chunks(4) {
            let ip = text(t.first(), "ip")?;
            record.targets.push(Target {
                ip: ip.parse().map_err(|_| format!("{ip} is not an address"))?,
                sent: number(t.get(1), "sent")? as u32,
                received: number(t.get(2), "received")? as u32,
                rtt_us: number(t.get(3), "rtt_us").ok().map(|n| n as u32),
            });
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

/// Whether mwan3track has found `interface` offline: its `STATUS` says so after at least one
/// probe turn (`TURN` > 0; before its first turn mwan3track writes what it was started with).
pub fn mwan3_offline(interface: &str) -> bool {
    let read = |name: &str| {
        std::fs::read_to_string(format!("{MWAN3TRACK_DIR}/{interface}/{name}")).unwrap_or_default()
    };
    read("STATUS").trim() == "offline" && read("TURN").trim().parse::<u64>().unwrap_or(0) > 0
}

/// Where mwan3track keeps its per-interface state (`mwan3track`: `/var/run/mwan3track/$1/`).
pub const MWAN3TRACK_DIR: &str = "/var/run/mwan3track";

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
                targets: vec![Target {
                    ip: "2606:4700:4700::1111".parse().unwrap(),
                    sent: 2,
                    received: 1,
                    rtt_us: Some(12_345),
                }],
            }],
        };
        let text = serde_json::to_string(&Published {
            pid: 42,
            records: state.records.iter().map(Row).collect(),
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"pid":42,"records":[["v6","wan1_6",5,1000,false,3,0,1764000000,"2606:4700:4700::1111",2,1,12345]]}"#
        );
        assert_eq!(parse(&text).unwrap(), state);
        assert!(parse(r#"{"pid":1,"records":[["v6"]]}"#).is_err());
        assert!(parse(r#"{"pid":1,"records":[{"group":"v6"}]}"#).is_err());
        assert!(parse("[").is_err());
    }
}
