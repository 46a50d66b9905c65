# SPDX-License-Identifier: GPL-2.0
#
# pinio: the user-facing make targets. Kbuild (the file next to this one) describes the module
# itself; this Makefile finds or builds a kernel, then calls kbuild. `make help` prints the
# list below (one "#   make TARGET  what" line per target) and fails if a target is missing.
#
#   make                build pinio.ko against the cached debug kernel (or KDIR=...)
#   make module         the same
#   make help           this list
#   make run            the demo: boot, O_DIRECT through pinned pages, fork + pins, experiments
#   make test           docs check, build, every kselftest and KUnit suite in two boots, checkpatch
#   make shell          an interactive root shell in the guest, pinio loaded (exit or Ctrl-D ends it)
#   make stress         seeded long runs of stress, fuzzer and fault injection (build/stress-summary.md)
#   make bench          benchmarks on the release kernel (bench/README.md, bench/results/)
#   make clients        liburing's own device tests on pinio and brd (build/clients-summary.md)
#   make docs           render Documentation/ to build/docs/ with docutils; fail on any warning
#   make tests          build the kselftest programs and pinio-ctl (build/tests/)
#   make setup          install the toolchain, QEMU and the kernel source (scripts/setup.sh)
#   make kernel         build (or find cached) the test kernel of FLAVOUR
#   make kernels        build both test kernels, debug and release
#   make info           where everything is: kernel trees, bzImages, tool versions
#   make checkpatch     the kernel's checkpatch.pl on every C file (make test runs it too)
#   make layers         src/ imports only downward, no cycle; the check proven on a bad copy
#   make upstream-patches  the pages layer as a patch series for the kernel's Rust crate (build/upstream/series/)
#   make upstream-check the series regenerates from src/pages/ and applies to the tree (seconds; make test runs it)
#   make upstream-test  the series applied with git am, checkpatch, rustfmt, a CLIPPY=1 kernel build, its doctests booted
#   make clippy         the module through clippy with the kernel's lints, -D warnings
#   make fmt            rustfmt the module's sources
#   make fmtcheck       check that rustfmt would change nothing
#   make rust-analyzer  write rust-project.json for rust-analyzer
#   make clean          remove build/ (module, tests, docs); the kernel cache stays
#
# Variables: KDIR (a Rust-enabled kernel build tree; default: the cached FLAVOUR kernel; test,
# run, stress and shell then boot that tree), FLAVOUR (debug|release), LLVM, RUSTC, BINDGEN,
# KERNEL_SERIES (a series of scripts/kernel-series: 7.3, the default, or 7.2), KERNEL_SUITE,
# PINIO_ANY_SERIES=1 (try another series, or a KDIR tree of one, at your own risk),
# VM_ARGS (more scripts/vm options for make shell, e.g. --param size_mib=128),
# PINIO_BROKEN_DMA (Kbuild: a deliberately broken DMA variant, built into its own directory),
# PYTHON (the python3 with docutils, for make docs).

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
SCRIPTS := $(TOP)/scripts
FLAVOUR ?= debug
CACHE := $(or $(PINIO_CACHE),$(XDG_CACHE_HOME),$(HOME)/.cache)$(if $(PINIO_CACHE),,/pinio)
LLVM ?= -19
RUSTC ?= /usr/bin/rustc
BINDGEN ?= $(CACHE)/tools/bin/bindgen
CLIPPY_DRIVER ?= /usr/bin/clippy-driver
RUSTFMT ?= /usr/bin/rustfmt
export LIBCLANG_PATH ?= /usr/lib/llvm$(LLVM)/lib
# Debian's python3, which scripts/setup.sh gives python3-docutils.
PYTHON ?= /usr/bin/python3

# A tree given with KDIR= is used as is; otherwise the cached kernel of FLAVOUR (built on
# first use by scripts/build-kernel.sh).
ifeq ($(origin KDIR),undefined)
KDIR_CMD = $$($(SCRIPTS)/setup.sh >&2 && $(SCRIPTS)/build-kernel.sh $(FLAVOUR))
OUT := $(TOP)/build/$(FLAVOUR)
else
KDIR_CMD = $(KDIR)
OUT := $(TOP)/build/kdir-$(shell echo '$(abspath $(KDIR))' | sha1sum | cut -c1-8)
# The scripts boot this tree instead of a cached kernel (scripts/vm --kernel PATH).
export PINIO_KERNEL := $(abspath $(KDIR))
endif

# A deliberately broken DMA variant (see Kbuild) never lands in the normal output directory.
ifneq ($(PINIO_BROKEN_DMA),)
OUT := $(OUT)-broken-$(PINIO_BROKEN_DMA)
endif

KBUILD_VARS = LLVM=$(LLVM) RUSTC=$(RUSTC) HOSTRUSTC=$(RUSTC) BINDGEN=$(BINDGEN) \
	RUSTFMT=$(RUSTFMT) CLIPPY_DRIVER=$(CLIPPY_DRIVER)
# Builds of one output directory are serialised (scripts/vm builds the module too).
kbuild = kdir=$(KDIR_CMD) && mkdir -p $(OUT) && \
	flock $(OUT).lock $(MAKE) -C "$$kdir" M=$(TOP) MO=$(OUT) $(KBUILD_VARS) $(KBUILD_EXTRA)

.PHONY: all module help setup kernel kernels info clippy fmt fmtcheck rust-analyzer \
	tests run test shell bench stress clients checkpatch docs layers clean \
	upstream-patches upstream-check upstream-test

all: module

module:
	+@$(kbuild) modules

# The header's "#   make TARGET  what" lines, and a check that every .PHONY target has one.
help:
	@sed -n 's/^#   \(make.*\)/\1/p; /^TOP :=/q' \
		$(firstword $(MAKEFILE_LIST))
	@for t in $(filter-out all,$(sort $(shell sed -n '/^\.PHONY:/,/[^\\]$$/p' \
		$(firstword $(MAKEFILE_LIST)) | tr -d '\\' | sed 's/^\.PHONY://'))); do \
		grep -q "^#   make $$t " $(firstword $(MAKEFILE_LIST)) || \
		{ echo "make help: target $$t is not in the Makefile's header" >&2; exit 1; }; \
	done

setup:
	@$(SCRIPTS)/setup.sh

kernel:
	@$(SCRIPTS)/setup.sh && $(SCRIPTS)/build-kernel.sh $(FLAVOUR) >/dev/null

kernels:
	@$(SCRIPTS)/setup.sh && $(SCRIPTS)/build-kernel.sh debug >/dev/null && \
		$(SCRIPTS)/build-kernel.sh release >/dev/null

info:
	@$(SCRIPTS)/info.sh $(if $(filter command line environment,$(origin KDIR)),"$(KDIR)")

# Clippy rebuilds every Rust object with clippy-driver (the kernel's lints, -D warnings).
clippy:
	+@$(MAKE) OUT=$(OUT)-clippy module KBUILD_EXTRA="CLIPPY=1 KRUSTFLAGS=-Dwarnings"

fmt:
	$(RUSTFMT) --edition 2021 --config-path $(TOP)/.rustfmt.toml $(TOP)/src/pinio.rs

fmtcheck:
	$(RUSTFMT) --check --edition 2021 --config-path $(TOP)/.rustfmt.toml $(TOP)/src/pinio.rs

# rust-project.json for rust-analyzer, covering the kernel crates and this module.
rust-analyzer:
	+@$(kbuild) rust-analyzer && $(SCRIPTS)/rust-analyzer.py $(OUT) $(TOP)

tests:
	+@$(MAKE) -C $(TOP)/tests-kselftest KSFT=1 KSRC=$$($(SCRIPTS)/setup.sh >&2 && bash -c ". $(SCRIPTS)/lib.sh && kernel_src")

run: module tests
	@$(SCRIPTS)/demo.sh

# The layering of src/ (scripts/check-layers.py): imports only downward, no cycle; and
# proof that the check fails on an upward import and on a cycle.
layers:
	@$(SCRIPTS)/check-layers.py && $(SCRIPTS)/check-layers.py --self-test >/dev/null

# The upstream series (Documentation/upstream.rst): generated from src/pages/ by
# scripts/upstream/gen.py; make test checks in a second that it still applies.
upstream-patches:
	@$(SCRIPTS)/setup.sh >&2 && $(SCRIPTS)/upstream/patches.sh >/dev/null

upstream-check:
	@$(SCRIPTS)/upstream/check.sh

upstream-test:
	@$(SCRIPTS)/upstream/test.sh

# The documentation and layering checks come first: they take seconds, and fail on their own.
# The upstream series check (a second) follows the module build, which downloads the kernel
# tree on a fresh machine.
test: docs layers module upstream-check tests
	@PINIO_MODULE_BUILT=1 $(SCRIPTS)/run-tests.sh

shell: module tests
	@$(SCRIPTS)/vm --kernel $(or $(PINIO_KERNEL),$(FLAVOUR)) --shell --add-prog mke2fs $(VM_ARGS)

bench:
	+@$(MAKE) FLAVOUR=release module tests
	@$(SCRIPTS)/bench.sh

stress: module tests
	@$(SCRIPTS)/stress.sh

clients: module
	@PINIO_MODULE_BUILT=1 $(SCRIPTS)/clients.sh

checkpatch:
	@$(SCRIPTS)/setup.sh >&2 && $(SCRIPTS)/checkpatch.sh

# Documentation/*.rst -> build/docs/*.html (scripts/docs.py says what it checks).
docs:
	@$(PYTHON) -c 'import docutils' 2>/dev/null || $(SCRIPTS)/setup.sh --apt-only >&2
	@$(PYTHON) $(SCRIPTS)/docs.py --out $(TOP)/build/docs

clean:
	rm -rf $(TOP)/build
	$(MAKE) -C $(TOP)/tests-kselftest clean
