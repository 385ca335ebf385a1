//! Policy rules (`struct fib_rule_hdr` and its `FRA_*` attributes), for the uplink paths.

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

/// `RTM_NEWRULE`/`RTM_DELRULE` for `rule`, as `ip rule add priority P oif DEV lookup T
/// [suppress_prefixlength N] protocol 236` sends it (the table in `FRA_TABLE`). A delete
/// names what the rule has: the kernel matches only the attributes a request carries.
pub fn request_for(rule: &Rule, kind: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut attrs = Vec::new();
    put_attr(&mut attrs, FRA_PRIORITY, &rule.priority.to_ne_bytes());
    if let Some(oif) = &rule.oif {
        let mut name = oif.as_bytes().to_vec();
        name.push(0);
        put_attr(&mut attrs, FRA_OIFNAME, &name);
    }
    if let Some(mark) = rule.mark {
        put_attr(&mut attrs, FRA_FWMARK, &mark.to_ne_bytes());
        put_attr(&mut attrs, FRA_FWMASK, &u32::MAX.to_ne_bytes());
    }
    put_attr(&mut attrs, FRA_TABLE, &rule.table.to_ne_bytes());
    if let Some(len) = rule.suppress {
        put_attr(
            &mut attrs,
            FRA_SUPPRESS_PREFIXLEN,
            &u32::from(len).to_ne_bytes(),
        );
    }
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

/// The rule an `RTM_NEWRULE` payload describes; `None` for what can't be one of ours (not a
/// table lookup, another family).
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
    let mut rule = Rule {
        family,
        priority: 0,
        oif: None,
        mark: None,
        table: fixed.get(4).map_or(0, |&t| u32::from(t)),
        suppress: None,
        protocol: 0,
    };
    for attr in attrs(payload.get(FIB_RULE_HDR..).unwrap_or_default()) {
        let (kind, p) = attr?;
        match kind {
            FRA_PRIORITY => rule.priority = read_u32(p, "rule attribute FRA_PRIORITY")?,
            FRA_FWMARK => rule.mark = Some(read_u32(p, "rule attribute FRA_FWMARK")?),
            FRA_TABLE => rule.table = read_u32(p, "rule attribute FRA_TABLE")?,
            FRA_PROTOCOL => rule.protocol = p.first().copied().unwrap_or(0),
            FRA_SUPPRESS_PREFIXLEN => {
                let len = read_u32(p, "rule attribute FRA_SUPPRESS_PREFIXLEN")?;
                rule.suppress = u8::try_from(len).ok();
            }
            FRA_OIFNAME => {
                let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
                let name = p.get(..end).unwrap_or_default();
                rule.oif = Some(String::from_utf8_lossy(name).into_owned());
            }
            _ => {}
        }
    }
    Ok(Some(rule))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::wire::messages;
    use crate::route::PROTOCOL;

    #[test]
    fn a_rule_reads_back_as_written() {
        let oif = Rule {
            family: Family::V6,
            priority: 100,
            oif: Some("pppoe-wan".into()),
            mark: None,
            table: 254,
            suppress: Some(3),
            protocol: PROTOCOL,
        };
        let mark = Rule {
            family: Family::V4,
            oif: None,
            mark: Some(0xec00_0007),
            table: 0xec00_0007,
            suppress: None,
            ..oif.clone()
        };
        for want in [oif, mark] {
            let bytes = request_for(&want, RTM_NEWRULE, NLM_F_REQUEST, 1);
            let (_, payload) = messages(&bytes).unwrap()[0];
            assert_eq!(rule(payload).unwrap(), Some(want));
        }
    }
}
