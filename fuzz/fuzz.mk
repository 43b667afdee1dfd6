# libFuzzer harnesses, included by the main Makefile (-include fuzz/fuzz.mk).
#
#   make fuzz-build   builds build/fuzz/fuzz_NAME for every fuzz/fuzz_NAME.cpp (clang, ASan + UBSan + libFuzzer)
#   make fuzz         builds, then runs each harness for FUZZ_SECONDS (default 30) on its corpus
#                     build/fuzz/corpus/NAME (seeded by the harness itself through BEOP_FUZZ_WRITE_SEEDS, plus
#                     what earlier runs kept there), after replaying tests/fuzz_regressions/NAME/*; fails if any
#                     harness finds a crash, leak, timeout or out-of-memory. Prints executions and exec/s.
#   FUZZ_SECONDS=300 make fuzz          a longer campaign;  FUZZ_ONLY="shard tokenizer" make fuzz   a subset
#
# Convention for a harness fuzz/fuzz_NAME.cpp: it defines LLVMFuzzerTestOneInput and
# `void beop_fuzz_seeds(const std::string& dir)` (writes a seed corpus into dir with the project's own
# writers); fuzz/fuzz_driver.cpp provides LLVMFuzzerInitialize, linked into every harness. A harness lists the
# library sources it links on a line `// fuzz-sources: src/a.cpp src/b.cpp` (transitively closed); only the
# union of those is compiled with clang, into build/fuzz/obj/. A harness without that line gets every
# library source (slower first build, but it links).
#
# Sanitizer builds are separate from the g++ build: objects under build/fuzz/obj, never in build/libbeop.a.

FUZZ_CXX      ?= clang++-14
FUZZ_SECONDS  ?= 30
FUZZ_RSS_MB   ?= 2048   # -rss_limit_mb (and -malloc_limit_mb): a loader that allocates more is a finding
FUZZ_TIMEOUT  ?= 10     # -timeout, seconds per input: a slower input is a finding (hang)
FUZZ_ONLY     ?=
FUZZ_DIR      := $(BUILD)/fuzz
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CXXFLAGS := -O1 -g -std=c++17 -fopenmp $(FUZZ_SAN) -MMD -MP

FUZZ_HARNESS_SRCS := $(filter-out fuzz/fuzz_driver.cpp,$(wildcard fuzz/fuzz_*.cpp))
FUZZ_NAMES := $(patsubst fuzz/fuzz_%.cpp,%,$(FUZZ_HARNESS_SRCS))
FUZZ_BINS  := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)

# Library sources: the union of the harnesses' `// fuzz-sources:` lines, or all of them if one has none.
FUZZ_DECLARED := $(shell sed -n 's|^// fuzz-sources:||p' $(FUZZ_HARNESS_SRCS) /dev/null 2>/dev/null)
FUZZ_UNDECLARED := $(shell for f in $(FUZZ_HARNESS_SRCS); do grep -q '^// fuzz-sources:' $$f || echo $$f; done)
# (All = what build/libbeop.a holds: LIB_SRCS, the SIMT runtime, the CUDA host sources, the no-GPU backend stub.)
FUZZ_ALL_SRCS := $(LIB_SRCS) $(wildcard cuda/simt/*.cpp) $(filter-out cuda/backend_stub.cpp,$(CUDA_HOST_SRCS)) \
                 $(wildcard cuda/backend_stub.cpp)
FUZZ_LIB_SRCS := $(sort $(if $(FUZZ_UNDECLARED),$(FUZZ_ALL_SRCS),$(FUZZ_DECLARED)))
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.cpp=$(FUZZ_DIR)/obj/%.o)
FUZZ_LIB      := $(FUZZ_DIR)/libbeop_fuzz.a

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)

# Library objects: instrumented for coverage (fuzzer-no-link) and the sanitizers.
$(FUZZ_DIR)/obj/%.o: %.cpp | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(CPPFLAGS) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/fuzz/fuzz_%.o $(FUZZ_DIR)/obj/fuzz/fuzz_driver.o $(FUZZ_LIB)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer $^ -o $@ $(LDLIBS)

fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RSS_MB=$(FUZZ_RSS_MB) FUZZ_TIMEOUT=$(FUZZ_TIMEOUT) \
	  bash fuzz/run_fuzz.sh $(FUZZ_DIR) $(or $(FUZZ_ONLY),$(FUZZ_NAMES))

# In CI (.ci/run sets BEOP_FUZZ=1): `make test` also builds the harnesses, and tests/run_all.sh runs each for
# BEOP_FUZZ_SECONDS (default 30) through fuzz/run_fuzz.sh, one counted test case per harness.
ifeq ($(BEOP_FUZZ),1)
test: fuzz-build
test: export BEOP_FUZZ_NAMES := $(FUZZ_NAMES)
test: export BEOP_FUZZ_DIR := $(FUZZ_DIR)
endif

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
