//! Routes as ecmp-hotplug sees them: the domain types shared by the planner and the kernel seam.
//!
//! Everything here is validated on construction (a `Prefix` has no host bits, a `Weight` is
//! 1..=256), so code past the edges never re-checks. Nothing here does I/O; the wire form of
//! these types lives in `netlink::wire`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The `rtm_protocol` value on every route ecmp-hotplug writes, and the only one it deletes.
///
/// 236 (0xEC, "ECmp") is in none of: the kernel's uapi `RTPROT_*` list, iproute2's
/// `rt_protos` (bird 12, babel 42, openr 99, bgp 186 … eigrp 192), FRR's zebra range (186–198),
/// or the values netifd, odhcp6c and systemd-networkd use (static 4, ra 9, dhcp 16, kernel 2).
pub const PROTOCOL: u8 = 236;

/// Names a route's `rtm_protocol` the way `ip route` does, for messages.
pub struct ProtocolName(pub u8);

impl fmt::Display for ProtocolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            PROTOCOL => "ecmp-hotplug",
            1 => "redirect",
            2 => "kernel",
            3 => "boot",
            4 => "static",
            9 => "ra",
            11 => "zebra",
            12 => "bird",
            16 => "dhcp",
            42 => "babel",
            186 => "bgp",
            188 => "ospf",
            n => return write!(f, "{n}"),
        };
        f.write_str(name)
    }
}

/// Well-known routing table numbers (`RT_TABLE_*`).
pub const TABLE_DEFAULT: u32 = 253;
pub const TABLE_MAIN: u32 = 254;
pub const TABLE_LOCAL: u32 = 255;

/// `RTN_UNICAST`: the only route type ecmp-hotplug writes.
pub const RTN_UNICAST: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The name used in the config file and in `status`.
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    pub fn max_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    pub fn unspecified(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An address prefix with no bits set past its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// Fails when `len` is too long for the family or `addr` has host bits set.
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, String> {
        let family = Family::of(&addr);
        if len > family.max_len() {
            return Err(format!(
                "prefix length {len} is longer than {}",
                family.max_len()
            ));
        }
        let masked = mask(addr, len);
        if masked != addr {
            return Err(format!(
                "{addr}/{len} has host bits set (did you mean {masked}/{len}?)"
            ));
        }
        Ok(Prefix { addr, len })
    }

    /// The prefix that covers everything of a family (`0.0.0.0/0`, `::/0`).
    pub fn any(family: Family) -> Prefix {
        Prefix {
            addr: family.unspecified(),
            len: 0,
        }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn length(&self) -> u8 {
        self.len
    }

    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a) & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a) & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

impl FromStr for Prefix {
    type Err = String;

    /// `addr/len`; a bare address is a host route (/32, /128).
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{addr}' is not an IP address"))?;
        let len = match len {
            None => Family::of(&addr).max_len(),
            Some(len) => len
                .parse()
                .map_err(|_| format!("'{len}' is not a prefix length"))?,
        };
        Prefix::new(addr, len)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A multipath weight, 1..=256 (on the wire as `rtnh_hops` = weight − 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(u16);

impl Weight {
    pub const ONE: Weight = Weight(1);
    pub const MAX: u16 = 256;

    pub fn new(weight: u16) -> Option<Weight> {
        (1..=Weight::MAX)
            .contains(&weight)
            .then_some(Weight(weight))
    }

    pub fn from_hops(hops: u8) -> Weight {
        Weight(u16::from(hops) + 1)
    }

    pub fn hops(self) -> u8 {
        u8::try_from(self.0 - 1).unwrap_or(u8::MAX)
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One leg of a route. `gateway: None` is a device-only (on-link) nexthop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nexthop {
    pub ifindex: u32,
    pub gateway: Option<IpAddr>,
    pub weight: Weight,
}

/// What identifies a group's route to the kernel: a replace at the same key replaces whatever
/// route is there. IPv4 also keys on TOS and IPv6 on the source prefix; ecmp-hotplug's routes
/// always have neither, so those live on [`Route`] and a route holds a key only when both are
/// unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteKey {
    pub table: u32,
    pub dst: Prefix,
    pub metric: u32,
}

impl RouteKey {
    pub fn family(&self) -> Family {
        self.dst.family()
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} table {} metric {}",
            self.dst,
            TableName(self.table),
            self.metric
        )
    }
}

/// Shows a table number the way `ip route` does.
pub struct TableName(pub u32);

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            TABLE_MAIN => f.write_str("main"),
            TABLE_DEFAULT => f.write_str("default"),
            TABLE_LOCAL => f.write_str("local"),
            n => n.fmt(f),
        }
    }
}

/// A route as the kernel holds it (or as ecmp-hotplug wants it held).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub key: RouteKey,
    /// IPv6 source-specific routes ("from"); always `None` for routes this tool writes.
    pub src: Option<Prefix>,
    pub tos: u8,
    pub protocol: u8,
    /// `rtm_type` (`RTN_UNICAST`, blackhole, unreachable, …).
    pub kind: u8,
    /// Sorted by ifindex then gateway; empty for routes without nexthops (blackhole, …).
    /// A route over a nexthop object has them too: the kernel lists the object's legs.
    pub nexthops: Vec<Nexthop>,
    /// The nexthop object the route uses (`RTA_NH_ID`), instead of nexthops of its own.
    pub nh_id: Option<u32>,
    /// The legs the kernel marks as not used (`RTNH_F_DEAD`, `RTNH_F_LINKDOWN`), by ifindex and
    /// gateway, with those flags: what `ip route` shows as `dead`/`linkdown`. Only for routes
    /// read from the kernel; never compared ([`Route::same_as`]).
    pub leg_flags: Vec<(u32, Option<IpAddr>, u8)>,
}

impl Route {
    /// A unicast route at `key` of `protocol`, whoever wrote it: what the kernel reports goes
    /// through here too, then gets its source, tos, type and object from the message.
    pub fn new(key: RouteKey, protocol: u8, mut nexthops: Vec<Nexthop>) -> Route {
        nexthops.sort();
        Route {
            key,
            src: None,
            tos: 0,
            protocol,
            kind: RTN_UNICAST,
            nexthops,
            nh_id: None,
            leg_flags: Vec::new(),
        }
    }

    /// The kernel's flags on the leg through `ifindex` and `gateway` (0: in use).
    pub fn flags_of(&self, ifindex: u32, gateway: Option<IpAddr>) -> u8 {
        self.leg_flags
            .iter()
            .find(|(i, g, _)| *i == ifindex && *g == gateway)
            .map_or(0, |(_, _, f)| *f)
    }

    /// The route ecmp-hotplug writes for a group.
    pub fn owned(key: RouteKey, nexthops: Vec<Nexthop>) -> Route {
        Route::new(key, PROTOCOL, nexthops)
    }

    /// The route ecmp-hotplug writes for a group in resilient mode: through nexthop object
    /// `id`, whose legs are `nexthops`.
    pub fn owned_via(key: RouteKey, id: u32, nexthops: Vec<Nexthop>) -> Route {
        Route {
            nh_id: Some(id),
            ..Route::owned(key, nexthops)
        }
    }

    pub fn is_owned(&self) -> bool {
        self.protocol == PROTOCOL
    }

    /// Whether this route sits at `key`, so that writing `key` would replace it.
    pub fn holds(&self, key: &RouteKey) -> bool {
        self.key == *key && self.src.is_none() && self.tos == 0
    }

    /// Whether writing `other` would leave this route as it is: the same nexthop object, or
    /// no object and the same nexthops.
    pub fn same_as(&self, other: &Route) -> bool {
        match (self.nh_id, other.nh_id) {
            (None, None) => self.same_nexthops(other),
            (a, b) => a == b && self.kind == other.kind,
        }
    }

    /// Same nexthops as `other`, in any order. A single nexthop carries no weight in the
    /// kernel, so weights are compared only for multipath routes.
    pub fn same_nexthops(&self, other: &Route) -> bool {
        let strip = |r: &Route| -> Vec<Nexthop> {
            let mut v = r.nexthops.clone();
            if v.len() == 1 {
                v.iter_mut().for_each(|nh| nh.weight = Weight::ONE);
            }
            v.sort();
            v
        };
        self.kind == other.kind && strip(self) == strip(other)
    }
}

/// A nexthop object (kernel ≥ 5.3): one leg, or a group of other objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub id: u32,
    pub protocol: u8,
    pub kind: ObjectKind,
}

impl Object {
    pub fn is_owned(&self) -> bool {
        self.protocol == PROTOCOL
    }
}

/// A policy rule that looks up `table`: ecmp-hotplug writes two per uplink and family, so
/// that whatever is bound to the uplink's device (its probes, and other programs' sockets)
/// leaves by it (docs/design.md, "Uplink paths").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub priority: u32,
    /// `oif`: packets routed out of this device, as a socket bound to it asks.
    pub oif: Option<String>,
    /// `fwmark` (mask all ones): only read, for the rules earlier versions wrote.
    pub mark: Option<u32>,
    pub table: u32,
    /// `suppress_prefixlength`: a route of `table` this long or shorter is not taken.
    pub suppress: Option<u8>,
    pub protocol: u8,
}

impl Rule {
    pub fn is_owned(&self) -> bool {
        self.protocol == PROTOCOL
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rule {}:", self.family.name(), self.priority)?;
        if let Some(oif) = &self.oif {
            write!(f, " oif {oif}")?;
        }
        if let Some(mark) = self.mark {
            write!(f, " fwmark {mark:#x}")?;
        }
        write!(f, " lookup {}", TableName(self.table))?;
        if let Some(len) = self.suppress {
            write!(f, " suppress_prefixlength {len}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// `gateway: None` is device-only; `family` is the gateway's (IPv4 for device-only).
    Leg {
        family: Family,
        ifindex: u32,
        gateway: Option<IpAddr>,
    },
    /// Members by object id, sorted by id; `resilient: None` is a plain multipath group.
    Group {
        members: Vec<(u32, Weight)>,
        resilient: Option<Resilient>,
    },
    /// Anything else the kernel may hold (blackhole, FDB, encap): never written here.
    Other,
}

/// A resilient group's table (kernel ≥ 5.13): `buckets` and the timers in 1/100 s
/// (`clock_t`, as netlink carries them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resilient {
    pub buckets: u16,
    pub idle_timer: u32,
    pub unbalanced_timer: u32,
}

/// A sysctl of this network namespace that ecmp-hotplug sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sysctl {
    /// `net.<family>.fib_multipath_hash_policy`: 0 hashes L3, 1 L4.
    HashPolicy(Family),
    /// `net.<family>.conf.<device>.ignore_routes_with_linkdown`.
    IgnoreLinkdown(Family, String),
}

impl fmt::Display for Sysctl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sysctl::HashPolicy(family) => write!(f, "net.{family}.fib_multipath_hash_policy"),
            Sysctl::IgnoreLinkdown(family, device) => {
                write!(f, "net.{family}.conf.{device}.ignore_routes_with_linkdown")
            }
        }
    }
}

/// One network device as read at the start of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub index: u32,
    /// Up with carrier (`IFF_UP` and `IFF_LOWER_UP`).
    pub carrier: bool,
}

/// The kernel's network devices, by name and by index. A router has tens of them: a list is
/// smaller code than two maps and as fast.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links(Vec<Link>);

impl Links {
    pub fn insert(&mut self, link: Link) {
        self.0
            .retain(|l| l.name != link.name && l.index != link.index);
        self.0.push(link);
    }

    pub fn index(&self, name: &str) -> Option<u32> {
        self.0.iter().find(|l| l.name == name).map(|l| l.index)
    }

    pub fn name(&self, index: u32) -> Option<&str> {
        self.0
            .iter()
            .find(|l| l.index == index)
            .map(|l| l.name.as_str())
    }

    /// Every device's index and whether it has carrier.
    pub fn carriers(&self) -> Vec<(u32, bool)> {
        self.0.iter().map(|l| (l.index, l.carrier)).collect()
    }

    /// Whether device `index` exists and has carrier.
    pub fn carrier(&self, index: u32) -> bool {
        self.0.iter().any(|l| l.index == index && l.carrier)
    }

    /// Renders nexthops the way `ip route` does: `via GW dev DEV weight W, …`.
    pub fn describe(&self, nexthops: &[Nexthop]) -> String {
        if nexthops.is_empty() {
            return "no nexthops".to_string();
        }
        let legs: Vec<String> = nexthops
            .iter()
            .map(|nh| format!("{} weight {}", self.leg(nh.ifindex, nh.gateway), nh.weight))
            .collect();
        legs.join(", ")
    }

    /// The device's name for messages: `ifN` where it has none (it went away).
    pub fn device(&self, ifindex: u32) -> String {
        self.name(ifindex)
            .map_or_else(|| format!("if{ifindex}"), str::to_string)
    }

    /// One nexthop without its weight, as `ip nexthop` shows a leg: `via GW dev DEV`, or
    /// `dev DEV` on-link.
    pub fn leg(&self, ifindex: u32, gateway: Option<IpAddr>) -> String {
        leg_text(&self.device(ifindex), gateway)
    }
}

/// The one rendering of a leg: `via GW dev DEV`, or `dev DEV` on-link.
pub fn leg_text(device: &str, gateway: Option<IpAddr>) -> String {
    match gateway {
        Some(gw) => format!("via {gw} dev {device}"),
        None => format!("dev {device}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_and_reject_host_bits() {
        let p: Prefix = "2000::/3".parse().unwrap();
        assert_eq!(p.length(), 3);
        assert_eq!(p.family(), Family::V6);
        assert_eq!(p.to_string(), "2000::/3");
        assert_eq!(
            "0.0.0.0/0".parse::<Prefix>().unwrap(),
            Prefix::any(Family::V4)
        );
        assert_eq!("192.0.2.7".parse::<Prefix>().unwrap().length(), 32);
        assert!(
            "2001:db8::1/64"
                .parse::<Prefix>()
                .unwrap_err()
                .contains("host bits")
        );
        assert!("192.0.2.0/33".parse::<Prefix>().is_err());
        assert!("2001:xxx::/3".parse::<Prefix>().is_err());
        assert!("2000::/x".parse::<Prefix>().is_err());
    }

    #[test]
    fn weights_are_one_to_256_and_map_to_hops() {
        assert_eq!(Weight::new(0), None);
        assert_eq!(Weight::new(257), None);
        assert_eq!(Weight::new(256).unwrap().hops(), 255);
        assert_eq!(Weight::from_hops(0), Weight::ONE);
        assert_eq!(Weight::from_hops(255).get(), 256);
    }

    #[test]
    fn single_nexthop_routes_compare_without_weight() {
        let key = RouteKey {
            table: TABLE_MAIN,
            dst: "2000::/3".parse().unwrap(),
            metric: 1024,
        };
        let gw = Some("fe80::1".parse().unwrap());
        let a = Route::owned(
            key,
            vec![Nexthop {
                ifindex: 2,
                gateway: gw,
                weight: Weight::ONE,
            }],
        );
        let mut b = a.clone();
        b.nexthops[0].weight = Weight::new(5).unwrap();
        assert!(a.same_nexthops(&b));
        let two = |w| {
            Route::owned(
                key,
                vec![
                    Nexthop {
                        ifindex: 2,
                        gateway: gw,
                        weight: Weight::ONE,
                    },
                    Nexthop {
                        ifindex: 3,
                        gateway: gw,
                        weight: w,
                    },
                ],
            )
        };
        assert!(!two(Weight::ONE).same_nexthops(&two(Weight::new(2).unwrap())));
        assert!(two(Weight::ONE).same_nexthops(&two(Weight::ONE)));
    }
}
