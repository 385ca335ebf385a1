//! The interface state from `ubus call network.interface dump`, reduced to what routing needs.
//!
//! The document must have netifd's shape (an object whose `interface` array holds objects that
//! each name an `interface`); anything else is an error, never "no uplinks". Below that level a
//! field of the wrong type disqualifies only its interface, and fields this tool does not use
//! (addresses, sources, DNS, data) are never looked at. Schema: netifd `ubus.c`
//! (`netifd_dump_status`, `interface_ip_dump_route_list`).
//!
//! serde_json reads the document in one pass into the `raw` structs below, which borrow from
//! it: what they don't name is skipped unparsed, and each field they do name is read as what
//! it is (`Scalar`, `Kind`) rather than what it should be, so that a field of the wrong type is
//! that interface's problem, not the document's. An interface's lists (routes, addresses) are
//! only checked in that pass and read afterwards, and only where it is up and a group may want
//! it (`Dump::parse_for`): most of a big dump is interfaces no group wants. They become the
//! domain types (`Interface`, `DefaultRoute`) here, once.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::route::Family;

/// The largest dump accepted. A router with 256 interfaces dumps well under 1 MiB; parsing a
/// document this size already takes several times its size in RAM on a 64 MiB router.
pub const MAX_DUMP_BYTES: usize = 4 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dump {
    /// In dump order (netifd sorts by name).
    pub interfaces: Vec<Interface>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub up: bool,
    pub proto: Option<String>,
    /// `l3_device`: the netdev routes go through (`pppoe-wan` for PPPoE; absent while down).
    pub device: Option<String>,
    /// `device`: the netdev it is configured on, named while it is down too (the PPPoE
    /// session's `eth0.2`; a DHCPv6 uplink's own). Only a hint: one of the wrong type is none.
    pub configured_device: Option<String>,
    /// Default routes (mask 0) of both families from `route` and `inactive.route`.
    pub defaults: Vec<DefaultRoute>,
    /// Seconds it has been up (`uptime`): a new session (a new `ifup`) restarts it. An
    /// unreadable one is no uptime, not an unreadable interface.
    pub uptime: Option<u64>,
    /// Its own addresses (`ipv4-address`, `ipv6-address`): a probe's source, and what
    /// conntrack entries translated to this uplink are found by.
    pub addresses: Vec<IpAddr>,
    /// Why this interface's state could not be read (a field of the wrong type), if it couldn't.
    pub invalid: Option<String>,
}

/// A `mask: 0` route to `::` or `0.0.0.0` as netifd lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultRoute {
    pub family: Family,
    /// `Ok(None)` is on-link (`nexthop` `::`/`0.0.0.0`); `Err` holds the text that didn't parse.
    pub nexthop: Result<Option<IpAddr>, String>,
    /// Absent means 0 (netifd then uses the interface metric, the same for all its routes).
    pub metric: i64,
    /// `valid` ≤ 0: the route is being withdrawn (router lifetime 0 or expired).
    pub withdrawn: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpError(String);

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DumpError {}

fn err<T>(msg: impl Into<String>) -> Result<T, DumpError> {
    Err(DumpError(msg.into()))
}

/// A JSON value where the tool wants a scalar, read in the same pass as the rest: a value of
/// the wrong type stays a fact about it (the interface's problem, not the document's).
/// Floats, arrays and objects are `Other`: no field read here takes them.
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(Cow<'a, str>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Int(n))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Scalar<'a>, E> {
                Ok(i64::try_from(n).map_or(Scalar::Other, Scalar::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Other)
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Scalar<'a>, A::Error> {
                skip_map(map).map(|()| Scalar::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Scalar<'a>, A::Error> {
                skip_seq(seq).map(|()| Scalar::Other)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Reads past an object the field's type doesn't take.
fn skip_map<'de, A: serde::de::MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map
        .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
        .is_some()
    {}
    Ok(())
}

/// Reads past an array the field's type doesn't take.
fn skip_seq<'de, A: serde::de::SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
    Ok(())
}

/// A string field (absent or null: none); `Err` names it.
pub(crate) fn text<'s>(field: &'s Option<Scalar>, name: &str) -> Result<Option<&'s str>, String> {
    match field {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Str(s)) => Ok(Some(s)),
        Some(_) => Err(format!("\"{name}\" is not a string")),
    }
}

/// A boolean field (absent or null: none).
pub(crate) fn boolean(field: &Option<Scalar>, name: &str) -> Result<Option<bool>, String> {
    match field {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("\"{name}\" is not a boolean")),
    }
}

/// An integer field (absent: none). netifd prints its u32 fields as signed int32 (libubox
/// `blobmsg_json.c`), so i64.
pub(crate) fn int(field: &Option<Scalar>, name: &str) -> Result<Option<i64>, String> {
    match field {
        None => Ok(None),
        Some(Scalar::Int(n)) => Ok(Some(*n)),
        Some(_) => Err(format!("\"{name}\" is not an integer")),
    }
}

/// A value that is a `T` when it is the JSON kind a `T` is read from (an object for a struct,
/// an array for a list), and `Not` when it is of another kind, read past in the same pass: the
/// document is read once, and a wrong kind stays a fact about that value.
pub(crate) enum Kind<T> {
    Is(T),
    Not,
}

/// Which kind `T` must be is `T`'s to say: a struct reads maps, a `Vec` sequences. The other
/// kind of container is read past with `T` failing on it, which a derived struct would not
/// (serde takes a struct from an array too), so maps and sequences are told apart here.
pub(crate) trait Shape {
    const MAP: bool;
}

impl<T> Shape for Vec<T> {
    const MAP: bool = false;
}

impl Shape for raw::Interface<'_> {
    const MAP: bool = true;
}

impl Shape for raw::Inactive<'_> {
    const MAP: bool = true;
}

impl Shape for raw::Route<'_> {
    const MAP: bool = true;
}

impl Shape for raw::Address<'_> {
    const MAP: bool = true;
}

impl<'de, T: Deserialize<'de> + Shape> Deserialize<'de> for Kind<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Checked<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Shape> serde::de::Visitor<'de> for Checked<T> {
            type Value = Kind<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Kind<T>, A::Error> {
                if T::MAP {
                    return T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                        .map(Kind::Is);
                }
                skip_map(map).map(|()| Kind::Not)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Kind<T>, A::Error> {
                if !T::MAP {
                    return T::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                        .map(Kind::Is);
                }
                skip_seq(seq).map(|()| Kind::Not)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Kind<T>, E> {
                Ok(Kind::Not)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Kind<T>, E> {
                Ok(Kind::Not)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Kind<T>, E> {
                Ok(Kind::Not)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Kind<T>, E> {
                Ok(Kind::Not)
            }
            fn visit_str<E>(self, _: &str) -> Result<Kind<T>, E> {
                Ok(Kind::Not)
            }
            fn visit_unit<E>(self) -> Result<Kind<T>, E> {
                Ok(Kind::Not)
            }
        }
        d.deserialize_any(Checked(PhantomData))
    }
}

/// The document's shape as netifd prints it, borrowed from the bytes.
mod raw {
    use super::*;

    #[derive(Deserialize)]
    pub struct Dump<'a> {
        #[serde(borrow)]
        pub interface: Option<Kind<Vec<Kind<Interface<'a>>>>>,
    }

    #[derive(Deserialize)]
    pub struct Interface<'a> {
        #[serde(borrow)]
        pub interface: Option<Scalar<'a>>,
        #[serde(borrow)]
        pub up: Option<Scalar<'a>>,
        #[serde(borrow)]
        pub proto: Option<Scalar<'a>>,
        #[serde(borrow)]
        pub l3_device: Option<Scalar<'a>>,
        #[serde(borrow)]
        pub device: Option<Scalar<'a>>,
        #[serde(borrow)]
        pub route: Option<&'a RawValue>,
        #[serde(borrow)]
        pub inactive: Option<&'a RawValue>,
        #[serde(borrow)]
        pub uptime: Option<Scalar<'a>>,
        #[serde(borrow, rename = "ipv4-address")]
        pub ipv4_address: Option<&'a RawValue>,
        #[serde(borrow, rename = "ipv6-address")]
        pub ipv6_address: Option<&'a RawValue>,
    }

    #[derive(Deserialize)]
    pub struct Address<'a> {
        #[serde(borrow)]
        pub address: Option<Scalar<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Inactive<'a> {
        #[serde(borrow)]
        pub route: Option<Kind<Vec<Kind<Route<'a>>>>>,
    }

    /// netifd prints its u32 fields as signed int32 (libubox `blobmsg_json.c`), so i64.
    #[derive(Deserialize)]
    pub struct Route<'a> {
        #[serde(borrow)]
        pub target: Option<Scalar<'a>>,
        #[serde(borrow)]
        pub mask: Option<Scalar<'a>>,
        #[serde(borrow)]
        pub nexthop: Option<&'a RawValue>,
        #[serde(borrow)]
        pub metric: Option<Scalar<'a>>,
        #[serde(borrow)]
        pub valid: Option<Scalar<'a>>,
    }
}

impl Dump {
    /// Every interface read whole.
    pub fn parse(bytes: &[u8]) -> Result<Dump, DumpError> {
        Dump::parse_for(bytes, &|_, _| true)
    }

    /// Reads the dump; of the interfaces `wanted` says no to (by name and proto: no group
    /// wants them) only the name, state and devices, their routes and addresses are skipped
    /// unread. The whole document is still checked to be netifd's JSON.
    pub fn parse_for(bytes: &[u8], wanted: Wanted) -> Result<Dump, DumpError> {
        if bytes.len() > MAX_DUMP_BYTES {
            return err(format!(
                "dump is {} bytes, more than the {} accepted",
                bytes.len(),
                MAX_DUMP_BYTES
            ));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return err("dump is empty");
        }
        // As text, so that every read below (the document, then each field) shares one
        // instantiation of serde_json's reader: from_slice beside from_str cost 9 KB on mipsel.
        let text = std::str::from_utf8(bytes)
            .map_err(|e| DumpError(format!("dump is not valid JSON: not UTF-8 ({e})")))?;
        let doc: serde_json::Result<raw::Dump> = serde_json::from_str(text);
        let doc = match doc {
            Ok(doc) => doc,
            // Valid JSON of another shape (an array, a string) is not netifd's; anything else
            // is not JSON at all. serde_json says where (line, column).
            Err(e) if e.is_data() && !text.trim_start().starts_with('{') => {
                return err("dump is not a JSON object");
            }
            // An object netifd would not print (a key twice, …): serde_json says which.
            Err(e) if e.is_data() => return err(format!("dump is not netifd's: {e}")),
            Err(e) => return err(format!("dump is not valid JSON: {e}")),
        };
        let Some(list) = doc.interface else {
            return err("dump has no \"interface\" array");
        };
        let Kind::Is(list) = list else {
            return err("dump's \"interface\" is not an array");
        };
        let interfaces = list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                Interface::parse(v, wanted)
                    .map_err(|e| DumpError(format!("dump's interface[{i}]: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Dump { interfaces })
    }

    pub fn get(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }
}

impl Interface {
    /// Fails only when the entry isn't an object naming an interface; other problems are kept
    /// in `invalid` so that one odd interface never hides the others.
    fn parse(entry: &Kind<raw::Interface>, wanted: Wanted) -> Result<Interface, String> {
        let Kind::Is(obj) = entry else {
            return Err("is not an object".into());
        };
        let name = match &obj.interface {
            Some(Scalar::Str(name)) if name.is_empty() => {
                return Err("\"interface\" is empty".into());
            }
            Some(Scalar::Str(name)) => name.to_string(),
            Some(_) => return Err("\"interface\" is not a string".into()),
            None => return Err("has no \"interface\" name".into()),
        };
        let mut iface = Interface {
            name,
            up: false,
            proto: None,
            device: None,
            configured_device: None,
            defaults: Vec::new(),
            uptime: None,
            addresses: Vec::new(),
            invalid: None,
        };
        if let Err(why) = iface.fill(obj, wanted) {
            iface.invalid = Some(why);
        }
        Ok(iface)
    }

    fn fill(&mut self, obj: &raw::Interface, wanted: Wanted) -> Result<(), String> {
        // proto first: an interface whose other fields are odd is still known as a candidate.
        self.proto = text(&obj.proto, "proto")?.map(str::to_string);
        self.up = boolean(&obj.up, "up")?.unwrap_or(false);
        self.device = text(&obj.l3_device, "l3_device")?.map(str::to_string);
        self.configured_device = text(&obj.device, "device")
            .ok()
            .flatten()
            .map(str::to_string);
        if !self.up || !wanted(&self.name, self.proto.as_deref()) {
            return Ok(());
        }
        self.uptime = int(&obj.uptime, "uptime")
            .ok()
            .flatten()
            .and_then(|n| u64::try_from(n).ok());
        // Read only now, for an interface that is up and wanted: most of a big dump is
        // interfaces no group wants (LANs, tunnels), whose lists are never read.
        let route: Option<Kind<Vec<Kind<raw::Route>>>> = later(obj.route, "route")?;
        collect_defaults(&route, "route", &mut self.defaults)?;
        match later::<raw::Inactive>(obj.inactive, "inactive")? {
            None => {}
            Some(Kind::Is(inactive)) => {
                collect_defaults(&inactive.route, "inactive.route", &mut self.defaults)?
            }
            Some(Kind::Not) => return Err("\"inactive\" is not an object".into()),
        }
        let v4: Option<Kind<Vec<Kind<raw::Address>>>> = later(obj.ipv4_address, "ipv4-address")?;
        let v6: Option<Kind<Vec<Kind<raw::Address>>>> = later(obj.ipv6_address, "ipv6-address")?;
        for (list, what) in [(&v4, "ipv4-address"), (&v6, "ipv6-address")] {
            match list {
                None => {}
                Some(Kind::Is(list)) => {
                    self.addresses.extend(list.iter().filter_map(|a| match a {
                        Kind::Is(raw::Address {
                            address: Some(Scalar::Str(s)),
                        }) => s.parse::<IpAddr>().ok(),
                        _ => None,
                    }))
                }
                Some(Kind::Not) => return Err(format!("\"{what}\" is not an array")),
            }
        }
        Ok(())
    }
}

/// Which interfaces' routes and addresses a run reads: (name, proto) → whether a group may
/// want it.
pub type Wanted<'w> = &'w dyn Fn(&str, Option<&str>) -> bool;

/// A field the first pass kept as raw JSON (checked, not read), read now.
fn later<'a, T: Deserialize<'a> + Shape>(
    raw: Option<&'a RawValue>,
    what: &str,
) -> Result<Option<Kind<T>>, String> {
    raw.map(|r| serde_json::from_str::<Kind<T>>(r.get()))
        .transpose()
        .map_err(|e| format!("\"{what}\": {e}"))
}

/// The default routes of a `route` list; entries that aren't objects are no routes.
fn collect_defaults(
    routes: &Option<Kind<Vec<Kind<raw::Route>>>>,
    what: &str,
    out: &mut Vec<DefaultRoute>,
) -> Result<(), String> {
    let routes = match routes {
        None => return Ok(()),
        Some(Kind::Is(routes)) => routes,
        Some(Kind::Not) => return Err(format!("\"{what}\" is not an array")),
    };
    for route in routes {
        if let Kind::Is(route) = route {
            if let Some(default) = DefaultRoute::parse(route).map_err(|e| format!("{what}: {e}"))? {
                out.push(default);
            }
        }
    }
    Ok(())
}

impl DefaultRoute {
    /// `Ok(None)` for anything that is not a default route, whatever else it holds: a masked
    /// `2001:xxx::` target or an odd `source` must not disqualify the interface.
    fn parse(r: &raw::Route) -> Result<Option<DefaultRoute>, String> {
        if !matches!(r.mask, Some(Scalar::Int(0))) {
            return Ok(None);
        }
        let Some(Scalar::Str(target)) = &r.target else {
            return Ok(None);
        };
        let Ok(target) = target.parse::<IpAddr>() else {
            return Ok(None);
        };
        if !target.is_unspecified() {
            return Ok(None);
        }
        let family = Family::of(&target);
        // netifd always prints it; a missing one can only mean "no gateway". Anything else
        // is kept as its text for the skip reason.
        let nexthop = match r.nexthop {
            None => Ok(None),
            Some(raw) => match serde_json::from_str::<Cow<str>>(raw.get()) {
                Ok(s) => match s.parse::<IpAddr>() {
                    Ok(addr) if Family::of(&addr) != family => Err(s.into_owned()),
                    Ok(addr) if addr.is_unspecified() => Ok(None),
                    Ok(addr) => Ok(Some(addr)),
                    Err(_) => Err(s.into_owned()),
                },
                Err(_) => Err(raw.get().to_string()),
            },
        };
        let metric = int(&r.metric, "metric")?.unwrap_or(0);
        let withdrawn = int(&r.valid, "valid")?.is_some_and(|valid| valid <= 0);
        Ok(Some(DefaultRoute {
            family,
            nexthop,
            metric,
            withdrawn,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Dump, DumpError> {
        Dump::parse(s.as_bytes())
    }

    fn one(iface: &str) -> Interface {
        let dump = parse(&format!("{{\"interface\":[{iface}]}}")).unwrap();
        dump.interfaces.into_iter().next().unwrap()
    }

    #[test]
    fn documents_without_netifds_shape_are_errors() {
        for (doc, msg) in [
            ("", "empty"),
            ("  \n", "empty"),
            ("{\"interface\":[", "not valid JSON"),
            ("not json", "not valid JSON"),
            ("[]", "not a JSON object"),
            ("{}", "no \"interface\""),
            ("{\"interface\":{}}", "not an array"),
            ("{\"interface\":[1]}", "interface[0]: is not an object"),
            ("{\"interface\":[{\"up\":true}]}", "has no \"interface\""),
            ("{\"interface\":[{\"interface\":7}]}", "not a string"),
            ("{\"interface\":[{\"interface\":\"\"}]}", "empty"),
        ] {
            let e = parse(doc).unwrap_err().to_string();
            assert!(e.contains(msg), "{doc:?} gave {e:?}, wanted {msg:?}");
        }
        // Nesting is skipped without recursion (serde_json ignores values in a loop), so a deep
        // unused field is just valid JSON, and a deep used one is the wrong shape.
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let unused = format!(
            "{{\"interface\":[{{\"interface\":\"a\",\"data\":{}}}]}}",
            deep(100_000)
        );
        assert_eq!(parse(&unused).unwrap().interfaces[0].name, "a");
        let used = format!("{{\"interface\":[{}]}}", deep(100_000));
        assert!(
            parse(&used)
                .unwrap_err()
                .to_string()
                .contains("interface[0]: is not an object")
        );
        assert_eq!(
            parse("{\"interface\":[{\"interface\":\"a\",\"up\":true,\"up\":false}]}")
                .unwrap_err()
                .to_string(),
            "dump is not netifd's: duplicate field `up` at line 1 column 45"
        );
        let truncated = "{\"interface\":[\n{\"interface\":\"a\",";
        assert_eq!(
            parse(truncated).unwrap_err().to_string(),
            "dump is not valid JSON: EOF while parsing a value at line 2 column 17",
            "where, in one line"
        );
        let huge = vec![b' '; MAX_DUMP_BYTES + 1];
        assert!(
            Dump::parse(&huge)
                .unwrap_err()
                .to_string()
                .contains("more than")
        );
    }

    #[test]
    fn an_empty_interface_list_is_valid() {
        assert_eq!(parse("{\"interface\":[]}").unwrap().interfaces, vec![]);
    }

    #[test]
    fn default_route_is_found_by_mask_and_target_not_by_position() {
        // netifd sorts routes by mask, longest first, so the default comes last (route_cmp()).
        let i = one(
            r#"{"interface":"wan_6","up":true,"proto":"dhcpv6","device":"pppoe-wan","l3_device":"pppoe-wan",
              "route":[
                {"target":"2001:db8:1::","mask":64,"nexthop":"::","metric":256,"source":"::/0"},
                {"target":"2001:db8:1::","mask":56,"nexthop":"fe80::9","metric":512,"source":"::/0"},
                {"target":"::","mask":0,"nexthop":"fe80::1","metric":512,"valid":1700,"source":"2001:db8:1::/56"},
                {"target":"::","mask":0,"nexthop":"fe80::1","metric":512,"valid":1700,"source":"2001:db8:1:2::1234/64"}]}"#,
        );
        assert_eq!(i.device.as_deref(), Some("pppoe-wan"));
        assert_eq!(
            i.defaults.len(),
            2,
            "source-specific copies are both listed here; plan merges them"
        );
        assert!(
            i.defaults
                .iter()
                .all(|d| d.nexthop == Ok(Some("fe80::1".parse().unwrap())))
        );
        assert!(
            i.defaults
                .iter()
                .all(|d| d.family == Family::V6 && d.metric == 512 && !d.withdrawn)
        );
    }

    #[test]
    fn inactive_routes_count_and_withdrawn_ones_are_marked() {
        let i = one(
            r#"{"interface":"wan","up":true,"proto":"dhcp","l3_device":"eth1",
              "route":[],
              "inactive":{"route":[
                {"target":"0.0.0.0","mask":0,"nexthop":"192.0.2.1","source":"192.0.2.10/32"},
                {"target":"::","mask":0,"nexthop":"fe80::1","valid":0,"source":"::/0"}]}}"#,
        );
        assert_eq!(i.defaults.len(), 2);
        assert_eq!(i.defaults[0].family, Family::V4);
        assert_eq!(i.defaults[0].metric, 0);
        assert!(!i.defaults[0].withdrawn);
        assert!(i.defaults[1].withdrawn);
    }

    #[test]
    fn down_interfaces_have_no_device_and_a_proto_may_lack_device() {
        let down = one(
            r#"{"interface":"wan2","up":false,"pending":false,"proto":"dhcpv6","device":"eth2","data":{}}"#,
        );
        assert!(!down.up);
        assert_eq!(down.device, None);
        let ppp = one(
            r#"{"interface":"wan","up":true,"proto":"pppoe","l3_device":"pppoe-wan",
                         "route":[{"target":"0.0.0.0","mask":0,"nexthop":"0.0.0.0","source":"0.0.0.0/0"}]}"#,
        );
        assert_eq!(ppp.device.as_deref(), Some("pppoe-wan"));
        assert_eq!(ppp.defaults[0].nexthop, Ok(None), "0.0.0.0 means on-link");
    }

    #[test]
    fn unused_fields_never_disqualify() {
        let i = one(
            r#"{"interface":"wan6","up":true,"proto":"dhcpv6","l3_device":"eth1","uptime":"odd",
              "ipv6-address":[{"address":"2001:xxx:xxx::1","mask":"x"}],
              "ipv6-prefix":7, "dns-server":{"a":1}, "data":[1,2],
              "route":[{"target":"2001:xxx:1::","mask":48,"nexthop":"::"},
                       {"target":"::","mask":0,"nexthop":"fe80::1","source":"2001:xxx::/56"}, 17, "x"]}"#,
        );
        assert_eq!(i.invalid, None);
        assert_eq!(i.defaults.len(), 1);
    }

    #[test]
    fn bad_gateways_are_kept_as_text_for_the_reason() {
        let i = one(
            r#"{"interface":"wan6","up":true,"l3_device":"eth1","route":[
                {"target":"::","mask":0,"nexthop":"fe80::zz"},
                {"target":"::","mask":0,"nexthop":"192.0.2.1"},
                {"target":"::","mask":0,"nexthop":5}]}"#,
        );
        let bad: Vec<_> = i
            .defaults
            .iter()
            .map(|d| d.nexthop.clone().unwrap_err())
            .collect();
        assert_eq!(bad, vec!["fe80::zz", "192.0.2.1", "5"]);
    }

    #[test]
    fn wrong_types_below_the_top_disqualify_only_that_interface() {
        let dump = parse(
            r#"{"interface":[
                {"interface":"a","up":"yes"},
                {"interface":"b","up":true,"l3_device":7},
                {"interface":"c","up":true,"route":{}},
                {"interface":"d","up":true,"route":[{"target":"::","mask":0,"nexthop":"fe80::1","metric":"x"}]},
                {"interface":"e","up":true,"inactive":[]},
                {"interface":"f","up":true,"l3_device":"eth1"}]}"#,
        )
        .unwrap();
        let reasons: Vec<_> = dump.interfaces.iter().map(|i| i.invalid.clone()).collect();
        assert_eq!(
            reasons,
            vec![
                Some("\"up\" is not a boolean".into()),
                Some("\"l3_device\" is not a string".into()),
                Some("\"route\" is not an array".into()),
                Some("route: \"metric\" is not an integer".into()),
                Some("\"inactive\" is not an object".into()),
                None,
            ]
        );
    }

    #[test]
    fn negative_valid_is_withdrawn() {
        let i = one(
            r#"{"interface":"w","up":true,"route":[{"target":"::","mask":0,"nexthop":"fe80::1","valid":-3}]}"#,
        );
        assert!(i.defaults[0].withdrawn);
    }

    #[test]
    fn only_wanted_interfaces_have_their_lists_read() {
        // wan6's routes are fine; lan's are not even a list, which only matters if it is read.
        let text = r#"{"interface":[
            {"interface":"wan6","up":true,"proto":"dhcpv6","l3_device":"eth1",
             "ipv6-address":[{"address":"2001:db8::2","mask":64}],
             "route":[{"target":"::","mask":0,"nexthop":"fe80::1","metric":512}]},
            {"interface":"lan","up":true,"proto":"static","l3_device":"br-lan",
             "ipv6-address":[{"address":"fd00::1","mask":64}],"route":"odd"}]}"#;
        let dhcpv6 = |_: &str, proto: Option<&str>| proto == Some("dhcpv6");
        let dump = Dump::parse_for(text.as_bytes(), &dhcpv6).unwrap();
        let (wan, lan) = (dump.get("wan6").unwrap(), dump.get("lan").unwrap());
        assert_eq!(wan.defaults.len(), 1);
        assert_eq!(wan.addresses, ["2001:db8::2".parse::<IpAddr>().unwrap()]);
        assert_eq!(wan.invalid, None);
        // Unread: known by name, state and device, nothing else, and nothing wrong with it.
        assert_eq!(
            (lan.up, lan.device.as_deref(), lan.proto.as_deref()),
            (true, Some("br-lan"), Some("static"))
        );
        assert!(lan.defaults.is_empty() && lan.addresses.is_empty());
        assert_eq!(lan.invalid, None);
        // Read whole, lan's odd route list is its own problem, not the document's.
        let all = Dump::parse(text.as_bytes()).unwrap();
        assert_eq!(
            all.get("lan").unwrap().invalid.as_deref(),
            Some("\"route\" is not an array")
        );
        // The document is checked whole either way: bad JSON in an unwanted interface is an
        // error, never fewer uplinks.
        // A key twice in a list read afterwards is its interface's problem (an interface-level
        // object's own keys are read in the first pass: the document's).
        let twice = text.replace(r#""metric":512}"#, r#""metric":512,"metric":1}"#);
        let dump = Dump::parse_for(twice.as_bytes(), &dhcpv6).unwrap();
        let why = dump.get("wan6").unwrap().invalid.clone().unwrap();
        assert!(
            why.starts_with("\"route\": duplicate field `metric`"),
            "{why}"
        );
        let broken = text.replace(r#""route":"odd""#, r#""route":[{"target":}]"#);
        let nothing = |_: &str, _: Option<&str>| false;
        assert!(Dump::parse_for(broken.as_bytes(), &nothing).is_err());
    }
}
