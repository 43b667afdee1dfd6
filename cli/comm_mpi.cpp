// MpiComm: src/comm.h over MPI (Debian's OpenMPI), CPU buffers. Kept out of libbeop.a (see the Makefile): only
// ./train links libmpi. Errors are std::runtime_error, so this object needs nothing from the library.
#include "cli/comm_mpi.h"

// the C API only: OpenMPI's deprecated C++ bindings would need libmpi_cxx (and warn in -Wall)
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace beop::cli {
namespace {

// How long a failing rank waits for its peers to fail too before it aborts the job (see finish()).
constexpr double kPeerWaitSeconds = 10;

class MpiComm final : public Comm {
 public:
  MpiComm() {
    int provided = 0;  // only the main thread calls MPI (OpenMP threads never do): FUNNELED
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);  // errors become exceptions, not aborts
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &host_), "split_type");
    MPI_Comm_rank(host_, &local_rank_);
    MPI_Comm_size(host_, &local_size_);
    // finish()'s barrier gets a communicator of its own, so it can never match one of the trainer's collectives
    check(MPI_Comm_dup(MPI_COMM_WORLD, &errors_), "MPI_Comm_dup");
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  void all_reduce_sum(float* v, size_t n) override { Timed t(*this, n * 4); sum(v, n, MPI_FLOAT); }
  void all_reduce_sum(double* v, size_t n) override { Timed t(*this, n * 8); sum(v, n, MPI_DOUBLE); }
  void all_reduce_max(int64_t* v, size_t n) override {
    Timed t(*this, n * 8);
    check(MPI_Allreduce(MPI_IN_PLACE, v, int(n), MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  }
  void reduce_scatter_sum(void* v, size_t n, DType t) override {
    if (t != DType::f32) throw std::runtime_error("MPI reduce-scatter: only fp32 buffers (bf16 needs NCCL)");
    reduce_scatter(static_cast<float*>(v), n, MPI_FLOAT);
  }
  void all_gather(void* v, size_t n, size_t elem_bytes) override { gather(static_cast<char*>(v), n, elem_bytes); }
  void gather_to_root(const void* mine, void* all, size_t n, size_t elem_bytes) override {
    Timed t(*this, n * elem_bytes);
    gather_root(static_cast<const char*>(mine), static_cast<char*>(all), n, elem_bytes);
  }
  void broadcast(void* data, size_t bytes, int root) override {
    if (bytes > size_t(1) << 30) throw std::runtime_error("broadcast of more than 1 GiB (MPI counts are int)");
    Timed t(*this, bytes);
    check(MPI_Bcast(data, int(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  void barrier() override { Timed t(*this, 0); check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  // rc 0: every rank got here the normal way; shut down. Otherwise the same bad input failed every rank at the
  // same place (each printed its line) and they all arrive here: end together. A rank that failed alone would
  // leave its peers blocked in a collective for ever, so after kPeerWaitSeconds it aborts the whole job.
  int finish(int rc) override {
    if (rc == 0) {
      if (rank_ == 0 && calls_ > 0)  // the run's summary (bench/bench_dp.cpp reads it)
        std::printf("mpi: rank 0 of %d spent %.3f s in %lld collectives over %.1f MiB\n", size_, comm_s_,
                    (long long)calls_, double(bytes_) / (1 << 20));
      std::fflush(stdout);
      MPI_Finalize();
      return 0;
    }
    MPI_Request req;
    int done = 0;
    if (MPI_Ibarrier(errors_, &req) == MPI_SUCCESS) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(kPeerWaitSeconds);
      while (!done && std::chrono::steady_clock::now() < until) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (done) {
      MPI_Finalize();
      return rc;
    }
    std::fprintf(stderr, "error: rank %d of %d failed (exit %d) while the others went on; aborting them\n", rank_,
                 size_, rc);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, rc);
    return rc;
  }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  MPI_Comm host_ = MPI_COMM_NULL, errors_ = MPI_COMM_NULL;
  // Time in the collectives (waiting for slower ranks included): two clock reads a call, printed by finish().
  double comm_s_ = 0;
  int64_t calls_ = 0;
  uint64_t bytes_ = 0;
  struct Timed {
    MpiComm& c;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    Timed(MpiComm& comm, size_t bytes) : c(comm) { c.calls_++, c.bytes_ += bytes; }
    ~Timed() { c.comm_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  };

  void check(int rc, const char* what) const {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw std::runtime_error(std::string(what) + " failed on rank " + std::to_string(rank_) + ": " +
                             std::string(msg, size_t(len)));
  }

  // The rank-order sum (src/comm.h): a reduce-scatter, then an all-gather of the summed shards. Each rank sends
  // and receives 2(N-1)/N of v, like a ring all-reduce, but the order of the additions is fixed.
  template <class T>
  void sum(T* v, size_t n, MPI_Datatype type) {
    reduce_scatter(v, n, type);
    gather(reinterpret_cast<char*>(v), n, sizeof(T));
  }

  // Rank j owns shard_range(n, N, j); an all-to-all gives it every rank's copy of its shard, which it folds in rank
  // order. In rounds of at most kRound elements per shard (MPI counts and offsets are int): round k packs the k-th
  // piece of every shard into one send buffer (a collective, so MPI picks the exchange's algorithm).
  static constexpr size_t kRound = size_t(1) << 24;
  template <class T>
  void reduce_scatter(T* v, size_t n, MPI_Datatype type) {
    const int N = size_;
    if (N == 1) return;
    const ShardRange me = shard_range(n, N, rank_);
    const size_t rounds = (shard_range(n, N, N - 1).size() + kRound - 1) / kRound;  // the last shard is largest
    std::vector<int> counts(N), offs(N), in_counts(N), in_offs(N);
    std::vector<T> out, in;
    for (size_t k = 0; k < rounds; k++) {
      auto piece = [&](const ShardRange& s) {
        return k * kRound < s.size() ? std::min(kRound, s.size() - k * kRound) : 0;
      };
      const size_t mine = piece(me);
      size_t total = 0;
      for (int j = 0; j < N; j++) {
        counts[j] = int(piece(shard_range(n, N, j))), offs[j] = int(total), total += size_t(counts[j]);
        in_counts[j] = int(mine), in_offs[j] = int(size_t(j) * mine);
      }
      out.resize(total);
      in.resize(size_t(N) * mine);
      for (int j = 0; j < N; j++)
        std::copy_n(v + shard_range(n, N, j).lo + k * kRound, counts[j], out.begin() + offs[j]);
      check(MPI_Alltoallv(out.data(), counts.data(), offs.data(), type, in.data(), in_counts.data(), in_offs.data(),
                          type, MPI_COMM_WORLD), "MPI_Alltoallv");
      T* dst = v + me.lo + k * kRound;
      for (size_t i = 0; i < mine; i++) {
        T acc = in[i];
        for (int j = 1; j < N; j++) acc += in[size_t(j) * mine + i];
        dst[i] = acc;
      }
    }
  }

  // Every rank's shard to every rank, in rounds of at most kRoundBytes per shard (packed like reduce_scatter's).
  static constexpr size_t kRoundBytes = size_t(1) << 26;
  void gather(char* v, size_t n, size_t elem) {
    const int N = size_;
    if (N == 1) return;
    const ShardRange me = shard_range(n, N, rank_);
    const size_t rounds = (shard_range(n, N, N - 1).size() * elem + kRoundBytes - 1) / kRoundBytes;
    std::vector<int> counts(N), offs(N);
    std::vector<char> in;
    for (size_t k = 0; k < rounds; k++) {
      auto piece = [&](const ShardRange& s) {
        const size_t bytes = s.size() * elem;
        return k * kRoundBytes < bytes ? std::min(kRoundBytes, bytes - k * kRoundBytes) : 0;
      };
      size_t total = 0;
      for (int j = 0; j < N; j++)
        counts[j] = int(piece(shard_range(n, N, j))), offs[j] = int(total), total += size_t(counts[j]);
      in.resize(total);
      check(MPI_Allgatherv(v + me.lo * elem + k * kRoundBytes, counts[rank_], MPI_BYTE, in.data(), counts.data(),
                           offs.data(), MPI_BYTE, MPI_COMM_WORLD), "MPI_Allgatherv");
      for (int j = 0; j < N; j++)
        if (j != rank_)
          std::copy_n(in.begin() + offs[j], counts[j], v + shard_range(n, N, j).lo * elem + k * kRoundBytes);
    }
  }

  // Every rank's shard to rank 0 only, in the same rounds as gather(): MPI_Gatherv straight into `all` (the
  // shards tile [0, n) in rank order, so rank 0's receive offsets are the shards' own).
  void gather_root(const char* mine, char* all, size_t n, size_t elem) {
    const int N = size_;
    const size_t my_bytes = shard_range(n, N, rank_).size() * elem;
    if (N == 1) {
      if (all != mine && my_bytes) std::copy_n(mine, my_bytes, all);
      return;
    }
    const size_t rounds = (shard_range(n, N, N - 1).size() * elem + kRoundBytes - 1) / kRoundBytes;
    std::vector<int> counts(N), offs(N);
    std::vector<char> in;
    for (size_t k = 0; k < rounds; k++) {
      auto piece = [&](size_t bytes) { return k * kRoundBytes < bytes ? std::min(kRoundBytes, bytes - k * kRoundBytes) : 0; };
      size_t total = 0;
      for (int j = 0; j < N; j++)
        counts[j] = int(piece(shard_range(n, N, j).size() * elem)), offs[j] = int(total), total += size_t(counts[j]);
      if (rank_ == 0) in.resize(total);
      check(MPI_Gatherv(mine + std::min(k * kRoundBytes, my_bytes), counts[rank_], MPI_BYTE, in.data(),
                        counts.data(), offs.data(), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Gatherv");
      if (rank_ == 0)
        for (int j = 0; j < N; j++)
          std::copy_n(in.begin() + offs[j], counts[j], all + shard_range(n, N, j).lo * elem + k * kRoundBytes);
    }
  }
};

}  // namespace

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_SIZE");
}

std::unique_ptr<Comm> open_comm() {
  if (launched_by_mpi()) return std::unique_ptr<Comm>(new MpiComm());
  return std::unique_ptr<Comm>(new SingleComm());
}

}  // namespace beop::cli
