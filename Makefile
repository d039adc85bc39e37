# pseudolink — build, run, test.
#
# `make run` and `make test` install missing Debian packages first (as root),
# then build; the real work happens in a recursive make so that pkg-config is
# only consulted once the -dev packages are present.

SHELL := /bin/bash
NP    ?= 2
JOB   ?= jobs/platform.yaml

DEPS_BUILD := libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools \
              libssl-dev libyaml-dev pkg-config
# The man page (`make man`, `make install`): help2man, from --help-all.
DEPS_DOC   := help2man
DEPS_TEST  := python3-h5py python3-pandas python3-cryptography clang libclang-rt-14-dev \
              procps openssl iproute2 nftables gdb $(DEPS_DOC) groff-base \
              man-db

# mpirun as root and with more ranks than cores: set here, not on the user.
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_btl_vader_single_copy_mechanism := none
export OMPI_MCA_rmaps_base_oversubscribe := 1

.PHONY: all deps deps-test deps-doc build run test check clean keyperms \
        bench sanitize-build check-sanitize fuzz-long man install

all: deps
	@$(MAKE) --no-print-directory build

deps:
	@bash tests/lib/deps.sh $(DEPS_BUILD)

deps-test: deps
	@bash tests/lib/deps.sh $(DEPS_TEST)

deps-doc: deps
	@bash tests/lib/deps.sh $(DEPS_DOC)

# Git does not keep file modes other than +x; the fixture keys must be 0600
# or `run` refuses them (as it should).
keyperms:
	@chmod 600 inputs/keys/*.key inputs/transfer/*.key.pem inputs/transfer/*.pass 2>/dev/null || true

# The chain (docs/PRODUCER.md): the producers' `produce` on their exports
# (cnam: HDF5, atih: CSV), then the platform's `run` on their packages. Every key is a TEST-ONLY fixture
# (inputs/transfer/README.md, inputs/keys/README).
SIGN_CNAM := --signing-key inputs/transfer/cnam_signing.key.pem \
             --signing-passphrase-file inputs/transfer/cnam_signing.pass
SIGN_ATIH := --signing-key inputs/transfer/atih_signing.key.pem \
             --signing-passphrase-file inputs/transfer/atih_signing.pass
TRANSPORT := --transport-key inputs/transfer/hdh_transport.key.pem \
             --transport-passphrase-file inputs/transfer/hdh_transport.pass
run: deps keyperms
	@$(MAKE) --no-print-directory build
	@echo "== producer cnam, on its own machines: stage 1 on its HDF5 export -> signed, encrypted package"
	mpirun -q -np $(NP) ./pseudolink produce jobs/producer_cnam.yaml $(SIGN_CNAM)
	@echo "== producer cnam: its opposition list (persons who objected) -> opposition package"
	./pseudolink produce jobs/producer_cnam_opposition.yaml $(SIGN_CNAM)
	@echo "== producer atih, on its own machines: stage 1 on its CSV export (Latin-1, ';') -> signed, encrypted package"
	mpirun -q -np $(NP) ./pseudolink produce jobs/producer_atih.yaml $(SIGN_ATIH)
	@echo "== platform: verify, decrypt in memory, link (no NIR, no producer key)"
	mpirun -q -np $(NP) ./pseudolink run $(JOB) $(TRANSPORT)

# -j: the build is two thirds of a clean `make test`'s compile time on the
# 2-core CI machine when sequential.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps-test keyperms
	@$(MAKE) --no-print-directory -j$(JOBS) build
	@$(MAKE) --no-print-directory check

# ASan + UBSan build in build-san/ and its tests (tests/e2e/sanitize.sh, also
# run by `make test` through tests/run.sh).
check-sanitize: deps-test keyperms
	@$(MAKE) --no-print-directory build
	@bash tests/e2e/sanitize.sh

# libFuzzer targets, longer than the 6 s each of `make test`.
fuzz-long: deps-test
	FUZZ_SECONDS=$${FUZZ_SECONDS:-600} bash tests/e2e/fuzz.sh

# Speed, memory and scale (bench/run.sh, bench/reveal.sh; not part of
# `make test`).
bench: deps keyperms
	@$(MAKE) --no-print-directory build bench/bin/hmac_rate bench/bin/dice_rate \
	  bench/bin/csv_rate bench/bin/mem_touch
	NP=$(NP) bash bench/run.sh
	NP=$(NP) bash bench/reveal.sh

clean:
	rm -rf build pseudolink tests/bin out bench/bin build-san

# `make install PREFIX=/usr/local DESTDIR=`: the binary and its man page
# (built from `pseudolink --help-all` by help2man).
PREFIX  ?= /usr/local
DESTDIR ?=
install: deps-doc
	@$(MAKE) --no-print-directory build man
	install -d "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(PREFIX)/share/man/man1"
	install -m 0755 pseudolink "$(DESTDIR)$(PREFIX)/bin/pseudolink"
	install -m 0644 build/pseudolink.1 \
	    "$(DESTDIR)$(PREFIX)/share/man/man1/pseudolink.1"

# ---------------------------------------------------------------------------
# Everything below runs with the packages installed.

ifneq ($(filter build check man tests/bin/% bench/bin/% build/% pseudolink sanitize-build build-san/%,$(MAKECMDGOALS)),)
HDF5_PC := $(shell pkg-config --exists hdf5-mpi && echo hdf5-mpi || echo hdf5-openmpi)
PKGS    := $(HDF5_PC) yaml-0.1 libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
endif

CC      := mpicc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lm

# src/<layer>/<file>.c; includes name the layer ("base/log.h"), and a file
# includes only its own layer or lower ones (tests/e2e/layers.sh checks it).
LAYERS := base par crypto job stage cmd
SRCS := $(filter-out src/cmd/main.c,$(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c)))
HDRS := $(wildcard src/*/*.h)
OBJS := $(patsubst src/%.c,build/%.o,$(SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,tests/bin/%,$(UNIT_SRCS))
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,tests/bin/%,$(TOOL_SRCS))

# tests/bin/csv_split: the MPI side of tests/e2e/csv.sh, run under mpirun
# (not a unit test: a singleton MPI process upsets LeakSanitizer).
build: pseudolink $(UNIT_BINS) $(TOOL_BINS) tests/bin/csv_split

# `pseudolink --version`: the version and the commit built from ("-dirty"
# with uncommitted changes; "unknown" outside a git checkout of this tree,
# e.g. a release tarball). version.o is rebuilt only when they change.
VERSION := 0.9.0
GIT_COMMIT := $(shell if [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$$(pwd -P)" ] && \
  c=$$(git rev-parse --short=12 HEAD 2>/dev/null); then \
  git diff --quiet HEAD -- 2>/dev/null || c=$$c-dirty; echo $$c; \
  else echo unknown; fi)
VERSION_DEFS := -DPL_VERSION='"$(VERSION)"' -DPL_GIT_COMMIT='"$(or $(GIT_COMMIT),unknown)"'

build/version.stamp: FORCE
	@mkdir -p build
	@echo '$(VERSION_DEFS)' | cmp -s - $@ || echo '$(VERSION_DEFS)' > $@
FORCE:
build/base/version.o build-san/base/version.o: build/version.stamp
build/base/version.o build-san/base/version.o: CFLAGS += $(VERSION_DEFS)

# The man page, from the same text as --help (cmd/usage.c).
man: build/pseudolink.1
build/pseudolink.1: pseudolink
	help2man --no-info --no-discard-stderr --help-option=--help-all \
	    --version-option=--version \
	    --name="pseudonymise and cross-link health records on an MPI cluster" \
	    --output=$@ ./pseudolink

build/%.o: src/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

build/libpseudolink.a: $(OBJS)
	ar rcs $@ $^

pseudolink: build/cmd/main.o build/libpseudolink.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

tests/bin/%: tests/unit/%.c build/libpseudolink.a tests/unit/unit.h
	@mkdir -p tests/bin
	$(CC) $(CFLAGS) -o $@ $< build/libpseudolink.a $(LDLIBS)

tests/bin/%: tests/tools/%.c
	@mkdir -p tests/bin
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

bench/bin/%: bench/%.c build/libpseudolink.a
	@mkdir -p bench/bin
	$(CC) $(CFLAGS) -o $@ $< build/libpseudolink.a $(LDLIBS)

check: build
	@bash tests/run.sh

# Sanitized build (tests/e2e/sanitize.sh): same sources, separate dir.
# (-Wno-format-truncation: gcc 12 -O1 with UBSan misreads path_printf's
# vsnprintf(NULL, 0, fmt) as a null *format*; a false positive.)
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
             -Wno-format-truncation
SAN_OBJS  := $(patsubst src/%.c,build-san/%.o,$(SRCS))
SAN_UNITS := $(patsubst tests/unit/%.c,build-san/tests/%,$(UNIT_SRCS))

sanitize-build: build-san/pseudolink $(SAN_UNITS)

build-san/%.o: src/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -c -o $@ $<

build-san/libpseudolink.a: $(SAN_OBJS)
	ar rcs $@ $^

build-san/pseudolink: build-san/cmd/main.o build-san/libpseudolink.a
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

build-san/tests/%: tests/unit/%.c build-san/libpseudolink.a tests/unit/unit.h
	@mkdir -p build-san/tests
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $< build-san/libpseudolink.a $(LDLIBS)
