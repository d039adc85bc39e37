# pseudolink — build, run, test.
#
# `make run` and `make test` install missing Debian packages first (as root),
# then build; the real work happens in a recursive make so that pkg-config is
# only consulted once the -dev packages are present.

SHELL := /bin/bash
NP    ?= 2
JOB   ?= jobs/laptop.yaml

DEPS_BUILD := libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools \
              libssl-dev libyaml-dev pkg-config
DEPS_TEST  := python3-h5py python3-pandas python3-cryptography clang libclang-rt-14-dev \
              procps openssl iproute2 nftables gdb

# mpirun as root and with more ranks than cores: set here, not on the user.
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_btl_vader_single_copy_mechanism := none
export OMPI_MCA_rmaps_base_oversubscribe := 1

.PHONY: all deps deps-test build run test check clean keyperms bench \
        sanitize-build check-sanitize fuzz-long

all: deps
	@$(MAKE) --no-print-directory build

deps:
	@bash tests/lib/deps.sh $(DEPS_BUILD)

deps-test: deps
	@bash tests/lib/deps.sh $(DEPS_TEST)

# Git does not keep file modes other than +x; the fixture keys must be 0600
# or `run` refuses them (as it should).
keyperms:
	@chmod 600 inputs/keys/*.key 2>/dev/null || true

run: deps keyperms
	@$(MAKE) --no-print-directory build
	mpirun -np $(NP) ./pseudolink run $(JOB)

test: deps-test keyperms
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory check

# ASan + UBSan build in build-san/ and its tests (tests/e2e/sanitize.sh, also
# run by `make test` through tests/run.sh).
check-sanitize: deps-test keyperms
	@$(MAKE) --no-print-directory build
	@bash tests/e2e/sanitize.sh

# libFuzzer targets, longer than the 10 s each of `make test`.
fuzz-long: deps-test
	FUZZ_SECONDS=$${FUZZ_SECONDS:-600} bash tests/e2e/fuzz.sh

# Speed, memory and scale (bench/run.sh, bench/reveal.sh; not part of
# `make test`).
bench: deps keyperms
	@$(MAKE) --no-print-directory build bench/bin/hmac_rate
	NP=$(NP) bash bench/run.sh
	NP=$(NP) bash bench/reveal.sh

clean:
	rm -rf build pseudolink tests/bin out bench/bin build-san

# ---------------------------------------------------------------------------
# Everything below runs with the packages installed.

ifneq ($(filter build check tests/bin/% bench/bin/% build/% pseudolink sanitize-build build-san/%,$(MAKECMDGOALS)),)
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

build: pseudolink $(UNIT_BINS) $(TOOL_BINS)

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
