//! What `watch` probes: each tracking group's uplinks, and when one is still in its session.

use std::net::IpAddr;

use super::desired::Desired;
use super::member::Member;

/// An uplink `watch` probes through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uplink {
    pub interface: String,
    pub device: String,
    pub ifindex: u32,
    /// Its own address of the family, if it has one: the probes' source (the first of the
    /// dump's, as netifd lists them). The probe goes out bound to the device, no mark: the
    /// uplink path's `oif` rules route it (`paths`).
    pub source: Option<IpAddr>,
    /// netifd's uptime of its session (0 where the dump has none).
    pub uptime: u64,
}

impl Uplink {
    /// Whether this is `earlier`'s uplink in the same session (`track::new_session`).
    pub fn continues(&self, earlier: &Uplink) -> bool {
        self.interface == earlier.interface
            && !crate::track::new_session(
                (earlier.ifindex, earlier.uptime),
                (self.ifindex, self.uptime),
            )
    }
}

impl Desired<'_> {
    /// The uplinks `watch` probes for this group (`tracked`); none without `track`.
    pub fn probes(&self) -> Vec<Uplink> {
        if self.group.track.is_none() {
            return Vec::new();
        }
        let uplink = |m: &Member| Uplink {
            interface: m.interface.clone(),
            device: m.device.clone(),
            ifindex: m.nexthop.ifindex,
            source: m.addresses.first().copied(),
            uptime: m.uptime.unwrap_or(0),
        };
        self.tracked.iter().map(uplink).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testing::desired;
    use crate::planner::testing::*;

    #[test]
    fn watch_probes_the_tracked_members_from_their_first_address() {
        let (cfg, d) = tracked(&["wanc_6"]);
        let planned = desired(&d, &cfg, &links(), true);
        let probes = planned[0].probes();
        let got: Vec<(&str, &str, u32, Option<IpAddr>)> = probes
            .iter()
            .map(|u| (u.interface.as_str(), u.device.as_str(), u.ifindex, u.source))
            .collect();
        assert_eq!(
            got,
            [
                ("wan6", "eth1", 2, Some("2001:db8:1::2".parse().unwrap())),
                ("wanb_6", "eth2", 3, Some("2001:db8:2::2".parse().unwrap())),
            ],
            "wanc_6 says track 0"
        );
        // A group without tracking probes nothing.
        let cfg = config(vec![group("v6", "2000::/3", &["dhcpv6"], &[])], &[]);
        assert_eq!(desired(&d, &cfg, &links(), true)[0].probes(), []);
    }

    #[test]
    fn an_uplink_continues_its_session_until_its_device_changes_or_its_uptime_goes_back() {
        let u = |interface: &str, ifindex, uptime| Uplink {
            interface: interface.into(),
            device: "eth1".into(),
            ifindex,
            source: None,
            uptime,
        };
        let before = u("wan6", 2, 100);
        // (now, continues): the rule `track::new_session` is for records too.
        let cases = [
            (u("wan6", 2, 100), true),
            (u("wan6", 2, 160), true),
            (u("wan6", 2, 5), false),
            (u("wan6", 7, 160), false),
            (u("wanb_6", 2, 160), false),
        ];
        for (now, continues) in cases {
            assert_eq!(now.continues(&before), continues, "{now:?}");
        }
    }
}
