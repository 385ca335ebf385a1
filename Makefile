# ecmp-hotplug. `make demo` and `make test` need root (network namespaces).
CARGO ?= cargo

.PHONY: all build test unit lint demo bench clean

all: build

build:
	$(CARGO) build --release --locked

# Unit tests and the kernel tests (tests/kernel.rs, one network namespace each).
test:
	$(CARGO) test --locked

unit:
	$(CARGO) test --locked --lib

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

demo: build
	tests/support/demo.sh

bench: build
	tests/support/bench.sh

clean:
	$(CARGO) clean
