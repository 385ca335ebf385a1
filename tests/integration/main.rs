//! The integration tests, one crate (one link instead of three): `kernel` (the binary against
//! the real kernel, each test in its own network namespace), `tracking` (tracking on a NAT66
//! network), `package` (the feed Makefile and the .ipk), and `common`, what they stand on.
//!
//! `openwrt/build.sh kernel ARCH` runs `kernel::` alone against a router build under qemu-user.

mod common;
mod kernel;
mod package;
mod tracking;
