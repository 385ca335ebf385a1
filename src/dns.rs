//! The DNS messages a `dns` probe sends and reads (RFC 1035): one question, recursion
//! desired; an answer is any response carrying the query's id, whatever its code.

/// Whether `name` can be asked for: dot-separated labels of 1 to 63 bytes of letters,
/// digits, `-` and `_`, at most 253 bytes in all; `.` alone is the root.
pub fn name_ok(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return true;
    }
    name.len() <= 253
        && name.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A query for `name`'s SOA record (type 6, class IN) with id `id`, recursion desired: one
/// small record in the answer (the root's NS set with its glue would be ten times the size,
/// on every probe).
pub fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    // RD; one question, no other records.
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    let name = name.strip_suffix('.').unwrap_or(name);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 6, 0, 1]);
    q
}

/// The id of a response (QR set), or `None` for anything else.
pub fn response_id(message: &[u8]) -> Option<u16> {
    let (id, flags) = (message.get(..2)?, message.get(2)?);
    let id = u16::from_be_bytes([*id.first()?, *id.get(1)?]);
    (message.len() >= 12 && flags & 0x80 != 0).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_responses_as_rfc_1035_has_them() {
        // `dig . SOA` with id 0x1234, as a resolver reads it.
        assert_eq!(
            query(0x1234, "."),
            [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1]
        );
        let q = query(7, "example.org");
        assert_eq!(&q[12..25], b"\x07example\x03org\x00");
        assert_eq!(
            query(7, "example.org."),
            q,
            "a trailing dot is the same name"
        );
        // A response: QR set, any RCODE (here REFUSED, 5).
        let mut r = q.clone();
        r[2] |= 0x80;
        r[3] = 0x05;
        assert_eq!(response_id(&r), Some(7));
        assert_eq!(response_id(&q), None, "our own query is no answer");
        assert_eq!(response_id(&r[..11]), None, "too short");
        for (name, ok) in [
            (".", true),
            ("example.org", true),
            ("a-b_c.example", true),
            ("", true),
            ("a..b", false),
            ("white space", false),
            (&"x".repeat(64), false),
        ] {
            assert_eq!(name_ok(name), ok, "{name:?}");
        }
    }
}
