// The CPU backend's host memory (cpu/host_memory.h): alignment, the huge-page advice on large buffers, and the
// zeroed buffers CpuOps::alloc hands the model.
#include <doctest/doctest.h>
#include <sys/prctl.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "cpu/host_memory.h"
#include "cpu/ops.h"
#include "src/config.h"

using namespace beop;
using namespace beop::cpu;

// One field of the mapping that holds p in /proc/self/smaps ("THPeligible", "VmFlags"), "" where absent.
static std::string smaps_field(const void* p, const std::string& field) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool inside = false;
  const auto a = uintptr_t(p);
  while (std::getline(f, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find('-')) {
      inside = a >= lo && a < hi;
      continue;
    }
    if (inside && line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
  }
  return "";
}

// Whether madvise(MADV_HUGEPAGE) was given on p's pages: the kernel marks the mapping VM_HUGEPAGE, "hg" among
// its VmFlags, whatever the THP policy ("always", "madvise" or "never") and the kernel version.
static bool advised(const void* p) {
  std::string flags = smaps_field(p, "VmFlags") + " ";
  return flags.find(" hg ") != std::string::npos;
}

// Whether this kernel has THP at all; without it madvise(MADV_HUGEPAGE) fails and nothing can be marked.
static bool thp_built_in() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  return f.good();
}

// Puts this process under THP "madvise" whatever the machine's policy (PR_THP_DISABLE_EXCEPT_ADVISED, Linux
// 6.18+): huge pages only where advised. false where the kernel lacks it, or the policy is "never" (nothing is
// eligible then).
static bool thp_advised_only() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string policy;
  std::getline(f, policy);
  if (policy.empty() || policy.find("[never]") != std::string::npos) return false;
  constexpr unsigned long kExceptAdvised = 1UL << 1;  // PR_THP_DISABLE_EXCEPT_ADVISED, absent from older headers
  return ::prctl(PR_SET_THP_DISABLE, 1UL, kExceptAdvised, 0UL, 0UL) == 0;
}

TEST_CASE("host_alloc: small buffers 64-byte aligned, large ones 2 MiB aligned and advised as huge pages") {
  if (!thp_built_in()) MESSAGE("this kernel has no transparent huge pages: only alignment checked");
  // The control, before anything was advised in this process: a large buffer without the advice is not marked
  // (host_alloc without its madvise fails the checks below).
  void* plain = std::aligned_alloc(kHugePage, 4 * kHugePage);
  REQUIRE(plain);
  std::memset(plain, 0, 4 * kHugePage);
  CHECK_FALSE(advised(plain));
  std::free(plain);
  for (size_t n : {size_t(1), size_t(100), size_t(4096), kHugePage - 1}) {
    void* p = host_alloc(n);
    REQUIRE(p);
    CHECK(uintptr_t(p) % 64 == 0);
    std::memset(p, 1, n + 64);  // the 64 bytes of slack past the end are ours (kernels read a full vector there)
    host_free(p);
  }
  const bool advised_only = thp_advised_only();
  for (size_t n : {kHugePage, 3 * kHugePage + 12345}) {
    auto* p = static_cast<unsigned char*>(host_alloc(n));
    REQUIRE(p);
    CHECK(uintptr_t(p) % kHugePage == 0);
    std::memset(p, 7, n + 64);
    CHECK(p[n - 1] == 7);
    if (thp_built_in()) CHECK(advised(p));
    // Under "madvise" the advice is what makes the pages eligible (a 0 here: the kernel ignored it)
    if (advised_only) CHECK(smaps_field(p, "THPeligible").find('1') != std::string::npos);
    host_free(p);
  }
  CHECK(host_alloc(std::numeric_limits<size_t>::max() - 100) == nullptr);  // no wrap-around to a small buffer
}

TEST_CASE("HostAllocator: std::vector of weights on host_alloc, large ones on huge pages") {
  std::vector<uint16_t, HostAllocator<uint16_t>> v(3 * kHugePage / 2 + 5, 9);
  CHECK(uintptr_t(v.data()) % kHugePage == 0);
  CHECK(v.back() == 9);
  if (thp_built_in()) CHECK(advised(v.data()));
  v.resize(10);
  v.shrink_to_fit();
  CHECK(v.size() == 10);
  CHECK(v[9] == 9);
}

TEST_CASE("CpuOps::alloc: zeroed, on host_alloc, released by release") {
  CpuOps<float> ops(preset("tiny"));
  for (size_t n : {size_t(3), size_t(1) << 20}) {  // 12 bytes, and 4 MiB (huge pages)
    float* p = ops.alloc<float>(n);
    REQUIRE(p);
    bool zero = true;
    for (size_t i = 0; i < n; i++) zero = zero && p[i] == 0.0f;
    CHECK(zero);
    CHECK(uintptr_t(p) % (n * sizeof(float) >= kHugePage ? kHugePage : 64) == 0);
    ops.release(p);
  }
}
