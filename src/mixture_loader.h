// The legal/general mixture loader: named sources of token shards, each row of a batch drawn from a source by
// weight. Spec syntax (globs allowed; weights are normalised; ":weight" may be omitted = 1):
//
//   legal=data/build/legal_train_*.bin:0.7,general=data/build/general_train_*.bin:0.3
//
// Rows are windows of T+1 tokens: window k of a shard is tokens [k*T, k*T+T+1) (consecutive windows share one
// token, so every token after the first is a target exactly once); inputs = window[0:T], targets =
// window[1:T+1], loss_mask = the shard's mask of each *target* token (all 1 without a mask stream). Windows
// never cross shards; the < T tail of a shard is not used.
//
// Determinism. One xoshiro256** stream (seeded from the seed) picks the source of every row. Within a source,
// epoch e visits the windows of all its shards in the order of a keyed bijection of [0, n_windows) (a Feistel
// network with cycle walking; key = hash(seed, source name, e)), so shards and window positions are both
// shuffled, differently each epoch, without materialising a permutation. Rank r of W takes positions r, r+W,
// r+2W, ... of that order; every rank draws the same source sequence, so the ranks stay in lockstep and see
// disjoint windows whose union is the epoch (minus n_windows mod W windows, which a later epoch's shuffle
// brings back). The whole state (RNG + per-source epoch/position) round-trips through save_state/load_state.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace beop {

struct MixtureSource {
  std::string name;     // e.g. "legal"
  std::string pattern;  // a path or glob of token shards
  double weight = 1.0;  // unnormalised, >= 0
};

// Parses "name=glob[:weight],...". If `expected` is non-empty, every name must be one of them. Throws Error on
// an empty or duplicate name, a missing '=', an empty pattern, a non-numeric / negative / non-finite weight,
// or a zero total weight. Does not touch the file system.
std::vector<MixtureSource> parse_mixture_spec(const std::string& spec,
                                              const std::vector<std::string>& expected = {});

// Sorted matches of a glob pattern; throws Error naming the pattern when nothing matches.
std::vector<std::string> expand_glob(const std::string& pattern);

struct LoaderOptions {
  uint64_t seed = 1;
  int rank = 0;             // this process's rank in [0, world)
  int world = 1;            // number of data-parallel ranks
  int64_t vocab_limit = 0;  // > 0: every token must be below this (the model's vocab); checked on open
};

struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> inputs;     // (B, T) token ids
  std::vector<int32_t> targets;    // (B, T) inputs shifted by one token within the stream
  std::vector<uint8_t> loss_mask;  // (B, T) 1 = count this target in the loss
  std::vector<int32_t> source;     // (B,) index of the source each row came from
};

class MixtureLoader {
 public:
  // Opens (mmap + validates) every shard. T = sequence length; every source needs >= world windows.
  MixtureLoader(const std::vector<MixtureSource>& sources, int T, const LoaderOptions& opt);
  MixtureLoader(const std::string& spec, int T, const LoaderOptions& opt,
                const std::vector<std::string>& expected = {});
  ~MixtureLoader();
  MixtureLoader(MixtureLoader&&) noexcept;
  MixtureLoader& operator=(MixtureLoader&&) noexcept;

  // Fills out with B rows. T must equal the loader's sequence length.
  void next_batch(int B, int T, Batch& out);
  Batch next_batch(int B, int T);

  // Versioned byte string with the RNG and every source's epoch and position (plus a fingerprint of the data,
  // seed, T and world, which load_state checks). Identical on every rank, so rank 0's state restores any rank.
  std::string save_state() const;
  void load_state(const std::string& state);

  // Deterministic validation pass over source s: windows in file order (shards in sorted-glob order, window
  // k = 0, 1, ...), this rank's share (window g with g % world == rank), in batches of up to B rows (the last
  // may be shorter). Stops after max_batches batches if >= 0. Does not change the training state. Returns the
  // number of rows visited.
  int64_t for_each_val_batch(int s, int B, const std::function<void(const Batch&)>& fn,
                             int64_t max_batches = -1) const;

  int T() const;
  int n_sources() const;
  int source_index(const std::string& name) const;  // -1 if absent
  const std::string& source_name(int s) const;
  double source_weight(int s) const;       // normalised
  int64_t source_tokens(int s) const;      // tokens over all the source's shards
  int64_t source_windows(int s) const;     // windows of T+1 tokens over all its shards (all ranks)
  int64_t source_epoch(int s) const;       // the epoch (0, 1, ...) this source is in
  const std::vector<std::string>& source_files(int s) const;
  int64_t rows_drawn() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The keyed bijection of [0, n) the loader shuffles with (exposed for tests).
uint64_t permute_index(uint64_t i, uint64_t n, uint64_t key);

}  // namespace beop
