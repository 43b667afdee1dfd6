// A short line that identifies the data a mixture spec names on this host, for the start-up check of a
// data-parallel run (docs/DISTRIBUTED.md, "Errors"): ranks given the same --data can still see different files
// (another host's copy, a shard missing or re-made there), and would then train different models while summing
// their gradients. Compared across ranks with check_same_on_every_rank (src/comm.h).
#pragma once
#include <string>

namespace beop {

// "N shard(s), B bytes, data hash H": H covers every source's name and weight, every matched path (as the glob
// returns it), its size, its 64-byte header (tokens, documents, vocabulary, flags) and its first and last 4 KiB
// after the header (a sample, so that a shard of the same size made from other text differs too; two reads a
// shard, never the whole file). A spec or glob error gives "error: ..." instead of throwing, so that every rank
// reaches the comparison and the ranks fail together.
std::string data_fingerprint(const std::string& spec);

}  // namespace beop
