# Thin wrapper over CMake/CTest for the human commands. See README.md.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_CLANG ?= build-clang
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
BUILD_TIDY ?= build-tidy
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
CTEST_ARGS ?=
SETUP_STAMP := $(BUILD)/.setup-done

.PHONY: all setup build test test-long test-load test-asan test-tsan check-clang check-static demo bench bench-anchors fuzz install clean format

all: build

setup:
	./scripts/setup.sh
	@mkdir -p $(BUILD) && touch $(SETUP_STAMP)

$(SETUP_STAMP):
	./scripts/setup.sh
	@mkdir -p $(BUILD) && touch $(SETUP_STAMP)

# Ninja for a new build folder; one configured earlier by hand keeps its generator.
$(BUILD)/CMakeCache.txt: $(SETUP_STAMP)
	cmake -S . -B $(BUILD) $(if $(wildcard $(BUILD)/CMakeCache.txt),,-G Ninja) $(CMAKE_ARGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-long: build
	cd $(BUILD) && TMKMS_TEST_LONG=1 ctest --output-on-failure -j $(JOBS) --timeout 7200 $(CTEST_ARGS)

# The sustained-load campaign alone at full size: 16 chains x 3 sentries for
# LOAD_SECONDS (default 600); RSS, fds and threads sampled, conflicts checked.
LOAD_SECONDS ?= 600
test-load: build
	cd $(BUILD) && LOAD_SECONDS=$(LOAD_SECONDS) ctest --output-on-failure -R '^integration.load_sentries$$' --timeout $$(( $(LOAD_SECONDS) + 600 ))

# The suite again, built with AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: $(SETUP_STAMP)
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTMKMS_SANITIZE=address,undefined -DTMKMS_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) -LE nosan $(CTEST_ARGS)

# The unit tests labelled concurrency (threads racing on one chain, handshake peers in
# threads) built with clang's ThreadSanitizer; the first report fails the run.
test-tsan: $(SETUP_STAMP)
	CC=clang cmake -S . -B $(BUILD_TSAN) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTMKMS_SANITIZE=thread -DTMKMS_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_TSAN) -j $(JOBS) --target concurrency-tests
	cd $(BUILD_TSAN) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --output-on-failure -j $(JOBS) -L '^concurrency$$' $(CTEST_ARGS)

# Warning-free under clang too (gcc is the default compiler).
check-clang: $(SETUP_STAMP)
	CC=clang cmake -S . -B $(BUILD_CLANG) -G Ninja -DTMKMS_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_CLANG) -j $(JOBS)

# cppcheck and clang-tidy (.clang-tidy) over every C file; any finding fails.
check-static: $(SETUP_STAMP)
	./scripts/check-static.sh $(BUILD_TIDY) $(JOBS)

demo: build
	./scripts/demo.sh $(BUILD)

bench: build
	./bench/run.sh $(BUILD)

bench-anchors: build
	./bench/anchors.sh $(BUILD)

# Every libFuzzer target for FUZZ_SECONDS each, one summary line per target.
fuzz: $(SETUP_STAMP)
	CC=clang cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTMKMS_FUZZ=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_FUZZ) -j $(JOBS)
	./scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

install: build
	cmake --install $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_CLANG) $(BUILD_TSAN) $(BUILD_TIDY)
