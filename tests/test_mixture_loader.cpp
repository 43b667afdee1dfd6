// Mixture loader: row proportions vs. weights (binomial 4-sigma band), determinism, save/restore, rank split,
// epoch coverage, target shift and loss-mask alignment, validation pass, spec and state errors.
//
// Fixture trick: every token value is unique and encodes where it sits. Source k's shard j holds the
// consecutive ids base(k, j) + 0, 1, 2, ... so a row's first input identifies its source, shard and window
// without asking the loader, and "targets are inputs shifted by one" becomes "each token is its left
// neighbour + 1".
#include <doctest/doctest.h>

#include "tests/test_util.h"

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "src/common.h"
#include "src/io.h"
#include "src/mixture_loader.h"
#include "src/shard.h"

using namespace beop;
namespace fs = std::filesystem;

namespace {

constexpr int kT = 16;
constexpr int64_t kVocab = 1 << 22;
const std::string kDir = "build/test_mixture_tmp";

int32_t base_of(int source, int shard) { return source * 1000000 + shard * 100000; }

// Writes source `name` (index k) as shards of the given token counts; each shard is split into documents of
// 97 tokens (document boundaries do not matter to the loader, which packs the stream).
void write_source(const std::string& name, int k, const std::vector<int>& sizes) {
  for (size_t j = 0; j < sizes.size(); j++) {
    ShardWriter w(kDir + "/" + name + "_train_" + std::to_string(j) + ".bin", kVocab);
    std::vector<int32_t> doc;
    for (int i = 0; i < sizes[j]; i++) {
      doc.push_back(base_of(k, (int)j) + i);
      if (doc.size() == 97 || i + 1 == sizes[j]) {
        w.add_document(doc);
        doc.clear();
      }
    }
    w.finish();
  }
}

// Sizes chosen so window counts are known by hand: (n-1)/T windows per shard.
//   legal:   shards of 1000 and 700 tokens -> 62 + 43 = 105 windows
//   general: one shard of 1300 tokens      -> 81 windows
//   even:    shards of 801 and 321 tokens  -> 50 + 20 = 70 windows (even, for the 2-rank split)
struct Fixture {
  Fixture() {
    static bool done = false;
    if (done) return;
    fs::remove_all(kDir);
    make_dirs(kDir);
    write_source("legal", 1, {1000, 700});
    write_source("general", 2, {1300});
    write_source("even", 3, {801, 321});
    write_source("tiny", 4, {16});  // 16 tokens: not one window of T+1
    done = true;
  }
};

std::string spec_lg(double wl = 0.7, double wg = 0.3) {
  return "legal=" + kDir + "/legal_train_*.bin:" + std::to_string(wl) + ",general=" + kDir +
         "/general_train_*.bin:" + std::to_string(wg);
}

LoaderOptions opts(uint64_t seed, int rank = 0, int world = 1) {
  LoaderOptions o;
  o.seed = seed;
  o.rank = rank;
  o.world = world;
  o.vocab_limit = kVocab;
  return o;
}

using beop::test::error_of;

// (source, shard, window) a row starts at, decoded from its first token.
struct Where {
  int source, shard, window, offset;
};
Where where(int32_t tok) {
  Where w;
  w.source = tok / 1000000;
  w.shard = (tok % 1000000) / 100000;
  w.offset = tok % 100000;
  w.window = w.offset / kT;
  return w;
}

bool same(const Batch& a, const Batch& b) {
  return a.inputs == b.inputs && a.targets == b.targets && a.loss_mask == b.loss_mask && a.source == b.source;
}

}  // namespace

TEST_CASE("rows are consecutive windows of T+1 tokens and targets are inputs shifted by one") {
  Fixture f;
  MixtureLoader L(spec_lg(), kT, opts(1));
  CHECK(L.source_windows(0) == 105);
  CHECK(L.source_windows(1) == 81);
  CHECK(L.source_tokens(0) == 1700);
  CHECK(L.source_weight(0) == doctest::Approx(0.7));
  for (int it = 0; it < 50; it++) {
    Batch b = L.next_batch(8, kT);
    REQUIRE(b.inputs.size() == 8 * kT);
    for (int r = 0; r < 8; r++) {
      const int32_t* in = &b.inputs[r * kT];
      const int32_t* tg = &b.targets[r * kT];
      Where w = where(in[0]);
      CHECK(w.source == b.source[r] + 1);  // loader index 0 = "legal" = fixture source 1
      CHECK(w.offset % kT == 0);           // windows start at multiples of T
      int shard_tokens = w.source == 1 ? (w.shard == 0 ? 1000 : 700) : 1300;
      CHECK(w.offset + kT < shard_tokens);  // the T+1-token window fits in its shard
      for (int t = 0; t < kT; t++) {
        REQUIRE(in[t] == in[0] + t);
        REQUIRE(tg[t] == in[t] + 1);
        REQUIRE(b.loss_mask[r * kT + t] == 1);  // no mask stream: all ones
      }
    }
  }
  CHECK(error_of([&] { L.next_batch(2, kT + 1); }) == "mixture loader: next_batch T=17 but the loader was built for T=16");
}

TEST_CASE("row proportions follow the normalised weights within a binomial 4-sigma band") {
  Fixture f;
  struct Case {
    std::string spec;
    std::vector<double> p;
  };
  std::vector<Case> cases = {
      {spec_lg(7, 3), {0.7, 0.3}},  // unnormalised weights
      {spec_lg(0.5, 0.5), {0.5, 0.5}},
      {"legal=" + kDir + "/legal_train_*.bin:1,general=" + kDir + "/general_train_0.bin:2,even=" + kDir +
           "/even_train_*.bin:5",
       {1 / 8.0, 2 / 8.0, 5 / 8.0}},
  };
  for (auto& c : cases) {
    for (uint64_t seed : {1ull, 99ull}) {
      MixtureLoader L(c.spec, kT, opts(seed));
      const int batches = 250, B = 32, n = batches * B;
      std::vector<int> count(c.p.size(), 0);
      for (int i = 0; i < batches; i++)
        for (int s : L.next_batch(B, kT).source) count[s]++;
      for (size_t s = 0; s < c.p.size(); s++) {
        double mean = n * c.p[s], sd = std::sqrt(n * c.p[s] * (1 - c.p[s]));
        INFO("spec ", c.spec, " seed ", seed, " source ", s, " count ", count[s], " expected ", mean);
        CHECK(std::fabs(count[s] - mean) <= 4 * sd);
      }
    }
  }
  // A zero-weight source is never drawn.
  MixtureLoader Z(spec_lg(1, 0), kT, opts(3));
  for (int i = 0; i < 20; i++)
    for (int s : Z.next_batch(16, kT).source) CHECK(s == 0);
}

TEST_CASE("same seed gives the same batches, a different seed different ones") {
  Fixture f;
  MixtureLoader a(spec_lg(), kT, opts(7)), b(spec_lg(), kT, opts(7)), c(spec_lg(), kT, opts(8));
  int differ = 0;
  for (int i = 0; i < 30; i++) {
    Batch x = a.next_batch(4, kT), y = b.next_batch(4, kT), z = c.next_batch(4, kT);
    CHECK(same(x, y));
    differ += !same(x, z);
  }
  CHECK(differ >= 28);  // two independent streams coincide on a batch with negligible probability
}

TEST_CASE("one epoch visits every window of a source exactly once, in a new order each epoch") {
  Fixture f;
  MixtureLoader L("even=" + kDir + "/even_train_*.bin", kT, opts(5));
  REQUIRE(L.source_windows(0) == 70);
  std::vector<std::vector<int32_t>> epochs(3);
  for (int e = 0; e < 3; e++) {
    Batch b = L.next_batch(70, kT);  // one batch = one epoch
    for (int r = 0; r < 70; r++) epochs[e].push_back(b.inputs[r * kT]);
    std::set<int32_t> uniq(epochs[e].begin(), epochs[e].end());
    CHECK(uniq.size() == 70);
    for (int32_t t : uniq) {  // every window start of both shards: shard 0 has 50, shard 1 has 20
      Where w = where(t);
      CHECK(w.window < (w.shard == 0 ? 50 : 20));
    }
  }
  CHECK(L.source_epoch(0) == 2);
  CHECK(epochs[0] != epochs[1]);
  CHECK(epochs[1] != epochs[2]);
  // Shuffled, not file order (a file-order epoch would be monotonic).
  CHECK(!std::is_sorted(epochs[0].begin(), epochs[0].end()));
}

TEST_CASE("permute_index is a bijection of [0, n)") {
  for (uint64_t n : {1ull, 2ull, 3ull, 5ull, 64ull, 65ull, 100ull, 257ull, 1000ull, 4097ull}) {
    for (uint64_t key : {0ull, 1ull, 0xdeadbeefull}) {
      std::vector<char> hit(n, 0);
      for (uint64_t i = 0; i < n; i++) {
        uint64_t j = permute_index(i, n, key);
        REQUIRE(j < n);
        REQUIRE(!hit[j]);
        hit[j] = 1;
      }
    }
  }
  CHECK(permute_index(5, 1000, 1) != permute_index(5, 1000, 2));
}

TEST_CASE("ranks 0 and 1 of 2 see disjoint windows whose union is the epoch") {
  Fixture f;
  std::string spec = "even=" + kDir + "/even_train_*.bin:1,legal=" + kDir + "/legal_train_*.bin:1";
  MixtureLoader r0(spec, kT, opts(11, 0, 2)), r1(spec, kT, opts(11, 1, 2));
  // Draw until "even" has completed one epoch on each rank: 35 rows per rank.
  std::set<int32_t> s0, s1;
  int even_rows = 0;
  while (even_rows < 35) {
    Batch a = r0.next_batch(1, kT), b = r1.next_batch(1, kT);
    REQUIRE(a.source == b.source);  // ranks draw the same source sequence (lockstep)
    if (a.source[0] != 0) continue;
    s0.insert(a.inputs[0]);
    s1.insert(b.inputs[0]);
    even_rows++;
  }
  CHECK(s0.size() == 35);
  CHECK(s1.size() == 35);
  std::set<int32_t> both(s0.begin(), s0.end());
  both.insert(s1.begin(), s1.end());
  CHECK(both.size() == 70);  // disjoint and together all 70 windows
  CHECK(r0.source_epoch(0) == 0);
  // Rank states are identical, so rank 0's saved state restores rank 1.
  MixtureLoader r1b(spec, kT, opts(11, 1, 2));
  r1b.load_state(r0.save_state());
  CHECK(same(r1b.next_batch(6, kT), r1.next_batch(6, kT)));
  CHECK(error_of([&] { MixtureLoader x(spec, kT, opts(1, 2, 2)); }) == "mixture loader: rank 2 outside [0, world=2)");
}

TEST_CASE("save_state after k batches restores the exact continuation") {
  Fixture f;
  for (int k : {0, 1, 7, 40}) {
    MixtureLoader a(spec_lg(), kT, opts(21));
    for (int i = 0; i < k; i++) a.next_batch(8, kT);
    std::string st = a.save_state();
    MixtureLoader b(spec_lg(), kT, opts(21));
    b.next_batch(3, kT);  // b's own progress must be overwritten completely
    b.load_state(st);
    CHECK(b.save_state() == st);
    for (int i = 0; i < 40; i++) {  // 320 rows: several epochs of both sources
      Batch x = a.next_batch(8, kT), y = b.next_batch(8, kT);
      REQUIRE(same(x, y));
    }
    CHECK(a.source_epoch(0) >= 1);
    CHECK(a.rows_drawn() == b.rows_drawn());  // the counter is part of the state
  }
}

TEST_CASE("load_state rejects foreign, corrupt and mismatched states") {
  Fixture f;
  MixtureLoader a(spec_lg(), kT, opts(21));
  a.next_batch(5, kT);
  std::string st = a.save_state();
  MixtureLoader b(spec_lg(), kT, opts(21));
  std::string before = b.save_state();
  CHECK(error_of([&] { b.load_state("hello world, not a state"); }).find("bad magic") != std::string::npos);
  CHECK(error_of([&] { b.load_state(st.substr(0, st.size() - 1)); }).find("loader state") == 0);
  std::string flipped = st;
  flipped[40] ^= 1;
  CHECK(error_of([&] { b.load_state(flipped); }) == "loader state checksum mismatch (corrupt or truncated)");
  std::string ver = st;
  ver[8] = 9;
  CHECK(error_of([&] { b.load_state(ver); }) == "loader state version 9 (this build reads 1)");
  MixtureLoader other_seed(spec_lg(), kT, opts(22));
  CHECK(error_of([&] { other_seed.load_state(st); }) == "loader state was saved with seed 21, this loader has seed 22");
  MixtureLoader other_data("legal=" + kDir + "/legal_train_0.bin:0.7,general=" + kDir + "/general_train_*.bin:0.3",
                           kT, opts(21));
  CHECK(error_of([&] { other_data.load_state(st); }).find("was saved on other data") != std::string::npos);
  MixtureLoader swapped("general=" + kDir + "/general_train_*.bin:0.3,legal=" + kDir + "/legal_train_*.bin:0.7", kT,
                        opts(21));
  CHECK(error_of([&] { swapped.load_state(st); }) == "loader state source 0 is 'legal', this loader has 'general'");
  CHECK(b.save_state() == before);  // failed loads changed nothing
}

TEST_CASE("loss mask is the mask of the target token (hand-built instruction shard)") {
  Fixture f;
  // An instruction document: prompt tokens (mask 0) then response tokens (mask 1), repeated. Token value v
  // gets mask (v % 5 >= 2), so the expected mask of any target is computable from its value alone.
  std::string p = kDir + "/inst_train_000.bin";
  {
    ShardWriter w(p, kVocab, true);
    for (int d = 0; d < 4; d++) {
      std::vector<int32_t> doc;
      std::vector<uint8_t> m;
      for (int i = 0; i < 50; i++) {
        int32_t v = 3000000 + d * 50 + i;
        doc.push_back(v);
        m.push_back(v % 5 >= 2);
      }
      w.add_document(doc, m);
    }
    w.finish();
  }
  MixtureLoader L("inst=" + p, kT, opts(3));
  int zeros = 0;
  for (int it = 0; it < 10; it++) {
    Batch b = L.next_batch(4, kT);
    for (int i = 0; i < 4 * kT; i++) {
      REQUIRE(b.loss_mask[i] == (b.targets[i] % 5 >= 2));
      zeros += b.loss_mask[i] == 0;
    }
  }
  CHECK(zeros > 0);
  // Also check in the validation pass, and that the mask of inputs is *not* what is returned.
  int mismatches_vs_inputs = 0;
  L.for_each_val_batch(0, 5, [&](const Batch& b) {
    for (int i = 0; i < b.B * kT; i++) {
      REQUIRE(b.loss_mask[i] == (b.targets[i] % 5 >= 2));
      mismatches_vs_inputs += b.loss_mask[i] != (b.inputs[i] % 5 >= 2);
    }
  });
  CHECK(mismatches_vs_inputs > 0);
}

TEST_CASE("validation pass: every window in file order, deterministic, training state untouched") {
  Fixture f;
  MixtureLoader L(spec_lg(), kT, opts(4));
  L.next_batch(3, kT);
  std::string st = L.save_state();
  std::vector<int32_t> firsts;
  int64_t rows = L.for_each_val_batch(0, 16, [&](const Batch& b) {
    CHECK(b.B <= 16);
    for (int r = 0; r < b.B; r++) {
      firsts.push_back(b.inputs[r * kT]);
      CHECK(b.source[r] == 0);
      for (int t = 0; t < kT; t++) REQUIRE(b.targets[r * kT + t] == b.inputs[r * kT + t] + 1);
    }
  });
  CHECK(rows == 105);
  REQUIRE(firsts.size() == 105);
  for (int g = 0; g < 105; g++) {  // file order: shard 0 windows 0..61, then shard 1 windows 0..42
    int32_t want = g < 62 ? base_of(1, 0) + g * kT : base_of(1, 1) + (g - 62) * kT;
    REQUIRE(firsts[g] == want);
  }
  CHECK(L.save_state() == st);
  int batches = 0;
  CHECK(L.for_each_val_batch(1, 10, [&](const Batch&) { batches++; }, 3) == 30);
  CHECK(batches == 3);
  // Two ranks split the validation windows disjointly and completely.
  MixtureLoader v0(spec_lg(), kT, opts(4, 0, 2)), v1(spec_lg(), kT, opts(4, 1, 2));
  std::set<int32_t> all;
  int64_t n0 = v0.for_each_val_batch(1, 7, [&](const Batch& b) { for (int r = 0; r < b.B; r++) all.insert(b.inputs[r * kT]); });
  int64_t n1 = v1.for_each_val_batch(1, 7, [&](const Batch& b) { for (int r = 0; r < b.B; r++) all.insert(b.inputs[r * kT]); });
  CHECK(n0 == 41);
  CHECK(n1 == 40);
  CHECK(all.size() == 81);
}

TEST_CASE("mixture spec parsing") {
  auto v = parse_mixture_spec(" legal = a/b_*.bin : 0.7 , general=c:d/e.bin:0.3,x=y.bin");
  REQUIRE(v.size() == 3);
  CHECK(v[0].name == "legal");
  CHECK(v[0].pattern == "a/b_*.bin");
  CHECK(v[0].weight == 0.7);
  CHECK(v[1].pattern == "c:d/e.bin");  // the weight is after the last ':'
  CHECK(v[1].weight == 0.3);
  CHECK(v[2].weight == 1.0);  // omitted weight
  auto E = [](const std::string& s, std::vector<std::string> expected = {}) {
    return error_of([&] { parse_mixture_spec(s, expected); });
  };
  CHECK(E("legal=a:1,misc=b:1", {"legal", "general"}) ==
        "mixture spec: unknown source 'misc' (expected one of: legal, general)");
  CHECK(E("legal=a:abc") == "mixture spec: source 'legal': weight 'abc' is not a number");
  CHECK(E("legal=a:0.5x") == "mixture spec: source 'legal': weight '0.5x' is not a number");
  CHECK(E("legal=a:") == "mixture spec: source 'legal': weight '' is not a number");
  CHECK(E("legal=a:-1") == "mixture spec: source 'legal': negative weight -1");
  CHECK(E("legal=a:nan").find("not finite") != std::string::npos);
  CHECK(E("legal=a:0,general=b:0") == "mixture spec 'legal=a:0,general=b:0': weights sum to 0");
  CHECK(E("legal") == "mixture spec entry 'legal': missing '=' (want name=glob:weight)");
  CHECK(E("=a:1") == "mixture spec entry '=a:1': empty source name");
  CHECK(E("legal=:1") == "mixture spec: source 'legal' has an empty file pattern");
  CHECK(E("legal=a,legal=b") == "mixture spec: source 'legal' given twice");
  CHECK(E("legal=a,,general=b") == "mixture spec 'legal=a,,general=b': empty entry (stray comma?)");
  CHECK(E("") == "mixture spec is empty (want name=glob:weight,...)");
}

TEST_CASE("loader errors: glob matching nothing, empty source, token beyond the model vocab") {
  Fixture f;
  CHECK(error_of([&] { MixtureLoader L("legal=" + kDir + "/nothing_*.bin:1", kT, opts(1)); }) ==
        "no files match '" + kDir + "/nothing_*.bin'");
  CHECK(error_of([&] { MixtureLoader L("tiny=" + kDir + "/tiny_train_*.bin:1", kT, opts(1)); }) ==
        "source 'tiny' (" + kDir + "/tiny_train_*.bin): 16 tokens in 1 shard(s) make 0 windows of T+1=17 tokens, "
        "fewer than the 1 rank(s) need (empty source?)");
  LoaderOptions o = opts(1);
  o.vocab_limit = 8192;
  CHECK(error_of([&] { MixtureLoader L("legal=" + kDir + "/legal_train_0.bin", kT, o); }) ==
        "token 1000000 at position 0 in " + kDir + "/legal_train_0.bin exceeds vocab 8192");
  CHECK(error_of([&] { MixtureLoader L(spec_lg(), kT, opts(1), {"legal"}); }).find("unknown source 'general'") !=
        std::string::npos);
}

TEST_CASE("row order and saved state bytes are pinned (values from the loader's own xoshiro, before src/rng.h)") {
  // The loader's generator was merged into src/rng.h's Rng; resumed runs and saved states must not notice.
  // These numbers were computed with the old implementation: the first token of 24 rows, and the FNV-1a of
  // the state saved after them.
  Fixture f;
  MixtureLoader L(spec_lg(), kT, opts(42));
  Batch b = L.next_batch(24, kT);
  std::vector<int32_t> first;
  for (int r = 0; r < 24; r++) first.push_back(b.inputs[size_t(r) * kT]);
  const std::string st = L.save_state();
  CHECK(first == std::vector<int32_t>{2000080, 1000416, 2001040, 1000880, 1100672, 1000608, 2000912, 1000448,
                                      2000432, 2000992, 1000112, 1100624, 1000432, 2000464, 2001184, 2000832,
                                      1000864, 2001104, 1100384, 1000256, 1000800, 1000320, 1000304, 1100224});
  CHECK(st.size() == 164);
  CHECK(fnv1a64(st) == 18395938100152402183ull);
}
