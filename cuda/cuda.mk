# CUDA fragment, included by the main Makefile (-include cuda/cuda.mk).
#
# 1. The SIMT runtime (cuda/simt/*.cpp) goes into build/libbeop.a, so every test and program can run kernel
#    source on the CPU. (cuda/*.cpp is not in the Makefile's library wildcard; the archive recipe uses $^, so
#    an extra prerequisite is enough.)
# 2. Where nvcc exists, `make cuda` compiles the .cu files in CUDA_SRCS for sm_80 and sm_90 to prove that the
#    shared kernel source also builds for the device. Other .cu files can be added with CUDA_SRCS += ...

SIMT_SRCS := $(wildcard cuda/simt/*.cpp)
SIMT_OBJS := $(SIMT_SRCS:%.cpp=$(BUILD)/obj/%.o)
$(LIB): $(SIMT_OBJS)

# The CUDA backend's host sources (cuda/*.cpp, e.g. the CudaModel instantiation compiled by g++ through
# SIMT) go into the library the same way.
CUDA_HOST_SRCS := $(wildcard cuda/*.cpp)
CUDA_HOST_OBJS := $(CUDA_HOST_SRCS:%.cpp=$(BUILD)/obj/%.o)
$(LIB): $(CUDA_HOST_OBJS)

NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
# Two real architectures (A100, H100); no PTX embedded, to keep compile time small.
NVCC_ARCH  ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
NVCC_FLAGS ?= -O3 -std=c++17 $(NVCC_ARCH) -I. -Isrc -Xcompiler -Wall
CUDA_SRCS  += cuda/simt/example_check.cu
# The CUDA backend: CudaModel (every model kernel + the cuBLAS GEMM wrapper) instantiated under nvcc.
CUDA_SRCS  += cuda/model_cuda_check.cu
CUDA_OBJS  := $(CUDA_SRCS:%.cu=$(BUILD)/nvcc/%.o)

ifneq ($(strip $(NVCC)),)
cuda: $(CUDA_OBJS)
$(BUILD)/nvcc/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -MMD -MP -c $< -o $@
-include $(CUDA_OBJS:.o=.d)
else
cuda:
	@echo "nvcc not found: skipping the CUDA build (kernels still run on the CPU through cuda/simt)"
endif
