//! Nexthop objects on the wire (kernel ≥ 5.3; resilient groups ≥ 5.13): `struct nhmsg`,
//! `NHA_*` attributes and `struct nexthop_grp`, which neli does not have.
//!
//! Numbers from uapi `nexthop.h`, in `uapi`. A group's weights travel as
//! weight − 1; resilient-group timers are `clock_t` (1/100 s). Layouts are tested against
//! messages captured from iproute2 6.1 with strace, and round-trip in native byte order so
//! they hold on big-endian MIPS too. The types themselves are the domain's (`route::Object`).

use super::uapi::*;
use super::wire::{self, WireError, af, octets, read_addr, read_u16, read_u32};
use crate::route::{Family, Object, ObjectKind as Kind, Resilient, Weight};

const NHMSG: usize = 8;
const NEXTHOP_GRP: usize = 8;

/// `struct nhmsg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nhmsg {
    pub family: u8,
    pub scope: u8,
    pub protocol: u8,
    pub flags: u32,
}

impl Nhmsg {
    fn to_bytes(self) -> [u8; NHMSG] {
        let f = self.flags.to_ne_bytes();
        [
            self.family,
            self.scope,
            self.protocol,
            0,
            f[0],
            f[1],
            f[2],
            f[3],
        ]
    }

    fn from_bytes(buf: &[u8]) -> Result<Nhmsg, WireError> {
        let b: [u8; NHMSG] = buf
            .get(..NHMSG)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| wire::bad_payload("nhmsg", buf))?;
        Ok(Nhmsg {
            family: b[0],
            scope: b[1],
            protocol: b[2],
            flags: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

/// `struct nexthop_grp`: a member's id and its weight − 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NexthopGrp {
    pub id: u32,
    pub weight: u8,
}

impl NexthopGrp {
    fn to_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_ne_bytes());
        out.extend_from_slice(&[self.weight, 0, 0, 0]);
    }

    fn from_bytes(b: &[u8; NEXTHOP_GRP]) -> NexthopGrp {
        NexthopGrp {
            id: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            weight: b[4],
        }
    }
}

/// `RTM_NEWNEXTHOP` for `object`, in iproute2's attribute order (id, gateway, oif; or id,
/// group, resilient parameters, group type).
pub fn new_request(object: &Object, flags: u16, seq: u32) -> Vec<u8> {
    object_request(object, false, flags, seq)
}

/// `new_request`, or with `fdb` the same object flagged `NHA_FDB` (then a leg has no
/// device).
fn object_request(object: &Object, fdb: bool, flags: u16, seq: u32) -> Vec<u8> {
    let mut attrs = Vec::new();
    wire::put_attr(&mut attrs, NHA_ID, &object.id.to_ne_bytes());
    let family = match &object.kind {
        Kind::Leg {
            family,
            ifindex,
            gateway,
        } => {
            if let Some(gw) = gateway {
                wire::put_attr(&mut attrs, NHA_GATEWAY, &octets(gw));
            }
            if !fdb {
                wire::put_attr(&mut attrs, NHA_OIF, &ifindex.to_ne_bytes());
            }
            af(*family)
        }
        Kind::Group { members, resilient } => {
            let mut grp = Vec::with_capacity(members.len() * NEXTHOP_GRP);
            for (id, weight) in members {
                NexthopGrp {
                    id: *id,
                    weight: weight.hops(),
                }
                .to_bytes(&mut grp);
            }
            wire::put_attr(&mut attrs, NHA_GROUP, &grp);
            if let Some(res) = resilient {
                let mut nested = Vec::new();
                wire::put_attr(
                    &mut nested,
                    NHA_RES_GROUP_BUCKETS,
                    &res.buckets.to_ne_bytes(),
                );
                wire::put_attr(
                    &mut nested,
                    NHA_RES_GROUP_IDLE_TIMER,
                    &res.idle_timer.to_ne_bytes(),
                );
                wire::put_attr(
                    &mut nested,
                    NHA_RES_GROUP_UNBALANCED_TIMER,
                    &res.unbalanced_timer.to_ne_bytes(),
                );
                wire::put_attr(&mut attrs, NHA_RES_GROUP | NLA_F_NESTED, &nested);
                wire::put_attr(
                    &mut attrs,
                    NHA_GROUP_TYPE,
                    &NEXTHOP_GRP_TYPE_RES.to_ne_bytes(),
                );
            }
            AF_UNSPEC
        }
        Kind::Other => AF_UNSPEC,
    };
    if fdb {
        wire::put_attr(&mut attrs, NHA_FDB, &[]);
    }
    let fixed = Nhmsg {
        family,
        protocol: object.protocol,
        ..Nhmsg::default()
    };
    wire::request(RTM_NEWNEXTHOP, flags, seq, &fixed.to_bytes(), &attrs)
}

/// The gateway of the kernel probe's leg: TEST-NET-1 (RFC 5737), which no uplink has.
const PROBE_GATEWAY: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

/// The kernel probe's objects (`Kernel::takes_resilient_groups`): `leg`, an FDB nexthop
/// (`ip nexthop add id LEG via 192.0.2.1 fdb`), and `group`, a one-bucket resilient FDB group
/// of it. FDB nexthops (Linux 5.8, before resilient groups) have no device, so the question
/// is asked the same way while every device is down, `lo` included: a blackhole is tied to
/// `lo` and refused while it is down ("Device for nexthop is not up"). No route can use an
/// FDB nexthop, so the probe never carries traffic.
pub fn probe_requests(
    group: u32,
    leg: u32,
    protocol: u8,
    flags: u16,
    seqs: [u32; 2],
) -> [Vec<u8>; 2] {
    let leg_object = Object {
        id: leg,
        protocol,
        kind: Kind::Leg {
            family: Family::V4,
            ifindex: 0,
            gateway: Some(PROBE_GATEWAY),
        },
    };
    let group_object = Object {
        id: group,
        protocol,
        kind: Kind::Group {
            members: vec![(leg, Weight::ONE)],
            resilient: Some(Resilient {
                buckets: 1,
                idle_timer: 0,
                unbalanced_timer: 0,
            }),
        },
    };
    let [s1, s2] = seqs;
    [
        object_request(&leg_object, true, flags, s1),
        object_request(&group_object, true, flags, s2),
    ]
}

/// `RTM_DELNEXTHOP` for object `id`.
pub fn del_request(id: u32, seq: u32) -> Vec<u8> {
    let mut attrs = Vec::new();
    wire::put_attr(&mut attrs, NHA_ID, &id.to_ne_bytes());
    wire::request(
        RTM_DELNEXTHOP,
        NLM_F_ACK,
        seq,
        &Nhmsg::default().to_bytes(),
        &attrs,
    )
}

/// `RTM_GETNEXTHOP` dump of every object.
pub fn dump_request(seq: u32) -> Vec<u8> {
    wire::request(
        RTM_GETNEXTHOP,
        NLM_F_DUMP,
        seq,
        &Nhmsg::default().to_bytes(),
        &[],
    )
}

/// The object an `RTM_NEWNEXTHOP` payload describes; group members sorted by id.
pub fn object(payload: &[u8]) -> Result<Object, WireError> {
    let fixed = Nhmsg::from_bytes(payload)?;
    let (mut id, mut ifindex, mut gateway, mut members) = (None, None, None, None);
    let (mut resilient, mut other) = (None, false);
    for attr in wire::attrs(payload.get(NHMSG..).unwrap_or_default()) {
        let (kind, p) = attr?;
        match kind & NLA_TYPE_MASK {
            NHA_ID => id = Some(read_u32(p, "NHA_ID")?),
            NHA_OIF => ifindex = Some(read_u32(p, "NHA_OIF")?),
            NHA_GATEWAY => gateway = Some(read_addr(p, "NHA_GATEWAY")?),
            NHA_GROUP => {
                if p.len() % NEXTHOP_GRP != 0 {
                    return Err(wire::bad_payload("NHA_GROUP", p));
                }
                let mut list: Vec<(u32, Weight)> = p
                    .chunks_exact(NEXTHOP_GRP)
                    .filter_map(|g| <&[u8; NEXTHOP_GRP]>::try_from(g).ok())
                    .map(|g| {
                        let g = NexthopGrp::from_bytes(g);
                        (g.id, Weight::from_hops(g.weight))
                    })
                    .collect();
                list.sort();
                members = Some(list);
            }
            NHA_RES_GROUP => {
                let mut res = Resilient {
                    buckets: 0,
                    idle_timer: 0,
                    unbalanced_timer: 0,
                };
                for inner in wire::attrs(p) {
                    let (k, v) = inner?;
                    match k & NLA_TYPE_MASK {
                        NHA_RES_GROUP_BUCKETS => {
                            res.buckets = read_u16(v, "NHA_RES_GROUP_BUCKETS")?
                        }
                        NHA_RES_GROUP_IDLE_TIMER => {
                            res.idle_timer = read_u32(v, "NHA_RES_GROUP_IDLE_TIMER")?
                        }
                        NHA_RES_GROUP_UNBALANCED_TIMER => {
                            res.unbalanced_timer = read_u32(v, "NHA_RES_GROUP_UNBALANCED_TIMER")?
                        }
                        _ => {}
                    }
                }
                resilient = Some(res);
            }
            NHA_BLACKHOLE => other = true,
            _ => {}
        }
    }
    let id = id.ok_or_else(|| WireError("nexthop without NHA_ID".into()))?;
    let kind = match (members, ifindex) {
        _ if other => Kind::Other,
        (Some(members), _) => Kind::Group { members, resilient },
        (None, Some(ifindex)) => Kind::Leg {
            family: if fixed.family == AF_INET6 {
                Family::V6
            } else {
                Family::V4
            },
            ifindex,
            gateway,
        },
        (None, None) => Kind::Other,
    };
    Ok(Object {
        id,
        protocol: fixed.protocol,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::wire::tests::hex;
    use crate::route::PROTOCOL;

    // Captured with strace on x86_64; v0 is ifindex 3, v1 ifindex 5.
    // `ip nexthop add id 1001 via fe80::1 dev v0 proto 236`
    const ADD_LEG: &str = "3c0000006800050653ab046b000000000a00ec000000000008000100e903000014000600fe8000000000000000000000000000010800050003000000";
    // `ip nexthop add id 1003 dev v1 proto 236`
    const ADD_DEV: &str =
        "280000006800050654ab046b000000000200ec000000000008000100eb0300000800050005000000";
    // `ip nexthop add id 1100 group 1001/1002,3 type resilient buckets 32 idle_timer 60
    //  unbalanced_timer 300 proto 236`
    const ADD_RES: &str = "580000006800050654ab046b000000000000ec0000000000080001004c04000014000200e903000000000000ea030000020000001c000c800600010020000000080002007017000008000300307500000600030001000000";
    // `ip nexthop add id 1101 group 1001,2/1002 proto 236`
    const ADD_MPATH: &str = "340000006800050654ab046b000000000000ec0000000000080001004d04000014000200e903000001000000ea03000000000000";
    // The kernel's RTM_NEWNEXTHOP for groups 1100 and leg 1001 in `ip nexthop show id …`
    // (with NHA_RES_GROUP_UNBALANCED_TIME and newer attributes this code skips).
    const KERNEL_RES: &str = "6c000000680000005aab046b137200000000ec0000000000080001004c040000060003000100000014000200e903000000000000ea0300000200000028000c800600010020000000080002007017000008000300307500000c000400000000000000000008000e0000000080";
    const KERNEL_LEG: &str = "3c000000680000005aab046b497200000afdec000000000008000100e9030000080005000300000014000600fe800000000000000000000000000001";

    fn leg(id: u32, ifindex: u32, gw: Option<&str>) -> Object {
        let gateway = gw.map(|g| g.parse().unwrap());
        let family = if gw.is_some() { Family::V6 } else { Family::V4 };
        Object {
            id,
            protocol: PROTOCOL,
            kind: Kind::Leg {
                family,
                ifindex,
                gateway,
            },
        }
    }

    fn group(id: u32, members: &[(u32, u16)], resilient: Option<Resilient>) -> Object {
        let members = members
            .iter()
            .map(|(i, w)| (*i, Weight::new(*w).unwrap()))
            .collect();
        Object {
            id,
            protocol: PROTOCOL,
            kind: Kind::Group { members, resilient },
        }
    }

    const RES: Resilient = Resilient {
        buckets: 32,
        idle_timer: 6000,
        unbalanced_timer: 30000,
    };

    fn decode(bytes: &[u8]) -> Object {
        object(&bytes[16..]).unwrap()
    }

    #[cfg(all(target_endian = "little", target_pointer_width = "64"))]
    #[test]
    fn requests_match_iproute2_byte_for_byte() {
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        assert_eq!(
            new_request(&leg(1001, 3, Some("fe80::1")), flags, 0x6b04ab53),
            hex(ADD_LEG)
        );
        assert_eq!(
            new_request(&leg(1003, 5, None), flags, 0x6b04ab54),
            hex(ADD_DEV)
        );
        assert_eq!(
            new_request(
                &group(1100, &[(1001, 1), (1002, 3)], Some(RES)),
                flags,
                0x6b04ab54
            ),
            hex(ADD_RES)
        );
        assert_eq!(
            new_request(
                &group(1101, &[(1001, 2), (1002, 1)], None),
                flags,
                0x6b04ab54
            ),
            hex(ADD_MPATH)
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn captured_requests_and_kernel_replies_decode() {
        assert_eq!(decode(&hex(ADD_LEG)), leg(1001, 3, Some("fe80::1")));
        assert_eq!(decode(&hex(ADD_DEV)), leg(1003, 5, None));
        assert_eq!(
            decode(&hex(ADD_RES)),
            group(1100, &[(1001, 1), (1002, 3)], Some(RES))
        );
        assert_eq!(
            decode(&hex(ADD_MPATH)),
            group(1101, &[(1001, 2), (1002, 1)], None)
        );
        assert_eq!(
            decode(&hex(KERNEL_RES)),
            group(1100, &[(1001, 1), (1002, 3)], Some(RES))
        );
        assert_eq!(decode(&hex(KERNEL_LEG)), leg(1001, 3, Some("fe80::1")));
    }

    #[test]
    fn fixed_parts_round_trip() {
        let msg = Nhmsg {
            family: AF_INET6,
            scope: 0,
            protocol: 236,
            flags: 0x41,
        };
        assert_eq!(Nhmsg::from_bytes(&msg.to_bytes()), Ok(msg));
        assert!(Nhmsg::from_bytes(&[0; 7]).is_err());
        let mut out = Vec::new();
        let grp = NexthopGrp {
            id: 0xEC00_1001,
            weight: 255,
        };
        grp.to_bytes(&mut out);
        let bytes: [u8; NEXTHOP_GRP] = out.try_into().unwrap();
        assert_eq!(NexthopGrp::from_bytes(&bytes), grp);
    }

    #[test]
    fn round_trips_in_native_byte_order() {
        for o in [
            leg(7, 2, Some("fe80::9")),
            leg(8, 4, None),
            group(9, &[(7, 1), (8, 256)], Some(RES)),
            group(10, &[(7, 3)], None),
        ] {
            assert_eq!(decode(&new_request(&o, 0, 1)), o);
        }
        let del = del_request(1100, 5);
        assert_eq!(u16::from_ne_bytes([del[4], del[5]]), RTM_DELNEXTHOP);
        assert_eq!(object(&del[16..]).unwrap().id, 1100);
        assert_eq!(dump_request(3).len(), 24);
    }

    #[test]
    fn malformed_objects_are_errors_not_panics() {
        let good = new_request(&group(9, &[(7, 1), (8, 2)], Some(RES)), 0, 1);
        for cut in 16..good.len() {
            let _ = object(&good[16..cut]);
        }
        assert!(object(&[0; 4]).is_err());
        assert!(object(&[0; 8]).is_err(), "no NHA_ID");
        let mut odd = hex("0000ec0000000000080001000900000007000200010000");
        odd.push(0);
        assert!(object(&odd).is_err(), "NHA_GROUP not a multiple of 8");
    }
}
