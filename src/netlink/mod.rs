//! The only code that talks to the kernel: one rtnetlink socket, one function per verb.
//!
//! Reads (links, routes) are dumps; every write is acked and checked, carries the tool's
//! `rtm_protocol`, and a delete names that protocol too, so the kernel itself refuses to
//! remove a route of someone else's (IPv4 `fib_table_delete`, IPv6 `ip6_route_del`). The
//! multipath hash sysctls live here as well, so that this stays the one seam to the kernel.
//! No logging: the caller says what it is about to do.

pub mod wire;

use std::fmt;
use std::io;

use neli::consts::nl::{NlmF, Nlmsg};
use neli::consts::rtnl::{Arphrd, Iff, Ifla, RtAddrFamily, RtScope, RtTable, Rtm, Rtn, Rtprot};
use neli::consts::socket::NlFamily;
use neli::nl::NlPayload;
use neli::rtnl::{Ifinfomsg, IfinfomsgBuilder, Rtmsg, RtmsgBuilder};
use neli::socket::synchronous::NlSocketHandle;
use neli::types::Buffer;
use neli::utils::Groups;
use neli::{FromBytesWithInput, Size, ToBytes};

use crate::route::{Family, Links, Route};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError(pub String);

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KernelError {}

impl From<wire::WireError> for KernelError {
    fn from(e: wire::WireError) -> KernelError {
        KernelError(e.0)
    }
}

fn socket_error(what: &str, e: impl fmt::Display) -> KernelError {
    KernelError(format!("netlink {what}: {e}"))
}

/// How often a dump the kernel marked inconsistent (`NLM_F_DUMP_INTR`: the table changed
/// while it was read) is started again before giving up.
const DUMP_ATTEMPTS: usize = 3;

pub struct Kernel {
    socket: NlSocketHandle,
    seq: u32,
}

impl Kernel {
    pub fn open() -> Result<Kernel, KernelError> {
        let socket = NlSocketHandle::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| socket_error("socket", e))?;
        // The kernel's own words ("Nexthop device is not up") make better errors; kernels
        // before 4.12 don't have them, which is fine.
        let _ = socket.enable_ext_ack(true);
        Ok(Kernel {
            socket,
            seq: std::process::id(),
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Every network device, by name and index.
    pub fn links(&mut self) -> Result<Links, KernelError> {
        let request = || {
            IfinfomsgBuilder::default()
                .ifi_family(RtAddrFamily::Unspecified)
                .ifi_type(Arphrd::from(0))
                .ifi_index(0)
                .ifi_flags(Iff::empty())
                .ifi_change(Iff::empty())
                .build()
                .map_err(|e| socket_error("building ifinfomsg", e))
        };
        let named = self.dump(Rtm::Getlink, request, |link: &Ifinfomsg| {
            let name = link
                .rtattrs()
                .iter()
                .find(|a| *a.rta_type() == Ifla::Ifname)
                .map(|a| {
                    let bytes = a.rta_payload().as_ref();
                    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
                });
            Ok(name.zip(u32::try_from(*link.ifi_index()).ok()))
        })?;
        let mut links = Links::default();
        for (name, index) in named {
            links.insert(name, index);
        }
        Ok(links)
    }

    /// Every route of both families in every table (IPv4 and IPv6 unicast, blackhole, …),
    /// without cache clones.
    pub fn routes(&mut self) -> Result<Vec<Route>, KernelError> {
        let mut routes = Vec::new();
        for family in [RtAddrFamily::Inet, RtAddrFamily::Inet6] {
            let request = || {
                RtmsgBuilder::default()
                    .rtm_family(family)
                    .rtm_dst_len(0)
                    .rtm_src_len(0)
                    .rtm_tos(0)
                    .rtm_table(RtTable::Unspec)
                    .rtm_protocol(Rtprot::Unspec)
                    .rtm_scope(RtScope::Universe)
                    .rtm_type(Rtn::Unspec)
                    .build()
                    .map_err(|e| socket_error("building rtmsg", e))
            };
            routes.extend(self.dump(Rtm::Getroute, request, |msg: &Rtmsg| Ok(wire::route(msg)?))?);
        }
        Ok(routes)
    }

    /// Installs `route`. With `create`, only where no route holds its key (`NLM_F_EXCL`);
    /// otherwise it replaces the route at the key, with one request for all nexthops.
    pub fn write(&mut self, route: &Route, create: bool) -> Result<(), KernelError> {
        let flags = NlmF::CREATE | if create { NlmF::EXCL } else { NlmF::REPLACE };
        let msg = wire::rtmsg(route, true)?;
        self.request(Rtm::Newroute, flags, msg)
    }

    /// Removes the route at `route`'s key, if it carries `route`'s protocol.
    pub fn delete(&mut self, route: &Route) -> Result<(), KernelError> {
        let msg = wire::rtmsg(route, false)?;
        self.request(Rtm::Delroute, NlmF::empty(), msg)
    }

    fn send<P: Size + ToBytes + fmt::Debug>(
        &mut self,
        kind: Rtm,
        flags: NlmF,
        payload: P,
    ) -> Result<u32, KernelError> {
        let seq = self.next_seq();
        let msg = wire::request(kind, flags, seq, payload)?;
        self.socket
            .send(&msg)
            .map_err(|e| socket_error("send", e))?;
        Ok(seq)
    }

    /// Sends one request and waits for its ack.
    fn request(&mut self, kind: Rtm, flags: NlmF, payload: Rtmsg) -> Result<(), KernelError> {
        let seq = self.send(kind, flags | NlmF::ACK, payload)?;
        loop {
            let (msgs, _) = self
                .socket
                .recv::<u16, Buffer>()
                .map_err(|e| socket_error("receive", e))?;
            for msg in msgs {
                let msg = msg.map_err(|e| socket_error("reply", e))?;
                if *msg.nl_seq() != seq {
                    continue;
                }
                match msg.nl_payload() {
                    NlPayload::Ack(_) => return Ok(()),
                    NlPayload::Err(e) => {
                        let ext = e
                            .ext_ack()
                            .iter()
                            .find(|a| u16::from(*a.nla_type().nla_type()) == 1)
                            .map(|a| {
                                let bytes = a.nla_payload().as_ref();
                                String::from_utf8_lossy(bytes)
                                    .trim_end_matches('\0')
                                    .to_string()
                            });
                        let errno = io::Error::from_raw_os_error(e.error().saturating_neg());
                        return Err(KernelError(match ext {
                            Some(m) if !m.is_empty() => format!("{errno} ({m})"),
                            _ => errno.to_string(),
                        }));
                    }
                    _ => {}
                }
            }
        }
    }

    /// Runs a dump and converts each reply with `convert` (`None`: not wanted). A dump the
    /// kernel marks interrupted by a change is started again.
    fn dump<P, R>(
        &mut self,
        kind: Rtm,
        request: impl Fn() -> Result<P, KernelError>,
        convert: impl Fn(&P) -> Result<Option<R>, KernelError>,
    ) -> Result<Vec<R>, KernelError>
    where
        P: Size + ToBytes + FromBytesWithInput<Input = usize> + fmt::Debug,
    {
        for _ in 0..DUMP_ATTEMPTS {
            let mut out = Vec::new();
            let seq = self.send(kind, NlmF::DUMP, request()?)?;
            let mut interrupted = false;
            'recv: loop {
                let (msgs, _) = self
                    .socket
                    .recv::<u16, P>()
                    .map_err(|e| socket_error("receive", e))?;
                for msg in msgs {
                    let msg = msg.map_err(|e| socket_error("dump reply", e))?;
                    if *msg.nl_seq() != seq {
                        continue;
                    }
                    interrupted |= msg.nl_flags().contains(NlmF::DUMP_INTR);
                    if *msg.nl_type() == u16::from(Nlmsg::Done) {
                        break 'recv;
                    }
                    match msg.nl_payload() {
                        NlPayload::Payload(p) => out.extend(convert(p)?),
                        NlPayload::Err(e) => {
                            let errno = io::Error::from_raw_os_error(e.error().saturating_neg());
                            return Err(KernelError(format!("dump: {errno}")));
                        }
                        _ => {}
                    }
                }
            }
            if !interrupted {
                return Ok(out);
            }
        }
        Err(KernelError(format!(
            "the kernel's tables kept changing during {DUMP_ATTEMPTS} dumps"
        )))
    }
}

fn hash_policy_path(family: Family) -> String {
    format!("/proc/sys/net/{}/fib_multipath_hash_policy", family.name())
}

/// This network namespace's `fib_multipath_hash_policy` for `family`; `None` where the kernel
/// doesn't have it (IPv6 before 4.17).
pub fn hash_policy(family: Family) -> Result<Option<u8>, KernelError> {
    let path = hash_policy_path(family);
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| KernelError(format!("{path}: '{}' is not a number", s.trim()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KernelError(format!("{path}: {e}"))),
    }
}

pub fn set_hash_policy(family: Family, value: u8) -> Result<(), KernelError> {
    let path = hash_policy_path(family);
    std::fs::write(&path, format!("{value}\n")).map_err(|e| KernelError(format!("{path}: {e}")))
}
