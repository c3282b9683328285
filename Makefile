# dorm: `make` builds build/dorm; `make run` starts it with the examples;
# `make test` runs every test. Set-up (packages, QuickJS, npm tools) is
# scripts/setup.sh, run automatically when something it provides is missing.

SHELL := /bin/bash
SANITIZER ?=
ifeq ($(SANITIZER),)
BUILD ?= build
SANFLAGS :=
else
BUILD ?= build/$(SANITIZER)
SANFLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer
endif

CC ?= cc
QJS := deps/quickjs
LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
OPT ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE $(OPT) $(SANFLAGS) -MMD -MP \
	-isystem $(QJS)/include -isystem $(LLHTTP_INC) $(shell pkg-config --cflags libuv 2>/dev/null)
CFLAGS_DORM := $(CFLAGS_COMMON) $(WARN)
LIBS := $(QJS)/lib/libquickjs.a $(shell pkg-config --libs libuv 2>/dev/null || echo -luv) \
	-lsqlite3 -lwslay -lcrypto -lcurl -ljansson -lz -lpthread -lm -ldl

SRC := $(sort $(wildcard src/lib/*.c src/net/*.c src/js/*.c src/api/*.c src/actor/*.c \
	src/store/*.c src/control/*.c src/cli/*.c))
OBJ := $(SRC:%.c=$(BUILD)/%.o)
LLHTTP_OBJ := $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o $(BUILD)/llhttp/llhttp.o
WEB_JS := $(sort $(wildcard src/api/web/*.js))
GEN_OBJ := $(BUILD)/gen/sucrase_bc.o $(BUILD)/gen/web_prelude_bc.o
LIBDORM := $(BUILD)/libdorm.a

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

SETUP_STAMPS := $(QJS)/lib/libquickjs.a node_modules/.dorm-ok

.PHONY: all setup run test unit fuzz-replay e2e e2e-asan fuzz bench clean format
all: $(BUILD)/dorm

setup:
	@bash scripts/setup.sh

$(SETUP_STAMPS): package.json package-lock.json scripts/setup.sh
	@bash scripts/setup.sh

$(BUILD)/dorm: $(BUILD)/src/main.o $(LIBDORM) | $(SETUP_STAMPS)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)

$(LIBDORM): $(OBJ) $(LLHTTP_OBJ) $(GEN_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c | $(SETUP_STAMPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_DORM) -c -o $@ $<

$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c | $(SETUP_STAMPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -w -c -o $@ $<

# --- JavaScript compiled into the binary -------------------------------------
$(BUILD)/tools/jsc: tools/jsc.c | $(SETUP_STAMPS)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -isystem $(QJS)/include -o $@ $< $(QJS)/lib/libquickjs.a -lm -ldl -lpthread

$(BUILD)/gen/sucrase.js: tools/sucrase-entry.js package-lock.json | $(SETUP_STAMPS)
	@mkdir -p $(dir $@)
	node_modules/.bin/esbuild $< --bundle --platform=neutral --format=iife \
		--main-fields=module,main --minify-whitespace --log-level=warning --outfile=$@

$(BUILD)/gen/web_prelude.js: $(WEB_JS)
	@mkdir -p $(dir $@)
	@{ printf '(function (native) {\n"use strict";\n'; for f in $(WEB_JS); do cat $$f; echo; done; printf '})\n'; } > $@

$(BUILD)/gen/%_bc.c: $(BUILD)/gen/%.js $(BUILD)/tools/jsc
	$(BUILD)/tools/jsc $*_bc $< $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS_COMMON) -c -o $@ $<

# --- tests -------------------------------------------------------------------
$(BUILD)/tests/%: tests/unit/%.c $(LIBDORM)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_DORM) -Isrc -o $@ $< $(LIBDORM) $(LIBS) -lcmocka

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.c $(LIBDORM)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_DORM) -Isrc -o $@ $< tests/fuzz/replay.c $(LIBDORM) $(LIBS)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

fuzz-replay: $(FUZZ_BIN)
	@set -e; for t in $(FUZZ_BIN); do n=$$(basename $$t); n=$${n#fuzz_}; \
		echo "== $$t tests/fuzz/corpus/$$n"; $$t tests/fuzz/corpus/$$n; done

e2e: $(BUILD)/dorm
	DORM_BIN=$(abspath $(BUILD)/dorm) node --test --test-concurrency=2 tests/e2e/

e2e-asan:
	$(MAKE) SANITIZER=address e2e

test: setup
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) fuzz-replay
	$(MAKE) e2e
	$(MAKE) SANITIZER=address unit
	$(MAKE) SANITIZER=address e2e

# libFuzzer builds (clang): make fuzz FUZZ=codec RUNS=100000
FUZZ ?= codec
RUNS ?= 100000
fuzz: | $(SETUP_STAMPS)
	$(MAKE) CC=clang BUILD=build/fuzzer SANFLAGS="-fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer" build/fuzzer/libdorm.a
	@mkdir -p build/fuzzer/fuzz
	clang $(CFLAGS_COMMON) -fsanitize=fuzzer,address -Isrc -o build/fuzzer/fuzz/fuzz_$(FUZZ) \
		tests/fuzz/fuzz_$(FUZZ).c build/fuzzer/libdorm.a $(LIBS)
	build/fuzzer/fuzz/fuzz_$(FUZZ) -runs=$(RUNS) tests/fuzz/corpus/$(FUZZ)

run: setup
	$(MAKE) all
	bash scripts/run.sh

bench: setup
	@bash scripts/setup.sh --bench
	$(MAKE) all
	bash bench/run.sh

format:
	clang-format -i $(SRC) src/main.c $(wildcard src/*/*.h)

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
