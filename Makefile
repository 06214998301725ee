# SPDX-License-Identifier: GPL-2.0
# khopages: top-level entry points. Every target does its own set-up.
# Downloads and build trees live in $(KHOPAGES_CACHE) (default
# /var/cache/khopages), outside the work tree.

SHELL := /bin/bash
S := scripts

CACHE := $(or $(KHOPAGES_CACHE),/var/cache/khopages)

.PHONY: all deps kernel kernel-old lib criu test-programs fresh-manifests redis postgres guest \
	demo demo-server server-guest check kernel-none zdtm-kho kernel-debug check-debug bench clean-cache help \
	fuzz-long fuzz-long-debug

all: guest

help:
	@echo "make demo    - upgrade Linux 7.2 -> 7.3 under a running Redis: CRIU + KHO vs plain CRIU"
	@echo "               (DEMO_ROLLBACK=1: 7.3 -> 7.2; DEMO_SIZE=MiB of data, default 512)"
	@echo "make demo APP=postgres - the same under PostgreSQL 15, a table of DEMO_SIZE"
	@echo "               (default 256) MiB warm in its buffer cache, shared memory in place"
	@echo "make demo-server - a Debian server (systemd, redis-server.service) upgraded 7.2 -> 7.3"
	@echo "               by khopages-upgrade while a client on the host stays connected"
	@echo "               (DEMO_SERVER_SIZE=MiB of data, default 256)"
	@echo "make check   - build everything needed and run all tests"
	@echo "make zdtm-kho - CRIU's zdtm tests across a kexec: plain, --kho-pages, same kernel"
	@echo "make check-debug - the driver tests on the debug kernel (KASAN, lockdep, kmemleak)"
	@echo "make fuzz-long - the ioctl fuzzer, 1,000,000 calls across a kexec (FUZZ_CALLS=N a stage)"
	@echo "make fuzz-long-debug - the same on the debug kernel, 100,000 calls"
	@echo "make bench   - benchmark plain CRIU vs --kho-pages (quick: BENCH_SIZES=64,256 BENCH_REPS=1)"
	@echo "make deps    - host packages + kernel/CRIU sources (cached)"
	@echo "make kernel  - build the guest kernel, Linux 7.3 (ccache)"
	@echo "make kernel-old - build the guest kernel from Linux 7.2, where upgrades start"
	@echo "make kernel-debug - build the debug kernel (ccache; KASAN, lockdep, kmemleak)"
	@echo "make lib     - build libkhopages and khopagesctl"
	@echo "make criu    - build CRIU 4.2.1 with the --kho-pages patches and the plugin"
	@echo "make guest   - build the guest initramfs"

deps:
	$(S)/deps.sh

kernel: deps
	$(S)/build-kernel.sh guest

# The same guest kernel from the older source: the upgrade is 7.2 -> 7.3.
kernel-old: deps
	$(S)/build-kernel.sh --version 7.2 guest-7.2

lib: deps
	$(MAKE) -s -C lib/libkhopages all manifest

criu: deps lib
	$(S)/build-criu.sh

test-programs: lib
	$(MAKE) -s -C test/vm all manifest
	$(MAKE) -s -C test/criu all manifest
	$(MAKE) -s -C test/fuzz all manifest
	$(MAKE) -s -C test/perm all manifest
	$(MAKE) -s -C test/server all

# Each part lists the files it puts into the guest; start from none so a
# list left by an older checkout cannot sneak in.
fresh-manifests:
	rm -rf "$(CACHE)/build/guest-manifests"

redis: deps
	$(S)/build-redis-guest.sh

guest: fresh-manifests kernel kernel-old lib criu test-programs redis
	$(S)/build-guest.sh guest

# The Debian 12 server guest (systemd, redis-server.service, both kernels
# as packages, khopages-upgrade): a disk image in $(CACHE)/build/server.
server-guest: kernel kernel-old lib criu
	$(S)/build-server-guest.sh

# A Debian server's upgrade under a connected client, with and without KHO.
demo-server: server-guest test-programs
	$(S)/demo-server.sh --size $(or $(DEMO_SERVER_SIZE),256)

# APP=postgres: the demo under PostgreSQL 15 instead of Redis
# (scripts/demo-postgres.sh); DEMO_SIZE is then the table's size.
APP ?= redis
DEMO_SIZE ?= $(if $(filter postgres,$(APP)),256,512)
ifneq ($(filter demo,$(MAKECMDGOALS)),)
ifeq ($(filter redis postgres,$(APP)),)
$(error APP=$(APP): the demo knows APP=redis (the default) and APP=postgres)
endif
endif
# DEMO_ROLLBACK=1: from Linux 7.3 back to 7.2 instead of the upgrade.
DEMO_ROLLBACK ?=

# PostgreSQL for the demo's guest: a directory it mounts, not the initramfs.
postgres: deps
	$(S)/build-postgres-guest.sh

demo: guest $(if $(filter postgres,$(APP)),postgres)
	$(S)/$(if $(filter postgres,$(APP)),demo-postgres.sh,demo.sh) --size $(DEMO_SIZE) $(if $(DEMO_ROLLBACK),--rollback)

# The guest kernel without khopages: a test kexecs into it and back.
kernel-none: kernel
	$(S)/build-kernel.sh --seed guest none khopages_none.config

check: guest kernel-none server-guest
	test/check.sh

# CRIU's zdtm tests in scope (test/zdtm-kho/tests.list), three ways each.
zdtm-kho: guest
	test/zdtm-kho/run.sh --full

# The guest kernel plus khopages_debug.config, in $(CACHE)/build/kernel-debug.
kernel-debug: deps
	$(S)/build-kernel.sh debug khopages_debug.config

check-debug: guest kernel-debug
	test/check-debug.sh

# The ioctl fuzzer's long runs, under memory pressure, across a kexec.
fuzz-long: guest
	test/fuzz/long.sh normal $(FUZZ_CALLS)

fuzz-long-debug: guest kernel-debug
	test/fuzz/long.sh debug $(FUZZ_CALLS)

# The benchmark adds its workload to the guest, so the initramfs is built
# again with its manifest; then the runs.
bench: fresh-manifests kernel lib criu test-programs
	$(MAKE) -s -C bench all manifest
	$(S)/build-guest.sh guest
	bench/run.sh --no-build

clean-cache:
	rm -rf "$(CACHE)/build" "$(CACHE)/runs"
