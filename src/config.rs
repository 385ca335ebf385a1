//! What `/etc/config/ecmp-hotplug` means: validated groups, member weights and globals.
//!
//! Every value is checked here, once, and reported with file and line; every error of a file
//! in one message, so that one edit can mend them all. An unknown option or section is a
//! warning, never an error, so that a config written for a newer version still loads; so is a
//! name that can match nothing (one that is no UTF-8, as no interface name is). Without a
//! config file the built-in default reproduces the original shell setup.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::route::{Family, Prefix, Resilient, RouteKey, TABLE_DEFAULT, TABLE_MAIN, Weight};
use crate::uci::{self, Section, Value};

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
const MAX_TIMER: u32 = 86_400;

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
    /// Echo targets, of the group's family.
    pub ips: Vec<std::net::IpAddr>,
    /// How many targets must answer for a round to pass.
    pub reliability: u32,
    /// Echoes per target per round; one answer is enough for the target.
    pub count: u32,
    /// Seconds a round waits for answers.
    pub timeout: u32,
    /// Seconds from one round's start to the next.
    pub interval: u32,
    /// Failed rounds in a row that make a member offline …
    pub down: u32,
    /// … and passed rounds in a row that make it online again.
    pub up: u32,
}

/// Tracking's defaults (docs/design.md, "Tracking", has the arithmetic): a round every 5 s of two
/// echoes to each target; 3 failed rounds take a member out (in at most 17 s), 3 passed
/// rounds bring it back (at most 15 s). At 36% echo loss (20% per direction) a round with
/// two targets fails with p = 0.36^4 = 1.7%, three in a row with 4.7e-6: one false offline
/// per 12 days of rounds.
pub const TRACK: Track = Track {
    ips: Vec::new(),
    reliability: 1,
    count: 2,
    timeout: 2,
    interval: 5,
    down: 3,
    up: 3,
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

/// Reads sections into a config, collecting what it has to say: a bad value is recorded and
/// the reading goes on, so the caller hears of all of them.
struct Reader<'a> {
    file: &'a str,
    warnings: RefCell<Vec<String>>,
    errors: RefCell<Vec<String>>,
}

impl Reader<'_> {
    // `&dyn`, not `impl`: one copy of each in the binary rather than one per message type.
    /// `FILE:LINE: NAME 'VALUE' is not WANT`: one formatting for every bad value (each
    /// `format!` of its own cost ~150 bytes on mipsel).
    fn invalid(&self, line: usize, name: &str, value: &str, want: &str) -> ConfigError {
        ConfigError(format!(
            "{}:{line}: {name} '{value}' is not {want}",
            self.file
        ))
    }

    fn error(&self, line: usize, msg: &dyn fmt::Display) -> ConfigError {
        ConfigError(format!("{}:{line}: {msg}", self.file))
    }

    fn warn(&self, line: usize, msg: &dyn fmt::Display) {
        self.warnings
            .borrow_mut()
            .push(format!("{}:{line}: {msg}", self.file));
    }

    /// Records an error; the reading goes on.
    fn fail(&self, e: ConfigError) {
        self.errors.borrow_mut().push(e.0);
    }

    /// Reads each option of `section` with `read`, which answers whether it knew the option;
    /// one it didn't is a warning naming `whose` section, an error is recorded.
    fn options(
        &self,
        section: &Section,
        whose: &str,
        mut read: impl FnMut(&uci::Opt) -> Result<bool, ConfigError>,
    ) {
        for opt in &section.options {
            match read(opt) {
                Ok(true) => {}
                Ok(false) => self.warn(
                    opt.line,
                    &format!("unknown option '{}' in {whose} ignored", opt.name),
                ),
                Err(e) => self.fail(e),
            }
        }
    }

    fn config(&self, sections: &[Section]) -> Config {
        let mut config = Config {
            enabled: true,
            hash_policy: HashPolicy::L4,
            mode: Mode::Auto,
            groups: Vec::new(),
            weights: BTreeMap::new(),
            untracked: Vec::new(),
        };
        let mut anonymous_groups = 0;
        for section in sections {
            match section.kind.as_str() {
                "globals" => self.globals(section, &mut config),
                "group" => {
                    let name = match &section.name {
                        Some(name) => name.clone(),
                        None => format!("@group[{anonymous_groups}]"),
                    };
                    if section.name.is_none() {
                        anonymous_groups += 1;
                    }
                    let Some(group) = self.group(section, name) else {
                        continue;
                    };
                    if let Some(other) = config.groups.iter().find(|g| g.key == group.key) {
                        self.fail(self.error(
                            section.line,
                            &format!(
                                "group '{}' has the same route as group '{}' ({})",
                                group.name, other.name, group.key
                            ),
                        ));
                        continue;
                    }
                    config.groups.push(group);
                }
                "member" => self.member(section, &mut config),
                other => self.warn(
                    section.line,
                    &format!("unknown section type '{other}' ignored"),
                ),
            }
        }
        config
    }

    fn globals(&self, section: &Section, config: &mut Config) {
        self.options(section, "globals", |opt| {
            match opt.name.as_str() {
                "enabled" => {
                    config.enabled = self.boolean(opt.line, "enabled", self.single(opt)?)?
                }
                "hash_policy" => {
                    config.hash_policy = match self.single(opt)? {
                        "l3" => HashPolicy::L3,
                        "l4" => HashPolicy::L4,
                        "keep" => HashPolicy::Keep,
                        v => {
                            return Err(self.invalid(opt.line, "hash_policy", v, "l3, l4 or keep"));
                        }
                    }
                }
                "mode" => config.mode = self.mode(opt.line, self.single(opt)?)?,
                _ => return Ok(false),
            }
            Ok(true)
        });
    }

    /// The group, or `None` where it has no target (its errors are recorded either way).
    fn group(&self, section: &Section, name: String) -> Option<Group> {
        let mut family = None;
        let mut target = None;
        let mut table = TABLE_MAIN;
        let mut metric = None;
        let mut protos = Vec::new();
        let mut interfaces = Vec::new();
        let mut mode = None;
        let mut resilient = RESILIENT;
        let mut track = TRACK;
        let mut ips = Vec::new();
        let mut reliability = None;
        let mut flush_conntrack = true;
        let whose = format!("group '{name}'");
        self.options(section, &whose, |opt| {
            match opt.name.as_str() {
                "mode" => mode = Some(self.mode(opt.line, self.single(opt)?)?),
                "track_ip" => {
                    for v in opt.value.items() {
                        let v = self.text(opt, v)?;
                        let ip = v
                            .parse::<std::net::IpAddr>()
                            .map_err(|_| self.invalid(opt.line, "track_ip", v, "an IP address"))?;
                        ips.push((ip, opt.line));
                    }
                }
                "track_method" => match self.single(opt)? {
                    "ping" => {}
                    v => return Err(self.invalid(opt.line, "track_method", v, "ping")),
                },
                "reliability" => reliability = Some((self.count(opt, 1, 100)?, opt.line)),
                "count" => track.count = self.count(opt, 1, 100)?,
                "timeout" => track.timeout = self.count(opt, 1, 60)?,
                "interval" => track.interval = self.count(opt, 1, 3600)?,
                "down" => track.down = self.count(opt, 1, 100)?,
                "up" => track.up = self.count(opt, 1, 100)?,
                "flush_conntrack" => {
                    flush_conntrack = self.boolean(opt.line, &opt.name, self.single(opt)?)?
                }
                "buckets" => {
                    let v = self.single(opt)?;
                    resilient.buckets = v.parse().ok().filter(|&b| b > 0).ok_or_else(|| {
                        self.invalid(opt.line, "buckets", v, "a number from 1 to 65535")
                    })?;
                }
                "idle_timer" => {
                    resilient.idle_timer = self.timer(opt, 1)?;
                }
                "unbalanced_timer" => {
                    resilient.unbalanced_timer = self.timer(opt, 0)?;
                }
                "family" => {
                    family = Some(match self.single(opt)? {
                        "ipv4" => Family::V4,
                        "ipv6" => Family::V6,
                        v => {
                            return Err(self.invalid(opt.line, "family", v, "ipv4 or ipv6"));
                        }
                    })
                }
                "target" => {
                    let v = self.single(opt)?;
                    let prefix: Prefix = v
                        .parse()
                        .map_err(|e| self.error(opt.line, &format!("target '{v}': {e}")))?;
                    target = Some((prefix, opt.line));
                }
                "table" => table = self.table(opt.line, self.single(opt)?)?,
                "metric" => {
                    let v = self.single(opt)?;
                    let m: u32 = v.parse().map_err(|_| {
                        self.invalid(opt.line, "metric", v, "a number from 0 to 4294967295")
                    })?;
                    metric = Some((m, opt.line));
                }
                "proto" => protos.extend(self.names(opt)?),
                "interface" => interfaces.extend(self.names(opt)?),
                _ => return Ok(false),
            }
            Ok(true)
        });
        let Some((dst, target_line)) = target else {
            self.fail(self.error(section.line, &format!("group '{name}' has no target")));
            return None;
        };
        let family = family.unwrap_or(dst.family());
        if dst.family() != family {
            self.fail(self.error(
                target_line,
                &format!("target {dst} is not an {family} prefix"),
            ));
        }
        let metric = match metric {
            Some((0, line)) if family == Family::V6 => {
                self.fail(self.error(
                    line,
                    &"metric 0 is not possible for IPv6 (the kernel makes it 1024)",
                ));
                0
            }
            Some((m, _)) => m,
            None => default_metric(family),
        };
        for (ip, line) in &ips {
            if Family::of(ip) != family {
                self.fail(self.error(
                    *line,
                    &format!("track_ip {ip} is not an {family} address, as group '{name}' is"),
                ));
            }
        }
        track.ips = ips.into_iter().map(|(ip, _)| ip).collect();
        if let Some((r, line)) = reliability {
            if r as usize > track.ips.len() {
                self.fail(self.error(
                    line,
                    &format!(
                        "reliability {r} is more than the {} track_ip",
                        track.ips.len()
                    ),
                ));
            }
            track.reliability = r;
        }
        if track.timeout > track.interval {
            self.fail(self.error(
                section.line,
                &format!(
                    "group '{name}': timeout {} is longer than interval {}",
                    track.timeout, track.interval
                ),
            ));
        }
        let track = (!track.ips.is_empty()).then_some(track);
        if protos.is_empty() && interfaces.is_empty() {
            self.warn(
                section.line,
                &format!("group '{name}' has neither proto nor interface: it has no members"),
            );
        }
        Some(Group {
            name,
            key: RouteKey { table, dst, metric },
            protos,
            interfaces,
            mode,
            resilient,
            track,
            flush_conntrack,
        })
    }

    /// A whole number from `lo` to `hi`.
    #[inline(never)]
    fn count(&self, opt: &uci::Opt, lo: u32, hi: u32) -> Result<u32, ConfigError> {
        let v = self.single(opt)?;
        v.parse::<u32>()
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| {
                self.invalid(
                    opt.line,
                    &opt.name,
                    v,
                    &format!("a number from {lo} to {hi}"),
                )
            })
    }

    fn mode(&self, line: usize, v: &str) -> Result<Mode, ConfigError> {
        match v {
            "auto" => Ok(Mode::Auto),
            "resilient" => Ok(Mode::Resilient),
            "multipath" => Ok(Mode::Multipath),
            _ => Err(self.invalid(line, "mode", v, "auto, resilient or multipath")),
        }
    }

    /// A resilient-group timer in whole seconds, `min` to a day; returned in `clock_t`.
    fn timer(&self, opt: &uci::Opt, min: u32) -> Result<u32, ConfigError> {
        let v = self.single(opt)?;
        v.parse::<u32>()
            .ok()
            .filter(|t| (min..=MAX_TIMER).contains(t))
            .map(|t| t * CLOCK_T_PER_SECOND)
            .ok_or_else(|| {
                self.invalid(
                    opt.line,
                    &opt.name,
                    v,
                    &format!("a number of seconds from {min} to {MAX_TIMER}"),
                )
            })
    }

    fn member(&self, section: &Section, config: &mut Config) {
        let mut interface = None;
        let mut weight = Weight::ONE;
        let mut track = true;
        self.options(section, "member", |opt| {
            match opt.name.as_str() {
                "track" => track = self.boolean(opt.line, "track", self.single(opt)?)?,
                "interface" => {
                    let Value::Single(v) = &opt.value else {
                        self.single(opt)?;
                        return Ok(true);
                    };
                    // `Some(None)`: named, but by a name no interface has.
                    interface = Some(self.name(opt, v)?);
                }
                "weight" => {
                    let v = self.single(opt)?;
                    weight = v.parse::<u16>().ok().and_then(Weight::new).ok_or_else(|| {
                        self.invalid(opt.line, "weight", v, "a number from 1 to 256")
                    })?;
                }
                _ => return Ok(false),
            }
            Ok(true)
        });
        let interface = match interface {
            None => return self.fail(self.error(section.line, &"member has no interface")),
            Some(None) => return,
            Some(Some(interface)) => interface,
        };
        if !track {
            config.untracked.push(interface.clone());
        }
        if config.weights.insert(interface.clone(), weight).is_some() {
            self.warn(
                section.line,
                &format!("interface '{interface}' has more than one member section; the last wins"),
            );
        }
    }

    /// The option's one value, as text. Values are bytes as libuci reads them; one that is no
    /// UTF-8 is this value's error, not the file's (a Latin-1 comment is nobody's).
    fn single<'o>(&self, opt: &'o uci::Opt) -> Result<&'o str, ConfigError> {
        match &opt.value {
            Value::Single(s) => self.text(opt, s),
            Value::List(_) => Err(self.error(
                opt.line,
                &format!("'{}' takes one value, not a list", opt.name),
            )),
        }
    }

    fn text<'o>(&self, opt: &uci::Opt, bytes: &'o [u8]) -> Result<&'o str, ConfigError> {
        std::str::from_utf8(bytes).map_err(|_| {
            self.invalid(
                opt.line,
                &opt.name,
                &String::from_utf8_lossy(bytes),
                "UTF-8 text",
            )
        })
    }

    /// Every name of a `proto` or `interface` list that can match something.
    fn names(&self, opt: &uci::Opt) -> Result<Vec<String>, ConfigError> {
        let mut names = Vec::new();
        for v in opt.value.items() {
            names.extend(self.name(opt, v)?);
        }
        Ok(names)
    }

    /// An interface or proto name. One that is no UTF-8 can match nothing (netifd's names
    /// reach us as JSON text): a warning, and `None`.
    fn name(&self, opt: &uci::Opt, bytes: &[u8]) -> Result<Option<String>, ConfigError> {
        let Ok(v) = std::str::from_utf8(bytes) else {
            self.warn(
                opt.line,
                &format!(
                    "{} '{}' is not UTF-8, as no interface's name is: it matches nothing",
                    opt.name,
                    String::from_utf8_lossy(bytes)
                ),
            );
            return Ok(None);
        };
        if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self.invalid(opt.line, &opt.name, v, "a valid name"));
        }
        Ok(Some(v.to_string()))
    }

    fn boolean(&self, line: usize, name: &str, v: &str) -> Result<bool, ConfigError> {
        match v {
            "1" | "on" | "true" | "yes" | "enabled" => Ok(true),
            "0" | "off" | "false" | "no" | "disabled" => Ok(false),
            _ => Err(self.invalid(line, name, v, "a boolean (1/0, on/off, true/false, yes/no)")),
        }
    }

    fn table(&self, line: usize, v: &str) -> Result<u32, ConfigError> {
        match v {
            "main" => Ok(TABLE_MAIN),
            "default" => Ok(TABLE_DEFAULT),
            _ => match v.parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(self.invalid(
                    line,
                    "table",
                    v,
                    "main, default or a number from 1 to 4294967295",
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<(Config, Vec<String>), ConfigError> {
        Config::parse(s.as_bytes(), "/etc/config/ecmp-hotplug")
    }

    #[test]
    fn the_shipped_file_is_the_builtin_default() {
        let shipped = include_str!("../files/etc/config/ecmp-hotplug");
        let (config, warnings) = parse(shipped).unwrap();
        assert_eq!(config, Config::builtin());
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn the_shipped_ipv4_example_is_valid_once_uncommented() {
        let shipped = include_str!("../files/etc/config/ecmp-hotplug");
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
            (2, 1, 1, 1, 5, 4)
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
                ":3: track_method 'httping' is not ping",
            ),
            (
                "config group g\n option target 2000::/3\n option interval 0\n",
                ":3: interval '0' is not a number from 1 to 3600",
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
                ":3: timeout '61' is not a number from 1 to 60",
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
                 {f}:5: interval '0' is not a number from 1 to 3600; \
                 {f}:7: metric 0 is not possible for IPv6 (the kernel makes it 1024); \
                 {f}:8: group 'h' has no target; \
                 {f}:12: weight '0' is not a number from 1 to 256"
            )
        );
        assert!(!e.contains('\n'));
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
