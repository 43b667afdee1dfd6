// The processes of a data-parallel run and the collectives the training loop needs from them (docs/DISTRIBUTED.md).
// One interface, three transports: SingleComm (one process, every call a no-op; the default) here, MpiComm
// (cli/comm_mpi.cpp, host buffers, linked into ./train only, so nothing else needs libmpi) when launched by
// mpirun, and NcclComm (cuda/comm_nccl.h, GPU buffers; its unique id broadcast through an MpiComm) for
// `--device cuda` on several ranks. device_buffers() says which memory a transport's buffers live in.
//
// Determinism: MpiComm's sums are a left fold in rank order, ((r0 + r1) + r2) + ..., the same on every rank and
// in every run (no float atomics, no size-dependent reduction trees); with one micro-batch per rank that is the
// order in which one process accumulates the same micro-batches. NCCL's are fixed for a given N and topology.
//
// Shards (ZeRO-1): rank r owns the contiguous elements shard_range(n, N, r) of an n-element buffer; the N ranges
// tile [0, n) in rank order and differ in size by at most one element, so any n works with any N.
#pragma once
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <functional>
#include <string>

namespace beop {

// Rank r's shard [lo, hi) of n elements over `ranks` ranks: lo = n*r/ranks (rounded down).
struct ShardRange {
  size_t lo = 0, hi = 0;
  size_t size() const { return hi - lo; }
};
inline ShardRange shard_range(size_t n, int ranks, int r) {
  return {n * size_t(r) / size_t(ranks), n * size_t(r + 1) / size_t(ranks)};
}

// Element types of the reduce collectives over a backend's buffers (bf16: the GPU's gradients; NCCL only).
enum class DType { f32, bf16 };

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;        // 0 .. size()-1; rank 0 prints, logs and writes checkpoints
  virtual int size() const = 0;        // number of ranks
  virtual int local_rank() const = 0;  // rank among the ranks on this host (which GPU, which cores)
  virtual int local_size() const = 0;  // ranks on this host
  // In place, every rank gets the rank-order sum of every rank's v[0..n).
  virtual void all_reduce_sum(float* v, size_t n) = 0;
  virtual void all_reduce_sum(double* v, size_t n) = 0;
  virtual void all_reduce_max(int64_t* v, size_t n) = 0;  // exact: order does not matter
  // In place: afterwards v[shard_range(n, size(), rank())] holds the sum of every rank's copy of those elements
  // (the rest of v is unspecified).
  virtual void reduce_scatter_sum(void* v, size_t n, DType t) = 0;
  void reduce_scatter_sum(float* v, size_t n) { reduce_scatter_sum(v, n, DType::f32); }
  // In place: every rank's v[0..n) (elements of elem_bytes) gets rank r's v[shard_range(n, size(), r)], all r.
  virtual void all_gather(void* v, size_t n, size_t elem_bytes) = 0;
  // Rank 0's all[0..n) gets rank r's shard_range(n, size(), r) from that rank's `mine` (its shard's elements only,
  // packed from 0), every r; `all` is not touched elsewhere and may be null there. A ZeRO-1 save: only the rank
  // that writes the checkpoint holds the whole optimizer state, the others never more than their shard.
  virtual void gather_to_root(const void* mine, void* all, size_t n, size_t elem_bytes) = 0;
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // True when the buffers must be device (GPU) memory (NCCL); false: host memory.
  virtual bool device_buffers() const { return false; }
  // The end of the process: rc is this rank's exit code; returns the code to exit with. A transport that can
  // hang on a lone failing rank makes sure every rank ends (docs/DISTRIBUTED.md, "Errors").
  virtual int finish(int rc) { return rc; }
};

// One process: rank 0 of 1; the collectives leave their buffers as they are.
class SingleComm final : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  void all_reduce_sum(float*, size_t) override {}
  void all_reduce_sum(double*, size_t) override {}
  void all_reduce_max(int64_t*, size_t) override {}
  void reduce_scatter_sum(void*, size_t, DType) override {}
  void all_gather(void*, size_t, size_t) override {}
  void gather_to_root(const void* mine, void* all, size_t n, size_t elem_bytes) override {
    if (all != mine && n) std::memcpy(all, mine, n * elem_bytes);
  }
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
};

// The process-wide single-process communicator (the Trainer's default).
Comm& single_comm();

// Runs fn on rank 0 only (a checkpoint save, the run directory) and makes the others wait for it; an exception
// there is thrown on every rank (rank 0 rethrows its own; the others a beop::Error with its message), so a
// failure on rank 0 ends every rank with its one line instead of leaving them waiting. With one rank: fn().
void on_root(Comm& comm, const std::function<void()>& fn);

// Throws on every rank unless every rank passed the same `what` (the command line): ranks started with different
// flags would train different models while summing their gradients.
void check_same_on_every_rank(Comm& comm, const std::string& what, const std::string& name);

}  // namespace beop
