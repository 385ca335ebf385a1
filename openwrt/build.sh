#!/usr/bin/env bash
# Router builds without the OpenWrt SDK: static binaries, qemu-user tests, .ipk and .apk packages.
#
#   openwrt/build.sh toolchain            install what the others need (idempotent)
#   openwrt/build.sh dist [ARCH...]       dist/<ARCH>/ecmp-hotplug, static and stripped
#   openwrt/build.sh size                 fail if the mipsel_24kc binary is over budget
#   openwrt/build.sh unit ARCH            the unit tests, built for ARCH, run under qemu-user
#   openwrt/build.sh kernel ARCH          the kernel tests against dist/<ARCH>/ecmp-hotplug under qemu-user
#   openwrt/build.sh ipk [ARCH...]        dist/ecmp-hotplug_<version>_<ARCH>.ipk from dist/<ARCH>,
#                                         and dist/luci-app-ecmp-hotplug_<version>_all.ipk
#   openwrt/build.sh apk [ARCH...]        dist/<ARCH>/ecmp-hotplug-<version>-r<release>.apk, and
#                                         dist/luci-app-ecmp-hotplug-<version>-r<release>.apk
#
# ARCH is an OpenWrt package architecture; without one, all of ALL_ARCHES. The route is the
# one ../shared/docs/toolchain.md verified: nightly + rust-src + -Zbuild-std (MIPS has no
# prebuilt std), zig from PyPI as the musl linker (cargo-zigbuild), and for MIPS
# -C relocation-model=static (a static-pie MIPS binary crashes when a thread starts).
# Build flags and the size each one saves: docs/performance.md, "Binary size".
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

ALL_ARCHES="mipsel_24kc mips_24kc arm_cortex-a7_neon-vfpv4 aarch64_cortex-a53 x86_64"
# The mipsel binary must fit here: 8 MB-flash routers are mostly mipsel (MT7621, MT7628).
BUDGET=458752
NIGHTLY=${NIGHTLY:-nightly}

triple() {
	case "$1" in
	mipsel_24kc) echo mipsel-unknown-linux-musl ;;
	mips_24kc) echo mips-unknown-linux-musl ;;
	arm_cortex-a7_neon-vfpv4 | arm_cortex-a9_vfpv3-d16) echo armv7-unknown-linux-musleabihf ;;
	arm_cortex-a7) echo armv7-unknown-linux-musleabi ;;
	aarch64_cortex-a53 | aarch64_generic) echo aarch64-unknown-linux-musl ;;
	x86_64) echo x86_64-unknown-linux-musl ;;
	*) echo "unknown OpenWrt architecture '$1' (known: $ALL_ARCHES arm_cortex-a7 aarch64_generic)" >&2; return 1 ;;
	esac
}

qemu() {
	case "$1" in
	mipsel*) echo qemu-mipsel-static ;;
	mips*) echo qemu-mips-static ;;
	arm*) echo qemu-arm-static ;;
	aarch64*) echo qemu-aarch64-static ;;
	x86_64) echo "" ;;
	esac
}

runner_var() { # CARGO_TARGET_<TRIPLE>_RUNNER
	local t=${1^^}
	echo "CARGO_TARGET_${t//-/_}_RUNNER"
}

toolchain() {
	local missing=()
	command -v zig >/dev/null || python3 -c 'import ziglang' 2>/dev/null || missing+=(ziglang)
	command -v cargo-zigbuild >/dev/null || missing+=(cargo-zigbuild)
	if [ ${#missing[@]} -gt 0 ]; then
		python3 -m pip install --quiet --disable-pip-version-check "${missing[@]}"
	fi
	rustup toolchain list | grep -q "^$NIGHTLY" || rustup toolchain install --profile minimal "$NIGHTLY"
	rustup component list --toolchain "$NIGHTLY" --installed | grep -q '^rust-src' ||
		rustup component add rust-src --toolchain "$NIGHTLY"
	local apt=()
	# objcopy that reads MIPS/ARM ELF, to drop .pdr (MIPS procedure descriptors: ~74 KB that
	# survive the linker's strip) and .comment.
	objcopy --help | grep -q 'elf32-tradlittlemips' || apt+=(binutils-multiarch)
	command -v qemu-mipsel-static >/dev/null || apt+=(qemu-user-static)
	if [ ${#apt[@]} -gt 0 ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq "${apt[@]}" >/dev/null
	fi
}

# Size flags, each measured on mipsel (docs/performance.md, "Binary size"): abort without unwinding or
# panic messages, no location strings or Debug formatting, no unwind tables. (4 KiB segment
# alignment and -z norelro were tried too: 120 bytes, not worth losing RELRO.)
SIZE_FLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none -Cforce-unwind-tables=no"

# Non-PIE everywhere: MIPS static-pie crashes as soon as a thread starts, and zig's musl
# can't link ARM static-pie; non-PIE is also the smaller. zig brings its own musl crt
# objects: rustc must not add the self-contained ones build-std has none of.
target_flags() {
	echo "-Crelocation-model=static -Clink-self-contained=no"
}

dist() {
	local arch t out
	for arch in "$@"; do
		t=$(triple "$arch")
		echo "building $arch ($t)" >&2
		RUSTUP_TOOLCHAIN=$NIGHTLY RUSTFLAGS="$SIZE_FLAGS $(target_flags "$t")" \
			cargo-zigbuild zigbuild --locked --release --target "$t" \
			-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size \
			--target-dir target/dist --quiet 2> >(grep -v 'unable to open library directory\|linker_messages\|^ *|\|^ *= note\|^$\|^warning: `ecmp-hotplug`\|^warning: linker stderr' >&2)
		out=dist/$arch
		mkdir -p "$out"
		objcopy -R .pdr -R .comment -R .mdebug.abi32 "target/dist/$t/release/ecmp-hotplug" "$out/ecmp-hotplug"
		printf '%-26s %8d bytes\n' "$arch" "$(stat -c %s "$out/ecmp-hotplug")"
	done
}

size_check() {
	local bin=dist/mipsel_24kc/ecmp-hotplug size
	[ -f "$bin" ] || dist mipsel_24kc >/dev/null
	size=$(stat -c %s "$bin")
	if [ "$size" -gt "$BUDGET" ]; then
		echo "FAIL: $bin is $size bytes, over the budget of $BUDGET (448 KiB)" >&2
		return 1
	fi
	echo "ok: $bin is $size bytes, within the budget of $BUDGET (448 KiB): $((BUDGET - size)) to spare"
}

unit() {
	local arch=$1 t q
	t=$(triple "$arch")
	q=$(qemu "$arch")
	# The test harness needs unwinding and threads: no size flags, but MIPS stays non-PIE.
	env RUSTUP_TOOLCHAIN="$NIGHTLY" RUSTFLAGS="$(target_flags "$t")" ${q:+"$(runner_var "$t")=$q"} \
		cargo-zigbuild test --locked --target "$t" -Zbuild-std --lib --target-dir target/qemu
}

kernel() {
	local arch=$1 bin q
	bin=$repo/dist/$arch/ecmp-hotplug
	[ -f "$bin" ] || dist "$arch" >/dev/null
	q=$(qemu "$arch")
	# qemu-user doesn't translate nexthop messages (RTM_*NEXTHOP): there the binary meets a
	# kernel without nexthop objects and falls back to multipath routes, which the rest of
	# the suite checks; the resilient_* tests need a kernel that has them. The storm_* tests
	# (thousands of runs of the same code) run natively only, for time.
	ECMP_HOTPLUG_BIN=$bin ECMP_HOTPLUG_QEMU=${q:+$(command -v "$q")} cargo test --locked --test integration -- kernel:: ${q:+--skip resilient_ --skip storm_}
}

ipk() {
	local arch
	for arch in "$@"; do
		[ -f "dist/$arch/ecmp-hotplug" ] || dist "$arch" >/dev/null
		python3 openwrt/ipk.py --arch "$arch" --binary "dist/$arch/ecmp-hotplug" --out dist
	done
	# The LuCI app is architecture-independent (PKGARCH all): one for every arch.
	python3 openwrt/ipk.py --package luci-app-ecmp-hotplug --out dist
}

# apk names a package <name>-<version>.apk, with no arch: one directory per arch.
apk() {
	local arch
	for arch in "$@"; do
		[ -f "dist/$arch/ecmp-hotplug" ] || dist "$arch" >/dev/null
		python3 openwrt/apk.py --arch "$arch" --binary "dist/$arch/ecmp-hotplug" --out "dist/$arch"
	done
	python3 openwrt/apk.py --package luci-app-ecmp-hotplug --out dist
}

cmd=${1:-}
shift || true
[ $# -gt 0 ] || set -- $ALL_ARCHES
case "$cmd" in
toolchain) toolchain ;;
dist) toolchain && dist "$@" ;;
size) toolchain && size_check ;;
unit) toolchain && for a in "$@"; do unit "$a"; done ;;
kernel) toolchain && for a in "$@"; do kernel "$a"; done ;;
ipk) toolchain && ipk "$@" ;;
apk) toolchain && apk "$@" ;;
*) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
