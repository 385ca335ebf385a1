//! Reading libuci's sections into a [`Config`]: every option checked, every error of a file
//! collected.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use super::{
    CLOCK_T_PER_SECOND, Config, ConfigError, Group, HashPolicy, MAX_TIMER, Mode, RESILIENT, TRACK,
    default_metric,
};
use crate::route::{Family, Prefix, RouteKey, TABLE_DEFAULT, TABLE_MAIN, Weight};
use crate::uci::{self, Section, Value};

/// Reads sections into a config, collecting what it has to say: a bad value is recorded and
/// the reading goes on, so the caller hears of all of them.
pub(super) struct Reader<'a> {
    pub(super) file: &'a str,
    pub(super) warnings: RefCell<Vec<String>>,
    pub(super) errors: RefCell<Vec<String>>,
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

    pub(super) fn config(&self, sections: &[Section]) -> Config {
        let mut config = Config {
            enabled: true,
            hash_policy: HashPolicy::L4,
            mode: Mode::Auto,
            groups: Vec::new(),
            weights: BTreeMap::new(),
            untracked: Vec::new(),
            metrics: BTreeMap::new(),
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
        let mut check_quality = false;
        let mut method = "ping";
        let mut port = None;
        let mut dns_name = None;
        let mut quality = super::QUALITY;
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
                "track_method" => {
                    method = match self.single(opt)? {
                        "ping" => "ping",
                        "dns" => "dns",
                        "tcp" => "tcp",
                        v => {
                            return Err(self.invalid(
                                opt.line,
                                "track_method",
                                v,
                                "ping, dns or tcp",
                            ));
                        }
                    }
                }
                "track_port" => port = Some(self.count(opt, 1, 65535)? as u16),
                "track_name" => {
                    let v = self.single(opt)?;
                    if !crate::dns::name_ok(v) {
                        return Err(self.invalid(opt.line, "track_name", v, "a DNS name"));
                    }
                    dns_name = Some(v.to_string());
                }
                "reliability" => reliability = Some((self.count(opt, 1, 100)?, opt.line)),
                "count" => track.count = self.count(opt, 1, 100)?,
                "timeout" => track.timeout = self.seconds(opt, 60)?,
                "interval" => track.interval = self.seconds(opt, 3600)?,
                "down" => track.down = self.count(opt, 1, 100)?,
                "up" => track.up = self.count(opt, 1, 100)?,
                "failure_interval" => track.failure_interval = Some(self.seconds(opt, 3600)?),
                "recovery_interval" => track.recovery_interval = Some(self.seconds(opt, 3600)?),
                "check_quality" => {
                    check_quality = self.boolean(opt.line, &opt.name, self.single(opt)?)?
                }
                "failure_latency" => quality.failure_latency = self.count(opt, 1, 60_000)?,
                "recovery_latency" => quality.recovery_latency = self.count(opt, 1, 60_000)?,
                "failure_loss" => quality.failure_loss = self.count(opt, 0, 100)?,
                "recovery_loss" => quality.recovery_loss = self.count(opt, 0, 100)?,
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
        track.quality = check_quality.then_some(quality);
        track.method = match method {
            "dns" => super::Method::Dns {
                port: port.unwrap_or(53),
                name: dns_name.unwrap_or_else(|| super::DNS_NAME.into()),
            },
            "tcp" => super::Method::Tcp {
                port: port.unwrap_or(443),
            },
            _ => super::Method::Ping,
        };
        if track.timeout > track.interval {
            self.fail(self.error(
                section.line,
                &format!(
                    "group '{name}': timeout {} is longer than interval {}",
                    super::Seconds(track.timeout),
                    super::Seconds(track.interval)
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

    /// Seconds from 0.1 to `hi`, to the millisecond ("1", "1.5", "0.25"): mwan3track's whole
    /// seconds, and the fractions detection in seconds needs. In milliseconds.
    #[inline(never)]
    fn seconds(&self, opt: &uci::Opt, hi: u32) -> Result<u32, ConfigError> {
        let v = self.single(opt)?;
        let (whole, fraction) = v.split_once('.').unwrap_or((v, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let ms = (!whole.is_empty() && digits(whole) && fraction.len() <= 3 && digits(fraction))
            .then(|| {
                let whole = whole.parse::<u32>().ok()?.checked_mul(1000)?;
                let fraction = format!("{fraction:0<3}").parse::<u32>().ok()?;
                whole.checked_add(fraction)
            })
            .flatten()
            .filter(|ms| (100..=hi * 1000).contains(ms));
        ms.ok_or_else(|| {
            self.invalid(
                opt.line,
                &opt.name,
                v,
                &format!("a number of seconds from 0.1 to {hi}"),
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
        let mut metric = None;
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
                // mwan3's range (`mwan3_set_policy` skips a member above 256 with a warning;
                // LuCI's form takes 1 to 256).
                "metric" => {
                    let v = self.single(opt)?;
                    metric = Some(
                        v.parse::<u16>()
                            .ok()
                            .filter(|m| (1..=256).contains(m))
                            .ok_or_else(|| {
                                self.invalid(opt.line, "metric", v, "a number from 1 to 256")
                            })?,
                    );
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
        if let Some(metric) = metric {
            config.metrics.insert(interface.clone(), metric);
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
