//! Probe sockets through one uplink each, for tracking: ICMP and ICMPv6 echoes (`ping`),
//! DNS queries over UDP (`dns`), TCP connects (`tcp`, a SYN-ACK or a RST is an answer; the
//! socket is then closed with a RST, so the target keeps no connection).
//!
//! A probe's socket is bound to its uplink's device and source address, which the rules of
//! its uplink path send to a table holding only that uplink's default route
//! (`planner::uplink_paths`): so it leaves by that uplink and no other, in the group or not. Raw sockets (the router runs as root; OpenWrt's `ping_group_range` admits no
//! one to ping sockets) bound to a device receive only what arrives on it; each echo has a
//! sequence number of its own, so an answer is matched to its target and its send time.

use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrStorage, sockopt,
};

use crate::config::Method;
pub use crate::planner::Uplink;
use crate::track::{Probed, Target};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// One round of probes of one group: echoes out, answers coming in.
pub struct Round {
    sockets: Vec<Socket>,
    ident: u16,
}

struct Socket {
    method: Method,
    /// `ping`, `dns`: the uplink's one socket.
    fd: Option<OwnedFd>,
    /// `tcp`: a connect in flight per probe: (socket, target index, sent at).
    connects: Vec<(OwnedFd, usize, Instant)>,
    /// Not probed this round: no usable address of its own (`track::Probed::probed`).
    unprobed: bool,
    uplink: Uplink,
    targets: Vec<Target>,
    /// (sequence number, target index, sent at) of each echo not yet answered.
    pending: Vec<(u16, usize, Instant)>,
}

impl Round {
    /// Sends `count` echoes to each of `targets` through each of `uplinks`. `seq` numbers
    /// the echoes (it goes on from round to round, so no two in flight share one). An uplink
    /// whose socket can't be set up or sent on has its targets unanswered: it fails the round
    /// as a dead one would, and the error is returned for the log.
    pub fn start(
        uplinks: &[Uplink],
        method: &Method,
        targets: &[IpAddr],
        count: u32,
        seq: &mut u16,
    ) -> (Round, Vec<String>) {
        let ident = std::process::id() as u16;
        let mut errors = Vec::new();
        let mut sockets = Vec::new();
        for uplink in uplinks {
            let mut s = Socket {
                method: method.clone(),
                fd: None,
                connects: Vec::new(),
                unprobed: false,
                uplink: uplink.clone(),
                targets: targets
                    .iter()
                    .map(|&ip| Target {
                        ip,
                        sent: 0,
                        received: 0,
                        rtt_us: None,
                    })
                    .collect(),
                pending: Vec::new(),
            };
            if let Err(e) = s.send(ident, count, seq) {
                let e = std::io::Error::from(e);
                errors.push(format!("probes through {}: {e}", uplink.device));
            }
            sockets.push(s);
        }
        (Round { sockets, ident }, errors)
    }

    /// The sockets to wait on, and for what: answers to read, or connects to complete.
    pub fn fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        let mut fds = Vec::new();
        for s in &self.sockets {
            fds.extend(s.fd.as_ref().map(|fd| (fd.as_fd(), PollFlags::POLLIN)));
            fds.extend(s.connects.iter().map(|c| (c.0.as_fd(), PollFlags::POLLOUT)));
        }
        fds
    }

    /// Reads every answer that has arrived.
    pub fn receive(&mut self) {
        let now = Instant::now();
        for s in &mut self.sockets {
            s.receive(self.ident, now);
        }
    }

    /// Whether every probe has been answered (the round need not wait for its timeout).
    pub fn answered(&self) -> bool {
        self.sockets
            .iter()
            .all(|s| s.pending.is_empty() && s.connects.is_empty())
    }

    /// What each uplink's probes got.
    pub fn finish(self) -> Vec<Probed> {
        self.sockets
            .into_iter()
            .map(|s| Probed {
                interface: s.uplink.interface,
                device: s.uplink.ifindex,
                uptime: s.uplink.uptime,
                targets: s.targets,
                probed: !s.unprobed,
            })
            .collect()
    }
}

impl Socket {
    fn send(&mut self, ident: u16, count: u32, seq: &mut u16) -> nix::Result<()> {
        let v6 = self.targets.first().is_some_and(|t| t.ip.is_ipv6());
        let (family, protocol) = match v6 {
            true => (AddressFamily::Inet6, SockProtocol::IcmpV6),
            false => (AddressFamily::Inet, SockProtocol::Icmp),
        };
        // Only from an address of its own: without one the kernel would pick another
        // uplink's, and the answer (if any) would come back through that uplink.
        let Some(source) = self.uplink.source.filter(|s| s.is_ipv6() == v6) else {
            self.unprobed = true;
            return Ok(());
        };
        let (kind, protocol) = match &self.method {
            Method::Ping => (SockType::Raw, Some(protocol)),
            Method::Dns { .. } => (SockType::Datagram, None),
            Method::Tcp { .. } => return self.connect(family, source, count),
        };
        let Some(fd) = self.bound(family, kind, protocol, source)? else {
            return Ok(());
        };
        let fd = self.fd.insert(fd);
        for k in 0..count {
            for (i, t) in self.targets.iter_mut().enumerate() {
                *seq = seq.wrapping_add(1);
                let (packet, port) = match &self.method {
                    Method::Dns { port, name } => (crate::dns::query(*seq, name), *port),
                    _ => (echo(v6, ident, *seq, k), 0),
                };
                let to = SockaddrStorage::from(std::net::SocketAddr::new(t.ip, port));
                let sent = socket::sendto(fd.as_raw_fd(), &packet, &to, MsgFlags::empty());
                t.sent += 1;
                sent?;
                self.pending.push((*seq, i, Instant::now()));
            }
        }
        Ok(())
    }

    /// A socket bound to the uplink's device and its own `source`; `None` while the address
    /// is tentative (duplicate address detection runs for about a second): not probed yet.
    fn bound(
        &mut self,
        family: AddressFamily,
        kind: SockType,
        protocol: Option<SockProtocol>,
        source: IpAddr,
    ) -> nix::Result<Option<OwnedFd>> {
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        let fd = socket::socket(family, kind, flags, protocol)?;
        socket::setsockopt(
            &fd,
            sockopt::BindToDevice,
            &std::ffi::OsString::from(&self.uplink.device),
        )?;
        match socket::bind(fd.as_raw_fd(), &address(source)) {
            Err(nix::errno::Errno::EADDRNOTAVAIL) => {
                self.unprobed = true;
                Ok(None)
            }
            r => r.map(|()| Some(fd)),
        }
    }

    /// `tcp`: `count` connects to each target's port, one socket each. One refused at once
    /// (the kernel had the RST already, or no route) counts as sent.
    fn connect(&mut self, family: AddressFamily, source: IpAddr, count: u32) -> nix::Result<()> {
        let Method::Tcp { port } = self.method else {
            return Ok(());
        };
        for _ in 0..count {
            for i in 0..self.targets.len() {
                let Some(fd) = self.bound(family, SockType::Stream, None, source)? else {
                    return Ok(());
                };
                // Closed with a RST, not a FIN: the target keeps nothing of the probe.
                socket::setsockopt(
                    &fd,
                    sockopt::Linger,
                    &nix::libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    },
                )?;
                let Some(t) = self.targets.get_mut(i) else {
                    continue;
                };
                t.sent += 1;
                let to = SockaddrStorage::from(std::net::SocketAddr::new(t.ip, port));
                match socket::connect(fd.as_raw_fd(), &to) {
                    Err(nix::errno::Errno::EINPROGRESS) => {
                        self.connects.push((fd, i, Instant::now()))
                    }
                    Ok(()) | Err(nix::errno::Errno::ECONNREFUSED) => t.received += 1,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    fn receive(&mut self, ident: u16, now: Instant) {
        if matches!(self.method, Method::Tcp { .. }) {
            return self.completed(now);
        }
        let Some(fd) = &self.fd else { return };
        let mut buf = [0u8; 512];
        while let Ok((len, from)) = socket::recvfrom::<SockaddrStorage>(fd.as_raw_fd(), &mut buf) {
            let packet = buf.get(..len).unwrap_or_default();
            let seq = match self.method {
                Method::Dns { .. } => crate::dns::response_id(packet),
                _ => echo_reply(packet, ident),
            };
            let Some(seq) = seq else {
                continue;
            };
            let from: Option<IpAddr> = from.and_then(|a| {
                a.as_sockaddr_in()
                    .map(|a| IpAddr::V4(a.ip()))
                    .or_else(|| a.as_sockaddr_in6().map(|a| IpAddr::V6(a.ip())))
            });
            let Some(at) = self.pending.iter().position(|p| p.0 == seq) else {
                continue;
            };
            let (_, target, sent_at) = self.pending.swap_remove(at);
            if let Some(t) = self.targets.get_mut(target).filter(|t| Some(t.ip) == from) {
                t.count_answer(now.duration_since(sent_at).as_micros() as u64);
            }
        }
    }
}

impl Socket {
    /// `tcp`: the connects that completed: established (a SYN-ACK) or refused (a RST) is an
    /// answer; any other error (unreachable) is none.
    fn completed(&mut self, now: Instant) {
        let mut fds: Vec<PollFd> = self
            .connects
            .iter()
            .map(|c| PollFd::new(c.0.as_fd(), PollFlags::POLLOUT))
            .collect();
        if nix::poll::poll(&mut fds, PollTimeout::ZERO).is_err() {
            return;
        }
        let done: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut done = done.into_iter();
        let targets = &mut self.targets;
        self.connects.retain(|(fd, i, sent_at)| {
            if done.next() != Some(true) {
                return true;
            }
            let answered = match socket::getsockopt(fd, sockopt::SocketError) {
                Ok(0) => true,
                Ok(e) => e == nix::libc::ECONNREFUSED,
                Err(_) => false,
            };
            if let Some(t) = targets.get_mut(*i).filter(|_| answered) {
                t.count_answer(now.duration_since(*sent_at).as_micros() as u64);
            }
            false
        });
    }
}

fn address(ip: IpAddr) -> SockaddrStorage {
    SockaddrStorage::from(std::net::SocketAddr::new(ip, 0))
}

/// An echo request: type, code, checksum (IPv4's computed here; the kernel fills in
/// ICMPv6's, which covers a pseudo-header only it knows), identifier, sequence, and the
/// echo's number in the round as payload.
fn echo(v6: bool, ident: u16, seq: u16, k: u32) -> Vec<u8> {
    let kind = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    let mut p = vec![kind, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"ecmp-hotplug");
    p.extend_from_slice(&k.to_be_bytes());
    if !v6 {
        let sum = checksum(&p).to_be_bytes();
        p.splice(2..4, sum);
    }
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| {
            let byte = |i: usize| c.get(i).copied().unwrap_or(0);
            u32::from(u16::from_be_bytes([byte(0), byte(1)]))
        })
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The sequence number of an echo reply with our identifier: ICMPv6 as it is, ICMP after the
/// IPv4 header a raw socket keeps.
fn echo_reply(packet: &[u8], ident: u16) -> Option<u16> {
    let icmp = match packet.first()? >> 4 {
        4 => packet.get(usize::from(packet.first()? & 0xf) * 4..)?,
        _ => packet,
    };
    let kind = *icmp.first()?;
    let id = u16::from_be_bytes([*icmp.get(4)?, *icmp.get(5)?]);
    let ours = (kind == ECHO_REPLY_V6 || kind == ECHO_REPLY_V4) && id == ident;
    let seq = u16::from_be_bytes([*icmp.get(6)?, *icmp.get(7)?]);
    ours.then_some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_and_their_replies() {
        let p = echo(false, 0x1234, 7, 0);
        assert_eq!(&p[..2], &[8, 0]);
        // A correct checksum sums to zero with it in place.
        assert_eq!(checksum(&p), 0);
        // An IPv4 reply as a raw socket reads it: a 20-byte header first.
        let mut reply = vec![0x45; 1];
        reply.extend_from_slice(&[0; 19]);
        reply.extend_from_slice(&[ECHO_REPLY_V4, 0, 0, 0, 0x12, 0x34, 0, 7]);
        assert_eq!(echo_reply(&reply, 0x1234), Some(7));
        assert_eq!(echo_reply(&reply, 0x4321), None, "someone else's ping");
        let v6 = [ECHO_REPLY_V6, 0, 0, 0, 0x12, 0x34, 1, 2];
        assert_eq!(echo_reply(&v6, 0x1234), Some(0x0102));
        let request = echo(true, 0x1234, 3, 0);
        assert_eq!(echo_reply(&request, 0x1234), None, "our own request looped");
    }
}
