//! The integration tests, one crate (one link instead of three): `kernel` (the binary against
//! the real kernel, each test in its own network namespace), `tracking` (tracking on a NAT66
//! network), `package` (the feed Makefile and the .ipk), `luci` (the LuCI app in a headless
//! browser), and `common`, what they stand on.
//!
//! `openwrt/build.sh kernel ARCH` runs `kernel::` alone against a router build under qemu-user.

mod common;
mod kernel;
mod luci;
mod package;
mod tracking;
