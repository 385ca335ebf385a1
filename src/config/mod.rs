//! What `/etc/config/ecmp-hotplug` means: validated groups, member weights and globals.
//!
//! Every value is checked here, once, and reported with file and line; every error of a file
//! in one message, so that one edit can mend them all. An unknown option or section is a
//! warning, never an error, so that a config written for a newer version still loads; so is a
//! name that can match nothing (one that is no UTF-8, as no interface name is). Without a
//! config file the built-in default reproduces the original shell setup.

mod reader;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::route::{Family, Resilient, RouteKey, TABLE_MAIN, Weight};
use crate::uci;
use reader::Reader;

/// Where the config lives on a router.
pub const DEFAULT_PATH: &str = "/etc/config/ecmp-hotplug";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashPolicy {
    /// `fib_multipath_hash_policy` 0: source and destination address (and IPv6 flow label).
    L3,
    /// 1: the five-tuple, so the connections of one host spread over the uplinks.
    L4,
    /// Leave the sysctls alone.
    Keep,
}

impl HashPolicy {
    /// The sysctl value, or `None` for `keep`.
    pub fn sysctl(self) -> Option<u8> {
        match self {
            HashPolicy::L3 => Some(0),
            HashPolicy::L4 => Some(1),
            HashPolicy::Keep => None,
        }
    }
}

/// How a group's route spreads flows over its uplinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Resilient where the kernel has it (tried once per run), else multipath.
    Auto,
    /// A resilient nexthop group (kernel ≥ 5.13): a change moves only the flows of the
    /// uplink that changed.
    Resilient,
    /// A classic multipath route: any change rehashes every flow.
    Multipath,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Resilient => "resilient",
            Mode::Multipath => "multipath",
        }
    }
}

/// A resilient group's defaults (docs/design.md, "Modes"): 128 buckets give every one of
/// up to 16 uplinks at least 8 and weights to within 1%; a bucket moves back to a returning
/// uplink once idle for 2 minutes (the kernel's default), and after 10 minutes of imbalance
/// regardless, so a busy home network gets its bandwidth back.
pub const RESILIENT: Resilient = Resilient {
    buckets: 128,
    idle_timer: 120 * CLOCK_T_PER_SECOND,
    unbalanced_timer: 600 * CLOCK_T_PER_SECOND,
};

/// Netlink carries the resilient timers as `clock_t`, 1/100 s (`USER_HZ`).
pub const CLOCK_T_PER_SECOND: u32 = 100;

/// The longest timer the config takes, in seconds: a day.
pub(super) const MAX_TIMER: u32 = 86_400;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub enabled: bool,
    pub hash_policy: HashPolicy,
    /// Every group's mode unless it sets its own.
    pub mode: Mode,
    pub groups: Vec<Group>,
    /// Per-interface weight, for every group the interface is in; absent means 1.
    pub weights: BTreeMap<String, Weight>,
    /// Interfaces whose member section says `track '0'`: never probed, never offline.
    pub untracked: Vec<String>,
    /// Per-interface `metric` (mwan3's: 1 to 256, absent means 1): a group routes over the
    /// usable members of its lowest metric; higher metrics stand by.
    pub metrics: BTreeMap<String, u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The section name, or `@group[N]` for an anonymous section (as `uci show` names it).
    pub name: String,
    pub key: RouteKey,
    /// Members: up interfaces whose proto is one of these …
    pub protos: Vec<String>,
    /// … and/or whose name is one of these.
    pub interfaces: Vec<String>,
    /// `None`: the global mode.
    pub mode: Option<Mode>,
    /// Used in resilient mode.
    pub resilient: Resilient,
    /// Probes through each member (`watch`); `None` without `track_ip`.
    pub track: Option<Track>,
    /// When a member leaves while its device and addresses stay, delete the conntrack
    /// entries translated to its addresses.
    pub flush_conntrack: bool,
}

/// How a group's members are probed: mwan3track's options and meanings (docs/design.md, "Tracking").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// Probe targets, of the group's family.
    pub ips: Vec<std::net::IpAddr>,
    /// How each target is probed (mwan3track's `track_method`).
    pub method: Method,
    /// How many targets must answer for a round to pass.
    pub reliability: u32,
    /// Echoes per target per round; one answer is enough for the target.
    pub count: u32,
    /// Milliseconds a round waits for answers (configured in seconds, as all four timers).
    pub timeout: u32,
    /// Milliseconds from one round's start to the next.
    pub interval: u32,
    /// Failed rounds in a row that make a member offline …
    pub down: u32,
    /// … and passed rounds in a row that make it online again.
    pub up: u32,
    /// mwan3track's `check_quality`: a target passes on its loss and latency (`Quality`),
    /// not on any answer.
    pub quality: Option<Quality>,
    /// Milliseconds between rounds while a member is failing (online, its last round failed);
    /// `timeout` by default (mwan3track: `interval`), so that `down` rounds take seconds.
    pub failure_interval: Option<u32>,
    /// … and while one is recovering (offline, its last round passed).
    pub recovery_interval: Option<u32>,
}

impl Track {
    /// Milliseconds between rounds while a member is failing: `failure_interval`, unset
    /// `timeout` (mwan3track: `interval`), so that the next round starts as the last ends.
    pub fn failing_pace(&self) -> u32 {
        self.failure_interval.unwrap_or(self.timeout)
    }

    /// … and while one is recovering: `recovery_interval`, unset `timeout`.
    pub fn recovering_pace(&self) -> u32 {
        self.recovery_interval.unwrap_or(self.timeout)
    }
}

/// Milliseconds shown as the seconds they were configured in: "1.5", "0.4", "5".
pub struct Seconds(pub u32);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, ms) = (self.0 / 1000, self.0 % 1000);
        match ms {
            0 => write!(f, "{s}"),
            _ => write!(f, "{s}.{}", format!("{ms:03}").trim_end_matches('0')),
        }
    }
}

/// How a target is probed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// ICMP / ICMPv6 echo.
    Ping,
    /// A DNS query to the target's `port` (53) for `name`: any answer to it passes, whatever
    /// its code. Works where ICMP is filtered and a resolver is the target.
    Dns { port: u16, name: String },
    /// A TCP connect to the target's `port` (443): a SYN-ACK or a RST passes.
    Tcp { port: u16 },
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::Ping => "ping",
            Method::Dns { .. } => "dns",
            Method::Tcp { .. } => "tcp",
        }
    }
}

/// The name a `dns` probe asks for unless `track_name` says: the root, whose SOA every
/// resolver can answer.
pub const DNS_NAME: &str = ".";

/// mwan3track's link quality thresholds, with its defaults: a target whose loss (% of the
/// round's echoes) or average latency (ms) reaches a failure threshold fails; one at or under
/// both recovery thresholds passes; one between them counts for neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Quality {
    pub failure_latency: u32,
    pub recovery_latency: u32,
    pub failure_loss: u32,
    pub recovery_loss: u32,
}

/// mwan3track's defaults (`config_get failure_latency … 1000` and so on).
pub const QUALITY: Quality = Quality {
    failure_latency: 1000,
    recovery_latency: 500,
    failure_loss: 40,
    recovery_loss: 10,
};

/// Tracking's defaults (docs/design.md, "Tracking", has the arithmetic; `make bench` the
/// measured figures): a round of 2 probes to each target every 1.2 s, 0.4 s to answer; while a
/// member fails or recovers, rounds follow each other as soon as the last is over
/// (`failure_interval`, `recovery_interval`: `timeout`). 4 failed rounds take a member out (at
/// most 1.2 + 4 × 0.4 = 2.8 s after its upstream died), 3 passed rounds bring it back (at most
/// 1.2 + 2 × 0.4 s). At 20% loss each way (36% per probe) a round of 4 probes fails with
/// p = 0.36^4 = 1.7%, four in a row with 8e-8: one false offline in 20 years of rounds.
/// 4 probes each 1.2 s: 3.3 a second, 0.7 KB/s with `dns`, 0.5 KB/s with `ping`.
pub const TRACK: Track = Track {
    ips: Vec::new(),
    method: Method::Ping,
    reliability: 1,
    count: 2,
    timeout: 400,
    interval: 1200,
    down: 4,
    up: 3,
    quality: None,
    failure_interval: None,
    recovery_interval: None,
};

impl Group {
    pub fn family(&self) -> Family {
        self.key.family()
    }

    pub fn mode(&self, config: &Config) -> Mode {
        self.mode.unwrap_or(config.mode)
    }

    /// Whether `interface` (with `proto`) is a candidate member.
    pub fn wants(&self, interface: &str, proto: Option<&str>) -> bool {
        self.interfaces.iter().any(|i| i == interface)
            || proto.is_some_and(|p| self.protos.iter().any(|q| q == p))
    }
}

/// A config that could not be used, with where it went wrong: every error of the file, `; `
/// apart, so that the message stays one line (syslog, LuCI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The default metric when a group sets none: what `ip route add` would use (IPv6 routes
/// can't have metric 0; the kernel turns it into 1024).
pub fn default_metric(family: Family) -> u32 {
    match family {
        Family::V4 => 0,
        Family::V6 => 1024,
    }
}

impl Config {
    /// The setup the original hotplug script hard-coded: `2000::/3` over every up `dhcpv6`
    /// interface, L4 hashing; and tracking, as the shipped file has it.
    #[allow(clippy::expect_used)] // a literal, and the shipped-file test parses the same text
    pub fn builtin() -> Config {
        let v6 = Group {
            name: "v6".into(),
            key: RouteKey {
                table: TABLE_MAIN,
                dst: "2000::/3".parse().expect("a valid prefix"),
                metric: default_metric(Family::V6),
            },
            protos: vec!["dhcpv6".into()],
            interfaces: Vec::new(),
            mode: None,
            resilient: RESILIENT,
            track: Some(Track {
                ips: vec![
                    "2606:4700:4700::1111".parse().expect("an address"),
                    "2001:4860:4860::8888".parse().expect("an address"),
                ],
                method: Method::Dns {
                    port: 53,
                    name: DNS_NAME.into(),
                },
                ..TRACK
            }),
            flush_conntrack: true,
        };
        Config {
            enabled: true,
            hash_policy: HashPolicy::L4,
            mode: Mode::Auto,
            groups: vec![v6],
            weights: BTreeMap::new(),
            untracked: Vec::new(),
            metrics: BTreeMap::new(),
        }
    }

    /// Reads `path`. When `explicit` is false and the file doesn't exist, the built-in default
    /// applies (the third value says so); a file named on the command line must exist.
    pub fn load(path: &Path, explicit: bool) -> Result<(Config, Vec<String>, bool), ConfigError> {
        match std::fs::read(path) {
            Ok(bytes) => Config::parse(&bytes, &path.display().to_string())
                .map(|(config, warnings)| (config, warnings, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Ok((Config::builtin(), Vec::new(), true))
            }
            Err(e) => Err(ConfigError(format!("{}: {e}", path.display()))),
        }
    }

    /// Parses a config file; `file` names it in messages. Returns the warnings too.
    pub fn parse(bytes: &[u8], file: &str) -> Result<(Config, Vec<String>), ConfigError> {
        let sections = uci::parse(bytes).map_err(|e| ConfigError(format!("{file}:{e}")))?;
        let reader = Reader {
            file,
            warnings: RefCell::default(),
            errors: RefCell::default(),
        };
        let config = reader.config(&sections);
        let errors = reader.errors.into_inner();
        if !errors.is_empty() {
            return Err(ConfigError(errors.join("; ")));
        }
        Ok((config, reader.warnings.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Prefix;

    fn parse(s: &str) -> Result<(Config, Vec<String>), ConfigError> {
        Config::parse(s.as_bytes(), "/etc/config/ecmp-hotplug")
    }

    #[test]
    fn the_shipped_file_is_the_builtin_default() {
        let shipped = include_str!("../../files/etc/config/ecmp-hotplug");
        let (config, warnings) = parse(shipped).unwrap();
        assert_eq!(config, Config::builtin());
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn the_shipped_ipv4_example_is_valid_once_uncommented() {
        let shipped = include_str!("../../files/etc/config/ecmp-hotplug");
        let uncommented: String = shipped
            .lines()
            .map(|l| {
                if l.starts_with('#') && !l.starts_with("# ") && l != "#" {
                    &l[1..]
                } else {
                    l
                }
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let (config, warnings) = parse(&uncommented).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let v4 = config
            .groups
            .iter()
            .find(|g| g.family() == Family::V4)
            .expect("an IPv4 example");
        assert_eq!(v4.key.dst, Prefix::any(Family::V4));
        assert!(config.weights.values().any(|w| w.get() > 1));
    }

    #[test]
    fn a_full_config() {
        let (c, w) = parse(
            "config globals 'globals'\n\toption enabled '1'\n\toption hash_policy 'l3'\n\n\
             config group 'v6'\n\toption family 'ipv6'\n\toption target '2000::/3'\n\toption table 'main'\n\toption metric '256'\n\tlist proto 'dhcpv6'\n\tlist interface 'wan_6'\n\n\
             config group\n\toption target '0.0.0.0/0'\n\toption table '100'\n\toption interface 'wan'\n\n\
             config member\n\toption interface 'wan2_6'\n\toption weight '2'\n",
        )
        .unwrap();
        assert!(w.is_empty());
        assert_eq!(c.hash_policy, HashPolicy::L3);
        assert_eq!(c.groups.len(), 2);
        let v6 = &c.groups[0];
        assert_eq!(
            (v6.name.as_str(), v6.key.metric, v6.key.table),
            ("v6", 256, TABLE_MAIN)
        );
        assert_eq!(v6.protos, vec!["dhcpv6"]);
        assert_eq!(v6.interfaces, vec!["wan_6"]);
        let v4 = &c.groups[1];
        assert_eq!(
            (v4.name.as_str(), v4.family(), v4.key.metric, v4.key.table),
            ("@group[0]", Family::V4, 0, 100)
        );
        assert_eq!(c.weights.get("wan2_6"), Weight::new(2).as_ref());
        assert_eq!((v6.mode(&c), v6.resilient), (Mode::Auto, RESILIENT));
        assert!(
            v6.wants("wan6", Some("dhcpv6"))
                && v6.wants("wan_6", None)
                && !v6.wants("wan", Some("dhcp"))
        );
    }

    #[test]
    fn tracking_options_as_mwan3track_names_them() {
        let (c, w) = parse(
            "config group v6\n option target 2000::/3\n list proto dhcpv6\n list track_ip 2001:db8::1\n list track_ip 2001:db8::2\n\
             option reliability 2\n option count 1\n option timeout 1\n option interval 1\n option down 5\n option up 4\n\
             option track_method ping\n option flush_conntrack 0\n\
             config group none\n option target ::/0\n list proto dhcpv6\n\
             config member\n option interface wanb_6\n option track 0\n",
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        let t = c.groups[0].track.as_ref().unwrap();
        assert_eq!(t.ips.len(), 2);
        assert_eq!(
            (t.reliability, t.count, t.timeout, t.interval, t.down, t.up),
            (2, 1, 1000, 1000, 5, 4)
        );
        assert!(!c.groups[0].flush_conntrack);
        assert_eq!(c.groups[1].track, None, "no track_ip: no tracking");
        assert!(c.groups[1].flush_conntrack);
        assert_eq!(c.untracked, ["wanb_6"]);
    }

    #[test]
    fn invalid_values_name_file_and_line() {
        for (text, msg) in [
            (
                "config globals\n option enabled 'maybe'\n",
                ":2: enabled 'maybe' is not a boolean",
            ),
            // Tracking (mwan3track's options, docs/design.md "Tracking").
            (
                "config group g\n option target 2000::/3\n list track_ip 192.0.2.1\n",
                ":3: track_ip 192.0.2.1 is not an ipv6 address, as group 'g' is",
            ),
            (
                "config group g\n list track_ip 2001:db8::1\n option family ipv4\n option target 0.0.0.0/0\n",
                ":2: track_ip 2001:db8::1 is not an ipv4 address",
            ),
            (
                "config group g\n option target 2000::/3\n list track_ip nowhere\n",
                ":3: track_ip 'nowhere' is not an IP address",
            ),
            // One list value is one address (libuci keeps the space; it is no word list).
            (
                "config group g\n option target 2000::/3\n list track_ip '2001:db8::2 2001:db8::3'\n",
                ":3: track_ip '2001:db8::2 2001:db8::3' is not an IP address",
            ),
            (
                "config group g\n option target 2000::/3\n option track_method httping\n",
                ":3: track_method 'httping' is not ping, dns or tcp",
            ),
            (
                "config group g\n option target 2000::/3\n option track_name 'a b'\n",
                ":3: track_name 'a b' is not a DNS name",
            ),
            (
                "config group g\n option target 2000::/3\n option track_port 0\n",
                ":3: track_port '0' is not a number from 1 to 65535",
            ),
            (
                "config group g\n option target 2000::/3\n option interval 0\n",
                ":3: interval '0' is not a number of seconds from 0.1 to 3600",
            ),
            (
                "config group g\n option target 2000::/3\n option down 101\n",
                ":3: down '101' is not a number from 1 to 100",
            ),
            (
                "config group g\n option target 2000::/3\n option up -1\n",
                ":3: up '-1' is not a number from 1 to 100",
            ),
            (
                "config group g\n option target 2000::/3\n option count 1.5\n",
                ":3: count '1.5' is not a number from 1 to 100",
            ),
            (
                "config group g\n option target 2000::/3\n option timeout 61\n",
                ":3: timeout '61' is not a number of seconds from 0.1 to 60",
            ),
            (
                "config group g\n option target 2000::/3\n list track_ip 2001:db8::1\n option reliability 2\n",
                ":4: reliability 2 is more than the 1 track_ip",
            ),
            (
                "config group g\n option target 2000::/3\n option interval 2\n option timeout 3\n",
                ":1: group 'g': timeout 3 is longer than interval 2",
            ),
            (
                "config group g\n option target 2000::/3\n option interval 0.5\n option timeout 0.75\n",
                ":1: group 'g': timeout 0.75 is longer than interval 0.5",
            ),
            (
                "config group g\n option target 2000::/3\n option interval 0.05\n",
                ":3: interval '0.05' is not a number of seconds from 0.1 to 3600",
            ),
            (
                "config group g\n option target 2000::/3\n option timeout 0.1234\n",
                ":3: timeout '0.1234' is not a number of seconds from 0.1 to 60",
            ),
            (
                "config group g\n option target 2000::/3\n option interval .5\n",
                ":3: interval '.5' is not a number of seconds from 0.1 to 3600",
            ),
            (
                "config group g\n option target 2000::/3\n option failure_interval 1e3\n",
                ":3: failure_interval '1e3' is not a number of seconds from 0.1 to 3600",
            ),
            (
                "config group g\n option target 2000::/3\n option flush_conntrack perhaps\n",
                ":3: flush_conntrack 'perhaps' is not a boolean",
            ),
            (
                "config member\n option interface wan\n option track sometimes\n",
                ":3: track 'sometimes' is not a boolean",
            ),
            (
                "config globals\n option hash_policy l5\n",
                ":2: hash_policy 'l5'",
            ),
            ("config group g\n option family ipv5\n", ":2: family 'ipv5'"),
            (
                "config group g\n option family ipv4\n option target 2000::/3\n",
                ":3: target 2000::/3 is not an ipv4 prefix",
            ),
            (
                "config group g\n option target 2001:db8::1/32\n",
                ":2: target '2001:db8::1/32': 2001:db8::1/32 has host bits set",
            ),
            (
                "config group g\n option target 2000::/3\n option table 0\n",
                ":3: table '0'",
            ),
            (
                "config group g\n option target 2000::/3\n option table 4294967296\n",
                ":3: table",
            ),
            (
                "config group g\n option target 2000::/3\n option metric -1\n",
                ":3: metric '-1'",
            ),
            (
                "config group g\n option target 2000::/3\n option metric 0\n",
                ":3: metric 0 is not possible for IPv6",
            ),
            (
                "config group g\n option table main\n",
                ":1: group 'g' has no target",
            ),
            (
                "config member\n option interface w\n option weight 0\n",
                ":3: weight '0'",
            ),
            (
                "config member\n option interface w\n option weight 257\n",
                ":3: weight '257'",
            ),
            (
                "config member\n option weight 2\n",
                ":1: member has no interface",
            ),
            ("config globals\n option mode ecmp\n", ":2: mode 'ecmp'"),
            (
                "config group g\n option target 2000::/3\n option buckets 0\n",
                ":3: buckets '0'",
            ),
            (
                "config group g\n option target 2000::/3\n option buckets 65536\n",
                ":3: buckets '65536'",
            ),
            (
                "config group g\n option target 2000::/3\n option idle_timer 0\n",
                ":3: idle_timer '0' is not a number of seconds from 1 to 86400",
            ),
            (
                "config group g\n option target 2000::/3\n option unbalanced_timer 86401\n",
                ":3: unbalanced_timer '86401'",
            ),
            (
                "config group g\n option target 2000::/3\n list metric 1\n",
                ":3: 'metric' takes one value",
            ),
            (
                "config group a\n option target 2000::/3\nconfig group b\n option target 2000::/3\n",
                ":3: group 'b' has the same route as group 'a'",
            ),
            (
                "config group g\n option target 2000::/3\n option interface 'a b'\n",
                ":3: interface 'a b' is not a valid name",
            ),
            (
                "config group g\n option target '2000::/3\n",
                ":2: EOF with unterminated ' (it opens on this line)",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with("/etc/config/ecmp-hotplug:"), "{e}");
            assert!(e.contains(msg), "{text:?} gave {e:?}, wanted {msg:?}");
        }
    }

    #[test]
    fn values_are_bytes_and_only_a_used_one_must_be_text() {
        // libuci reads bytes: a Latin-1 comment, or a value in an option the tool ignores,
        // change nothing; in a value it uses, that value is the error, with its line.
        let latin1 = b"# r\xe9seau\nconfig group g\n option target 2000::/3\n option note caf\xe9\n list proto dhcpv6\n";
        let (c, w) = Config::parse(latin1, "/etc/config/ecmp-hotplug").unwrap();
        assert_eq!(c.groups[0].protos, ["dhcpv6"]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains(":4: unknown option 'note'"), "{w:?}");
        // A value the tool reads as text that isn't: that value's error.
        let e = Config::parse(
            b"config group g\n option target 2000::/3\n option mode 'auto\xe9'\n",
            "/etc/config/ecmp-hotplug",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "/etc/config/ecmp-hotplug:3: mode 'auto\u{fffd}' is not UTF-8 text"
        );
        // A name that can match nothing (no netifd name is anything but UTF-8) is a warning
        // in every section, and an unknown option's value is never read, in globals too.
        let (c, w) = Config::parse(
            b"config globals\n option colour 'bl\xe9u'\nconfig group g\n option target 2000::/3\n list interface 'wan\xe9'\n list interface wan2\n list proto 'x\xff'\nconfig member\n option interface 'wan\xe9'\n option weight 3\n",
            "/etc/config/ecmp-hotplug",
        )
        .unwrap();
        assert_eq!(c.groups[0].interfaces, ["wan2"]);
        assert!(c.groups[0].protos.is_empty() && c.weights.is_empty());
        // A list is named by its last line (uci::Opt::line).
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].ends_with(":2: unknown option 'colour' in globals ignored"));
        assert!(
            w[1].ends_with(
                ":6: interface 'wan\u{fffd}' is not UTF-8, as no interface's name is: it matches nothing"
            ),
            "{w:?}"
        );
        assert!(w[2].contains(":7: proto 'x\u{fffd}'"), "{w:?}");
        assert!(w[3].contains(":9: interface 'wan\u{fffd}'"), "{w:?}");
    }

    #[test]
    fn every_error_of_a_file_in_one_message() {
        let e = parse(
            "config globals\n option enabled maybe\n option mode ecmp\nconfig group g\n option interval 0\n option target 2000::/3\n option metric 0\nconfig group h\n option table main\nconfig member\n option interface w\n option weight 0\n",
        )
        .unwrap_err()
        .to_string();
        let f = "/etc/config/ecmp-hotplug";
        assert_eq!(
            e,
            format!(
                "{f}:2: enabled 'maybe' is not a boolean (1/0, on/off, true/false, yes/no); \
                 {f}:3: mode 'ecmp' is not auto, resilient or multipath; \
                 {f}:5: interval '0' is not a number of seconds from 0.1 to 3600; \
                 {f}:7: metric 0 is not possible for IPv6 (the kernel makes it 1024); \
                 {f}:8: group 'h' has no target; \
                 {f}:12: weight '0' is not a number from 1 to 256"
            )
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn timers_are_seconds_whole_as_mwan3track_s_or_to_the_millisecond() {
        let track = |extra: &str| {
            let text = format!(
                "config group g\n option target 2000::/3\n list track_ip 2001:db8::1\n{extra}"
            );
            parse(&text).unwrap().0.groups[0].track.clone().unwrap()
        };
        // (option value, milliseconds, shown as)
        for (v, ms, shown) in [
            ("5", 5000, "5"),
            ("1.5", 1500, "1.5"),
            ("0.25", 250, "0.25"),
            ("0.1", 100, "0.1"),
            ("2.000", 2000, "2"),
            ("3600", 3_600_000, "3600"),
        ] {
            let t = track(&format!(" option interval {v}\n option timeout 0.1\n"));
            assert_eq!(t.interval, ms, "{v}");
            assert_eq!(Seconds(t.interval).to_string(), shown, "{v}");
        }
        assert_eq!(
            track(" option failure_interval 0.3\n").failure_interval,
            Some(300)
        );
        assert_eq!(Seconds(TRACK.timeout).to_string(), "0.4");
    }

    #[test]
    fn link_quality_and_pacing_have_mwan3track_s_names_and_defaults() {
        let group = "config group g\n option target 2000::/3\n list track_ip 2001:db8::1\n";
        let track = |extra: &str| {
            parse(&format!("{group}{extra}")).unwrap().0.groups[0]
                .track
                .clone()
                .unwrap()
        };
        let plain = track("");
        assert_eq!(
            (
                plain.quality,
                plain.failure_interval,
                plain.recovery_interval
            ),
            (None, None, None)
        );
        // check_quality alone: mwan3track's thresholds (1000 ms, 500 ms, 40 %, 10 %).
        assert_eq!(track(" option check_quality 1\n").quality, Some(QUALITY));
        let tuned = track(
            " option check_quality 1\n option failure_latency 300\n option recovery_latency 150\n option failure_loss 20\n option recovery_loss 5\n option failure_interval 1\n option recovery_interval 2\n",
        );
        assert_eq!(
            tuned.quality,
            Some(Quality {
                failure_latency: 300,
                recovery_latency: 150,
                failure_loss: 20,
                recovery_loss: 5
            })
        );
        assert_eq!(
            (tuned.failure_interval, tuned.recovery_interval),
            (Some(1000), Some(2000))
        );
        assert_eq!(plain.method, Method::Ping);
        assert_eq!(
            track(" option track_method dns\n").method,
            Method::Dns {
                port: 53,
                name: ".".into()
            }
        );
        assert_eq!(
            track(" option track_method dns\n option track_name example.org\n option track_port 5353\n").method,
            Method::Dns {
                port: 5353,
                name: "example.org".into()
            }
        );
        assert_eq!(
            track(" option track_method tcp\n").method,
            Method::Tcp { port: 443 }
        );
        // Thresholds without check_quality are kept out of judging, as in mwan3track.
        assert_eq!(track(" option failure_loss 20\n").quality, None);
        let e = parse(&format!("{group} option failure_loss 101\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with(":4: failure_loss '101' is not a number from 0 to 100"),
            "{e}"
        );
    }

    #[test]
    fn a_member_s_metric_is_mwan3_s_tier_from_1_to_256() {
        let (c, _) = parse(
            "config group g\n option target 2000::/3\n option metric 2048\nconfig member\n option interface wanb\n option metric 2\nconfig member\n option interface wan\n",
        )
        .unwrap();
        // The group's `metric` is its route's; a member's is its tier (absent: 1).
        assert_eq!(c.groups[0].key.metric, 2048);
        assert_eq!(c.metrics.get("wanb"), Some(&2));
        assert_eq!(c.metrics.get("wan"), None);
        for bad in ["0", "257", "-1", "1.5", "x"] {
            let e = parse(&format!(
                "config member\n option interface wanb\n option metric '{bad}'\n"
            ))
            .unwrap_err()
            .to_string();
            assert_eq!(
                e,
                format!("/etc/config/ecmp-hotplug:3: metric '{bad}' is not a number from 1 to 256")
            );
        }
    }

    #[test]
    fn unknown_things_and_memberless_groups_warn() {
        let (c, w) = parse(
            "config globals\n option colour blue\nconfig fancy\nconfig group g\n option target 10.0.0.0/8\n option speed 9\n",
        )
        .unwrap();
        assert_eq!(c.groups.len(), 1);
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].ends_with(":2: unknown option 'colour' in globals ignored"));
        assert!(w[1].ends_with(":3: unknown section type 'fancy' ignored"));
        assert!(w[2].contains(":6: unknown option 'speed'"));
        assert!(w[3].contains(":4: group 'g' has neither proto nor interface"));
    }

    #[test]
    fn modes_and_resilient_options() {
        let (c, w) = parse(
            "config group a\n option target 2000::/3\n option mode multipath\n list proto dhcpv6\n\
             config group b\n option target 0.0.0.0/0\n list proto dhcp\n option buckets 32\n option idle_timer 5\n option unbalanced_timer 0\n\
             config globals\n option mode resilient\n",
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.groups[0].mode(&c), Mode::Multipath);
        assert_eq!(
            c.groups[1].mode(&c),
            Mode::Resilient,
            "globals after the group"
        );
        assert_eq!(
            c.groups[1].resilient,
            Resilient {
                buckets: 32,
                idle_timer: 500,
                unbalanced_timer: 0
            }
        );
    }

    #[test]
    fn enabled_0_and_empty_files() {
        let (c, _) = parse("config globals\n option enabled 0\n").unwrap();
        assert!(!c.enabled);
        let (c, w) = parse("").unwrap();
        assert!(c.enabled && c.groups.is_empty() && w.is_empty());
    }

    #[test]
    fn a_missing_default_file_is_the_builtin_but_a_named_one_is_an_error() {
        let missing = Path::new("/nonexistent/ecmp-hotplug");
        assert_eq!(Config::load(missing, false).unwrap().0, Config::builtin());
        assert!(
            Config::load(missing, true)
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/ecmp-hotplug")
        );
    }
}
