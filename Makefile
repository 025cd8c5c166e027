# capture — see README.md.
#   make run    build, then run captured in the foreground on config/capture.toml (sim0)
#   make test   install what is missing, build, run every test, fuzz each target briefly, soak a minute
#   make vm-test   the kernel driver in a QEMU guest under stress (root; see vm/capture-vm)
#   make bench     capture against GStreamer's shm transport, a socket copy and the machine's
#                  limits; writes docs/BENCHMARKS.md and docs/benchmarks.png (~17 min on 2 cores),
#                  quoting the guest's daemon-absence figures from the last make vm-test

SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
CONFIG ?= config/capture.toml
# Where `make run` puts a capturectl link so it is on PATH in another shell.
ifeq ($(shell id -u),0)
LINKDIR ?= /usr/local/bin
else
LINKDIR ?= $(HOME)/.local/bin
endif

PREFIX ?= /usr/local
VERSION := $(shell sed -n 's/.*captureVersion = "\(.*\)".*/\1/p' Sources/CaptureDaemon/Daemon.swift)
DESTDIR ?=
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system

# Where install-files takes the binaries from (the guest harness points it at static builds).
BUILT ?= .build/release

# Fuzzing: capture-fuzz with libFuzzer and AddressSanitizer (Fuzz/, scripts/fuzz).
FUZZ_TARGETS = codec config status client ring
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_RUNTIME = $(shell $(SWIFT) -print-target-info | sed -n 's/.*"runtimeResourcePath": "\(.*\)".*/\1/p')/clang/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a

.PHONY: all build release run test libcapture python gstreamer install-gstreamer test-asan test-tsan soak vm-test vm-soak bench deps install install-files install-libcapture install-driver dkms-source uninstall clean fuzz fuzz-build fuzz-smoke

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

test: deps libcapture python gstreamer
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing
	$(MAKE) fuzz-smoke
	.build/debug/capture-soak --minutes 1

# libcapture (the C client library) and its conformance program; the header as C99 and C++.
libcapture: deps
	$(MAKE) -C libcapture all check

# The GStreamer plugin (capturesrc) and its test program.
gstreamer: libcapture
	$(MAKE) -C gstreamer all check VERSION=$(VERSION)

# `pip install ./python` into .build-python, as a user would (scripts/python-env).
PYTHON ?= python3
python: deps
	scripts/python-env $(PYTHON)

# The daemon (release build) for MINUTES under verifying clients and chaos; see Tests/capture-soak.
MINUTES ?= 30
soak: deps
	$(SWIFT) build -c release --product captured
	$(SWIFT) build -c release --product capture-testclient
	$(SWIFT) build -c release --product capture-soak
	.build/release/capture-soak --minutes $(MINUTES) $(SOAK_ARGS)

# The unit and service tests with captured, the client library and the tests built with
# AddressSanitizer, and the C shims also with UndefinedBehaviorSanitizer (leaks are checked in
# the daemon, not in XCTest; streams at half their rate, as ASan is ~2x slower), or with
# ThreadSanitizer (streams at a fifth of their rate: TSan is ~10x slower). swiftc has no UBSan; the ASan runtime carries clang's UBSan handlers.
ASAN_FLAGS = --sanitize=address --scratch-path .build-asan -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined
test-asan: deps libcapture python gstreamer
	$(SWIFT) build --build-tests $(ASAN_FLAGS)
	CAPTURE_TEST_RATE_SCALE=0.5 ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 $(SWIFT) test --skip-build $(ASAN_FLAGS) --disable-swift-testing

test-tsan: deps libcapture python gstreamer
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	CAPTURE_TEST_RATE_SCALE=0.2 $(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan --disable-swift-testing

# Every fuzz target for FUZZ_SECONDS each (default 10 minutes).
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do scripts/fuzz $$t $(FUZZ_SECONDS) || exit 1; done

# What `make test` runs: every target briefly.
fuzz-smoke: fuzz-build
	@for t in $(FUZZ_TARGETS); do scripts/fuzz $$t $(FUZZ_SMOKE_SECONDS) || exit 1; done

fuzz-build: deps
	$(SWIFT) build --sanitize=address --scratch-path .build-fuzz --product capture-fuzz \
	  -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table -Xcc -fsanitize=fuzzer-no-link \
	  -Xlinker $(FUZZ_RUNTIME) -Xlinker --undefined=LLVMFuzzerRunDriver -Xlinker -lstdc++

# Release builds of the daemon and the harness, the GStreamer reader (C, against Debian's
# libgstreamer), the C client (libcapture) and the Python package, then one run of every
# workload. BENCH_ARGS goes to `capture-bench suite`.
bench:
	@scripts/install-deps bench
	$(SWIFT) build -c release --product captured
	$(SWIFT) build -c release --product capturectl
	$(SWIFT) build -c release --product capture-bench
	cc -O2 -Wall -o .build/gst-peer Benchmarks/gst-peer.c $$(pkg-config --cflags --libs gstreamer-1.0)
	$(MAKE) libcapture python gstreamer
	cc -O2 -Wall -o .build/c-client Benchmarks/c-client.c -Ilibcapture/include libcapture/build/libcapture.a -lpthread
	.build/release/capture-bench suite --gst-peer .build/gst-peer $(BENCH_ARGS)

# Installs binaries, units, sysusers/tmpfiles snippets, the udev rule and the default config
# (an existing /etc/capture/capture.toml is kept), and the driver's sources for DKMS. Without
# DESTDIR it also creates the user, /run/capture, reloads systemd and udev, and has DKMS build
# and install the modules for every installed kernel.
install: release install-files install-libcapture install-gstreamer install-driver

# <capture/capture.h>, libcapture.so.1, libcapture.a and capture.pc (pkg-config).
install-libcapture:
	$(MAKE) -C libcapture install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) VERSION=$(VERSION)
	@if [ -z "$(DESTDIR)" ]; then ldconfig; fi

# libgstcapture.so into GStreamer's plugin directory (pkg-config's pluginsdir), where
# gst-inspect-1.0 and gst-launch-1.0 find it.
install-gstreamer: gstreamer
	$(MAKE) -C gstreamer install DESTDIR=$(DESTDIR)

install-files:
	install -D -m 0755 $(BUILT)/captured $(DESTDIR)$(PREFIX)/bin/captured
	install -D -m 0755 $(BUILT)/capturectl $(DESTDIR)$(PREFIX)/bin/capturectl
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local|$(PREFIX)|g; s|/etc/capture|$(SYSCONFDIR)/capture|g' systemd/capture.service > $(DESTDIR)$(UNITDIR)/capture.service
	sed 's|/usr/local|$(PREFIX)|g' systemd/capture.socket > $(DESTDIR)$(UNITDIR)/capture.socket
	chmod 0644 $(DESTDIR)$(UNITDIR)/capture.service $(DESTDIR)$(UNITDIR)/capture.socket
	install -D -m 0644 systemd/capture.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/capture.conf
	install -D -m 0644 systemd/capture.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/capture.conf
	install -D -m 0644 config/60-capture.rules $(DESTDIR)$(SYSCONFDIR)/udev/rules.d/60-capture.rules
	test -e $(DESTDIR)$(SYSCONFDIR)/capture/capture.toml || install -D -m 0644 config/capture.toml $(DESTDIR)$(SYSCONFDIR)/capture/capture.toml
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/capture/README.md
	install -D -m 0644 docs/PROTOCOL.md $(DESTDIR)$(PREFIX)/share/doc/capture/PROTOCOL.md
	@if [ -z "$(DESTDIR)" ]; then \
	  command -v systemd-sysusers >/dev/null && systemd-sysusers $(PREFIX)/lib/sysusers.d/capture.conf || true; \
	  command -v systemd-tmpfiles >/dev/null && systemd-tmpfiles --create $(PREFIX)/lib/tmpfiles.d/capture.conf || true; \
	  [ -d /run/systemd/system ] && systemctl daemon-reload || true; \
	  [ -d /run/systemd/system ] && systemctl try-restart systemd-udevd 2>/dev/null || true; \
	fi

# The driver's sources where DKMS looks for them: /usr/src/capture-VERSION.
DKMS_SRC = $(DESTDIR)/usr/src/capture-$(VERSION)
dkms-source:
	install -d $(DKMS_SRC)/uapi
	install -m 0644 driver/*.c driver/*.h driver/Kbuild driver/Makefile $(DKMS_SRC)/
	install -m 0644 driver/uapi/*.h $(DKMS_SRC)/uapi/
	sed 's/@VERSION@/$(VERSION)/' driver/dkms.conf > $(DKMS_SRC)/dkms.conf

install-driver: dkms-source
	@if [ -n "$(DESTDIR)" ]; then exit 0; fi; \
	if command -v dkms >/dev/null; then \
	  dkms status -m capture -v $(VERSION) | grep -q . || dkms add -m capture -v $(VERSION); \
	  dkms autoinstall || echo "install-driver: dkms could not build for every kernel; see dkms status (headers: apt-get install linux-headers-\$$(uname -r))"; \
	else \
	  echo "install-driver: dkms is not installed: apt-get install dkms, then make install again;"; \
	  echo "  or build by hand: make -C driver KVER=\$$(uname -r) && insmod driver/capture_dma.ko && insmod driver/capture_loopback.ko"; \
	fi

# Removes what install put in place; the configuration in /etc/capture is kept.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/captured $(DESTDIR)$(PREFIX)/bin/capturectl
	$(MAKE) -C libcapture uninstall PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	$(MAKE) -C gstreamer uninstall DESTDIR=$(DESTDIR)
	rm -f $(DESTDIR)$(UNITDIR)/capture.service $(DESTDIR)$(UNITDIR)/capture.socket
	rm -f $(DESTDIR)$(PREFIX)/lib/sysusers.d/capture.conf $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/capture.conf
	rm -f $(DESTDIR)$(SYSCONFDIR)/udev/rules.d/60-capture.rules
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/capture
	@if [ -z "$(DESTDIR)" ] && command -v dkms >/dev/null && dkms status -m capture -v $(VERSION) | grep -q .; then dkms remove -m capture -v $(VERSION) --all; fi
	rm -rf $(DKMS_SRC)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

# Boots a Debian guest under QEMU with the capture_dma module and runs vm/scenarios/*.sh.
# Root only (debootstrap, headers). The rootfs is cached in .build-vm/.
vm-test:
	@scripts/install-deps vm
	vm/capture-vm test

# The kernel-stress mix for MINUTES in a guest running KERNEL (6.1 or 6.12); not in CI.
KERNEL ?= 6.1
vm-soak:
	@scripts/install-deps vm
	vm/capture-vm soak $(MINUTES) $(KERNEL)

clean:
	rm -rf .build
