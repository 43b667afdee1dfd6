// The CPU flash attention (cpu/attention_flash.h) against the reference attention (cpu/attention.h): forward
// output and the gradients of q, k and v, in double (the same mathematics: agreement to rounding, 1e-12) and in
// float (fp32 sums in another order: the two differ by a few ulps times the row length, far below 1e-5 of the
// tensor's scale, while a wrong mask, scale or softmax term is off by order 1).
#include <doctest/doctest.h>

#include <vector>

#include "cpu/attention.h"
#include "cpu/attention_flash.h"
#include "tests/test_util.h"

using namespace beop;
using namespace beop::cpu;
using beop::test::max_rel_err;
using beop::test::randn;

template <typename T>
static void compare(int B, int Tn, int H, int KV, int D, double tol) {
  const int row = (H + 2 * KV) * D;
  const auto qkv = randn<T>(size_t(B) * Tn * row, 1), dy = randn<T>(size_t(B) * Tn * H * D, 2);
  std::vector<T> y_ref(dy.size()), att(size_t(B) * H * Tn * Tn), datt(att.size()), dqkv_ref(qkv.size());
  attention_forward(y_ref.data(), att.data(), qkv.data(), B, Tn, H, KV, D);
  attention_backward(dqkv_ref.data(), datt.data(), dy.data(), att.data(), qkv.data(), B, Tn, H, KV, D);
  std::vector<T> y(dy.size()), lse(size_t(B) * H * Tn), delta(lse.size()), dqkv(qkv.size(), T(7));
  attention_flash_forward(y.data(), lse.data(), qkv.data(), B, Tn, H, KV, D);
  attention_flash_backward(dqkv.data(), delta.data(), dy.data(), y.data(), lse.data(), qkv.data(), B, Tn, H, KV, D);
  CHECK(max_rel_err(y, y_ref) < tol);
  CHECK(max_rel_err(dqkv, dqkv_ref) < tol);  // q, k and v parts, every element overwritten (started at 7)
}

TEST_CASE("flash attention on the CPU equals the reference attention (double: same math)") {
  compare<double>(2, 150, 4, 2, 16, 1e-12);  // 150: a partial last tile; GQA 2 query heads per kv head
  compare<double>(1, 64, 2, 2, 8, 1e-12);    // exactly one tile, no GQA
}

TEST_CASE("flash attention on the CPU equals the reference attention (float)") {
  compare<float>(2, 200, 8, 4, 32, 1e-5);
}
