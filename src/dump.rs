//! The interface state from `ubus call network.interface dump`, reduced to what routing needs.
//!
//! The document must have netifd's shape (an object whose `interface` array holds objects that
//! each name an `interface`); anything else is an error, never "no uplinks". Below that level a
//! field of the wrong type disqualifies only its interface, and fields this tool does not use
//! (addresses, sources, DNS, data) are never looked at. Schema: netifd `ubus.c`
//! (`netifd_dump_status`, `interface_ip_dump_route_list`).
//!
//! serde_json reads the document into the `raw` structs below, which borrow from it: what they
//! don't name is skipped unparsed, and each field they do name is kept as its raw JSON text
//! (`Field`) until it is read, so that a field of the wrong type is that interface's problem,
//! not the document's. They become the domain types (`Interface`, `DefaultRoute`) here, once.

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
    /// Default routes (mask 0) of both families from `route` and `inactive.route`.
    pub defaults: Vec<DefaultRoute>,
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

/// A field as the JSON text it was, read as a `T` when wanted: one of the wrong type stays a
/// problem of the object that has it.
struct Field<'a, T> {
    raw: &'a RawValue,
    _type: PhantomData<T>,
}

impl<'de: 'a, 'a, T> Deserialize<'de> for Field<'a, T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(|raw| Field {
            raw,
            _type: PhantomData,
        })
    }
}

impl<'a, T: Deserialize<'a>> Field<'a, T> {
    fn read(&self) -> Option<T> {
        serde_json::from_str(self.raw.get()).ok()
    }
}

/// `name` read as `T`, if present; `Err` names it and what it should have been.
fn read<'a, T: Deserialize<'a>>(
    field: &Option<Field<'a, T>>,
    name: &str,
    should_be: &str,
) -> Result<Option<T>, String> {
    match field {
        None => Ok(None),
        Some(f) => f
            .read()
            .map(Some)
            .ok_or_else(|| format!("\"{name}\" is not {should_be}")),
    }
}

/// The document's shape as netifd prints it, borrowed from the bytes.
mod raw {
    use super::*;

    #[derive(Deserialize)]
    pub struct Dump<'a> {
        #[serde(borrow)]
        pub interface: Option<Field<'a, Vec<&'a RawValue>>>,
    }

    #[derive(Deserialize)]
    pub struct Interface<'a> {
        #[serde(borrow)]
        pub interface: Option<Field<'a, Cow<'a, str>>>,
        #[serde(borrow)]
        pub up: Option<Field<'a, Option<bool>>>,
        #[serde(borrow)]
        pub proto: Option<Field<'a, Option<Cow<'a, str>>>>,
        #[serde(borrow)]
        pub l3_device: Option<Field<'a, Option<Cow<'a, str>>>>,
        #[serde(borrow)]
        pub route: Option<Field<'a, Vec<&'a RawValue>>>,
        #[serde(borrow)]
        pub inactive: Option<Field<'a, Inactive<'a>>>,
    }

    #[derive(Deserialize)]
    pub struct Inactive<'a> {
        #[serde(borrow)]
        pub route: Option<Field<'a, Vec<&'a RawValue>>>,
    }

    /// netifd prints its u32 fields as signed int32 (libubox `blobmsg_json.c`), so i64.
    #[derive(Deserialize)]
    pub struct Route<'a> {
        #[serde(borrow)]
        pub target: Option<Field<'a, Cow<'a, str>>>,
        #[serde(borrow)]
        pub mask: Option<Field<'a, i64>>,
        #[serde(borrow)]
        pub nexthop: Option<&'a RawValue>,
        #[serde(borrow)]
        pub metric: Option<Field<'a, i64>>,
        #[serde(borrow)]
        pub valid: Option<Field<'a, i64>>,
    }
}

impl Dump {
    pub fn parse(bytes: &[u8]) -> Result<Dump, DumpError> {
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
            Err(e) if e.is_data() => return err("dump is not a JSON object"),
            Err(e) => return err(format!("dump is not valid JSON: {e}")),
        };
        let Some(list) = doc.interface else {
            return err("dump has no \"interface\" array");
        };
        let Some(list) = list.read() else {
            return err("dump's \"interface\" is not an array");
        };
        let interfaces = list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                Interface::parse(v).map_err(|e| DumpError(format!("dump's interface[{i}]: {e}")))
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
    fn parse(json: &RawValue) -> Result<Interface, String> {
        if !json.get().starts_with('{') {
            return Err("is not an object".into());
        }
        let obj: raw::Interface =
            serde_json::from_str(json.get()).map_err(|e| format!("unreadable: {e}"))?;
        let name = match read(&obj.interface, "interface", "a string")? {
            Some(name) if name.is_empty() => return Err("\"interface\" is empty".into()),
            Some(name) => name.into_owned(),
            None => return Err("has no \"interface\" name".into()),
        };
        let mut iface = Interface {
            name,
            up: false,
            proto: None,
            device: None,
            defaults: Vec::new(),
            invalid: None,
        };
        if let Err(why) = iface.fill(&obj) {
            iface.invalid = Some(why);
        }
        Ok(iface)
    }

    fn fill(&mut self, obj: &raw::Interface) -> Result<(), String> {
        // proto first: an interface whose other fields are odd is still known as a candidate.
        self.proto = read(&obj.proto, "proto", "a string")?
            .flatten()
            .map(Cow::into_owned);
        self.up = read(&obj.up, "up", "a boolean")?.flatten().unwrap_or(false);
        self.device = read(&obj.l3_device, "l3_device", "a string")?
            .flatten()
            .map(Cow::into_owned);
        if !self.up {
            return Ok(());
        }
        collect_defaults(&obj.route, "route", &mut self.defaults)?;
        if let Some(inactive) = read(&obj.inactive, "inactive", "an object")? {
            collect_defaults(&inactive.route, "inactive.route", &mut self.defaults)?;
        }
        Ok(())
    }
}

fn collect_defaults(
    routes: &Option<Field<'_, Vec<&RawValue>>>,
    what: &str,
    out: &mut Vec<DefaultRoute>,
) -> Result<(), String> {
    for route in read(routes, what, "an array")?.unwrap_or_default() {
        if let Some(default) = DefaultRoute::parse(route).map_err(|e| format!("{what}: {e}"))? {
            out.push(default);
        }
    }
    Ok(())
}

impl DefaultRoute {
    /// `Ok(None)` for anything that is not a default route, whatever else it holds: a masked
    /// `2001:xxx::` target or an odd `source` must not disqualify the interface.
    fn parse(json: &RawValue) -> Result<Option<DefaultRoute>, String> {
        let Ok(r) = serde_json::from_str::<raw::Route>(json.get()) else {
            return Ok(None);
        };
        if r.mask.as_ref().and_then(Field::read) != Some(0) {
            return Ok(None);
        }
        let Some(Ok(target)) = r
            .target
            .as_ref()
            .and_then(Field::read)
            .map(|t| t.parse::<IpAddr>())
        else {
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
        let metric = read(&r.metric, "metric", "an integer")?.unwrap_or(0);
        let withdrawn = read(&r.valid, "valid", "an integer")?.is_some_and(|valid| valid <= 0);
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
        let truncated = "{\"interface\":[\n{\"interface\":\"a\",";
        assert_eq!(
            parse(truncated).unwrap_err().to_string(),
            "dump is not valid JSON: EOF while parsing an object at line 2 column 17",
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
}
