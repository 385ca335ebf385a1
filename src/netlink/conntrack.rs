//! ctnetlink (`NETLINK_NETFILTER`, subsystem `NFNL_SUBSYS_CTNETLINK`): finding and deleting
//! the conntrack entries a departed uplink's source NAT made.
//!
//! Entries are read whole from a dump and deleted one by one by their original tuple (copied
//! as the kernel sent it) and id, so a delete can never hit an entry that replaced the one
//! read (`ctnetlink_del_conntrack` checks `CTA_ID`). ctnetlink's numbers are big-endian.

use std::net::IpAddr;

use super::uapi::*;
use super::wire::{WireError, addr_from, af, attrs, put_attr, request};
use crate::route::Family;

/// `sizeof(struct nfgenmsg)`: family, version (`NFNETLINK_V0`), res_id (big-endian).
const NFGENMSG: usize = 4;

fn nfgenmsg(family: Family) -> [u8; NFGENMSG] {
    [af(family), 0, 0, 0]
}

/// A conntrack entry to delete: its original tuple as the kernel nested it, its id and
/// zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    family: Family,
    orig: Vec<u8>,
    id: Option<u32>,
    zone: Option<u16>,
}

pub fn dump_request(family: Family, seq: u32) -> Vec<u8> {
    request(CT_MSG_GET, NLM_F_DUMP, seq, &nfgenmsg(family), &[])
}

pub fn delete_request(entry: &Entry, seq: u32) -> Vec<u8> {
    let mut attrs = Vec::new();
    put_attr(&mut attrs, CTA_TUPLE_ORIG | NLA_F_NESTED, &entry.orig);
    if let Some(zone) = entry.zone {
        put_attr(&mut attrs, CTA_ZONE, &zone.to_be_bytes());
    }
    if let Some(id) = entry.id {
        put_attr(&mut attrs, CTA_ID, &id.to_be_bytes());
    }
    request(
        CT_MSG_DELETE,
        NLM_F_ACK,
        seq,
        &nfgenmsg(entry.family),
        &attrs,
    )
}

/// The entry a `IPCTNL_MSG_CT_NEW` dump message describes, if its source was translated
/// (`IPS_SRC_NAT`) to one of `addresses`: its reply direction is destined there. The
/// router's own connections from that address are not translated and don't match.
pub fn translated_to(
    family: Family,
    payload: &[u8],
    addresses: &[IpAddr],
) -> Result<Option<Entry>, WireError> {
    let (mut orig, mut reply_dst, mut status, mut id, mut zone) = (None, None, 0, None, None);
    for attr in attrs(payload.get(NFGENMSG..).unwrap_or_default()) {
        let (kind, p) = attr?;
        match kind & NLA_TYPE_MASK {
            CTA_TUPLE_ORIG => orig = Some(p),
            CTA_TUPLE_REPLY => reply_dst = tuple_dst(p)?,
            CTA_STATUS => status = be_u32(p),
            CTA_ID => id = Some(be_u32(p)),
            CTA_ZONE => zone = <[u8; 2]>::try_from(p).ok().map(u16::from_be_bytes),
            _ => {}
        }
    }
    let matches = status & IPS_SRC_NAT != 0 && reply_dst.is_some_and(|a| addresses.contains(&a));
    Ok(match (matches, orig) {
        (true, Some(orig)) => Some(Entry {
            family,
            orig: orig.to_vec(),
            id,
            zone,
        }),
        _ => None,
    })
}

fn be_u32(p: &[u8]) -> u32 {
    <[u8; 4]>::try_from(p).map_or(0, u32::from_be_bytes)
}

/// The destination address of a nested tuple (`CTA_TUPLE_IP` → `CTA_IP_V4_DST`/`V6_DST`).
fn tuple_dst(tuple: &[u8]) -> Result<Option<IpAddr>, WireError> {
    for attr in attrs(tuple) {
        let (kind, p) = attr?;
        if kind & NLA_TYPE_MASK == CTA_TUPLE_IP {
            for attr in attrs(p) {
                let (kind, a) = attr?;
                if matches!(kind & NLA_TYPE_MASK, CTA_IP_V4_DST | CTA_IP_V6_DST) {
                    return Ok(addr_from(a));
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::wire::messages;

    const CTA_IP_V6_SRC: u16 = 3;

    /// A dump message as the kernel builds it: orig tuple, reply tuple, status, id.
    fn entry(reply_dst: [u8; 16], status: u32) -> Vec<u8> {
        let tuple = |src: [u8; 16], dst: [u8; 16]| {
            let mut ip = Vec::new();
            put_attr(&mut ip, CTA_IP_V6_SRC, &src);
            put_attr(&mut ip, CTA_IP_V6_DST, &dst);
            let mut t = Vec::new();
            put_attr(&mut t, CTA_TUPLE_IP | NLA_F_NESTED, &ip);
            t
        };
        let lan = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let server = [0x20, 1, 0xd, 0xb8, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut a = Vec::new();
        put_attr(&mut a, CTA_TUPLE_ORIG | NLA_F_NESTED, &tuple(lan, server));
        put_attr(
            &mut a,
            CTA_TUPLE_REPLY | NLA_F_NESTED,
            &tuple(server, reply_dst),
        );
        put_attr(&mut a, CTA_STATUS, &status.to_be_bytes());
        put_attr(&mut a, CTA_ID, &7u32.to_be_bytes());
        request(CT_MSG_NEW, 0, 1, &nfgenmsg(Family::V6), &a)
    }

    #[test]
    fn only_entries_translated_to_the_addresses_match_and_are_deleted_by_tuple_and_id() {
        let wan1 = [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let wan2 = [0x20, 1, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let addresses = [IpAddr::from(wan1)];
        let read = |bytes: &[u8]| {
            let (_, payload) = messages(bytes).unwrap()[0];
            translated_to(Family::V6, payload, &addresses).unwrap()
        };
        assert_eq!(read(&entry(wan2, IPS_SRC_NAT)), None, "another uplink's");
        assert_eq!(
            read(&entry(wan1, 0)),
            None,
            "the router's own, not translated"
        );
        let found = read(&entry(wan1, IPS_SRC_NAT | 0x8)).unwrap();
        assert_eq!(found.id, Some(7));
        // The delete names the original tuple exactly as dumped, and the id.
        let del = delete_request(&found, 9);
        let (header, payload) = messages(&del).unwrap()[0];
        assert_eq!(header.kind, CT_MSG_DELETE);
        let mut a = attrs(&payload[NFGENMSG..]);
        let (kind, orig) = a.next().unwrap().unwrap();
        assert_eq!(
            (kind, orig),
            (CTA_TUPLE_ORIG | NLA_F_NESTED, found.orig.as_slice())
        );
        assert_eq!(
            a.next().unwrap().unwrap(),
            (CTA_ID, &7u32.to_be_bytes()[..])
        );
    }
}
