//! The sysctls ecmp-hotplug reads and sets (`route::Sysctl`), as files under /proc/sys of
//! this network namespace: the only code that touches them. One function per verb; no
//! logging, no decisions (which values the plan wants is `planner::settings`).

use std::io;

use crate::netlink::KernelError;
use crate::route::Sysctl;

/// Its file. Device names come from the kernel's own link list; one that could leave the
/// directory is refused all the same.
fn path(sysctl: &Sysctl) -> Result<String, KernelError> {
    match sysctl {
        Sysctl::HashPolicy(family) => Ok(format!(
            "/proc/sys/net/{}/fib_multipath_hash_policy",
            family.name()
        )),
        Sysctl::IgnoreLinkdown(family, device) => {
            if device.is_empty() || device.contains('/') || device == "." || device == ".." {
                return Err(KernelError::new(format!("'{device}' is not a device name")));
            }
            Ok(format!(
                "/proc/sys/net/{}/conf/{device}/ignore_routes_with_linkdown",
                family.name()
            ))
        }
    }
}

/// Its value; `None` where this kernel (or device) doesn't have it: IPv6's hash policy before
/// 4.17, a device that went away.
pub fn read(sysctl: &Sysctl) -> Result<Option<u8>, KernelError> {
    let path = path(sysctl)?;
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| KernelError::new(format!("{path}: '{}' is not a number", s.trim()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KernelError::new(format!("{path}: {e}"))),
    }
}

pub fn write(sysctl: &Sysctl, value: u8) -> Result<(), KernelError> {
    let path = path(sysctl)?;
    std::fs::write(&path, format!("{value}\n"))
        .map_err(|e| KernelError::new(format!("{path}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Family;

    #[test]
    fn names_and_paths() {
        let linkdown = Sysctl::IgnoreLinkdown(Family::V6, "pppoe-wan".into());
        assert_eq!(
            linkdown.to_string(),
            "net.ipv6.conf.pppoe-wan.ignore_routes_with_linkdown"
        );
        assert_eq!(
            path(&linkdown).unwrap(),
            "/proc/sys/net/ipv6/conf/pppoe-wan/ignore_routes_with_linkdown"
        );
        for bad in ["", "..", "a/b", "."] {
            assert!(path(&Sysctl::IgnoreLinkdown(Family::V4, bad.into())).is_err());
        }
        assert_eq!(
            path(&Sysctl::HashPolicy(Family::V4)).unwrap(),
            "/proc/sys/net/ipv4/fib_multipath_hash_policy"
        );
    }
}
