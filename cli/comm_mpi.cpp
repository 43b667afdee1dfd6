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
  void all_reduce_sum(float* v, size_t n) override { sum(v, n, MPI_FLOAT); }
  void all_reduce_sum(double* v, size_t n) override { sum(v, n, MPI_DOUBLE); }
  void all_reduce_max(int64_t* v, size_t n) override {
    check(MPI_Allreduce(MPI_IN_PLACE, v, int(n), MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  }
  void reduce_scatter_sum(void* v, size_t n, DType t) override {
    if (t != DType::f32) throw std::runtime_error("MPI reduce-scatter: only fp32 buffers (bf16 needs NCCL)");
    reduce_scatter(static_cast<float*>(v), n, MPI_FLOAT);
  }
  void all_gather(void* v, size_t n, size_t elem_bytes) override { gather(static_cast<char*>(v), n, elem_bytes); }
  void broadcast(void* data, size_t bytes, int root) override {
    if (bytes > size_t(1) << 30) throw std::runtime_error("broadcast of more than 1 GiB (MPI counts are int)");
    check(MPI_Bcast(data, int(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  // rc 0: every rank got here the normal way; shut down. Otherwise the same bad input failed every rank at the
  // same place (each printed its line) and they all arrive here: end together. A rank that failed alone would
  // leave its peers blocked in a collective for ever, so after kPeerWaitSeconds it aborts the whole job.
  int finish(int rc) override {
    if (rc == 0) {
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

  // Rank j owns shard_range(n, N, j); it receives every other rank's copy of its shard (point-to-point, in rounds
  // of at most kRound elements: MPI counts are int) and folds the N copies in rank order, its own in its place.
  static constexpr size_t kRound = size_t(1) << 24;
  template <class T>
  void reduce_scatter(T* v, size_t n, MPI_Datatype type) {
    const int N = size_;
    if (N == 1) return;
    const ShardRange me = shard_range(n, N, rank_);
    std::vector<T> in(size_t(N) * std::min(kRound, me.size()));
    std::vector<MPI_Request> reqs;
    for (size_t k = 0;; k++) {  // round k: elements [lo + k*kRound, ...) of every shard
      bool any = false;
      reqs.clear();
      const size_t mine = k * kRound < me.size() ? std::min(kRound, me.size() - k * kRound) : 0;
      for (int j = 0; j < N; j++) {
        const ShardRange s = shard_range(n, N, j);
        const size_t c = k * kRound < s.size() ? std::min(kRound, s.size() - k * kRound) : 0;
        any = any || c > 0;
        if (j == rank_) continue;
        if (c) {
          reqs.emplace_back();
          check(MPI_Isend(v + s.lo + k * kRound, int(c), type, j, kTag, MPI_COMM_WORLD, &reqs.back()), "MPI_Isend");
        }
        if (mine) {
          reqs.emplace_back();
          check(MPI_Irecv(in.data() + size_t(j) * mine, int(mine), type, j, kTag, MPI_COMM_WORLD, &reqs.back()),
                "MPI_Irecv");
        }
      }
      if (!any) break;
      check(MPI_Waitall(int(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
      T* out = v + me.lo + k * kRound;
      for (size_t i = 0; i < mine; i++) {
        T acc = rank_ == 0 ? out[i] : in[i];
        for (int j = 1; j < N; j++) acc += j == rank_ ? out[i] : in[size_t(j) * mine + i];
        out[i] = acc;
      }
    }
  }

  // Every rank sends its shard to every other and receives theirs in place, in rounds of at most kRoundBytes.
  static constexpr size_t kRoundBytes = size_t(1) << 28;
  void gather(char* v, size_t n, size_t elem) {
    const int N = size_;
    if (N == 1) return;
    const ShardRange me = shard_range(n, N, rank_);
    std::vector<MPI_Request> reqs;
    for (size_t k = 0;; k++) {
      bool any = false;
      reqs.clear();
      auto part = [&](const ShardRange& s, size_t* off) {  // round k's bytes of shard s
        const size_t bytes = s.size() * elem, o = k * kRoundBytes;
        *off = s.lo * elem + o;
        return o < bytes ? std::min(kRoundBytes, bytes - o) : 0;
      };
      size_t my_off = 0;
      const size_t my_c = part(me, &my_off);
      for (int j = 0; j < N; j++) {
        size_t off = 0;
        const size_t c = part(shard_range(n, N, j), &off);
        any = any || c > 0;
        if (j == rank_) continue;
        if (my_c) {
          reqs.emplace_back();
          check(MPI_Isend(v + my_off, int(my_c), MPI_BYTE, j, kTag + 1, MPI_COMM_WORLD, &reqs.back()), "MPI_Isend");
        }
        if (c) {
          reqs.emplace_back();
          check(MPI_Irecv(v + off, int(c), MPI_BYTE, j, kTag + 1, MPI_COMM_WORLD, &reqs.back()), "MPI_Irecv");
        }
      }
      if (!any) break;
      check(MPI_Waitall(int(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
    }
  }

  static constexpr int kTag = 1600;
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
