//! Nexthop object ids: a fixed block per group, stable across runs.

use crate::config::Config;

/// The nexthop object ids ecmp-hotplug uses: `0xEC` (as in its protocol mark) in the top
/// byte, then a 12-bit slot per group and a 12-bit slot per uplink in the group, slot 0 being
/// the group object itself. The kernel numbers objects from 1 up to 2^31 − 1 when asked to
/// pick; FRR's zebra and its daemons stay below 2^31 too; systemd-networkd takes the ids
/// written in its files. Slots come from a hash of the group's and the interface's names, so
/// they stay put across runs, reboots and gateway changes.
pub const OBJECT_ID_BASE: u32 = 0xEC00_0000;
pub(crate) const SLOT_BITS: u32 = 12;
const SLOTS: u32 = (1 << SLOT_BITS) - 1;
/// Group slot 0 is the kernel probe's (`OBJECT_ID_BASE` the group, `PROBE_LEG_ID` its member), which no
/// group is given, so a probe a killed run left behind is just a stale object of ours.
pub const PROBE_GROUP_ID: u32 = OBJECT_ID_BASE;
pub const PROBE_LEG_ID: u32 = OBJECT_ID_BASE + 1;

/// FNV-1a folded to a slot in 1..=4095.
pub(super) fn slot(name: &str) -> u32 {
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % SLOTS + 1
}

/// The first slot from `name`'s hash on that `taken` doesn't hold (there are 4095 of them and
/// a router has a few names, so this nearly always is the hash's own slot).
pub(super) fn free_slot(name: &str, taken: &[u32]) -> u32 {
    let mut s = slot(name);
    while taken.contains(&s) {
        s = s % SLOTS + 1;
    }
    s
}

/// Each group's nexthop-group object id, in config order.
pub fn group_ids(config: &Config) -> Vec<u32> {
    let mut slots = Vec::with_capacity(config.groups.len());
    for g in &config.groups {
        let s = free_slot(&g.name, &slots);
        slots.push(s);
    }
    slots
        .into_iter()
        .map(|s| OBJECT_ID_BASE | s << SLOT_BITS)
        .collect()
}

/// Whether object `id` belongs to group object `group_id`'s range (the group or its legs).
pub(super) fn in_range(id: u32, group_id: u32) -> bool {
    id >> SLOT_BITS == group_id >> SLOT_BITS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testing::*;

    #[test]
    fn object_ids_are_stable_in_range_and_distinct() {
        let names = ["v6", "v4", "@group[0]", "wan6", "wan_6", "wanb_6"];
        for n in names {
            assert_eq!(slot(n), slot(n));
            assert!((1..=SLOTS).contains(&slot(n)), "{n}");
        }
        // Two names that hash to one slot: the second takes the next free one.
        let (a, b) = (0..)
            .map(|i| format!("g{i}"))
            .find_map(|b| (slot("g0") == slot(&b) && b != "g0").then_some(("g0".to_string(), b)))
            .unwrap();
        let cfg = config(
            vec![group(&a, "2000::/3", &[], &[]), group(&b, "::/0", &[], &[])],
            &[],
        );
        let ids = group_ids(&cfg);
        assert_eq!(ids[0], OBJECT_ID_BASE | slot(&a) << SLOT_BITS);
        assert_ne!(ids[0], ids[1]);
        for id in &ids {
            assert_eq!(id & 0xff00_0000, OBJECT_ID_BASE);
            assert_eq!(id & SLOTS, 0, "a group's own id is slot 0 of its range");
            assert_ne!(*id, PROBE_GROUP_ID);
        }
    }
}
