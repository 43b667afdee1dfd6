#include "src/rope_tables.h"

#include <cmath>

namespace beop {

std::vector<double> rope_inv_freq(const ModelConfig& cfg) {
  const int half = cfg.head_dim / 2;
  std::vector<double> f(half);
  for (int i = 0; i < half; i++) f[i] = std::pow(double(cfg.rope_theta), -2.0 * i / cfg.head_dim);
  if (cfg.rope_scaling == "llama3") {  // Llama 3.1: stretch only the low frequencies, blend the middle band
    const double old_len = cfg.rope_original_max_pos;
    const double low_wavelen = old_len / cfg.rope_low_freq_factor, high_wavelen = old_len / cfg.rope_high_freq_factor;
    for (double& fr : f) {
      const double wavelen = 2 * M_PI / fr;
      if (wavelen < high_wavelen) continue;
      if (wavelen > low_wavelen) {
        fr /= cfg.rope_factor;
      } else {
        const double smooth = (old_len / wavelen - cfg.rope_low_freq_factor) /
                              (cfg.rope_high_freq_factor - cfg.rope_low_freq_factor);
        fr = (1 - smooth) * fr / cfg.rope_factor + smooth * fr;
      }
    }
  }
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
