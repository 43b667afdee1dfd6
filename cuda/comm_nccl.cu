// NcclComm (cuda/comm_nccl.h): src/comm.h over NCCL, device buffers. ZeRO-1's shards are shard_range()'s, whose
// sizes may differ by one, so the reduce-scatter is one ncclReduce per shard (to its owner) and the all-gather one
// ncclBroadcast per shard (from its owner), each batch in one NCCL group: NCCL's own ReduceScatter/AllGather
// need equal counts.
#include "cuda/comm_nccl.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

#include "src/common.h"

namespace beop::cuda_backend {
namespace {

void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) fail(what, " failed: ", ncclGetErrorString(r));
}
void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(what, " failed: ", cudaGetErrorString(e));
}

class NcclComm final : public Comm {
 public:
  explicit NcclComm(Comm& host) : host_(host) {
    ncclUniqueId id{};
    if (host.rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    host.broadcast(&id, sizeof id, 0);
    nccl_check(ncclCommInitRank(&comm_, host.size(), id, host.rank()), "ncclCommInitRank");
  }
  ~NcclComm() override {
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  int local_rank() const override { return host_.local_rank(); }
  int local_size() const override { return host_.local_size(); }
  bool device_buffers() const override { return true; }

  void all_reduce_sum(float* v, size_t n) override { all_reduce(v, n, ncclFloat32, ncclSum); }
  void all_reduce_sum(double* v, size_t n) override { all_reduce(v, n, ncclFloat64, ncclSum); }
  void all_reduce_max(int64_t* v, size_t n) override { all_reduce(v, n, ncclInt64, ncclMax); }

  void reduce_scatter_sum(void* v, size_t n, DType t) override {
    const ncclDataType_t type = t == DType::f32 ? ncclFloat32 : ncclBfloat16;
    const size_t elem = t == DType::f32 ? 4 : 2;
    char* p = static_cast<char*>(v);
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (int j = 0; j < size(); j++) {
      const ShardRange s = shard_range(n, size(), j);
      if (s.size())
        nccl_check(ncclReduce(p + s.lo * elem, p + s.lo * elem, s.size(), type, ncclSum, j, comm_, 0), "ncclReduce");
    }
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    done();
  }
  void all_gather(void* v, size_t n, size_t elem) override {
    char* p = static_cast<char*>(v);
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (int j = 0; j < size(); j++) {
      const ShardRange s = shard_range(n, size(), j);
      if (s.size())
        nccl_check(ncclBroadcast(p + s.lo * elem, p + s.lo * elem, s.size() * elem, ncclInt8, j, comm_, 0),
                   "ncclBroadcast");
    }
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    done();
  }
  // Rank 0 receives every other rank's shard (grouped point-to-point: NCCL has no gather) and copies its own.
  void gather_to_root(const void* mine, void* all, size_t n, size_t elem) override {
    const ShardRange me = shard_range(n, size(), rank());
    char* a = static_cast<char*>(all);
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    if (rank() != 0) {
      if (me.size()) nccl_check(ncclSend(mine, me.size() * elem, ncclInt8, 0, comm_, 0), "ncclSend");
    } else {
      for (int j = 1; j < size(); j++) {
        const ShardRange s = shard_range(n, size(), j);
        if (s.size()) nccl_check(ncclRecv(a + s.lo * elem, s.size() * elem, ncclInt8, j, comm_, 0), "ncclRecv");
      }
    }
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    if (rank() == 0 && me.size() && a != mine)
      cuda_check(cudaMemcpyAsync(a, mine, me.size() * elem, cudaMemcpyDeviceToDevice, 0), "cudaMemcpyAsync");
    done();
  }
  void broadcast(void* data, size_t bytes, int root) override {
    nccl_check(ncclBroadcast(data, data, bytes, ncclInt8, root, comm_, 0), "ncclBroadcast");
    done();
  }
  void barrier() override { host_.barrier(); }

 private:
  Comm& host_;
  ncclComm_t comm_ = nullptr;

  void all_reduce(void* v, size_t n, ncclDataType_t type, ncclRedOp_t op) {
    nccl_check(ncclAllReduce(v, v, n, type, op, comm_, 0), "ncclAllReduce");
    done();
  }
  // The collectives return finished (the trainer reads the results on the host next); a failed peer shows as an
  // asynchronous NCCL error, reported by name.
  void done() {
    cuda_check(cudaStreamSynchronize(0), "NCCL collective (cudaStreamSynchronize)");
    ncclResult_t async = ncclSuccess;
    nccl_check(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
    nccl_check(async, "NCCL collective");
  }
};

}  // namespace

std::unique_ptr<Comm> open_nccl_comm(Comm& host) { return std::unique_ptr<Comm>(new NcclComm(host)); }

}  // namespace beop::cuda_backend
