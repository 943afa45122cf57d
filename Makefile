# Pahara — build, run, test.
#   make run     install what is missing, build, start the server with embedded defaults
#   make check   install what is missing, build, pass every test (also under ASan + UBSan)
#   make bench   the benchmarks under bench/
#   make fuzz    FUZZ_SECONDS=600 make fuzz: the libFuzzer targets for as long as you ask
#   make         build build/rel/pahara
.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD ?= build
PY := /usr/bin/python3
# Runs a command with PAHARA_TEST_PG set: a private PostgreSQL for the command's lifetime,
# unless PAHARA_TEST_PG names one already.
WITH_PG := scripts/pg.sh run
FUZZ_SECONDS ?= 20
CC := gcc
FUZZ_CC := clang

PKGS := libsodium libcrypto libqrencode jansson libmicrohttpd sqlite3 libpq libcurl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS)) -lpthread -lm

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
	-Wvla -Wno-missing-field-initializers
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -Isrc $(WARN) $(PKG_CFLAGS)
CFLAGS_rel = $(BASE_CFLAGS) -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
CFLAGS_san = $(BASE_CFLAGS) -O1 -g -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all -DPAHARA_TESTING
# tst: the release build plus the test-only hooks (the movable clock); never installed.
CFLAGS_tst = $(CFLAGS_rel) -DPAHARA_TESTING
LDFLAGS_rel =
LDFLAGS_san = -fsanitize=address,undefined
LDFLAGS_tst =

# Everything but the command-line front ends is one static library per build variant.
LIB_SRC := $(wildcard src/core/*.c src/store/*.c src/server/*.c src/sms/*.c src/notify/*.c)
CORE_SRC := $(wildcard src/core/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
UNIT_NAMES := $(patsubst tests/unit/%.c,%,$(UNIT_SRC))
FUZZ_NAMES := $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC))

define variant
$(BUILD)/$(1)/%.o: %.c
	@mkdir -p $$(@D)
	@echo "  CC [$(1)] $$<"
	@$$(CC) $$(CFLAGS_$(1)) -MMD -MP -c $$< -o $$@

$(BUILD)/$(1)/libpahara.a: $(patsubst %.c,$(BUILD)/$(1)/%.o,$(LIB_SRC))
	@rm -f $$@
	@ar rcs $$@ $$^

$(BUILD)/$(1)/pahara: $(patsubst %.c,$(BUILD)/$(1)/%.o,$(CLI_SRC)) $(BUILD)/$(1)/libpahara.a
	@echo "  LD [$(1)] $$@"
	@$$(CC) $$(LDFLAGS_$(1)) -o $$@ $$^ $$(PKG_LIBS)

$(BUILD)/$(1)/tests/unit/%: $(BUILD)/$(1)/tests/unit/%.o $(BUILD)/$(1)/libpahara.a
	@$$(CC) $$(LDFLAGS_$(1)) -o $$@ $$^ $$(PKG_LIBS) -lcmocka

unit-$(1): $(addprefix $(BUILD)/$(1)/tests/unit/,$(UNIT_NAMES))
	@set -e; for t in $$^; do echo "== $$$$t"; $$$$t; done
endef
$(eval $(call variant,rel))
$(eval $(call variant,san))
$(eval $(call variant,tst))

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

.PHONY: all run check check-now deps bench fuzz fuzz-build unit-rel unit-san cli-tests \
	valgrind-tests store-tests api-tests clean format
all: $(BUILD)/rel/pahara

deps:
	@scripts/deps.sh check

run:
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory $(BUILD)/rel/pahara
	@scripts/run.sh $(BUILD)/rel/pahara

check:
	@scripts/deps.sh check
	@$(MAKE) --no-print-directory check-now

check-now: $(BUILD)/rel/pahara $(BUILD)/san/pahara $(BUILD)/tst/pahara
	@$(MAKE) --no-print-directory unit-rel
	@$(MAKE) --no-print-directory unit-san
	@$(MAKE) --no-print-directory cli-tests
	@$(WITH_PG) $(MAKE) --no-print-directory store-tests api-tests
	@$(MAKE) --no-print-directory valgrind-tests
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)
	@echo "make check: all passed"

cli-tests: $(BUILD)/rel/pahara $(BUILD)/san/pahara $(BUILD)/bench/loadgen
	PAHARA=$(BUILD)/rel/pahara PAHARA_SAN=$(BUILD)/san/pahara LOADGEN=$(BUILD)/bench/loadgen \
		$(PY) -m pytest -q -p no:cacheprovider tests/cli

# The store tests on PostgreSQL, each run in a fresh database: the conformance test (unit-rel
# and unit-san run it on SQLite) and the PostgreSQL store's own (which they skip).
STORE_TESTS := test_store test_store_postgres
store-tests: $(foreach v,rel san,$(addprefix $(BUILD)/$(v)/tests/unit/,$(STORE_TESTS)))
	@$(WITH_PG) sh -c 'set -e; for t in $^; do echo "== $$t on PostgreSQL"; \
		PAHARA_TEST_STORE=$$(scripts/pg.sh newdb "$$PAHARA_TEST_PG") $$t; done'

# The API suite runs twice: on the release build (with test hooks) and under ASan + UBSan;
# each run puts every test on both stores, SQLite and PostgreSQL.
api-tests: $(BUILD)/tst/pahara $(BUILD)/san/pahara
	$(WITH_PG) env PAHARA_BIN=$(BUILD)/tst/pahara $(PY) -m pytest -q -p no:cacheprovider tests/api
	$(WITH_PG) env PAHARA_BIN=$(BUILD)/san/pahara $(PY) -m pytest -q -p no:cacheprovider tests/api

valgrind-tests: $(BUILD)/rel/pahara
	@scripts/valgrind-check.sh $(BUILD)/rel/pahara

# libFuzzer targets: clang, with the core compiled in and ASan + UBSan on.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Isrc -g -O1 $(WARN) $(PKG_CFLAGS) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
$(BUILD)/fuzz/%: tests/fuzz/%.c $(CORE_SRC) $(wildcard src/core/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRC) $(PKG_LIBS)

fuzz-build: $(addprefix $(BUILD)/fuzz/,$(FUZZ_NAMES))

fuzz: fuzz-build
	@set -e; for f in $(FUZZ_NAMES); do \
		mkdir -p $(BUILD)/fuzz/corpus-$$f; \
		echo "== fuzz $$f for $(FUZZ_SECONDS) s"; \
		$(BUILD)/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(BUILD)/fuzz/ \
			$(BUILD)/fuzz/corpus-$$f tests/fuzz/seeds-$$f 2>$(BUILD)/fuzz/$$f.log \
			|| { tail -50 $(BUILD)/fuzz/$$f.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units' $(BUILD)/fuzz/$$f.log || true; \
	done

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory bench-now

BENCH_CFLAGS = $(CFLAGS_rel) -O3
$(BUILD)/bench/otp: bench/otp.c $(BUILD)/rel/libpahara.a
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $^ $(PKG_LIBS) -loath

$(BUILD)/bench/loadgen: bench/loadgen.c $(BUILD)/rel/libpahara.a
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $^ $(PKG_LIBS)

bench-now: $(BUILD)/bench/otp $(BUILD)/bench/loadgen $(BUILD)/rel/pahara
	$(BUILD)/bench/otp
	bench/verify.sh $(BUILD)/rel/pahara $(BUILD)/bench/loadgen

format:
	clang-format -i $(wildcard src/*/*.c src/*/*.h tests/unit/*.c tests/fuzz/*.c bench/*.c)

clean:
	rm -rf $(BUILD)
