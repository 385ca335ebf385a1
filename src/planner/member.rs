//! A group's members, and why each other candidate is left out.

use std::fmt;
use std::net::IpAddr;

use crate::route::Nexthop;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub interface: String,
    pub device: String,
    pub nexthop: Nexthop,
    /// Its addresses of the group's family, from the dump.
    pub addresses: Vec<IpAddr>,
    /// Seconds its session has been up, where the dump says.
    pub uptime: Option<u64>,
    /// Its member section's `metric` (1 when none): its tier.
    pub metric: u16,
}

/// A candidate interface that is not in the route, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub interface: String,
    pub reason: Reason,
    /// The index of its `l3_device`, where the dump names one the kernel has.
    pub device: Option<u32>,
    /// Its addresses of the group's family, as the dump has them: what its conntrack
    /// entries are found by when it leaves.
    pub addresses: Vec<IpAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Named in the group but absent from the dump (a dynamic `wan_6` is removed when down).
    NotInDump,
    Down,
    /// A field of the interface had the wrong type.
    Invalid(String),
    /// Up, but without an `l3_device`.
    NoDevice,
    /// No default route of the group's family (yet: e.g. no RA received).
    NoDefaultRoute,
    /// Its default routes are being withdrawn (`valid` 0).
    Withdrawn,
    /// The default route's nexthop is not an address of the family.
    BadGateway(String),
    /// An IPv6 default without a gateway: the kernel refuses device-only IPv6 multipath legs.
    OnLinkV6,
    /// The dump names a device the kernel doesn't have (it vanished, or the dump is stale).
    NoSuchDevice(String),
    /// Another member already has this exact nexthop.
    SameNexthop(String),
    /// Resilient mode: the device has no carrier (the kernel would delete its nexthop).
    NoCarrier(String),
    /// Tracking found it dead: `answered` of `targets` answered in the last round, and it
    /// has `fails` failed or `passes` passed rounds in a row.
    Offline {
        answered: u32,
        targets: u32,
        fails: u32,
        passes: u32,
    },
    /// mwan3's state of its section for it says anything but online (`mwan3`).
    Mwan3Offline,
    /// Offline in its last session; its new one has not passed a round yet.
    Unproven,
    /// Usable, but of a higher `metric` than the tier in use (`in_use`): it takes over when
    /// every member of a lower metric is down, offline or left out.
    Standby {
        metric: u16,
        in_use: u16,
    },
}

impl Reason {
    /// Whether an operator should read about it; the rest is normal life (a link is down).
    pub fn worth_a_warning(&self) -> bool {
        !matches!(
            self,
            Reason::NotInDump
                | Reason::Down
                | Reason::NoDefaultRoute
                | Reason::Withdrawn
                | Reason::NoCarrier(_)
                | Reason::Offline { .. }
                | Reason::Mwan3Offline
                | Reason::Unproven
                | Reason::Standby { .. }
        )
    }

    /// One word for what keeps it out, the same in `status --json` (`kind`) and LuCI:
    /// `standby` (a lower tier carries the route), `offline` (tracking, mwan3, or an offline
    /// last session), `down` (netifd or the kernel has it down), `left_out` (anything else
    /// that makes it no candidate).
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Standby { .. } => "standby",
            Reason::Offline { .. } | Reason::Mwan3Offline | Reason::Unproven => "offline",
            Reason::NotInDump | Reason::Down | Reason::NoCarrier(_) | Reason::NoSuchDevice(_) => {
                "down"
            }
            _ => "left_out",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotInDump => f.write_str("not in the interface dump"),
            Reason::Down => f.write_str("down"),
            Reason::Invalid(why) => write!(f, "unreadable state: {why}"),
            Reason::NoDevice => f.write_str("up but has no l3_device"),
            Reason::NoDefaultRoute => f.write_str("no default route of this family"),
            Reason::Withdrawn => f.write_str("default route is being withdrawn (valid 0)"),
            Reason::BadGateway(gw) => write!(f, "gateway '{gw}' is not an address of this family"),
            Reason::OnLinkV6 => f.write_str("IPv6 default without a gateway; the kernel takes no device-only IPv6 multipath leg"),
            Reason::NoSuchDevice(dev) => write!(f, "device {dev} does not exist"),
            Reason::SameNexthop(other) => write!(f, "same nexthop as {other}"),
            Reason::NoCarrier(dev) => write!(f, "{dev} has no carrier"),
            Reason::Offline {
                answered,
                targets,
                fails,
                passes: 0,
            } => write!(
                f,
                "offline: {answered} of {targets} targets answered for {fails} rounds"
            ),
            Reason::Offline {
                answered,
                targets,
                passes,
                ..
            } => write!(
                f,
                "offline: {answered} of {targets} targets answered, {passes} rounds passed in a row"
            ),
            Reason::Mwan3Offline => f.write_str("offline according to mwan3"),
            Reason::Unproven => {
                f.write_str("offline in its last session: joins once its new one passes a round")
            }
            Reason::Standby { metric, in_use } => write!(
                f,
                "standby (metric {metric}): members of metric {in_use} are usable"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_one_kind_for_status_and_luci() {
        let offline = Reason::Offline {
            answered: 0,
            targets: 2,
            fails: 4,
            passes: 0,
        };
        let cases = [
            (
                Reason::Standby {
                    metric: 2,
                    in_use: 1,
                },
                "standby",
            ),
            (offline, "offline"),
            (Reason::Mwan3Offline, "offline"),
            (Reason::Unproven, "offline"),
            (Reason::Down, "down"),
            (Reason::NotInDump, "down"),
            (Reason::NoCarrier("wan1".into()), "down"),
            (Reason::NoSuchDevice("wan1".into()), "down"),
            (Reason::NoDefaultRoute, "left_out"),
            (Reason::SameNexthop("wan".into()), "left_out"),
            (Reason::OnLinkV6, "left_out"),
        ];
        for (reason, kind) in cases {
            assert_eq!(reason.kind(), kind, "{reason}");
        }
    }
}
