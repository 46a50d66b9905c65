# SPDX-License-Identifier: GPL-2.0
#
# pinio: the user-facing make targets. Kbuild (the file next to this one) describes the module
# itself; this Makefile finds or builds a kernel, then calls kbuild.
#
#   make            build pinio.ko against the cached debug kernel (or KDIR=...)
#   make run        the demo: boot, write and read a pattern with O_DIRECT, show pins
#   make test       build everything, boot the debug kernel once, run kselftests + KUnit
#   make shell      an interactive root shell in the guest, pinio loaded (exit or Ctrl-D ends it)
#   make bench      benchmarks on the release kernel (bench/results/)
#   make stress     seeded stress run on the debug kernel
#   make info       where everything is
#   make checkpatch the kernel's checkpatch.pl on every C file (make test runs it too)
#   make layers     src/ imports only downward, no cycle (make test runs it too)
#   make clippy | fmt | fmtcheck | rust-analyzer | clean
#
# Variables: KDIR (a Rust-enabled kernel build tree; default: the cached FLAVOUR kernel; test,
# run, stress and shell then boot that tree), FLAVOUR (debug|release), LLVM, RUSTC, BINDGEN,
# KERNEL_SERIES (a series of scripts/kernel-series: 7.3, the default, or 7.2), KERNEL_SUITE,
# PINIO_ANY_SERIES=1 (try another series, or a KDIR tree of one, at your own risk),
# VM_ARGS (more scripts/vm options for make shell, e.g. --param size_mib=128),
# PINIO_BROKEN_DMA (Kbuild: a deliberately broken DMA variant, built into its own directory).

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

.PHONY: all module setup kernel kernels info clippy fmt fmtcheck rust-analyzer \
	tests run test shell bench stress checkpatch clean layers

all: module

module:
	+@$(kbuild) modules

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

test: layers module tests
	@PINIO_MODULE_BUILT=1 $(SCRIPTS)/run-tests.sh

shell: module tests
	@$(SCRIPTS)/vm --kernel $(or $(PINIO_KERNEL),$(FLAVOUR)) --shell --add-prog mke2fs $(VM_ARGS)

bench:
	+@$(MAKE) FLAVOUR=release module tests
	@$(SCRIPTS)/bench.sh

stress: module tests
	@$(SCRIPTS)/stress.sh

checkpatch:
	@$(SCRIPTS)/setup.sh >&2 && $(SCRIPTS)/checkpatch.sh

clean:
	rm -rf $(TOP)/build
	$(MAKE) -C $(TOP)/tests-kselftest clean
