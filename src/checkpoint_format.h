// The two binary files of a checkpoint directory (docs/FORMATS.md, "Checkpoints"):
//
//   model.bin   magic, version, header size, dtype, tensor count, element count, config JSON, tensor table,
//               zero padding to 64 bytes | f32 parameters | CRC32 of the parameters, CRC32 of the header
//   optim.bin   magic, version, header size (64), dtype, 0, element count, AdamW step, zero padding |
//               f32 m, f32 v | CRC32 of m then v, CRC32 of the header
//
// The writers go through AtomicFile (temp file, fsync, rename); the readers validate every byte they read and
// throw a one-line Error naming the file and what is wrong. The directory around them is checkpoint.h's job.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "src/config.h"
#include "src/param_layout.h"

namespace beop {

inline constexpr char kModelFileMagic[8] = {'B', 'E', 'O', 'P', 'M', 'D', 'L', '\0'};  // model.bin
inline constexpr char kOptimFileMagic[8] = {'B', 'E', 'O', 'P', 'O', 'P', 'T', '\0'};  // optim.bin
inline constexpr uint32_t kCheckpointVersion = 1;  // of model.bin, optim.bin and state.json

// Element type of a tensor payload. f32 is what this build writes and reads; bf16 is reserved for the CUDA
// backend's weights-only exports (a reader of this version rejects it with a clear message).
enum class CkptDType : uint32_t { f32 = 0, bf16 = 1 };

// Writes model.bin at `path`: the n = lay.total floats of `params` in lay's order, lay = ParamLayout(cfg).
void write_model_file(const std::string& path, const ModelConfig& cfg, const ParamLayout& lay, const float* params,
                      size_t n);
// Writes optim.bin at `path`: the AdamW moments m and v (n floats each) and the AdamW step.
void write_optim_file(const std::string& path, const float* m, const float* v, size_t n, long adam_step);

struct ModelFile {
  ModelConfig cfg;
  std::vector<float> params;  // ParamLayout(cfg) order
};
// Reads and validates model.bin: magic, version, sizes (truncation, trailing bytes), both CRCs, the config,
// the tensor table against ParamLayout(config), zero padding, finite weights.
ModelFile read_model_file(const std::string& path);

struct OptimFile {
  std::vector<float> m, v;
  long adam_step = 0;
};
// Reads and validates optim.bin, whose moments must have n_expected elements each (the model's count), be
// finite, and v >= 0.
OptimFile read_optim_file(const std::string& path, size_t n_expected);

// A cheap completeness check for directory listings (the load validates fully): model.bin at `path` exists,
// has the magic, and its size is what its first 32 bytes imply.
bool model_file_complete(const std::string& path);

}  // namespace beop
