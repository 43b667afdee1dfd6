// safetensors: the Hugging Face tensor file format (https://github.com/huggingface/safetensors), read and written.
//
//   bytes 0..7      N, little-endian u64: length of the JSON header
//   bytes 8..8+N    JSON header {"__metadata__": {str: str}, NAME: {"dtype": "F32"|"F16"|"BF16"|...,
//                   "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}; the reference writer pads it
//                   with spaces to a multiple of 8 bytes so the data section is 8-byte aligned
//   bytes 8+N..     the data section: each tensor's little-endian C-order bytes at [begin, end) relative to it
//
// SafetensorsFile memory-maps a file read-only (the bytes are read once, straight from the page cache into the
// caller's buffer) and validates the whole header on open, before any tensor is touched: header length vs file
// size, JSON, each tensor's dtype (F32, F16, BF16; anything else -> Error naming the tensor and dtype), shape,
// data_offsets inside the data section, sized exactly product(shape) * itemsize, and the tensors tiling the data
// section exactly (sorted by offset, contiguous from byte 0 to the end of the file: no gap, no overlap, no
// unowned tail), as the reference reader demands. Every error is one line naming the file and the tensor.
//
// A checkpoint larger than one file is sharded: DIR/model.safetensors.index.json holds {"metadata": {...},
// "weight_map": {NAME: "model-00001-of-00003.safetensors", ...}}; SafetensorsDir opens either layout.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace beop {

enum class StDType { F32, F16, BF16 };
const char* st_dtype_name(StDType t);  // "F32", "F16", "BF16"
size_t st_dtype_size(StDType t);       // bytes per element

struct StTensor {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<int64_t> shape;  // row-major
  size_t numel = 1;
  size_t begin = 0, end = 0;   // byte range inside the data section
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // maps + validates; throws Error naming the file/tensor
  // The same validation over a file image already in memory (fuzzing, tests): bytes[0, size) are not copied and
  // must outlive the object; `name` stands for the file in errors.
  SafetensorsFile(const std::string& name, const uint8_t* bytes, size_t size);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<StTensor>& tensors() const { return tensors_; }  // in order of data offset
  const StTensor* find(const std::string& name) const;                // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const uint8_t* data(const StTensor& t) const { return data_ + t.begin; }  // raw little-endian bytes

  // Converts tensor t (any supported dtype) to float32 into dst[0 .. t.numel).
  void read_f32(const StTensor& t, float* dst) const;
  std::vector<float> read_f32(const std::string& name) const;  // Error if absent

 private:
  void parse(const uint8_t* b, uint64_t size);
  std::string path_;
  void* map_ = nullptr;  // null for an in-memory image
  size_t map_bytes_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section
  std::vector<StTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// A model directory: DIR/model.safetensors, or DIR/model.safetensors.index.json and its shards. Every shard is
// opened (and validated) once. The index and the shards must agree exactly: a name in the weight map missing
// from its shard, a shard tensor the weight map does not list, or a name in two shards -> Error.
class SafetensorsDir {
 public:
  explicit SafetensorsDir(const std::string& dir);
  struct Entry {
    const SafetensorsFile* file;
    const StTensor* tensor;
  };
  const std::map<std::string, Entry>& tensors() const { return tensors_; }
  const Entry* find(const std::string& name) const;
  size_t n_files() const { return files_.size(); }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry> tensors_;
};

// One tensor to write: float32 host data of product(shape) elements (not copied; must outlive the call).
struct StWriteTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;
};

// Writes a safetensors file atomically (beop::AtomicFile): tensors in the given order, data contiguous, header
// padded with spaces to a multiple of 8 bytes. dtype F32 (exact) or BF16 (round to nearest even; NaN stays
// NaN); F16 -> Error. Duplicate or empty names, "__metadata__" as a name, or a null pointer -> Error.
void save_safetensors(const std::string& path, const std::vector<StWriteTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {}, StDType dtype = StDType::F32);

// Writes DIR/model.safetensors when everything fits in max_shard_bytes (of payload), else
// DIR/model-0000k-of-0000n.safetensors (tensors in order, a new shard whenever the next tensor would overflow
// the current one; a tensor larger than the limit gets a shard of its own) plus
// DIR/model.safetensors.index.json, as transformers' save_pretrained does. Returns the file names written.
std::vector<std::string> save_safetensors_model(const std::string& dir, const std::vector<StWriteTensor>& tensors,
                                                size_t max_shard_bytes, StDType dtype = StDType::F32,
                                                const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Scalar conversions (exposed for tests).
float bf16_to_f32(uint16_t h);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);  // round to nearest even

}  // namespace beop
