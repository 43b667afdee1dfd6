// libFuzzer harness: safetensors files (src/safetensors.h). The input is a whole file image; SafetensorsFile
// validates it from memory (the same parser as the mmap path), then every tensor it accepted is converted to
// float32 (which reads exactly the bytes the validation vouched for). Only beop::Error may come out.
// fuzz-sources: src/safetensors.cpp src/io.cpp src/common.cpp
#include <cstring>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "src/common.h"
#include "src/io.h"
#include "src/safetensors.h"

void beop_fuzz_seeds(const std::string& dir) {
  const std::vector<float> w = {1.0f, -2.0f, 0.5f, 3.0e38f, -0.0f, 1e-40f}, s = {7.0f};
  const std::vector<beop::StWriteTensor> ts = {{"model.w", {2, 3}, w.data()}, {"scalar", {}, s.data()},
                                               {"empty", {0, 4}, nullptr}};
  beop::save_safetensors(dir + "/f32.safetensors", ts, {{"format", "pt"}}, beop::StDType::F32);
  beop::save_safetensors(dir + "/bf16.safetensors", ts, {}, beop::StDType::BF16);
  // F16 (beop does not write it): the bf16 file with its dtype renamed, same sizes.
  std::string f16 = beop::read_file(dir + "/bf16.safetensors");
  for (size_t at; (at = f16.find("\"BF16\"")) != std::string::npos;) f16.replace(at, 6, "\"F16\" ");
  beop_fuzz::seed(dir, "f16.safetensors", f16);
  beop::save_safetensors(dir + "/none.safetensors", {}, {{"k", "v"}});
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    beop::SafetensorsFile f("fuzz.safetensors", data, size);
    uint64_t covered = 0;
    for (const beop::StTensor& t : f.tensors()) {
      if (t.begin != covered) std::abort();  // validated: contiguous from 0
      covered = t.end;
      if (t.numel > (size_t(1) << 24)) continue;  // (cannot happen: its bytes are in the input)
      std::vector<float> out(t.numel);
      f.read_f32(t, out.data());
      if (f.find(t.name) != &t) std::abort();
    }
  } catch (const beop::Error&) {
  }
  return 0;
}
