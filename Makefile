# hvis: thin wrapper over Meson. `make run` and `make check` work on a fresh
# Debian 12 machine: they install what is missing first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all deps build run check bench fuzz clean

all: build

deps:
	@scripts/setup-deps.sh build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	scripts/run-demo.sh $(BUILD)

check:
	@scripts/setup-deps.sh all
	scripts/check.sh

bench: build
	$(BUILD)/tools/hvis-bench ring

fuzz:
	@scripts/setup-deps.sh all
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
