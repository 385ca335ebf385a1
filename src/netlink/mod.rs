//! The only code that talks to the kernel: one rtnetlink socket, one function per verb.
//!
//! Reads (links, routes) are dumps; every write is acked and checked, carries the tool's
//! `rtm_protocol`, and a delete names that protocol too, so the kernel itself refuses to
//! remove a route of someone else's (IPv4 `fib_table_delete`, IPv6 `ip6_route_del`). The
//! sysctls have their own module (`sysctl`). No logging: the caller says what it is about to
//! do.

pub mod conntrack;
pub mod nexthop;
pub mod rule;
pub mod uapi;
pub mod wire;

use std::fmt;
use std::io;

use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;

use crate::route::{self, Links, Object, PROTOCOL, Route, Rule};

// Per architecture: MIPS numbers errnos its own way (EOPNOTSUPP is 122 there, 95 on x86).
const EINVAL: i32 = nix::errno::Errno::EINVAL as i32;
const EOPNOTSUPP: i32 = nix::errno::Errno::EOPNOTSUPP as i32;
const EAFNOSUPPORT: i32 = nix::errno::Errno::EAFNOSUPPORT as i32;
use uapi::*;
use wire::Header;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    message: String,
    /// The kernel's errno when it refused a request, else 0.
    errno: i32,
}

impl KernelError {
    pub fn new(message: String) -> KernelError {
        KernelError { message, errno: 0 }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KernelError {}

impl From<wire::WireError> for KernelError {
    fn from(e: wire::WireError) -> KernelError {
        KernelError::new(e.0)
    }
}

fn socket_error(what: &str, e: io::Error) -> KernelError {
    KernelError {
        message: format!("netlink {what}: {e}"),
        errno: e.raw_os_error().unwrap_or(0),
    }
}

/// How often a dump the kernel marked inconsistent (`NLM_F_DUMP_INTR`: the table changed
/// while it was read) is started again before giving up.
const DUMP_ATTEMPTS: usize = 3;

/// Large enough for any one datagram the kernel sends a dump in (it fills up to 32 KiB).
const RECV_BUFFER: usize = 64 << 10;

pub struct Kernel {
    socket: NlSocket,
    seq: u32,
    buf: Vec<u8>,
}

impl Kernel {
    pub fn open() -> Result<Kernel, KernelError> {
        let socket = route_socket()?;
        // The kernel's own words ("Nexthop device is not up") make better errors; kernels
        // before 4.12 don't have them, which is fine.
        let _ = socket.enable_ext_ack(true);
        Ok(Kernel {
            socket,
            seq: std::process::id(),
            buf: vec![0; RECV_BUFFER],
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Every network device, by name and index.
    pub fn links(&mut self) -> Result<Links, KernelError> {
        let mut links = Links::default();
        for link in self.dump(wire::link_dump, RTM_NEWLINK, wire::link)? {
            links.insert(link);
        }
        Ok(links)
    }

    /// Every route of both families in every table (unicast, blackhole, …), without cache
    /// clones.
    pub fn routes(&mut self) -> Result<Vec<Route>, KernelError> {
        let mut routes = self.dump(wire::route_dump_v4, RTM_NEWROUTE, wire::route)?;
        routes.extend(self.dump(wire::route_dump_v6, RTM_NEWROUTE, wire::route)?);
        Ok(routes)
    }

    /// Installs `route`. With `create`, only where no route holds its key (`NLM_F_EXCL`);
    /// otherwise it replaces the route at the key, with one request for all nexthops.
    pub fn write(&mut self, route: &Route, create: bool) -> Result<(), KernelError> {
        let flags = NLM_F_CREATE | if create { NLM_F_EXCL } else { NLM_F_REPLACE };
        let seq = self.next_seq();
        self.request(
            &wire::route_request(route, RTM_NEWROUTE, flags | NLM_F_ACK, seq),
            seq,
        )
    }

    /// Removes the route at `route`'s key, if it carries `route`'s protocol.
    pub fn delete(&mut self, route: &Route) -> Result<(), KernelError> {
        let seq = self.next_seq();
        self.request(
            &wire::route_request(route, RTM_DELROUTE, NLM_F_ACK, seq),
            seq,
        )
    }

    /// Every nexthop object; `None` where the kernel has none (before 5.3).
    pub fn objects(&mut self) -> Result<Option<Vec<Object>>, KernelError> {
        match self.dump(nexthop::dump_request, RTM_NEWNEXTHOP, |p| {
            nexthop::object(p).map(Some)
        }) {
            Ok(objects) => Ok(Some(objects)),
            Err(e) if e.errno == EOPNOTSUPP => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Installs nexthop object `object`: with `create` only where no object has its id,
    /// otherwise replacing the one that has (in place: routes and groups using it stay).
    pub fn write_object(&mut self, object: &Object, create: bool) -> Result<(), KernelError> {
        let flags = NLM_F_CREATE | if create { NLM_F_EXCL } else { NLM_F_REPLACE };
        let seq = self.next_seq();
        self.request(&nexthop::new_request(object, flags | NLM_F_ACK, seq), seq)
    }

    /// Removes nexthop object `id` (groups lose it; routes through it go with it).
    pub fn delete_object(&mut self, id: u32) -> Result<(), KernelError> {
        let seq = self.next_seq();
        self.request(&nexthop::del_request(id, seq), seq)
    }

    /// Every policy rule that looks up a table, of both families; `None` where
    /// rules can't be read (a kernel without multiple tables, or qemu-user, which translates
    /// no rule messages: `EOPNOTSUPP`, `EAFNOSUPPORT`).
    pub fn rules(&mut self) -> Result<Option<Vec<Rule>>, KernelError> {
        let mut read = || -> Result<Vec<Rule>, KernelError> {
            let mut rules = self.dump(rule::dump_v4, RTM_NEWRULE, rule::rule)?;
            rules.extend(self.dump(rule::dump_v6, RTM_NEWRULE, rule::rule)?);
            Ok(rules)
        };
        match read() {
            Ok(rules) => Ok(Some(rules)),
            Err(e) if e.errno == EOPNOTSUPP || e.errno == EAFNOSUPPORT => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Adds `rule` (an identical one already there is refused: `EEXIST`).
    pub fn write_rule(&mut self, rule: &Rule) -> Result<(), KernelError> {
        let seq = self.next_seq();
        let flags = NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
        self.request(&rule::request_for(rule, RTM_NEWRULE, flags, seq), seq)
    }

    /// Removes the rule that matches `rule` in every field, protocol included.
    pub fn delete_rule(&mut self, rule: &Rule) -> Result<(), KernelError> {
        let seq = self.next_seq();
        self.request(&rule::request_for(rule, RTM_DELRULE, NLM_F_ACK, seq), seq)
    }

    /// Whether this kernel takes resilient nexthop groups (5.13 and later), found by trying:
    /// an FDB object `leg` in a resilient FDB group `group` (`nexthop::probe_requests`: no
    /// device, so it works with `lo` down), both removed again. The ids must be free. Kernels
    /// without nexthop objects refuse the message (`EOPNOTSUPP`), kernels without FDB
    /// nexthops (before 5.8) the leg, and kernels without resilient groups the group type
    /// (`EINVAL`): each answers no. Any other refusal answers nothing and is the error.
    pub fn takes_resilient_groups(&mut self, group: u32, leg: u32) -> Result<bool, KernelError> {
        let flags = NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
        let seqs = [self.next_seq(), self.next_seq()];
        let [leg_request, group_request] =
            nexthop::probe_requests(group, leg, PROTOCOL, flags, seqs);
        match self.request(&leg_request, seqs[0]) {
            Err(e) if e.errno == EOPNOTSUPP || e.errno == EINVAL => return Ok(false),
            other => other?,
        }
        let taken = match self.request(&group_request, seqs[1]) {
            Ok(()) => self.delete_object(group).map(|()| true),
            Err(e) if e.errno == EINVAL || e.errno == EOPNOTSUPP => Ok(false),
            Err(e) => Err(e),
        };
        let removed = self.delete_object(leg);
        let taken = taken?;
        removed.map(|()| taken)
    }

    fn send(&self, bytes: &[u8]) -> Result<(), KernelError> {
        self.socket
            .send(bytes, Msg::empty())
            .map_err(|e| socket_error("send", e))?;
        Ok(())
    }

    /// Receives one datagram and hands over the messages in it that answer `seq`.
    fn receive(
        &mut self,
        seq: u32,
        mut each: impl FnMut(Header, &[u8]) -> Result<(), KernelError>,
    ) -> Result<(), KernelError> {
        let len = recv(&self.socket, &mut self.buf, Msg::empty())
            .map_err(|e| socket_error("receive", e))?;
        for (header, payload) in wire::messages(self.buf.get(..len).unwrap_or_default())? {
            if header.seq == seq {
                each(header, payload)?;
            }
        }
        Ok(())
    }

    /// Sends one request and waits for its ack.
    fn request(&mut self, bytes: &[u8], seq: u32) -> Result<(), KernelError> {
        self.send(bytes)?;
        let mut outcome = None;
        while outcome.is_none() {
            self.receive(seq, |header, payload| {
                if header.kind == NLMSG_ERROR {
                    let (code, message) = wire::error(&header, payload)?;
                    outcome = Some(if code == 0 {
                        Ok(())
                    } else {
                        Err(errno_error(code, message))
                    });
                }
                Ok(())
            })?;
        }
        outcome.unwrap_or(Ok(()))
    }

    /// Runs a dump and converts each `kind` message with `convert` (`None`: not wanted).
    /// Monomorphic: `convert` and `out` behind references, so there is one copy of the
    /// dump loop for every kind of dump (a generic one cost 1.2 KB per kind on mipsel).
    fn dump<R>(
        &mut self,
        request: fn(u32) -> Vec<u8>,
        kind: u16,
        convert: fn(&[u8]) -> Result<Option<R>, wire::WireError>,
    ) -> Result<Vec<R>, KernelError> {
        let mut out = Vec::new();
        self.dump_each(&request, kind, &mut |payload| {
            match payload {
                Some(payload) => out.extend(convert(payload)?),
                None => out.clear(),
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Runs a dump, handing each `kind` message's payload to `each` as it arrives. A dump
    /// the kernel marks interrupted by a change is started again, after `each(None)`: what
    /// it was given so far is to be forgotten.
    fn dump_each(
        &mut self,
        request: &dyn Fn(u32) -> Vec<u8>,
        kind: u16,
        each: &mut DumpSink,
    ) -> Result<(), KernelError> {
        for attempt in 0..DUMP_ATTEMPTS {
            if attempt > 0 {
                each(None)?;
            }
            let seq = self.next_seq();
            self.send(&request(seq))?;
            let (mut done, mut interrupted) = (false, false);
            while !done {
                self.receive(seq, |header, payload| {
                    interrupted |= header.flags & NLM_F_DUMP_INTR != 0;
                    match header.kind {
                        NLMSG_DONE => done = true,
                        NLMSG_ERROR => {
                            let (code, message) = wire::error(&header, payload)?;
                            return Err(errno_error(code, message));
                        }
                        k if k == kind => each(Some(payload))?,
                        _ => {}
                    }
                    Ok(())
                })?;
            }
            if !interrupted {
                return Ok(());
            }
        }
        Err(KernelError::new(format!(
            "the kernel's tables kept changing during {DUMP_ATTEMPTS} dumps"
        )))
    }
}

/// What a dump hands its messages to: `Some(payload)` each, `None` when it starts over.
type DumpSink<'a> = dyn FnMut(Option<&[u8]>) -> Result<(), KernelError> + 'a;

/// A ctnetlink socket: the conntrack entries a departed uplink's NAT made.
pub struct Conntrack(Kernel);

impl Conntrack {
    pub fn open() -> Result<Conntrack, KernelError> {
        let socket = NlSocket::connect(NlFamily::Netfilter, None, Groups::empty())
            .map_err(|e| socket_error("conntrack socket", e))?;
        Ok(Conntrack(Kernel {
            socket,
            seq: std::process::id(),
            buf: vec![0; RECV_BUFFER],
        }))
    }

    /// Deletes every `family` entry whose source was translated to one of `addresses`
    /// (`conntrack::translated_to`); the number deleted. An entry that went by itself in
    /// between is not an error.
    pub fn delete_translated(
        &mut self,
        family: route::Family,
        addresses: &[std::net::IpAddr],
    ) -> Result<usize, KernelError> {
        let mut found = Vec::new();
        self.0.dump_each(
            &|seq| conntrack::dump_request(family, seq),
            CT_MSG_NEW,
            &mut |payload| {
                match payload {
                    Some(p) => found.extend(conntrack::translated_to(family, p, addresses)?),
                    None => found.clear(),
                }
                Ok(())
            },
        )?;
        let mut deleted = 0;
        for entry in &found {
            let seq = self.0.next_seq();
            match self.0.request(&conntrack::delete_request(entry, seq), seq) {
                Ok(()) => deleted += 1,
                Err(e) if e.errno == ENOENT => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }
}

const ENOENT: i32 = nix::errno::Errno::ENOENT as i32;
const ENOBUFS: i32 = nix::errno::Errno::ENOBUFS as i32;

/// What the kernel announced that may call for a reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    /// A device changed (any `RTM_NEWLINK`): its index and whether it has carrier now.
    Link { index: u32, carrier: bool },
    /// A device went away.
    LinkGone { index: u32 },
    /// A global address of a device appeared, changed (its flags: duplicate address
    /// detection done) or went away: a new DHCPv6 lease moves the probes' source.
    Address { index: u32 },
    /// A nexthop object was deleted by someone (the kernel's own flushes are silent).
    ObjectGone { id: u32, protocol: u8 },
    /// A default route (`::/0`, `0.0.0.0/0`, source-specific or not, any table) of another
    /// protocol appeared, changed or went away: its devices. netifd moves an uplink's default
    /// to a new gateway in place without a hotplug event (its route comparison ignores the
    /// nexthop, netifd `interface-ip.c`).
    DefaultRoute { devices: Vec<u32> },
    /// The socket's queue overflowed: events were lost.
    Lost,
}

/// A socket on the link, address, route and nexthop multicast groups, for `watch`.
pub struct Monitor {
    socket: NlSocket,
    buf: Vec<u8>,
}

impl Monitor {
    pub fn open() -> Result<Monitor, KernelError> {
        let socket = route_socket()?;
        socket
            .add_mcast_membership(Groups::new_groups(&[
                RTNLGRP_LINK,
                RTNLGRP_IPV4_IFADDR,
                RTNLGRP_IPV6_IFADDR,
                RTNLGRP_IPV4_ROUTE,
                RTNLGRP_IPV6_ROUTE,
                RTNLGRP_NEXTHOP,
            ]))
            .map_err(|e| socket_error("joining the link, address, route and nexthop groups", e))?;
        Ok(Monitor {
            socket,
            buf: vec![0; RECV_BUFFER],
        })
    }

    /// The events of the next datagram: waits for one, or with `wait: false` returns an
    /// empty list when none is queued.
    pub fn events(&mut self, wait: bool) -> Result<Vec<KernelEvent>, KernelError> {
        let flags = if wait { Msg::empty() } else { Msg::DONTWAIT };
        let len = match recv(&self.socket, &mut self.buf, flags) {
            Ok(len) => len,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Vec::new()),
            Err(e) if e.raw_os_error() == Some(ENOBUFS) => return Ok(vec![KernelEvent::Lost]),
            Err(e) => return Err(socket_error("receive", e)),
        };
        let mut events = Vec::new();
        for (header, payload) in wire::messages(self.buf.get(..len).unwrap_or_default())? {
            match header.kind {
                RTM_NEWLINK => {
                    let (index, carrier) = wire::link_state(payload)?;
                    events.push(KernelEvent::Link { index, carrier });
                }
                RTM_DELLINK => {
                    let (index, _) = wire::link_state(payload)?;
                    events.push(KernelEvent::LinkGone { index });
                }
                RTM_NEWADDR | RTM_DELADDR => {
                    if let Some(index) = wire::global_address_device(payload)? {
                        events.push(KernelEvent::Address { index });
                    }
                }
                RTM_NEWROUTE | RTM_DELROUTE => {
                    let default = wire::route(payload)?
                        .filter(|r| r.key.dst.length() == 0 && r.protocol != PROTOCOL);
                    if let Some(route) = default {
                        let devices = route.nexthops.iter().map(|n| n.ifindex).collect();
                        events.push(KernelEvent::DefaultRoute { devices });
                    }
                }
                RTM_DELNEXTHOP => {
                    let object = nexthop::object(payload)?;
                    events.push(KernelEvent::ObjectGone {
                        id: object.id,
                        protocol: object.protocol,
                    });
                }
                _ => {}
            }
        }
        Ok(events)
    }
}

impl std::os::fd::AsFd for Monitor {
    /// For `poll`, beside the probe sockets.
    #[allow(unsafe_code)]
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is neli's socket's, open for as long as `self` lives, which
        // bounds the borrow. neli 0.7 implements only `AsRawFd`.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.socket.as_raw_fd()) }
    }
}

/// An rtnetlink socket, for requests (`Kernel`) or events (`Monitor`).
fn route_socket() -> Result<NlSocket, KernelError> {
    NlSocket::connect(NlFamily::Route, None, Groups::empty()).map_err(|e| socket_error("socket", e))
}

/// One datagram into `buf`, its length; a signal doesn't end the wait.
fn recv(socket: &NlSocket, buf: &mut [u8], flags: Msg) -> io::Result<usize> {
    loop {
        match socket.recv(&mut *buf, flags) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other.map(|(len, _)| len),
        }
    }
}

fn errno_error(code: i32, message: Option<String>) -> KernelError {
    let errno = code.saturating_neg();
    let text = io::Error::from_raw_os_error(errno);
    KernelError {
        message: match message {
            Some(m) if !m.is_empty() => format!("{text} ({m})"),
            _ => text.to_string(),
        },
        errno,
    }
}
