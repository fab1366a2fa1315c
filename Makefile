# The two commands of the README, plus the pieces they are made of.
#   make demo   — set up, build, run a local demo swarm
#   make test   — set up, build (normal + sanitizers + fuzzers), run every test
# Both install missing Debian packages first (scripts/deps.sh).

BUILD       ?= build
ASAN_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 10
CMAKE_FLAGS ?=
JOBS        ?= $(shell nproc)

.PHONY: all deps build build-asan build-fuzz test test-normal test-asan test-fuzz demo clean format

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHOAL_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@ninja -C $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSHOAL_WERROR=ON -DSHOAL_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@ninja -C $(ASAN_BUILD) -j $(JOBS)

build-fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHOAL_FUZZ=ON $(CMAKE_FLAGS) >/dev/null
	@ninja -C $(FUZZ_BUILD) -j $(JOBS)

test-normal: build
	@echo "== tests: normal build"
	@cd $(BUILD) && ctest --output-on-failure -j 2

test-asan: build-asan
	@echo "== tests: ASan + UBSan build"
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j 2

test-fuzz: build-fuzz
	@echo "== fuzz: each target for $(FUZZ_SECONDS) s"
	@./tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

test: test-normal test-asan test-fuzz
	@echo "== all tests passed"

# make demo MODE=dht: no tracker, peers find each other through the DHT.
MODE ?= tracker
demo: build
	@DEMO_MODE=$(MODE) ./scripts/demo.sh $(BUILD)/shoal

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
