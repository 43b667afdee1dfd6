// A small explicit PRNG (splitmix64 seeding xoshiro256**) whose whole state is four integers, so training
// runs are reproducible across compilers and standard libraries (std::*_distribution is not) and the state
// can be saved in a checkpoint.
#pragma once
#include <cmath>
#include <cstdint>

#include "src/hash.h"  // fnv1a64, which seeds streams by name next to these

namespace beop {

inline uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Stateless splitmix64 finaliser: a well-mixed 64-bit hash of x (used for deterministic train/val splits).
inline uint64_t mix64(uint64_t x) { return splitmix64(x); }

struct Rng {
  uint64_t s[4];

  explicit Rng(uint64_t seed = 0) {
    uint64_t x = seed;
    for (auto& w : s) w = splitmix64(x);
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {  // xoshiro256**
    const uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
    return r;
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t below(uint64_t n) { return uint64_t(uniform() * double(n)); }  // [0, n), n < 2^53
  double normal() {  // Box-Muller; one value per call keeps the state simple
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

}  // namespace beop
