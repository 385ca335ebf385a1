//! Policy rules (`struct fib_rule_hdr` and its `FRA_*` attributes), for the probes' paths.

use super::uapi::*;
use super::wire::{WireError, af, attrs, put_attr, read_u32, request};
use crate::route::{Family, Rule};

/// `sizeof(struct fib_rule_hdr)`: family, dst_len, src_len, tos, table, res1, res2, action,
/// flags (u32).
const FIB_RULE_HDR: usize = 12;

fn header(family: Family, action: u8) -> [u8; FIB_RULE_HDR] {
    let mut fixed = [0; FIB_RULE_HDR];
    if let Some(b) = fixed.first_mut() {
        *b = af(family);
    }
    if let Some(b) = fixed.get_mut(7) {
        *b = action;
    }
    fixed
}

/// `RTM_NEWRULE`/`RTM_DELRULE` for `rule`, as `ip rule add priority P fwmark M lookup T
/// protocol 236` sends it (the table in `FRA_TABLE`, the mask all ones).
pub fn request_for(rule: &Rule, kind: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut attrs = Vec::new();
    put_attr(&mut attrs, FRA_PRIORITY, &rule.priority.to_ne_bytes());
    put_attr(&mut attrs, FRA_FWMARK, &rule.mark.to_ne_bytes());
    put_attr(&mut attrs, FRA_FWMASK, &u32::MAX.to_ne_bytes());
    put_attr(&mut attrs, FRA_TABLE, &rule.table.to_ne_bytes());
    put_attr(&mut attrs, FRA_PROTOCOL, &[rule.protocol]);
    request(
        kind,
        flags,
        seq,
        &header(rule.family, FR_ACT_TO_TBL),
        &attrs,
    )
}

pub fn dump_v4(seq: u32) -> Vec<u8> {
    request(RTM_GETRULE, NLM_F_DUMP, seq, &header(Family::V4, 0), &[])
}

pub fn dump_v6(seq: u32) -> Vec<u8> {
    request(RTM_GETRULE, NLM_F_DUMP, seq, &header(Family::V6, 0), &[])
}

/// The rule an `RTM_NEWRULE` payload describes; `None` for what can't be one of ours (no
/// fwmark, not a table lookup, another family).
pub fn rule(payload: &[u8]) -> Result<Option<Rule>, WireError> {
    let fixed = payload
        .get(..FIB_RULE_HDR)
        .ok_or_else(|| WireError(format!("fib_rule_hdr: {} bytes", payload.len())))?;
    let family = match fixed.first() {
        Some(&AF_INET) => Family::V4,
        Some(&AF_INET6) => Family::V6,
        _ => return Ok(None),
    };
    if fixed.get(7) != Some(&FR_ACT_TO_TBL) {
        return Ok(None);
    }
    let mut table = fixed.get(4).map_or(0, |&t| u32::from(t));
    let (mut priority, mut mark, mut protocol) = (0, None, 0);
    for attr in attrs(payload.get(FIB_RULE_HDR..).unwrap_or_default()) {
        let (kind, p) = attr?;
        match kind {
            FRA_PRIORITY => priority = read_u32(p, "rule attribute FRA_PRIORITY")?,
            FRA_FWMARK => mark = Some(read_u32(p, "rule attribute FRA_FWMARK")?),
            FRA_TABLE => table = read_u32(p, "rule attribute FRA_TABLE")?,
            FRA_PROTOCOL => protocol = p.first().copied().unwrap_or(0),
            _ => {}
        }
    }
    Ok(mark.map(|mark| Rule {
        family,
        priority,
        mark,
        table,
        protocol,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::wire::messages;
    use crate::route::PROTOCOL;

    #[test]
    fn a_rule_reads_back_as_written() {
        let want = Rule {
            family: Family::V6,
            priority: 100,
            mark: 0xec00_0007,
            table: 0xec00_0007,
            protocol: PROTOCOL,
        };
        let bytes = request_for(&want, RTM_NEWRULE, NLM_F_REQUEST, 1);
        let (_, payload) = messages(&bytes).unwrap()[0];
        assert_eq!(rule(payload).unwrap(), Some(want));
    }
}
