# capture — see README.md.
#   make run    build, then run captured in the foreground on config/capture.toml (sim0)
#   make test   install what is missing, build, run every test
#   make vm-test   the kernel driver in a QEMU guest under stress (root; see vm/capture-vm)

SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
CONFIG ?= config/capture.toml
# Where `make run` puts a capturectl link so it is on PATH in another shell.
ifeq ($(shell id -u),0)
LINKDIR ?= /usr/local/bin
else
LINKDIR ?= $(HOME)/.local/bin
endif

.PHONY: all build release run test vm-test deps clean

all: release

deps:
	@scripts/install-deps

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product captured
	$(SWIFT) build -c release --product capturectl

run: release
	@mkdir -p $(LINKDIR) && ln -sf $(CURDIR)/.build/release/capturectl $(LINKDIR)/capturectl \
	  && echo "capturectl is linked into $(LINKDIR); in another shell: capturectl tail sim0 --frames 10000 --verify"
	.build/release/captured --config $(CONFIG)

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

# Boots a Debian guest under QEMU with the capture_dma module and runs vm/scenarios/*.sh.
# Root only (debootstrap, headers). The rootfs is cached in .build-vm/.
vm-test:
	@scripts/install-deps vm
	vm/capture-vm test

clean:
	rm -rf .build
