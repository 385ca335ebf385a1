# ecmp-hotplug. `make demo`, `make test`, `make bench` need root (network namespaces).
CARGO ?= cargo
# Router builds: one OpenWrt architecture, or all five when unset (openwrt/build.sh).
ARCH ?=

.PHONY: all build test unit lint demo bench dist size-check qemu-test ipk apk fuzz clean

all: build

build:
	$(CARGO) build --release --locked

# Unit tests and the integration tests (tests/integration: kernel, tracking, package).
test:
	$(CARGO) test --locked

unit:
	$(CARGO) test --locked --lib

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

demo: build
	tests/support/demo.sh

# Measures the x86_64 build that ships (static musl, size flags), as a router runs it.
# BENCH_BEFORE=/path/to/another/build adds it to the dump-parse table, side by side.
bench:
	openwrt/build.sh dist x86_64
	BENCH_BIN=$(CURDIR)/dist/x86_64/ecmp-hotplug tests/support/bench.sh

# Static, stripped binaries in dist/<arch>/ecmp-hotplug; installs the toolchain if missing.
dist:
	openwrt/build.sh dist $(ARCH)

# Fails if dist/mipsel_24kc/ecmp-hotplug is over 448 KiB.
size-check:
	openwrt/build.sh size

# Unit tests for mipsel and big-endian mips under qemu-user, then the kernel tests against
# the mipsel build under qemu-mipsel in network namespaces.
qemu-test:
	openwrt/build.sh unit mipsel_24kc mips_24kc
	openwrt/build.sh kernel mipsel_24kc

# dist/ecmp-hotplug_<version>_<arch>.ipk, opkg's format, without the SDK.
ipk:
	openwrt/build.sh ipk $(ARCH)

# dist/<arch>/ecmp-hotplug-<version>-r<release>.apk and dist/luci-app-ecmp-hotplug-….apk,
# apk-tools 3's format (OpenWrt 25.12 and later), without the SDK.
apk:
	openwrt/build.sh apk $(ARCH)

# Fuzzing with cargo-fuzz (nightly, libFuzzer): each target for FUZZ_SECONDS from its seeds in
# tests/fuzz/seeds; CI runs a short smoke. A crash fails and leaves its input in
# tests/fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 20
FUZZ_TARGETS = dump uci netlink
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p target/fuzz-corpus/$$t; log=target/fuzz-$$t.log; \
		if $(CARGO) +nightly fuzz run --fuzz-dir tests/fuzz $$t target/fuzz-corpus/$$t tests/fuzz/seeds/$$t \
			-- -max_total_time=$(FUZZ_SECONDS) >$$log 2>&1; \
		then echo "fuzz $$t: $$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' $$log), no crash"; \
		else cat $$log; exit 1; fi; \
	done

clean:
	$(CARGO) clean
	rm -rf dist
