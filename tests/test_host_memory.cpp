// The CPU backend's host memory (cpu/host_memory.h): alignment, the huge-page advice on large buffers, and the
// zeroed buffers CpuOps::alloc hands the model.
#include <doctest/doctest.h>
#include <sys/prctl.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cpu/host_memory.h"
#include "cpu/ops.h"
#include "src/config.h"

using namespace beop;
using namespace beop::cpu;

// The THPeligible field of the mapping that holds p in /proc/self/smaps: 1 or 0, or -1 where the kernel does not
// report it (older than 5.x) or THP is built out.
static int thp_eligible(const void* p) {
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
    if (inside && line.rfind("THPeligible:", 0) == 0) return std::atoi(line.c_str() + 12);
  }
  return -1;
}

// Puts this process under THP "madvise" whatever the machine's policy: huge pages only where madvise asked for
// them (PR_THP_DISABLE_EXCEPT_ADVISED, Linux 6.18+; inherited by children). Under "always", as on some VMs, every
// large buffer gets huge pages with or without the advice, and the test below could not tell the two apart. false
// where the kernel lacks it.
static bool thp_advised_only() {
  constexpr unsigned long kExceptAdvised = 1UL << 1;  // PR_THP_DISABLE_EXCEPT_ADVISED, absent from older headers
  return ::prctl(PR_SET_THP_DISABLE, 1, kExceptAdvised, 0, 0) == 0;
}

TEST_CASE("host_alloc: small buffers 64-byte aligned, large ones 2 MiB aligned and advised as huge pages") {
  for (size_t n : {size_t(1), size_t(100), size_t(4096), kHugePage - 1}) {
    void* p = host_alloc(n);
    REQUIRE(p);
    CHECK(uintptr_t(p) % 64 == 0);
    std::memset(p, 1, n + 64);  // the 64 bytes of slack past the end are ours (kernels read a full vector there)
    host_free(p);
  }
  const bool advised_only = thp_advised_only();
  // The control: a large buffer without the advice. Under "madvise" it is not eligible, so a 1 below means the
  // advice was given (a plain aligned_alloc in host_alloc fails this test).
  void* plain = std::aligned_alloc(kHugePage, 4 * kHugePage);
  std::memset(plain, 0, 4 * kHugePage);
  const bool discriminates = advised_only && thp_eligible(plain) == 0;
  std::free(plain);
  if (!discriminates)
    MESSAGE("cannot put THP under \"madvise\" here (kernel before 6.18, or THP off): only alignment checked");
  for (size_t n : {kHugePage, 3 * kHugePage + 12345}) {
    auto* p = static_cast<unsigned char*>(host_alloc(n));
    REQUIRE(p);
    CHECK(uintptr_t(p) % kHugePage == 0);
    std::memset(p, 7, n + 64);
    CHECK(p[n - 1] == 7);
    if (discriminates) CHECK(thp_eligible(p) == 1);
    host_free(p);
  }
}

TEST_CASE("HostAllocator: std::vector of weights on host_alloc, large ones on huge pages") {
  std::vector<uint16_t, HostAllocator<uint16_t>> v(3 * kHugePage / 2 + 5, 9);
  CHECK(uintptr_t(v.data()) % kHugePage == 0);
  CHECK(v.back() == 9);
  if (thp_advised_only() && thp_eligible(v.data()) >= 0) CHECK(thp_eligible(v.data()) == 1);
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
