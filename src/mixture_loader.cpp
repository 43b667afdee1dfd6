#include "src/mixture_loader.h"

#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>

#include "src/bytes.h"
#include "src/common.h"
#include "src/rng.h"
#include "src/shard.h"
#include "src/text.h"

namespace beop {

namespace {

// The loader's generator is src/rng.h's Rng (xoshiro256**). Its seeding predates the merge: it stepped the
// splitmix64 counter once more before each state word, which is exactly Rng(seed + one splitmix64 increment).
// Keep that offset: it fixes every run's row order and the rng words in saved loader states.
Rng loader_rng(uint64_t seed) { return Rng(seed + 0x9E3779B97F4A7C15ull); }

constexpr char kStateMagic[8] = {'B', 'E', 'O', 'P', 'M', 'I', 'X', '\0'};
constexpr uint32_t kStateVersion = 1;

}  // namespace

uint64_t permute_index(uint64_t i, uint64_t n, uint64_t key) {
  if (i >= n) fail("permute_index: ", i, " outside [0, ", n, ")");
  if (n <= 1) return i;
  int bits = 64 - __builtin_clzll(n - 1);  // n-1 fits in `bits` bits
  int h = (bits + 1) / 2;                   // balanced Feistel on 2h >= bits bits: domain < 4n
  uint64_t mask = (1ull << h) - 1;
  uint64_t x = i;
  do {  // cycle walking: re-apply the bijection of [0, 4^h) until the value lands in [0, n)
    uint64_t L = x >> h, R = x & mask;
    for (int r = 0; r < 6; r++) {
      uint64_t F = mix64(R ^ mix64(key + (uint64_t)r)) & mask;
      uint64_t nl = R;
      R = L ^ F;
      L = nl;
    }
    x = (L << h) | R;
  } while (x >= n);
  return x;
}

std::vector<MixtureSource> parse_mixture_spec(const std::string& spec, const std::vector<std::string>& expected) {
  std::vector<MixtureSource> out;
  std::set<std::string> seen;
  if (trim(spec).empty()) fail("mixture spec is empty (want name=glob:weight,...)");
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string item = trim(spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    start = comma == std::string::npos ? spec.size() + 1 : comma + 1;
    if (item.empty()) fail("mixture spec '", spec, "': empty entry (stray comma?)");
    size_t eq = item.find('=');
    if (eq == std::string::npos) fail("mixture spec entry '", item, "': missing '=' (want name=glob:weight)");
    MixtureSource src;
    src.name = trim(item.substr(0, eq));
    std::string rest = trim(item.substr(eq + 1));
    if (src.name.empty()) fail("mixture spec entry '", item, "': empty source name");
    if (!seen.insert(src.name).second) fail("mixture spec: source '", src.name, "' given twice");
    if (!expected.empty() && std::find(expected.begin(), expected.end(), src.name) == expected.end()) {
      std::string names;
      for (auto& e : expected) names += (names.empty() ? "" : ", ") + e;
      fail("mixture spec: unknown source '", src.name, "' (expected one of: ", names, ")");
    }
    size_t colon = rest.rfind(':');
    if (colon != std::string::npos) {
      std::string w = trim(rest.substr(colon + 1));
      src.pattern = trim(rest.substr(0, colon));
      char* end = nullptr;
      errno = 0;
      double v = w.empty() ? 0 : std::strtod(w.c_str(), &end);
      if (w.empty() || *end != '\0' || errno == ERANGE)
        fail("mixture spec: source '", src.name, "': weight '", w, "' is not a number");
      if (!std::isfinite(v)) fail("mixture spec: source '", src.name, "': weight ", w, " is not finite");
      if (v < 0) fail("mixture spec: source '", src.name, "': negative weight ", w);
      src.weight = v;
    } else {
      src.pattern = rest;
    }
    if (src.pattern.empty()) fail("mixture spec: source '", src.name, "' has an empty file pattern");
    out.push_back(src);
  }
  double total = 0;
  for (auto& s : out) total += s.weight;
  if (!(total > 0)) fail("mixture spec '", spec, "': weights sum to 0");
  return out;
}

std::vector<std::string> expand_glob(const std::string& pattern) {
  glob_t g;
  std::memset(&g, 0, sizeof g);
  int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &g);
  std::vector<std::string> out;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; i++) out.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  if (rc == GLOB_NOMATCH || (rc == 0 && out.empty())) fail("no files match '", pattern, "'");
  if (rc != 0) fail("cannot expand '", pattern, "' (read error)");
  std::sort(out.begin(), out.end());
  return out;
}

// ------------------------------------------------------------------------------------------------ loader

struct MixtureLoader::Impl {
  struct Source {
    std::string name;
    double weight = 0;  // normalised
    double cum = 0;     // cumulative normalised weight up to and including this source
    std::vector<std::string> files;
    std::vector<ShardReader> shards;
    std::vector<int64_t> win_cum;  // (n_shards+1,) prefix sums of windows per shard
    int64_t n_windows = 0, n_tokens = 0;
    uint64_t per_rank = 0;     // positions this rank takes per epoch
    uint64_t fingerprint = 0;  // hash of shard sizes, checked by load_state
    uint64_t epoch = 0, pos = 0;
  };
  int T = 0;
  LoaderOptions opt;
  std::vector<Source> src;
  Rng rng;
  uint64_t rows = 0;

  // Window g (in file order) of source s -> (shard, first token).
  void locate(const Source& s, int64_t g, int& shard, int64_t& start) const {
    auto it = std::upper_bound(s.win_cum.begin(), s.win_cum.end(), g);
    shard = (int)(it - s.win_cum.begin()) - 1;
    start = (g - s.win_cum[shard]) * T;
  }

  void fill_row(const Source& s, int64_t g, Batch& b, int row) const {
    int sh;
    int64_t start;
    locate(s, g, sh, start);
    const ShardReader& r = s.shards[sh];
    std::vector<int32_t> w(T + 1);
    std::vector<uint8_t> m(T + 1);
    r.read_tokens(start, T + 1, w.data());
    r.read_mask(start, T + 1, m.data());
    int32_t* in = &b.inputs[(size_t)row * T];
    int32_t* tg = &b.targets[(size_t)row * T];
    uint8_t* lm = &b.loss_mask[(size_t)row * T];
    std::copy(w.begin(), w.begin() + T, in);
    std::copy(w.begin() + 1, w.end(), tg);
    std::copy(m.begin() + 1, m.end(), lm);  // the mask of the token being predicted
  }

  // The next window (file-order index) of source si for this rank, advancing its epoch when exhausted.
  int64_t draw(int si) {
    Source& s = src[si];
    if (s.pos >= s.per_rank) {
      s.epoch++;
      s.pos = 0;
    }
    uint64_t g = s.pos * (uint64_t)opt.world + (uint64_t)opt.rank;
    s.pos++;
    uint64_t key = mix64(opt.seed ^ mix64(fnv1a64(s.name) ^ mix64(s.epoch)));
    return (int64_t)permute_index(g, (uint64_t)s.n_windows, key);
  }

  int pick_source() {
    double u = rng.uniform();
    int last = -1;
    for (int i = 0; i < (int)src.size(); i++) {
      if (src[i].weight <= 0) continue;
      last = i;
      if (u < src[i].cum) return i;
    }
    return last;  // u within rounding of 1.0
  }
};

MixtureLoader::MixtureLoader(const std::vector<MixtureSource>& sources, int T, const LoaderOptions& opt)
    : impl_(new Impl) {
  Impl& m = *impl_;
  if (T <= 0) fail("mixture loader: sequence length T=", T, " must be positive");
  if (opt.world <= 0 || opt.rank < 0 || opt.rank >= opt.world)
    fail("mixture loader: rank ", opt.rank, " outside [0, world=", opt.world, ")");
  if (sources.empty()) fail("mixture loader: no sources");
  m.T = T;
  m.opt = opt;
  double total = 0;
  for (auto& s : sources) {
    if (!(s.weight >= 0) || !std::isfinite(s.weight))
      fail("mixture loader: source '", s.name, "' has bad weight ", s.weight);
    total += s.weight;
  }
  if (!(total > 0)) fail("mixture loader: weights sum to 0");
  double cum = 0;
  for (auto& spec : sources) {
    Impl::Source s;
    s.name = spec.name;
    s.weight = spec.weight / total;
    cum += s.weight;
    s.cum = cum;
    s.files = expand_glob(spec.pattern);
    s.win_cum.push_back(0);
    uint64_t fp = fnv1a64(s.name);
    for (auto& f : s.files) {
      s.shards.emplace_back(f, opt.vocab_limit);
      const ShardReader& r = s.shards.back();
      int64_t w = r.n_tokens() > T ? (r.n_tokens() - 1) / T : 0;  // windows of T+1 with stride T
      s.win_cum.push_back(s.win_cum.back() + w);
      s.n_tokens += r.n_tokens();
      fp = mix64(fp ^ (uint64_t)r.n_tokens()) ^ mix64((uint64_t)r.n_docs() + 0x51ed);
    }
    s.n_windows = s.win_cum.back();
    s.per_rank = (uint64_t)s.n_windows / (uint64_t)opt.world;
    s.fingerprint = fp;
    if (s.per_rank == 0)
      fail("source '", s.name, "' (", spec.pattern, "): ", s.n_tokens, " tokens in ", s.files.size(),
           " shard(s) make ", s.n_windows, " windows of T+1=", T + 1, " tokens, fewer than the ", opt.world,
           " rank(s) need (empty source?)");
    m.src.push_back(std::move(s));
  }
  m.src.back().cum = 1.0;  // guard against rounding: the last positive-weight source closes the interval
  m.rng = loader_rng(opt.seed);
}

MixtureLoader::MixtureLoader(const std::string& spec, int T, const LoaderOptions& opt,
                             const std::vector<std::string>& expected)
    : MixtureLoader(parse_mixture_spec(spec, expected), T, opt) {}

MixtureLoader::~MixtureLoader() = default;
MixtureLoader::MixtureLoader(MixtureLoader&&) noexcept = default;
MixtureLoader& MixtureLoader::operator=(MixtureLoader&&) noexcept = default;

void MixtureLoader::next_batch(int B, int T, Batch& out) {
  Impl& m = *impl_;
  if (T != m.T) fail("mixture loader: next_batch T=", T, " but the loader was built for T=", m.T);
  if (B <= 0) fail("mixture loader: batch size B=", B, " must be positive");
  out.B = B;
  out.T = T;
  out.inputs.resize((size_t)B * T);
  out.targets.resize((size_t)B * T);
  out.loss_mask.resize((size_t)B * T);
  out.source.resize(B);
  for (int b = 0; b < B; b++) {
    int s = m.pick_source();
    int64_t g = m.draw(s);
    m.fill_row(m.src[s], g, out, b);
    out.source[b] = s;
    m.rows++;
  }
}

Batch MixtureLoader::next_batch(int B, int T) {
  Batch b;
  next_batch(B, T, b);
  return b;
}

std::string MixtureLoader::save_state() const {
  const Impl& m = *impl_;
  std::string o(kStateMagic, 8);
  put_u32(o, kStateVersion);
  put_u64(o, m.opt.seed);
  put_u32(o, (uint32_t)m.T);
  put_u32(o, (uint32_t)m.opt.world);
  for (uint64_t w : m.rng.s) put_u64(o, w);
  put_u64(o, m.rows);
  put_u32(o, (uint32_t)m.src.size());
  for (auto& s : m.src) {
    put_u32(o, (uint32_t)s.name.size());
    o += s.name;
    put_u64(o, (uint64_t)s.n_windows);
    put_u64(o, s.fingerprint);
    put_u64(o, s.epoch);
    put_u64(o, s.pos);
  }
  put_u64(o, fnv1a64(o));  // checksum of everything before it
  return o;
}

void MixtureLoader::load_state(const std::string& state) {
  Impl& m = *impl_;
  if (state.size() < 12 || std::memcmp(state.data(), kStateMagic, 8) != 0)
    fail("loader state: not a beop mixture-loader state (bad magic)");
  if (state.size() < 20) fail("loader state truncated: ", state.size(), " bytes");
  const uint64_t sum = load_u64(state.data() + state.size() - 8);
  std::string body = state.substr(0, state.size() - 8);
  ByteReader c(body, "loader state");
  c.seek(8);
  uint32_t ver = c.u32();
  if (ver != kStateVersion) fail("loader state version ", ver, " (this build reads ", kStateVersion, ")");
  if (fnv1a64(body) != sum) fail("loader state checksum mismatch (corrupt or truncated)");
  uint64_t seed = c.u64();
  uint32_t T = c.u32(), world = c.u32();
  if (seed != m.opt.seed) fail("loader state was saved with seed ", seed, ", this loader has seed ", m.opt.seed);
  if ((int)T != m.T) fail("loader state was saved with T=", T, ", this loader has T=", m.T);
  if ((int)world != m.opt.world)
    fail("loader state was saved with world=", world, ", this loader has world=", m.opt.world);
  Rng rng;
  for (auto& w : rng.s) w = c.u64();
  uint64_t rows = c.u64();
  uint32_t ns = c.u32();
  if (ns != m.src.size()) fail("loader state has ", ns, " sources, this loader has ", m.src.size());
  std::vector<std::pair<uint64_t, uint64_t>> pos(ns);
  for (uint32_t i = 0; i < ns; i++) {
    auto& s = m.src[i];
    std::string name = c.str(c.u32());
    if (name != s.name) fail("loader state source ", i, " is '", name, "', this loader has '", s.name, "'");
    uint64_t nw = c.u64(), fp = c.u64();
    if (nw != (uint64_t)s.n_windows || fp != s.fingerprint)
      fail("loader state for source '", s.name, "' was saved on other data (", nw, " windows, this loader has ",
           s.n_windows, ", or different shards)");
    pos[i].first = c.u64();
    pos[i].second = c.u64();
    if (pos[i].second > s.per_rank)
      fail("loader state for source '", s.name, "': position ", pos[i].second, " > ", s.per_rank);
  }
  if (c.left() != 0) fail("loader state has ", c.left(), " trailing bytes");
  // All checks passed: commit.
  m.rng = rng;
  m.rows = rows;
  for (uint32_t i = 0; i < ns; i++) {
    m.src[i].epoch = pos[i].first;
    m.src[i].pos = pos[i].second;
  }
}

int64_t MixtureLoader::for_each_val_batch(int si, int B, const std::function<void(const Batch&)>& fn,
                                          int64_t max_batches) const {
  const Impl& m = *impl_;
  if (si < 0 || si >= (int)m.src.size()) fail("mixture loader: source index ", si, " out of range");
  if (B <= 0) fail("mixture loader: batch size B=", B, " must be positive");
  const auto& s = m.src[si];
  Batch b;
  b.T = m.T;
  int64_t rows = 0, batches = 0;
  int64_t g = m.opt.rank;
  while (g < s.n_windows && (max_batches < 0 || batches < max_batches)) {
    int64_t remaining = (s.n_windows - g + m.opt.world - 1) / m.opt.world;
    int n = (int)std::min<int64_t>(B, remaining);
    b.B = n;
    b.inputs.resize((size_t)n * m.T);
    b.targets.resize((size_t)n * m.T);
    b.loss_mask.resize((size_t)n * m.T);
    b.source.assign(n, si);
    for (int r = 0; r < n; r++, g += m.opt.world) m.fill_row(s, g, b, r);
    rows += n;
    batches++;
    fn(b);
  }
  return rows;
}

int MixtureLoader::T() const { return impl_->T; }
int MixtureLoader::n_sources() const { return (int)impl_->src.size(); }
int MixtureLoader::source_index(const std::string& name) const {
  for (int i = 0; i < (int)impl_->src.size(); i++)
    if (impl_->src[i].name == name) return i;
  return -1;
}
const std::string& MixtureLoader::source_name(int s) const { return impl_->src.at(s).name; }
double MixtureLoader::source_weight(int s) const { return impl_->src.at(s).weight; }
int64_t MixtureLoader::source_tokens(int s) const { return impl_->src.at(s).n_tokens; }
int64_t MixtureLoader::source_windows(int s) const { return impl_->src.at(s).n_windows; }
int64_t MixtureLoader::source_epoch(int s) const { return (int64_t)impl_->src.at(s).epoch; }
const std::vector<std::string>& MixtureLoader::source_files(int s) const { return impl_->src.at(s).files; }
int64_t MixtureLoader::rows_drawn() const { return (int64_t)impl_->rows; }

}  // namespace beop
