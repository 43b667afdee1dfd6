// The processes of a data-parallel run and the collectives the training loop needs from them (docs/DISTRIBUTED.md).
// One interface, several transports: SingleComm (one process, every call a no-op; the default) here, MpiComm
// (cli/comm_mpi.cpp, linked into ./train only, so nothing else needs libmpi) when launched by mpirun.
//
// Determinism: every sum is a left fold in rank order, ((r0 + r1) + r2) + ..., the same on every rank and in
// every run, whatever the transport does underneath (no float atomics, no size-dependent reduction trees).
// With one micro-batch per rank that is the order in which one process accumulates the same micro-batches.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace beop {

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
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // The end of the process: rc is this rank's exit code; returns the code to exit with. A transport that can
  // hang on a lone failing rank makes sure every rank ends (docs/DISTRIBUTED.md, "Errors").
  virtual int finish(int rc) { return rc; }
  // Not yet (ZeRO-1, issue 16): reduce_scatter_sum (each rank gets its 1/N of the sum) and all_gather.
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
