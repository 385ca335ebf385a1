//! mwan3's word on its interfaces, read as mwan3 reads it (pure: the files come from `state`).
//!
//! mwan3 routes by one state per `interface` section: `/var/run/mwan3/iface_state/<section>`,
//! `online` or anything else (`mwan3.sh`: `mwan3_get_iface_hotplug_state`, read by
//! `mwan3_set_policy`). Its hotplug script (`15-mwan3`, which hotplug-call runs before ours)
//! writes it from the events: `ifup` sets `online`, or with `initial_state offline` whatever
//! mwan3track's `STATUS` says if that is `online` and `offline` otherwise; mwan3track's
//! `connected` sets `online` unless it carries `FIRSTCONNECT=1` (a tracker's start, before
//! any probe); `disconnected` and `ifdown` set `offline`; `connecting` and `disconnecting`
//! change nothing. So mwan3track's own files (`STATUS`, `TURN`, `SCORE`) are never read
//! here: a restarted tracker's `online`, a `TURN` left by the old one, a `connecting` that
//! failed again, all leave that state as mwan3 leaves it.
//!
//! mwan3 runs while `/var/run/mwan3` exists (`/etc/init.d/mwan3`: `service_running`); its
//! `stop` removes it, and with it every word it had. A section stands for netifd's
//! `<section>_4` or `<section>_6` where netifd has one for its `family`, else for the
//! interface of its own name (`common.sh`: `mwan3_get_true_iface`), and only for that
//! family's groups.

use crate::route::Family;
use crate::uci;

/// An enabled `interface` section of `/etc/config/mwan3`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub family: Family,
}

/// The enabled `interface` sections, as `config_get_bool enabled … 0` and `config_get family
/// … ipv4` read them: a later option wins; a `family` mwan3 has no meaning for leaves the
/// section out (mwan3 would track nothing sensible with it).
pub fn sections(file: &[u8]) -> Result<Vec<Section>, uci::SyntaxError> {
    let mut out = Vec::new();
    for s in uci::parse(file)?.iter().filter(|s| s.kind == "interface") {
        let last = |name: &str| {
            s.options
                .iter()
                .rev()
                .find(|o| o.name == name)
                .and_then(|o| match &o.value {
                    uci::Value::Single(v) => Some(v.as_slice()),
                    uci::Value::List(_) => None,
                })
        };
        // functions.sh `config_get_bool`: these words, anything else the default.
        let enabled = matches!(
            last("enabled"),
            Some(b"1" | b"on" | b"true" | b"yes" | b"enabled")
        );
        let family = match last("family").unwrap_or(b"ipv4") {
            b"ipv4" => Family::V4,
            b"ipv6" => Family::V6,
            _ => continue,
        };
        if enabled {
            out.push(Section {
                name: s.uci_name().to_string(),
                family,
            });
        }
    }
    Ok(out)
}

/// The netifd interface `section` stands for: `<name>_4`/`<name>_6` where `exists` says
/// netifd has it (mwan3 asks ubus for `network.interface.<name>_<V>`), else its own name.
pub fn true_interface(section: &Section, exists: impl Fn(&str) -> bool) -> String {
    let v = match section.family {
        Family::V4 => "_4",
        Family::V6 => "_6",
    };
    let suffixed = format!("{}{v}", section.name);
    match exists(&suffixed) {
        true => suffixed,
        false => section.name.clone(),
    }
}

/// The (netifd interface, family) pairs mwan3 routes nothing through: each enabled section
/// whose hotplug state is there and says anything but `online`. `states` are the files of
/// `/var/run/mwan3/iface_state` (name, first line); `None` while mwan3 is not running. A
/// section without a state file has had no `ifup` since mwan3 started: mwan3 counts it
/// offline, but it is then no candidate of ours either, and its silence is no verdict.
pub fn offline(
    sections: &[Section],
    states: Option<&[(String, String)]>,
    exists: impl Fn(&str) -> bool,
) -> Vec<(String, Family)> {
    let Some(states) = states else {
        return Vec::new();
    };
    sections
        .iter()
        .filter(|s| {
            states
                .iter()
                .any(|(name, state)| *name == s.name && state != "online")
        })
        .map(|s| (true_interface(s, &exists), s.family))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
config globals 'globals'
\toption mmx_mask '0x3F00'

config interface 'wan'
\toption enabled '1'
\tlist track_ip '1.1.1.1'

config interface 'wan2'
\toption enabled '1'
\toption family 'ipv6'

config interface 'wanb'
\toption enabled '0'
\toption family 'ipv6'

config interface 'wanc'
\toption enabled 'yes'
\toption enabled 'off'

config interface 'wand'
\toption family 'ipv4'
\toption enabled 'on'

config interface 'odd'
\toption enabled '1'
\toption family 'inet6'

config member 'wan_m1_w3'
\toption interface 'wan'
";

    fn names(sections: &[Section]) -> Vec<(&str, Family)> {
        sections
            .iter()
            .map(|s| (s.name.as_str(), s.family))
            .collect()
    }

    #[test]
    fn enabled_interface_sections_as_config_get_bool_reads_them() {
        let got = sections(CONFIG.as_bytes()).unwrap();
        // `wanb` enabled 0, `wanc` enabled twice (the later `off` wins), `odd` a family mwan3
        // has no meaning for; globals and members are no interfaces.
        assert_eq!(
            names(&got),
            [
                ("wan", Family::V4),
                ("wan2", Family::V6),
                ("wand", Family::V4)
            ]
        );
        // Anything but config_get_bool's words is its default, 0.
        let got = sections(b"config interface 'x'\n\toption enabled 'maybe'\n").unwrap();
        assert!(got.is_empty());
    }

    #[test]
    fn a_section_stands_for_its_family_s_netifd_interface_where_netifd_has_one() {
        let s = |name: &str, family| Section {
            name: name.into(),
            family,
        };
        // mwan3_get_true_iface: `wan2` with family ipv6 is netifd's `wan2_6` when that exists
        // (PPPoE's dynamic IPv6 interface), else `wan2` itself.
        let has = |names: &'static [&'static str]| move |n: &str| names.contains(&n);
        let cases = [
            (s("wan2", Family::V6), &["wan2", "wan2_6"][..], "wan2_6"),
            (s("wan2", Family::V6), &["wan2"][..], "wan2"),
            (s("wan2", Family::V4), &["wan2", "wan2_6"][..], "wan2"),
            (s("wan2", Family::V4), &["wan2_4"][..], "wan2_4"),
        ];
        for (section, netifd, want) in cases {
            assert_eq!(true_interface(&section, has(netifd)), want, "{section:?}");
        }
    }

    #[test]
    fn offline_is_what_mwan3_routes_nothing_through() {
        let sections = sections(CONFIG.as_bytes()).unwrap();
        let netifd = |n: &str| ["wan", "wan2", "wan2_6", "wand"].contains(&n);
        let state = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        type Case = (Option<Vec<(String, String)>>, Vec<(&'static str, Family)>);
        let cases: [Case; 5] = [
            // mwan3 stopped: `/var/run/mwan3` is gone with everything it said.
            (None, vec![]),
            (
                Some(state(&[("wan", "online"), ("wan2", "online")])),
                vec![],
            ),
            // Only the section's family: wan2 (ipv6) is netifd's wan2_6, not wan2.
            (
                Some(state(&[("wan", "online"), ("wan2", "offline")])),
                vec![("wan2_6", Family::V6)],
            ),
            // Anything but `online` is offline to mwan3; a disabled section's file, and one
            // of no section, say nothing; no file is no word.
            (
                Some(state(&[
                    ("wan", "unknown"),
                    ("wanb", "offline"),
                    ("gone", "offline"),
                ])),
                vec![("wan", Family::V4)],
            ),
            (Some(vec![]), vec![]),
        ];
        for (states, want) in cases {
            let got = offline(&sections, states.as_deref(), netifd);
            let got: Vec<(&str, Family)> = got.iter().map(|(n, f)| (n.as_str(), *f)).collect();
            assert_eq!(got, want, "{states:?}");
        }
    }
}
