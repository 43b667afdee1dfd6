#include "rope.h"

#include <cmath>

namespace beop {

std::vector<double> rope_inv_freq(const ModelConfig& cfg) {
  const int half = cfg.head_dim / 2;
  std::vector<double> f(half);
  for (int i = 0; i < half; i++) f[i] = std::pow(double(cfg.rope_theta), -2.0 * i / cfg.head_dim);
  return f;
}

template <typename T>
void rope_tables(const ModelConfig& cfg, std::vector<T>& cos_t, std::vector<T>& sin_t) {
  const std::vector<double> inv = rope_inv_freq(cfg);
  const size_t half = inv.size();
  cos_t.assign(size_t(cfg.max_seq_len) * half, T(0));
  sin_t.assign(size_t(cfg.max_seq_len) * half, T(0));
  for (int p = 0; p < cfg.max_seq_len; p++)
    for (size_t i = 0; i < half; i++) {
      const double a = p * inv[i];
      cos_t[p * half + i] = T(std::cos(a));
      sin_t[p * half + i] = T(std::sin(a));
    }
}

template void rope_tables<float>(const ModelConfig&, std::vector<float>&, std::vector<float>&);
template void rope_tables<double>(const ModelConfig&, std::vector<double>&, std::vector<double>&);

}  // namespace beop
