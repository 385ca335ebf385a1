//! The interface state from `ubus call network.interface dump`, reduced to what routing needs.
//!
//! The document must have netifd's shape (an object whose `interface` array holds objects that
//! each name an `interface`); anything else is an error, never "no uplinks". Below that level a
//! field of the wrong type disqualifies only its interface, and fields this tool does not use
//! (addresses, sources, DNS, data) are never looked at. Schema: netifd `ubus.c`
//! (`netifd_dump_status`, `interface_ip_dump_route_list`).

use std::fmt;
use std::net::IpAddr;

use crate::json::{self, Json};

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
        let doc =
            json::parse(bytes).map_err(|e| DumpError(format!("dump is not valid JSON: {e}")))?;
        let Json::Object(_) = doc else {
            return err("dump is not a JSON object");
        };
        let Some(list) = doc.get("interface") else {
            return err("dump has no \"interface\" array");
        };
        let Json::Array(list) = list else {
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
    fn parse(obj: &Json) -> Result<Interface, String> {
        let Json::Object(_) = obj else {
            return Err("is not an object".into());
        };
        let name = match obj.get("interface") {
            Some(Json::Str(s)) if !s.is_empty() => s.clone(),
            Some(Json::Str(_)) => return Err("\"interface\" is empty".into()),
            Some(_) => return Err("\"interface\" is not a string".into()),
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
        if let Err(why) = iface.fill(obj) {
            iface.invalid = Some(why);
        }
        Ok(iface)
    }

    fn fill(&mut self, obj: &Json) -> Result<(), String> {
        // proto first: an interface whose other fields are odd is still known as a candidate.
        self.proto = string(obj, "proto")?;
        self.up = match obj.get("up") {
            None => false,
            Some(Json::Bool(b)) => *b,
            Some(_) => return Err("\"up\" is not a boolean".into()),
        };
        self.device = string(obj, "l3_device")?;
        if !self.up {
            return Ok(());
        }
        collect_defaults(obj.get("route"), "route", &mut self.defaults)?;
        match obj.get("inactive") {
            None => {}
            Some(inactive @ Json::Object(_)) => {
                collect_defaults(inactive.get("route"), "inactive.route", &mut self.defaults)?
            }
            Some(_) => return Err("\"inactive\" is not an object".into()),
        }
        Ok(())
    }
}

fn string(obj: &Json, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("\"{key}\" is not a string")),
    }
}

fn collect_defaults(
    routes: Option<&Json>,
    what: &str,
    out: &mut Vec<DefaultRoute>,
) -> Result<(), String> {
    let routes = match routes {
        None => return Ok(()),
        Some(Json::Array(routes)) => routes,
        Some(_) => return Err(format!("\"{what}\" is not an array")),
    };
    for route in routes {
        if let Some(default) = DefaultRoute::parse(route).map_err(|e| format!("{what}: {e}"))? {
            out.push(default);
        }
    }
    Ok(())
}

impl DefaultRoute {
    /// `Ok(None)` for anything that is not a default route, whatever else it holds: a masked
    /// `2001:xxx::` target or an odd `source` must not disqualify the interface.
    fn parse(r: &Json) -> Result<Option<DefaultRoute>, String> {
        let Json::Object(_) = r else { return Ok(None) };
        if r.get("mask").and_then(Json::as_i64) != Some(0) {
            return Ok(None);
        }
        let Some(Ok(target)) = r
            .get("target")
            .and_then(Json::as_str)
            .map(str::parse::<IpAddr>)
        else {
            return Ok(None);
        };
        if !target.is_unspecified() {
            return Ok(None);
        }
        let family = Family::of(&target);
        let nexthop = match r.get("nexthop") {
            // netifd always prints it; a missing one can only mean "no gateway".
            None => Ok(None),
            Some(Json::Str(s)) => match s.parse::<IpAddr>() {
                Ok(addr) if Family::of(&addr) != family => Err(s.clone()),
                Ok(addr) if addr.is_unspecified() => Ok(None),
                Ok(addr) => Ok(Some(addr)),
                Err(_) => Err(s.clone()),
            },
            Some(other) => Err(other.describe()),
        };
        let metric = int(r, "metric")?.unwrap_or(0);
        let withdrawn = int(r, "valid")?.is_some_and(|valid| valid <= 0);
        Ok(Some(DefaultRoute {
            family,
            nexthop,
            metric,
            withdrawn,
        }))
    }
}

/// netifd prints its u32 fields as signed int32 (libubox `blobmsg_json.c`), so read i64.
fn int(r: &Json, key: &str) -> Result<Option<i64>, String> {
    match r.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("\"{key}\" is not an integer")),
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
        let deep = format!(
            "{{\"interface\":[{{\"interface\":\"a\",\"data\":{}{}}}]}}",
            "[".repeat(500),
            "]".repeat(500)
        );
        assert!(
            parse(&deep)
                .unwrap_err()
                .to_string()
                .contains("not valid JSON")
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
