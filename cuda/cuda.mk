# CUDA fragment, included by the main Makefile (-include cuda/cuda.mk).
#
# 1. The SIMT runtime (cuda/simt/*.cpp) and the CUDA backend's host sources (cuda/*.cpp: the CudaModel /
#    CudaBf16Model instantiations compiled by g++ through SIMT) go into build/libbeop.a, so every test and
#    program can run kernel source on the CPU. (cuda/*.cpp is not in the Makefile's library wildcard; the
#    archive recipe uses $^, so an extra prerequisite is enough.)
# 2. Where nvcc exists (on PATH or at /usr/local/cuda/bin/nvcc), the real-GPU backend cuda/backend.cu is
#    compiled by nvcc into build/nvcc/libbeop_cuda.a and linked into train and infer (`--device cuda`), with
#    cuBLASLt/cuBLAS/cudart from the toolkit (rpath set, so no LD_LIBRARY_PATH is needed). Its kernels and
#    models live in beop::cuda::gpu, the SIMT ones in beop::cuda::sim (cuda/namespace.h), so both coexist.
#    Without nvcc, cuda/backend_stub.cpp goes into libbeop.a instead: `--device cuda` then says
#    "this build has no CUDA backend (nvcc not found at build time)".
#    `make cuda` builds the backend library and compile-checks CUDA_SRCS (sm_80 + sm_90).
# The GPU test/benchmark run (scripts/gpu_check.sh) compiles with nvcc directly, not through make.

SIMT_SRCS := $(wildcard cuda/simt/*.cpp)
SIMT_OBJS := $(SIMT_SRCS:%.cpp=$(BUILD)/obj/%.o)
$(LIB): $(SIMT_OBJS)

NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# Two real architectures (A100, H100/H200); no PTX embedded, to keep compile time small.
NVCC_ARCH  ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
NVCC_FLAGS ?= -O3 -std=c++17 $(NVCC_ARCH) -I. -Xcompiler -Wall
CUDA_SRCS  += cuda/simt/example_check.cu
CUDA_OBJS  := $(CUDA_SRCS:%.cu=$(BUILD)/nvcc/%.o)

CUDA_HOST_SRCS := $(filter-out cuda/backend_stub.cpp,$(wildcard cuda/*.cpp))

ifneq ($(strip $(NVCC)),)
# comm_nccl.cu: src/comm.h over the toolkit's NCCL (several ranks with --device cuda), hence -lnccl.
CUDA_BACKEND_OBJS := $(BUILD)/nvcc/cuda/backend.o $(BUILD)/nvcc/cuda/comm_nccl.o
CUDA_BACKEND_LIB  := $(BUILD)/nvcc/libbeop_cuda.a
CUDA_LDLIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lnccl -lcudart

$(CUDA_BACKEND_LIB): $(CUDA_BACKEND_OBJS)
	@rm -f $@
	ar rcs $@ $^
# train/infer: the backend archive, then libbeop.a again for what the backend needs from it, then the toolkit.
train infer: $(CUDA_BACKEND_LIB)
train infer: LDLIBS += $(CUDA_BACKEND_LIB) $(LIB) $(CUDA_LDLIBS)
# Tests that load a model through cli/model_loader.cpp (--device) or ask cuda_backend::compiled() link it the same way,
# so that they expect what ./train and ./infer do. Not in the sanitizer build (make sanitize sets
# CUDA_LINK_TESTS=0): a second nvcc build of the backend would cost CI minutes, and there the tests link the
# no-GPU stub, whose compiled() says so, so their expectations still hold.
CUDA_LINK_TESTS ?= 1
CUDA_LINKED_TESTS := $(BUILD)/tests/test_eval_runner $(BUILD)/tests/test_train $(BUILD)/tests/test_hf_cli
ifeq ($(CUDA_LINK_TESTS),1)
$(CUDA_LINKED_TESTS): $(CUDA_BACKEND_LIB)
$(CUDA_LINKED_TESTS): LDLIBS += $(CUDA_BACKEND_LIB) $(LIB) $(CUDA_LDLIBS)
else
# The stub is not in libbeop.a where nvcc exists: link it explicitly, before libbeop.a again for what it needs
# (order-only, so that it is built but not also named in the recipe's $^).
$(CUDA_LINKED_TESTS): | $(BUILD)/obj/cuda/backend_stub.o
$(CUDA_LINKED_TESTS): LDLIBS += $(BUILD)/obj/cuda/backend_stub.o $(LIB)
endif

cuda: $(CUDA_OBJS) $(CUDA_BACKEND_LIB)
$(BUILD)/nvcc/%.o: %.cu | deps
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -MMD -MP -c $< -o $@
-include $(CUDA_OBJS:.o=.d) $(CUDA_BACKEND_OBJS:.o=.d)
else
CUDA_HOST_SRCS += cuda/backend_stub.cpp
cuda:
	@echo "nvcc not found: skipping the CUDA build (kernels still run on the CPU through cuda/simt; --device cuda is unavailable)"
endif

CUDA_HOST_OBJS := $(CUDA_HOST_SRCS:%.cpp=$(BUILD)/obj/%.o)
$(LIB): $(CUDA_HOST_OBJS)
