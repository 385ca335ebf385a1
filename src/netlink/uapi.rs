//! The kernel's numbers this tool uses, in one place: message types, flags, attribute types
//! and multicast groups from the uapi headers `netlink.h`, `rtnetlink.h`, `if_link.h`, `if.h`,
//! `socket.h` and `nexthop.h`. neli has many of them too; written out here they are the ones
//! the layouts in `wire` and `nexthop` were tested with (against iproute2's own messages).

// netlink.h
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_DUMP: u16 = 0x300;
/// On an NLMSG_ERROR: the request was not echoed back, only its header.
pub const NLM_F_CAPPED: u16 = 0x100;
/// On an NLMSG_ERROR: extended-ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
pub const NLMSGERR_ATTR_MSG: u16 = 1;
pub const NLA_F_NESTED: u16 = 0x8000;
/// The type bits of an attribute, without NLA_F_NESTED / NLA_F_NET_BYTEORDER.
pub const NLA_TYPE_MASK: u16 = 0x3fff;

// rtnetlink.h: messages
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWNEXTHOP: u16 = 104;
pub const RTM_DELNEXTHOP: u16 = 105;
pub const RTM_GETNEXTHOP: u16 = 106;

// rtnetlink.h: multicast groups (`watch`)
pub const RTNLGRP_LINK: u32 = 1;
pub const RTNLGRP_IPV4_IFADDR: u32 = 5;
pub const RTNLGRP_IPV6_IFADDR: u32 = 9;
pub const RTNLGRP_IPV4_ROUTE: u32 = 7;
pub const RTNLGRP_IPV6_ROUTE: u32 = 11;
pub const RTNLGRP_NEXTHOP: u32 = 32;

// rtnetlink.h: route attributes, scopes, flags
pub const RTA_DST: u16 = 1;
pub const RTA_SRC: u16 = 2;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_PRIORITY: u16 = 6;
pub const RTA_MULTIPATH: u16 = 9;
pub const RTA_TABLE: u16 = 15;
pub const RTA_NH_ID: u16 = 30;
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_NOWHERE: u8 = 255;
/// `RTNH_F_DEAD`, `RTNH_F_LINKDOWN` (linux/rtnetlink.h): a leg the kernel does not use, its
/// device down or without carrier. In `rtnh_flags`, and in `rtm_flags` for a single nexthop.
pub const RTNH_F_DEAD: u8 = 1;
pub const RTNH_F_LINKDOWN: u8 = 16;

/// `RTM_F_CLONED`: a cache entry, not a route anyone configured.
pub const RTM_F_CLONED: u32 = 0x200;

// if_link.h, if.h
pub const IFLA_IFNAME: u16 = 3;
pub const IFF_UP: u32 = 1;
pub const IFF_LOWER_UP: u32 = 1 << 16;

// socket.h
pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

// nexthop.h
pub const NHA_ID: u16 = 1;
pub const NHA_GROUP: u16 = 2;
pub const NHA_GROUP_TYPE: u16 = 3;
pub const NHA_BLACKHOLE: u16 = 4;
pub const NHA_OIF: u16 = 5;
pub const NHA_GATEWAY: u16 = 6;
pub const NHA_FDB: u16 = 11;
pub const NHA_RES_GROUP: u16 = 12;
pub const NHA_RES_GROUP_BUCKETS: u16 = 1;
pub const NHA_RES_GROUP_IDLE_TIMER: u16 = 2;
pub const NHA_RES_GROUP_UNBALANCED_TIMER: u16 = 3;
pub const NEXTHOP_GRP_TYPE_RES: u16 = 1;

// linux/fib_rules.h
pub const RTM_NEWRULE: u16 = 32;
pub const RTM_DELRULE: u16 = 33;
pub const RTM_GETRULE: u16 = 34;
pub const FRA_PRIORITY: u16 = 6;
pub const FRA_FWMARK: u16 = 10;
pub const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
pub const FRA_TABLE: u16 = 15;
pub const FRA_FWMASK: u16 = 16;
pub const FRA_OIFNAME: u16 = 17;
pub const FRA_PROTOCOL: u16 = 21;
pub const FR_ACT_TO_TBL: u8 = 1;

// linux/netfilter/nfnetlink.h, nfnetlink_conntrack.h, nf_conntrack_common.h
/// `NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_*`.
pub const CT_MSG_NEW: u16 = 1 << 8;
pub const CT_MSG_GET: u16 = (1 << 8) | 1;
pub const CT_MSG_DELETE: u16 = (1 << 8) | 2;
pub const CTA_TUPLE_ORIG: u16 = 1;
pub const CTA_TUPLE_REPLY: u16 = 2;
pub const CTA_STATUS: u16 = 3;
pub const CTA_ID: u16 = 12;
pub const CTA_ZONE: u16 = 18;
pub const CTA_TUPLE_IP: u16 = 1;
pub const CTA_IP_V4_DST: u16 = 2;
pub const CTA_IP_V6_DST: u16 = 4;
pub const IPS_SRC_NAT: u32 = 1 << 4;
