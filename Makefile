# beop — build, test, bench, demo.
#   make          build the CPU programs (and the CUDA ones where nvcc is present)
#   make test     build and run every test (doctest binaries + Python oracles); last line "N passed, N failed"
#   make bench    benchmarks (figures go to docs/PERFORMANCE.md by hand)
#   make demo     the end-to-end path on the bundled data
# Every target first runs scripts/install-deps.sh when something it needs is missing.

CXX      ?= g++
# -mprefer-vector-width=512: g++ targets 256-bit vectors on AVX-512 CPUs by default; the loops it vectorizes itself
# (SwiGLU, the softmaxes' exp, AdamW, RMSNorm) ran ~2x the instructions, and a 1-thread training step on `small` is
# 2.6% faster with 512 (docs/PERFORMANCE.md). Without AVX-512 the flag changes nothing.
OPT      ?= -O3 -march=native -mprefer-vector-width=512
CXXFLAGS ?= $(OPT) -std=c++17 -fopenmp -Wall -Wextra -Wno-unused-parameter -Wno-maybe-uninitialized -MMD -MP
CPPFLAGS += -I. -isystem /usr/include/eigen3
# cpp-httplib is a compiled library in Debian: take its flags from pkg-config (expanded when a recipe runs, i.e.
# after scripts/install-deps.sh has installed it).
CPPFLAGS += $(shell pkg-config --cflags cpp-httplib 2>/dev/null)
LDLIBS   += -fopenmp -lpthread $(or $(shell pkg-config --libs cpp-httplib 2>/dev/null),-lcpp-httplib)
# libcurl (Debian's libcurl4-openssl-dev): the law-QA endpoint generator's https client (legal/lawqa_client.h).
# In LDLIBS, so every program, test, sanitizer and fuzz binary that links the library links it too.
CPPFLAGS += $(shell pkg-config --cflags libcurl 2>/dev/null)
LDLIBS   += $(or $(shell pkg-config --libs libcurl 2>/dev/null),-lcurl)
BUILD    := build
PY_SYS   := /usr/bin/python3
PY_VENV  := .venv/bin/python

# MPI (src/comm.h's MpiComm, docs/DISTRIBUTED.md): linked into ./train only and kept out of the library, so no other
# program or test needs libmpi or OpenMPI's headers. Flags from pkg-config, expanded when a recipe runs.
MPI_SRCS := cli/comm_mpi.cpp
MPI_OBJS := $(MPI_SRCS:%.cpp=$(BUILD)/obj/%.o)
MPI_LIBS  = $(or $(shell pkg-config --libs ompi-c 2>/dev/null),-lmpi)
$(MPI_OBJS): CPPFLAGS += $(shell pkg-config --cflags ompi-c 2>/dev/null)

# Library: the model core (src/), the CPU backend (cpu/), the legal application (legal/), the prep stages (data/prep/)
# and the programs' shared command code (cli/: in the library so tests can call it).
LIB_SRCS := $(filter-out $(MPI_SRCS),$(wildcard src/*.cpp src/*/*.cpp cpu/*.cpp cpu/*/*.cpp legal/*.cpp legal/*/*.cpp \
              data/prep/*.cpp cli/*.cpp))
LIB_OBJS := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libbeop.a

# Programs at the top level (train.cpp, infer.cpp) and data/ tools (data/*.cpp, e.g. data/prep.cpp).
PROGRAMS := train infer $(patsubst data/%.cpp,%,$(wildcard data/*.cpp))

# Tests: one doctest binary per tests/test_*.cpp, sharing one main; benches: bench/*.cpp.
TEST_SRCS := $(wildcard tests/test_*.cpp)
TEST_BINS := $(TEST_SRCS:tests/%.cpp=$(BUILD)/tests/%)
BENCH_SRCS := $(wildcard bench/*.cpp)
BENCH_BINS := $(BENCH_SRCS:bench/%.cpp=$(BUILD)/bench/%)

.PHONY: all deps test bench demo data experiment clean cuda
all: $(PROGRAMS) cuda

# Dependencies: every build first checks (a few dpkg queries) and installs what is missing. `deps` is an
# order-only prerequisite, so it runs every time without making anything rebuild.
deps:
	@bash scripts/install-deps.sh --check || bash scripts/install-deps.sh

$(BUILD)/obj/%.o: %.cpp | deps
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

train infer: %: $(BUILD)/obj/%.o $(LIB)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)
train $(BUILD)/tests/test_comm_mpi: $(MPI_OBJS)
train $(BUILD)/tests/test_comm_mpi: LDLIBS += $(MPI_LIBS)

$(filter-out train infer,$(PROGRAMS)): %: $(BUILD)/obj/data/%.o $(LIB)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(BUILD)/obj/tests/doctest_main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

test: $(PROGRAMS) $(TEST_BINS)
	@bash tests/run_all.sh $(TEST_BINS)

bench: $(PROGRAMS) $(BENCH_BINS)
	@bash bench/run_all.sh $(BENCH_BINS)

demo: $(PROGRAMS)
	@bash scripts/demo.sh

# The study's ablations at CPU scale (docs/EXPERIMENTS.md); QUICK=1 make experiment for a ~20-minute run.
experiment: $(PROGRAMS)
	QUICK=$(QUICK) bash scripts/experiment.sh

# Every training input from the bundled corpora into data/build/ (docs/DATA.md).
data: prep
	bash scripts/make_data.sh

clean:
	rm -rf $(BUILD) $(PROGRAMS)

# ---- make sanitize -------------------------------------------------------------------------------------------
# The library and the unit-test binaries built with AddressSanitizer + UndefinedBehaviorSanitizer into
# build/san/ (a sub-make with BUILD and OPT overridden: the same rules, so nothing is duplicated and the objects
# still wait for `deps`), then run with tests/run_all.sh's counting. UBSan does not recover, so any finding
# fails its test binary. With BEOP_SANITIZE=1 (set by .ci/run) `make test` also builds and runs them, counted in
# its one summary line.
# Left out (SAN_SKIP), because they are end-to-end and their work happens outside the sanitized process:
#   test_train, test_train_kill, test_infer_cli, test_hf_cli, test_cuda_device, test_prompt_paths: run ./train,
#     ./infer, ./prep as subprocesses
#     (the release binaries, not sanitized; what runs in-process is argument plumbing).
#   test_data_parallel, test_comm_mpi, test_dp_two_hosts (./train in two network namespaces): run under mpirun
#     (OpenMPI's own allocations would need leak suppressions).
#   test_torch_parity, test_hf_model: most of their time is the PyTorch / transformers oracle in Python.
# Cost on the shared 2-core VM: build/san from scratch 49 min wall (21 min CPU) under heavy contention; the run
# (28 binaries, 209 cases, ASan leak checking on, no suppressions needed) 2-13 min depending on load (OpenMP
# barriers in test_model's finite-difference checks suffer most when another process holds a core).
SAN_OPT   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_SKIP  := test_train test_train_kill test_data_parallel test_comm_mpi test_dp_two_hosts test_infer_cli test_hf_cli test_cuda_device test_prompt_paths test_torch_parity test_hf_model
SAN_BINS  := $(patsubst $(BUILD)/tests/%,$(BUILD)/san/tests/%,$(filter-out $(SAN_SKIP:%=$(BUILD)/tests/%),$(TEST_BINS)))
.PHONY: sanitize sanitize-build
sanitize-build:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/san OPT="$(SAN_OPT)" CUDA_LINK_TESTS=0 $(SAN_BINS)
sanitize: sanitize-build
	@BEOP_SAN_BINS="$(SAN_BINS)" bash tests/run_all.sh --sanitize-only
ifeq ($(BEOP_SANITIZE),1)
test: sanitize-build
test: export BEOP_SAN_BINS := $(SAN_BINS)
endif
# ---- end of make sanitize ------------------------------------------------------------------------------------

# Keep intermediate objects (tests, programs): no rebuilds, and no "rm ..." line after the test summary,
# which must stay the last line of `make test`.
.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
-include cuda/cuda.mk
-include fuzz/fuzz.mk
