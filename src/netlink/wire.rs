//! rtnetlink messages as bytes: typed `nlmsghdr`, `rtmsg`, `ifinfomsg` and `rtnexthop`, one
//! attribute walker and one set of payload readers, with the few attributes this tool reads
//! and writes (numbers in `uapi`).
//!
//! neli's derive-based message types cost ~60 KiB of the mipsel binary (measured with
//! `nm --size-sort` on the static build), so the layouts are written out here, each a
//! `to_bytes`/`from_bytes` pair tested against messages captured from iproute2 6.1 with strace;
//! neli provides the socket. rtnetlink is host byte order, addresses network order, every
//! attribute 4-byte aligned (uapi `netlink.h`, `rtnetlink.h`). Parsing never panics: a short
//! or inconsistent message is a `WireError`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::route::{Family, Link, Nexthop, Prefix, Route, RouteKey, Weight};

use super::uapi::*;

const HEADER: usize = 16;
const RTMSG: usize = 12;
const IFINFOMSG: usize = 16;
const RTA_HEADER: usize = 4;
const RTNH_HEADER: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn short(what: &str, len: usize) -> WireError {
    WireError(format!("{what}: {len} bytes is too short"))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

pub(super) fn octets(addr: &IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

pub(super) fn addr_from(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

/// An attribute's payload as a `u32`; `what` names it when the size is wrong.
pub(super) fn read_u32(payload: &[u8], what: &str) -> Result<u32, WireError> {
    <[u8; 4]>::try_from(payload)
        .map(u32::from_ne_bytes)
        .map_err(|_| bad_payload(what, payload))
}

/// An attribute's payload as a `u16`.
pub(super) fn read_u16(payload: &[u8], what: &str) -> Result<u16, WireError> {
    <[u8; 2]>::try_from(payload)
        .map(u16::from_ne_bytes)
        .map_err(|_| bad_payload(what, payload))
}

/// An attribute's payload as an address (4 or 16 bytes).
pub(super) fn read_addr(payload: &[u8], what: &str) -> Result<IpAddr, WireError> {
    addr_from(payload).ok_or_else(|| bad_payload(what, payload))
}

/// An attribute whose payload has the wrong size for its type.
pub(super) fn bad_payload(what: &str, payload: &[u8]) -> WireError {
    WireError(format!("{what} of {} bytes", payload.len()))
}

fn array<const N: usize>(buf: &[u8], what: &str) -> Result<[u8; N], WireError> {
    buf.get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| short(what, buf.len()))
}

/// `struct nlmsghdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

impl Header {
    fn to_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.len.to_ne_bytes());
        out.extend_from_slice(&self.kind.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&self.seq.to_ne_bytes());
        out.extend_from_slice(&self.pid.to_ne_bytes());
    }

    fn from_bytes(buf: &[u8]) -> Result<Header, WireError> {
        let b: [u8; HEADER] = array(buf, "nlmsghdr")?;
        Ok(Header {
            len: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            kind: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            pid: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
        })
    }
}

/// `struct rtmsg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rtmsg {
    pub family: u8,
    pub dst_len: u8,
    pub src_len: u8,
    pub tos: u8,
    pub table: u8,
    pub protocol: u8,
    pub scope: u8,
    pub kind: u8,
    pub flags: u32,
}

impl Rtmsg {
    fn to_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            self.family,
            self.dst_len,
            self.src_len,
            self.tos,
            self.table,
            self.protocol,
            self.scope,
            self.kind,
        ]);
        out.extend_from_slice(&self.flags.to_ne_bytes());
    }

    fn from_bytes(buf: &[u8]) -> Result<Rtmsg, WireError> {
        let b: [u8; RTMSG] = array(buf, "rtmsg")?;
        Ok(Rtmsg {
            family: b[0],
            dst_len: b[1],
            src_len: b[2],
            tos: b[3],
            table: b[4],
            protocol: b[5],
            scope: b[6],
            kind: b[7],
            flags: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
        })
    }
}

/// `struct ifinfomsg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ifinfomsg {
    pub family: u8,
    pub kind: u16,
    pub index: u32,
    pub flags: u32,
    pub change: u32,
}

impl Ifinfomsg {
    fn to_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.family, 0]);
        out.extend_from_slice(&self.kind.to_ne_bytes());
        out.extend_from_slice(&self.index.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&self.change.to_ne_bytes());
    }

    fn from_bytes(buf: &[u8]) -> Result<Ifinfomsg, WireError> {
        let b: [u8; IFINFOMSG] = array(buf, "ifinfomsg")?;
        Ok(Ifinfomsg {
            family: b[0],
            kind: u16::from_ne_bytes([b[2], b[3]]),
            index: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
            flags: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            change: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
        })
    }
}

/// One leg of `RTA_MULTIPATH`: `struct rtnexthop` and its `RTA_GATEWAY`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rtnexthop {
    pub flags: u8,
    /// Weight − 1.
    pub hops: u8,
    pub ifindex: u32,
    pub gateway: Option<IpAddr>,
}

impl From<&Nexthop> for Rtnexthop {
    fn from(nh: &Nexthop) -> Rtnexthop {
        Rtnexthop {
            flags: 0,
            hops: nh.weight.hops(),
            ifindex: nh.ifindex,
            gateway: nh.gateway,
        }
    }
}

impl From<&Rtnexthop> for Nexthop {
    fn from(rtnh: &Rtnexthop) -> Nexthop {
        Nexthop {
            ifindex: rtnh.ifindex,
            gateway: rtnh.gateway,
            weight: Weight::from_hops(rtnh.hops),
        }
    }
}

impl Rtnexthop {
    pub fn to_bytes(&self, out: &mut Vec<u8>) {
        let gw = self.gateway.as_ref().map(octets);
        let len = RTNH_HEADER + gw.as_ref().map_or(0, |g| align4(RTA_HEADER + g.len()));
        out.extend_from_slice(&(len as u16).to_ne_bytes());
        out.push(self.flags);
        out.push(self.hops);
        out.extend_from_slice(&self.ifindex.to_ne_bytes());
        if let Some(gw) = gw {
            put_attr(out, RTA_GATEWAY, &gw);
        }
    }

    /// Reads one leg from the front of `buf`; returns it and the bytes it took (aligned).
    pub fn from_bytes(buf: &[u8]) -> Result<(Rtnexthop, usize), WireError> {
        let h: [u8; RTNH_HEADER] = array(buf, "rtnexthop")?;
        let len = usize::from(u16::from_ne_bytes([h[0], h[1]]));
        let body = buf
            .get(RTNH_HEADER..len)
            .filter(|_| len >= RTNH_HEADER)
            .ok_or_else(|| {
                WireError(format!(
                    "rtnexthop: length {len} does not fit in {} bytes",
                    buf.len()
                ))
            })?;
        let mut gateway = None;
        for attr in attrs(body) {
            let (kind, payload) = attr?;
            if kind == RTA_GATEWAY {
                gateway = Some(read_addr(payload, "rtnexthop RTA_GATEWAY")?);
            }
        }
        let ifindex = u32::from_ne_bytes([h[4], h[5], h[6], h[7]]);
        Ok((
            Rtnexthop {
                flags: h[2],
                hops: h[3],
                ifindex,
                gateway,
            },
            align4(len).min(buf.len()),
        ))
    }
}

/// The payload of `RTA_MULTIPATH` for `nexthops`.
pub fn multipath_to_bytes(nexthops: &[Nexthop]) -> Vec<u8> {
    let mut out = Vec::new();
    for nh in nexthops {
        Rtnexthop::from(nh).to_bytes(&mut out);
    }
    out
}

pub fn multipath_from_bytes(mut buf: &[u8]) -> Result<Vec<Rtnexthop>, WireError> {
    let mut legs = Vec::new();
    while !buf.is_empty() {
        let (leg, used) = Rtnexthop::from_bytes(buf)?;
        legs.push(leg);
        buf = buf.get(used..).unwrap_or_default();
    }
    Ok(legs)
}

pub(super) fn put_attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    out.extend_from_slice(&((RTA_HEADER + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(align4(out.len()), 0);
}

/// Walks a run of attributes as (type, payload), lazily: a reader that has what it needs
/// stops before attributes it never looks at. The nested flag bits of the type are kept: no
/// attribute this tool reads is nested.
pub(super) struct Attrs<'a>(&'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let &[l0, l1, k0, k1] = self.0.get(..RTA_HEADER)? else {
            return None;
        };
        let len = usize::from(u16::from_ne_bytes([l0, l1]));
        let Some(payload) = self.0.get(RTA_HEADER..len).filter(|_| len >= RTA_HEADER) else {
            let e = WireError(format!(
                "attribute: length {len} does not fit in {} bytes",
                self.0.len()
            ));
            self.0 = &[];
            return Some(Err(e));
        };
        self.0 = self.0.get(align4(len)..).unwrap_or_default();
        Some(Ok((u16::from_ne_bytes([k0, k1]), payload)))
    }
}

pub(super) fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs(buf)
}

/// A request: header (`NLM_F_REQUEST` added, length filled in), fixed part, attributes.
pub(super) fn request(kind: u16, flags: u16, seq: u32, fixed: &[u8], attrs: &[u8]) -> Vec<u8> {
    let len = HEADER + fixed.len() + attrs.len();
    let mut buf = Vec::with_capacity(len);
    Header {
        len: len as u32,
        kind,
        flags: NLM_F_REQUEST | flags,
        seq,
        pid: 0,
    }
    .to_bytes(&mut buf);
    buf.extend_from_slice(fixed);
    buf.extend_from_slice(attrs);
    buf
}

pub(super) fn af(family: Family) -> u8 {
    match family {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
    }
}

/// `RTM_NEWROUTE` (with `route`'s nexthop object, or its nexthops) or `RTM_DELROUTE` (the key alone names the route,
/// and the protocol must match), in iproute2's attribute order: dst, metric, table, nexthops.
/// A table above 255 goes in `RTA_TABLE`; one nexthop is a plain route (`RTA_GATEWAY`,
/// `RTA_OIF`), a device-only IPv4 one link-scoped as `ip route add … dev X` makes it.
pub fn route_request(route: &Route, kind: u16, flags: u16, seq: u32) -> Vec<u8> {
    let key = &route.key;
    let family = key.family();
    let with_nexthops = kind == RTM_NEWROUTE;
    let mut attrs = Vec::new();
    put_attr(&mut attrs, RTA_DST, &octets(&key.dst.addr()));
    if key.metric != 0 {
        put_attr(&mut attrs, RTA_PRIORITY, &key.metric.to_ne_bytes());
    }
    let table = u8::try_from(key.table).unwrap_or_else(|_| {
        put_attr(&mut attrs, RTA_TABLE, &key.table.to_ne_bytes());
        0
    });
    let mut scope = if with_nexthops {
        RT_SCOPE_UNIVERSE
    } else {
        RT_SCOPE_NOWHERE
    };
    if let (true, Some(id)) = (with_nexthops, route.nh_id) {
        put_attr(&mut attrs, RTA_NH_ID, &id.to_ne_bytes());
    } else if with_nexthops {
        match route.nexthops.as_slice() {
            [] => {}
            [nh] => {
                match nh.gateway {
                    Some(gw) => put_attr(&mut attrs, RTA_GATEWAY, &octets(&gw)),
                    None if family == Family::V4 => scope = RT_SCOPE_LINK,
                    None => {}
                }
                put_attr(&mut attrs, RTA_OIF, &nh.ifindex.to_ne_bytes());
            }
            many => put_attr(&mut attrs, RTA_MULTIPATH, &multipath_to_bytes(many)),
        }
    }
    let mut fixed = Vec::with_capacity(RTMSG);
    Rtmsg {
        family: af(family),
        dst_len: key.dst.length(),
        src_len: 0,
        tos: route.tos,
        table,
        protocol: route.protocol,
        scope,
        kind: route.kind,
        flags: 0,
    }
    .to_bytes(&mut fixed);
    request(kind, flags, seq, &fixed, &attrs)
}

pub fn route_dump_v4(seq: u32) -> Vec<u8> {
    route_dump(Family::V4, seq)
}

pub fn route_dump_v6(seq: u32) -> Vec<u8> {
    route_dump(Family::V6, seq)
}

/// `RTM_GETROUTE` dump of one family, every table.
pub fn route_dump(family: Family, seq: u32) -> Vec<u8> {
    let mut fixed = Vec::with_capacity(RTMSG);
    Rtmsg {
        family: af(family),
        ..Rtmsg::default()
    }
    .to_bytes(&mut fixed);
    request(RTM_GETROUTE, NLM_F_DUMP, seq, &fixed, &[])
}

/// `RTM_GETLINK` dump of every device.
pub fn link_dump(seq: u32) -> Vec<u8> {
    let mut fixed = Vec::with_capacity(IFINFOMSG);
    Ifinfomsg::default().to_bytes(&mut fixed);
    request(RTM_GETLINK, NLM_F_DUMP, seq, &fixed, &[])
}

/// The messages in one datagram: each header and its payload.
pub fn messages(mut buf: &[u8]) -> Result<Vec<(Header, &[u8])>, WireError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let header = Header::from_bytes(buf)?;
        let len = header.len as usize;
        let payload = buf
            .get(HEADER..len)
            .filter(|_| len >= HEADER)
            .ok_or_else(|| {
                WireError(format!(
                    "message: length {len} does not fit in {} bytes",
                    buf.len()
                ))
            })?;
        out.push((header, payload));
        buf = buf.get(align4(len)..).unwrap_or_default();
    }
    Ok(out)
}

/// An `NLMSG_ERROR` payload: 0 for an ack, else the negative errno, and the kernel's
/// extended-ack message if it sent one and it can be read (the errno stands either way).
pub fn error(header: &Header, payload: &[u8]) -> Result<(i32, Option<String>), WireError> {
    let code = i32::from_ne_bytes(array(payload, "nlmsgerr")?);
    let echoed = payload.get(4..).unwrap_or_default();
    Ok((code, ext_ack_message(header, echoed)))
}

fn ext_ack_message(header: &Header, echoed: &[u8]) -> Option<String> {
    if header.flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let request = Header::from_bytes(echoed).ok()?;
    let skip = if header.flags & NLM_F_CAPPED != 0 {
        HEADER
    } else {
        align4(request.len as usize)
    };
    attrs(echoed.get(skip..)?)
        .map_while(Result::ok)
        .find(|(kind, _)| *kind == NLMSGERR_ATTR_MSG)
        .map(|(_, value)| {
            String::from_utf8_lossy(value)
                .trim_end_matches('\0')
                .to_string()
        })
}

/// The route an `RTM_NEWROUTE` payload describes; `None` for what this tool never manages
/// (other families, cache clones).
pub fn route(payload: &[u8]) -> Result<Option<Route>, WireError> {
    let msg = Rtmsg::from_bytes(payload)?;
    let family = match msg.family {
        AF_INET => Family::V4,
        AF_INET6 => Family::V6,
        _ => return Ok(None),
    };
    if msg.flags & RTM_F_CLONED != 0 {
        return Ok(None);
    }
    let mut table = u32::from(msg.table);
    let mut dst = family.unspecified();
    let mut src = family.unspecified();
    let mut metric = 0;
    let mut oif = None;
    let mut gateway = None;
    let mut nexthops = Vec::new();
    let mut leg_flags = Vec::new();
    let mut nh_id = None;
    const UNUSED: u8 = RTNH_F_DEAD | RTNH_F_LINKDOWN;
    for attr in attrs(payload.get(RTMSG..).unwrap_or_default()) {
        let (kind, p) = attr?;
        match kind {
            RTA_TABLE => table = read_u32(p, "route attribute RTA_TABLE")?,
            RTA_DST => dst = read_addr(p, "route attribute RTA_DST")?,
            RTA_SRC => src = read_addr(p, "route attribute RTA_SRC")?,
            RTA_PRIORITY => metric = read_u32(p, "route attribute RTA_PRIORITY")?,
            RTA_OIF => oif = Some(read_u32(p, "route attribute RTA_OIF")?),
            RTA_GATEWAY => gateway = Some(read_addr(p, "route attribute RTA_GATEWAY")?),
            RTA_MULTIPATH => {
                let legs = multipath_from_bytes(p)?;
                leg_flags = legs
                    .iter()
                    .filter(|l| l.flags & UNUSED != 0)
                    .map(|l| (l.ifindex, l.gateway, l.flags & UNUSED))
                    .collect();
                nexthops = legs.iter().map(Nexthop::from).collect();
            }
            RTA_NH_ID => nh_id = Some(read_u32(p, "route attribute RTA_NH_ID")?),
            _ => {}
        }
    }
    if let (Some(ifindex), true) = (oif, nexthops.is_empty()) {
        nexthops.push(Nexthop {
            ifindex,
            gateway,
            weight: Weight::ONE,
        });
        let flags = (msg.flags & u32::from(UNUSED)) as u8;
        if flags != 0 {
            leg_flags.push((ifindex, gateway, flags));
        }
    }
    let prefix =
        |addr, len| Prefix::new(addr, len).map_err(|e| WireError(format!("route prefix: {e}")));
    let key = RouteKey {
        table,
        dst: prefix(dst, msg.dst_len)?,
        metric,
    };
    Ok(Some(Route {
        src: match msg.src_len {
            0 => None,
            len => Some(prefix(src, len)?),
        },
        tos: msg.tos,
        kind: msg.kind,
        nh_id,
        leg_flags,
        ..Route::new(key, msg.protocol, nexthops)
    }))
}

/// Name and index of the device an `RTM_NEWLINK` payload describes. Reading stops at the
/// name (the kernel puts it first): the dozens of attributes after it are never needed, and
/// qemu-user for big-endian MIPS garbles the length of some of them (docs/performance.md, "What qemu-user
/// shows").
pub fn link(payload: &[u8]) -> Result<Option<Link>, WireError> {
    let (index, carrier) = link_state(payload)?;
    for attr in attrs(payload.get(IFINFOMSG..).unwrap_or_default()) {
        let (kind, value) = attr?;
        if kind == IFLA_IFNAME {
            let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
            let name = String::from_utf8_lossy(value.get(..end).unwrap_or_default()).into_owned();
            return Ok(Some(Link {
                name,
                index,
                carrier,
            }));
        }
    }
    Ok(None)
}

/// A link message's device index and whether it is up with carrier, from `ifinfomsg` alone.
/// The device index of an `RTM_NEWADDR`/`RTM_DELADDR` payload (`struct ifaddrmsg`: family,
/// prefix length, flags, scope, then the index), if the address is a global one.
pub fn global_address_device(payload: &[u8]) -> Result<Option<u32>, WireError> {
    let fixed = payload
        .get(..8)
        .ok_or_else(|| WireError(format!("ifaddrmsg: {} bytes", payload.len())))?;
    let scope = fixed.get(3).copied();
    let index = read_u32(fixed.get(4..8).unwrap_or_default(), "ifaddrmsg index")?;
    Ok((scope == Some(RT_SCOPE_UNIVERSE)).then_some(index))
}

pub fn link_state(payload: &[u8]) -> Result<(u32, bool), WireError> {
    let msg = Ifinfomsg::from_bytes(payload)?;
    let up = IFF_UP | IFF_LOWER_UP;
    Ok((msg.index, msg.flags & up == up))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::route::TABLE_MAIN;

    /// Bytes from a hex dump (strace's `-e write=` / `-e read=` output, spaces removed).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Captured with strace on x86_64 (little-endian); the tests that compare against them
    // only run there. v0 is ifindex 3, v1 ifindex 5.
    // `ip -6 route add 2000::/3 proto 236 metric 1024 nexthop via fe80::1 dev v0 weight 2
    //  nexthop via fe80::2 dev v1`
    const IP6_ADD: &str = "740000001800050624a0046b000000000a030000feec000100000000140001002000000000000000000000000000000008000600000400003c0009001c0000010300000014000500fe8000000000000000000000000000011c0000000500000014000500fe800000000000000000000000000002";
    // `ip route replace 0.0.0.0/0 proto 236 nexthop via 192.0.2.254 dev v0 weight 3 nexthop dev v1`
    const IP4_REPLACE: &str = "400000001800050524a0046b0000000002000000feec00010000000008000100000000001c000900100000020300000008000500c00002fe0800000005000000";
    // The kernel's RTM_NEWROUTE for those two routes in `ip route show` (the IPv6 one with
    // RTA_TABLE, RTA_CACHEINFO and RTA_PREF).
    const KERNEL6: &str = "a8000000180022002fa0046b8c0800000a030000feec00010000000008000f00fe000000140001002000000000000000000000000000000008000600000400003c0009001c0000010300000014000500fe8000000000000000000000000000011c0000000500000014000500fe80000000000000000000000000000224000c0000000000000000000000000000000000000000000000000000000000000000000500140000000000";
    const KERNEL4: &str = "40000000180022002fa0046b9008000002000000feec00010000000008000f00fe0000001c000900100000020300000008000500c00002fe0800000005000000";

    fn gw(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn v6_route() -> Route {
        Route::owned(
            RouteKey {
                table: TABLE_MAIN,
                dst: "2000::/3".parse().unwrap(),
                metric: 1024,
            },
            vec![
                Nexthop {
                    ifindex: 3,
                    gateway: gw("fe80::1"),
                    weight: Weight::new(2).unwrap(),
                },
                Nexthop {
                    ifindex: 5,
                    gateway: gw("fe80::2"),
                    weight: Weight::ONE,
                },
            ],
        )
    }

    fn v4_route() -> Route {
        Route::owned(
            RouteKey {
                table: TABLE_MAIN,
                dst: "0.0.0.0/0".parse().unwrap(),
                metric: 0,
            },
            vec![
                Nexthop {
                    ifindex: 3,
                    gateway: gw("192.0.2.254"),
                    weight: Weight::new(3).unwrap(),
                },
                Nexthop {
                    ifindex: 5,
                    gateway: None,
                    weight: Weight::ONE,
                },
            ],
        )
    }

    /// The one message in `bytes`, decoded as a route.
    fn decode(bytes: &[u8]) -> Route {
        let msgs = messages(bytes).unwrap();
        assert_eq!(msgs.len(), 1);
        route(msgs[0].1).unwrap().unwrap()
    }

    #[test]
    fn address_events_name_the_device_of_global_addresses_only() {
        // struct ifaddrmsg: AF_INET6, /64, IFA_F_TENTATIVE, scope, index 3.
        let msg = |scope: u8| {
            let mut b = vec![10, 64, 0x40, scope];
            b.extend_from_slice(&3u32.to_ne_bytes());
            b
        };
        assert_eq!(
            global_address_device(&msg(RT_SCOPE_UNIVERSE)).unwrap(),
            Some(3)
        );
        assert_eq!(global_address_device(&msg(RT_SCOPE_LINK)).unwrap(), None);
        assert!(global_address_device(&msg(0)[..5]).is_err());
    }

    #[cfg(all(target_endian = "little", target_pointer_width = "64"))]
    #[test]
    fn requests_match_iproute2_byte_for_byte() {
        let seq = 0x6b04a024;
        let add = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        assert_eq!(
            route_request(&v6_route(), RTM_NEWROUTE, add, seq),
            hex(IP6_ADD)
        );
        let replace = NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        assert_eq!(
            route_request(&v4_route(), RTM_NEWROUTE, replace, seq),
            hex(IP4_REPLACE)
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn captured_requests_and_kernel_replies_decode_to_the_route() {
        assert_eq!(decode(&hex(IP6_ADD)), v6_route());
        assert_eq!(decode(&hex(IP4_REPLACE)), v4_route());
        assert_eq!(decode(&hex(KERNEL6)), v6_route());
        assert_eq!(decode(&hex(KERNEL4)), v4_route());
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn rtnexthop_matches_the_capture() {
        let bytes = multipath_to_bytes(&v6_route().nexthops);
        // RTA_MULTIPATH's header is at offset 56 of the captured request, its payload after.
        assert_eq!(bytes, hex(IP6_ADD)[60..60 + 56]);
        let legs = multipath_from_bytes(&bytes).unwrap();
        assert_eq!(
            legs[0],
            Rtnexthop {
                flags: 0,
                hops: 1,
                ifindex: 3,
                gateway: gw("fe80::1")
            }
        );
    }

    /// Runs on every target, big-endian MIPS included: what we write, we read back.
    #[test]
    fn ifinfomsg_round_trips() {
        let msg = Ifinfomsg {
            family: AF_INET6,
            kind: 1,
            index: 7,
            flags: IFF_UP | IFF_LOWER_UP,
            change: 0,
        };
        let mut out = Vec::new();
        msg.to_bytes(&mut out);
        assert_eq!(out.len(), IFINFOMSG);
        assert_eq!(Ifinfomsg::from_bytes(&out), Ok(msg));
        assert_eq!(link_state(&out), Ok((7, true)));
    }

    #[test]
    fn round_trips_in_native_byte_order() {
        for mut r in [v6_route(), v4_route()] {
            assert_eq!(decode(&route_request(&r, RTM_NEWROUTE, NLM_F_ACK, 7)), r);
            r.key.table = 1000;
            r.nexthops.truncate(1);
            r.nexthops[0].weight = Weight::ONE; // a plain route carries no weight
            let bytes = route_request(&r, RTM_NEWROUTE, NLM_F_ACK, 7);
            assert_eq!(bytes.get(20), Some(&0), "rtm_table is unspec above 255");
            assert_eq!(decode(&bytes), r);
        }
        let legs = multipath_from_bytes(&multipath_to_bytes(&v6_route().nexthops)).unwrap();
        assert_eq!(
            legs.iter().map(Nexthop::from).collect::<Vec<_>>(),
            v6_route().nexthops
        );
        let header = Header::from_bytes(&route_dump(Family::V6, 9)).unwrap();
        assert_eq!(
            (header.len, header.kind, header.flags, header.seq),
            (28, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 9)
        );
    }

    #[test]
    fn a_delete_names_the_key_and_protocol_only() {
        let bytes = route_request(&v6_route(), RTM_DELROUTE, NLM_F_ACK, 1);
        let msgs = messages(&bytes).unwrap();
        let r = route(msgs[0].1).unwrap().unwrap();
        assert_eq!(
            (r.key, r.protocol, r.nexthops.len()),
            (v6_route().key, crate::route::PROTOCOL, 0)
        );
    }

    #[test]
    fn errors_carry_errno_and_the_kernels_message() {
        // NLMSG_ERROR, capped, with an extended ack: errno -EEXIST, "File exists", as the
        // kernel builds it (netlink_ack()).
        let mut payload = (-17i32).to_ne_bytes().to_vec();
        Header {
            len: 116,
            kind: RTM_NEWROUTE,
            flags: 0x605,
            seq: 4,
            pid: 0,
        }
        .to_bytes(&mut payload);
        put_attr(&mut payload, NLMSGERR_ATTR_MSG, b"Route exists\0");
        let header = Header {
            len: 0,
            kind: NLMSG_ERROR,
            flags: NLM_F_CAPPED | NLM_F_ACK_TLVS,
            seq: 4,
            pid: 0,
        };
        assert_eq!(
            error(&header, &payload).unwrap(),
            (-17, Some("Route exists".into()))
        );
        let plain = Header { flags: 0, ..header };
        assert_eq!(error(&plain, &payload).unwrap(), (-17, None));
        assert!(error(&header, &[1, 2]).is_err());
        // A garbled extended ack loses the message, never the errno.
        let mut garbled = payload.clone();
        garbled[20] = 0xff;
        assert_eq!(error(&header, &garbled).unwrap(), (-17, None));
    }

    #[test]
    fn links_decode_name_index_and_carrier() {
        let mut payload = vec![0u8; IFINFOMSG];
        payload[4..8].copy_from_slice(&7u32.to_ne_bytes());
        // IFF_UP | IFF_RUNNING | IFF_LOWER_UP
        payload[8..12].copy_from_slice(&0x10041u32.to_ne_bytes());
        put_attr(&mut payload, 4, &1500u32.to_ne_bytes());
        put_attr(&mut payload, IFLA_IFNAME, b"pppoe-wan\0");
        let want = Link {
            name: "pppoe-wan".into(),
            index: 7,
            carrier: true,
        };
        assert_eq!(link(&payload).unwrap(), Some(want.clone()));
        // Up, but the peer is down: no IFF_LOWER_UP.
        payload[8..12].copy_from_slice(&0x1003u32.to_ne_bytes());
        assert_eq!(
            link(&payload).unwrap(),
            Some(Link {
                carrier: false,
                ..want
            })
        );
        assert_eq!(link(&payload[..IFINFOMSG]).unwrap(), None);
        assert!(link(&payload[..3]).is_err());
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let bytes = route_request(&v6_route(), RTM_NEWROUTE, 0, 1);
        for cut in 0..bytes.len() {
            if let Ok(msgs) = messages(&bytes[..cut]) {
                msgs.iter().for_each(|(_, p)| drop(route(p)));
            }
            let _ = route(&bytes[HEADER.min(cut)..cut]);
        }
        let legs = multipath_to_bytes(&v6_route().nexthops);
        for cut in 1..legs.len() {
            let _ = multipath_from_bytes(&legs[..cut]);
        }
        assert!(multipath_from_bytes(&legs[..7]).is_err());
        assert!(multipath_from_bytes(&[0xff, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(multipath_from_bytes(&[2, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(messages(&[0xff; 20]).is_err());
    }
}
