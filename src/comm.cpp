// SingleComm and the transport-independent helpers of src/comm.h.
#include "src/comm.h"

#include <exception>
#include <vector>

#include "src/common.h"
#include "src/hash.h"

namespace beop {

Comm& single_comm() {
  static SingleComm c;
  return c;
}

void on_root(Comm& comm, const std::function<void()>& fn) {
  if (comm.size() == 1) return fn();
  std::exception_ptr err;
  std::string msg;
  if (comm.rank() == 0) {
    try {
      fn();
    } catch (const std::exception& e) {
      err = std::current_exception(), msg = e.what();
      if (msg.empty()) msg = "rank 0 failed";
    }
  }
  // the broadcast is also the barrier: the others wait here until rank 0 is done
  uint64_t len = msg.size();
  comm.broadcast(&len, sizeof len, 0);
  msg.resize(len);
  if (len) comm.broadcast(&msg[0], len, 0);
  if (err) std::rethrow_exception(err);
  if (len) throw Error(msg);
}

void check_same_on_every_rank(Comm& comm, const std::string& what, const std::string& name) {
  if (comm.size() == 1) return;
  // max(h) == -max(-h) iff every rank's h is the same (63 bits, so the negation cannot overflow)
  const int64_t h = int64_t(fnv1a64(what) >> 1);
  int64_t v[2] = {h, -h};
  comm.all_reduce_max(v, 2);
  BEOP_CHECK(v[0] == -v[1], "the ranks were started with different ", name, " (rank ", comm.rank(), ": ", what, ")");
}

}  // namespace beop
