// Checkpoint directories: the writer (temp dir -> fsync -> rename) and the validating reader, with
// state.json (the training state) in and out. The binary files are checkpoint_format.cpp's, the run
// directory around the steps run_dir.cpp's. Byte layouts: docs/FORMATS.md, "Checkpoints".
#include "src/checkpoint.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "src/common.h"
#include "src/io.h"
#include "src/param_layout.h"
#include "src/tokenizer.h"

namespace beop {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

void fsync_path(const std::string& path, bool dir) {
  int fd = ::open(path.c_str(), dir ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) fail("cannot open ", path, " to fsync: ", std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) fail("cannot fsync ", path, ": ", std::strerror(err));
}

std::string git_commit() {
  static std::string cached;
  if (!cached.empty()) return cached;
  std::string out;
  if (FILE* p = ::popen("git rev-parse HEAD 2>/dev/null", "r")) {
    char buf[128];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  bool hex = out.size() == 40 && std::all_of(out.begin(), out.end(), [](char c) { return std::isxdigit((unsigned char)c); });
  cached = hex ? out : "unknown";
  return cached;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json num_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

std::string hex64(uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "0x%016llx", (unsigned long long)v);
  return buf;
}

json state_to_json(const CheckpointState& st, long step) {
  json j = json::object();
  j["format"] = "beop-checkpoint-state";
  j["version"] = kCheckpointVersion;
  j["stage"] = st.stage;
  j["step"] = step;
  j["tokens_seen"] = st.tokens_seen;
  j["seed"] = st.seed;
  json rng = json::array();
  for (uint64_t w : st.rng_state) rng.push_back(hex64(w));
  j["rng_state"] = rng;
  j["data"] = st.data_spec;
  j["val"] = st.val_spec;
  j["lr_schedule"] = st.lr_schedule;
  j["last_loss"] = num_or_null(st.last_loss);
  j["val_loss"] = num_or_null(st.val_loss);
  j["loader_state_base64"] = base64_encode(st.loader_state);
  j["git_commit"] = git_commit();
  j["date"] = utc_now();
  j["command_line"] = st.command_line;
  j["meta"] = st.meta;
  return j;
}

CheckpointState state_from_json(const std::string& file) {
  if (!file_exists(file)) fail(file, ": missing (no such file)");
  json j;
  try {
    j = json::parse(read_file(file));
  } catch (const json::exception& e) {
    fail(file, ": not valid JSON: ", e.what());
  }
  if (!j.is_object()) fail(file, ": not a JSON object");
  auto get = [&](const char* key) -> const json& {
    if (!j.contains(key)) fail(file, ": missing field '", key, "'");
    return j[key];
  };
  auto str = [&](const char* key) {
    const json& v = get(key);
    if (!v.is_string()) fail(file, ": field '", key, "' is not a string");
    return v.get<std::string>();
  };
  auto i64 = [&](const char* key) {
    const json& v = get(key);
    if (!v.is_number_integer()) fail(file, ": field '", key, "' is not an integer");
    return v.get<int64_t>();
  };
  auto num = [&](const char* key) {
    const json& v = get(key);
    if (v.is_null()) return (double)NAN;
    if (!v.is_number()) fail(file, ": field '", key, "' is not a number or null");
    return v.get<double>();
  };
  if (str("format") != "beop-checkpoint-state") fail(file, ": field 'format' is not \"beop-checkpoint-state\"");
  if (i64("version") != kCheckpointVersion)
    fail(file, ": unsupported state version ", i64("version"), " (this build reads version ", kCheckpointVersion, ")");
  CheckpointState st;
  st.stage = str("stage");
  if (st.stage != "pretrain" && st.stage != "cpt" && st.stage != "it")
    fail(file, ": stage '", st.stage, "' is not pretrain, cpt or it");
  st.step = (long)i64("step");
  st.tokens_seen = i64("tokens_seen");
  const json& seed = get("seed");
  if (!seed.is_number_unsigned() && !(seed.is_number_integer() && seed.get<int64_t>() >= 0))
    fail(file, ": field 'seed' is not a non-negative integer");
  st.seed = seed.get<uint64_t>();
  const json& rng = get("rng_state");
  if (!rng.is_array() || rng.size() != 4) fail(file, ": field 'rng_state' is not an array of 4 hex strings");
  for (int k = 0; k < 4; k++) {
    if (!rng[k].is_string()) fail(file, ": rng_state[", k, "] is not a string");
    const std::string s = rng[k].get<std::string>();
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), &end, 16);
    if (s.size() != 18 || s.compare(0, 2, "0x") != 0 || errno || *end) fail(file, ": rng_state[", k, "] '", s, "' is not 0x + 16 hex digits");
    st.rng_state[k] = v;
  }
  st.data_spec = str("data");
  st.val_spec = str("val");
  st.lr_schedule = get("lr_schedule");
  st.last_loss = num("last_loss");
  st.val_loss = num("val_loss");
  st.loader_state = base64_decode(str("loader_state_base64"), file + ": loader_state_base64");
  st.git_commit = str("git_commit");
  st.date = str("date");
  st.command_line = str("command_line");
  st.meta = get("meta");
  return st;
}

}  // namespace

// ------------------------------------------------------------------------------------------------ save

std::string save_checkpoint(const std::string& run_dir, long step, const ModelConfig& cfg, const float* params,
                            const float* m, const float* v, size_t n, long adam_step, const CheckpointState& st,
                            const std::string& tokenizer_json_path) {
  // Read the tokenizer first: a missing tokenizer fails before anything is written.
  return save_checkpoint_with_tokenizer(run_dir, step, cfg, params, m, v, n, adam_step, st,
                                        read_file(tokenizer_json_path));
}

std::string save_checkpoint_with_tokenizer(const std::string& run_dir, long step, const ModelConfig& cfg,
                                           const float* params, const float* m, const float* v, size_t n,
                                           long adam_step, const CheckpointState& st, const std::string& tok_bytes) {
  cfg.validate();
  const ParamLayout lay(cfg);
  BEOP_CHECK(n == lay.total, "save_checkpoint: ", n, " parameters given, the config's layout has ", lay.total);
  BEOP_CHECK(params, "save_checkpoint: null parameters");
  BEOP_CHECK((m == nullptr) == (v == nullptr), "save_checkpoint: give both Adam moments or neither");
  BEOP_CHECK(adam_step >= 0, "save_checkpoint: negative adam step ", adam_step);
  BEOP_CHECK(st.stage == "pretrain" || st.stage == "cpt" || st.stage == "it", "save_checkpoint: stage '", st.stage,
             "' is not pretrain, cpt or it");
  const std::string name = checkpoint_dir_name(step);
  const std::string final_dir = run_dir + "/" + name;
  const std::string tmp_dir = run_dir + "/.tmp_" + name + "." + std::to_string(::getpid());
  BEOP_CHECK(!tok_bytes.empty(), "save_checkpoint: empty tokenizer.json");
  make_dirs(run_dir);
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);
  if (::mkdir(tmp_dir.c_str(), 0755) != 0) fail("cannot create checkpoint directory ", tmp_dir, ": ", std::strerror(errno));
  auto hook = [](const char* stage) {
    if (g_checkpoint_fault_hook) g_checkpoint_fault_hook(stage);
  };
  try {
    write_model_file(tmp_dir + "/model.bin", cfg, lay, params, n);
    hook("model.bin");
    if (m) {
      write_optim_file(tmp_dir + "/optim.bin", m, v, n, adam_step);
      hook("optim.bin");
    }
    write_file_atomic(tmp_dir + "/state.json", state_to_json(st, step).dump(2) + "\n");
    hook("state.json");
    write_file_atomic(tmp_dir + "/tokenizer.json", tok_bytes);
    hook("tokenizer.json");
    write_file_atomic(tmp_dir + "/config.json", config_to_json(cfg).dump(2) + "\n");
    hook("config.json");
    fsync_path(tmp_dir, true);  // the directory's entries are durable before it gets its real name
    hook("rename");
    if (::rename(tmp_dir.c_str(), final_dir.c_str()) != 0) {
      int err = errno;
      if (err != EEXIST && err != ENOTEMPTY) fail("cannot rename ", tmp_dir, " to ", final_dir, ": ", std::strerror(err));
      // Re-saving an existing step: swap the two directories atomically, then delete the old one (now at tmp).
      if (::renameat2(AT_FDCWD, tmp_dir.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) != 0) {
        if (errno != EINVAL && errno != ENOSYS) fail("cannot replace ", final_dir, ": ", std::strerror(errno));
        // File system without RENAME_EXCHANGE: move the old one aside first (a crash in between leaves it
        // under .old_*, and the earlier steps intact).
        const std::string old_dir = run_dir + "/.old_" + name + "." + std::to_string(::getpid());
        fs::remove_all(old_dir, ec);
        if (::rename(final_dir.c_str(), old_dir.c_str()) != 0)
          fail("cannot move ", final_dir, " aside: ", std::strerror(errno));
        if (::rename(tmp_dir.c_str(), final_dir.c_str()) != 0) {
          int err = errno;
          ::rename(old_dir.c_str(), final_dir.c_str());
          fail("cannot rename ", tmp_dir, " to ", final_dir, ": ", std::strerror(err));
        }
        fs::remove_all(old_dir, ec);
      }
    }
    fsync_path(run_dir, true);
  } catch (...) {
    fs::remove_all(tmp_dir, ec);
    throw;
  }
  fs::remove_all(tmp_dir, ec);  // the replaced old step dir, if any
  return final_dir;
}

// ------------------------------------------------------------------------------------------------ load

LoadedCheckpoint load_model_file(const std::string& model_bin_path) {
  ModelFile mf = read_model_file(model_bin_path);
  LoadedCheckpoint ck;
  ck.config = mf.cfg;
  ck.params = std::move(mf.params);
  return ck;
}

LoadedCheckpoint load_checkpoint(const std::string& dir, bool with_optimizer) {
  struct stat sb;
  if (::stat(dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode)) fail("checkpoint ", dir, ": no such directory");
  for (const char* f : {"model.bin", "state.json", "config.json", "tokenizer.json"})
    if (!file_exists(dir + "/" + f)) fail("checkpoint ", dir, ": missing ", f);
  LoadedCheckpoint ck = load_model_file(dir + "/model.bin");
  ck.dir = dir;
  ck.tokenizer_path = dir + "/tokenizer.json";
  // config.json is for humans, but it must agree with model.bin (someone may have edited it).
  const std::string cpath = dir + "/config.json";
  json cj;
  try {
    cj = json::parse(read_file(cpath));
  } catch (const json::exception& e) {
    fail(cpath, ": not valid JSON: ", e.what());
  }
  check_compatible(ck.config, config_from_json(cj, cpath), cpath);
  // The tokenizer is parsed, not just present: a truncated tokenizer.json would otherwise be copied into every
  // later checkpoint of a resumed run and only fail in `infer`. Its ids must fit the embedding rows (a model
  // may have more rows than the tokenizer has ids: Hugging Face vocabularies padded to a multiple of 64/128).
  const Tokenizer tok = Tokenizer::load(ck.tokenizer_path);
  if (tok.vocab_size() > ck.config.vocab_size)
    fail(ck.tokenizer_path, ": has ", tok.vocab_size(), " token ids, the model's vocab_size is only ",
         ck.config.vocab_size);
  const std::string spath = dir + "/state.json";
  ck.state = state_from_json(spath);
  if (ck.state.step < 0) fail(spath, ": field 'step' is negative (", ck.state.step, ")");
  long dir_step = 0;  // a step_NNNNNN directory must hold that step's state (an edited state.json would not)
  const std::string base = fs::path(dir).lexically_normal().filename().string();
  if (parse_checkpoint_dir_name(base.empty() ? fs::path(dir).lexically_normal().parent_path().filename().string() : base,
                      dir_step) &&
      dir_step != ck.state.step)
    fail(spath, ": field 'step' is ", ck.state.step, " but the directory is ", checkpoint_dir_name(dir_step));
  if (ck.state.tokens_seen < 0) fail(spath, ": field 'tokens_seen' is negative (", ck.state.tokens_seen, ")");
  if (with_optimizer) {
    OptimFile of = read_optim_file(dir + "/optim.bin", ck.params.size());
    ck.m = std::move(of.m);
    ck.v = std::move(of.v);
    ck.adam_step = of.adam_step;
    // Every step of a run is one AdamW update except the skipped ones (--skip-bad-steps), and a run that
    // started from --init counts both from 0; so adam_step = step - skipped_steps.
    const json& sk = ck.state.meta.contains("skipped_steps") ? ck.state.meta["skipped_steps"] : json(0);
    if (!sk.is_number_integer() || sk.get<int64_t>() < 0 || sk.get<int64_t>() > ck.state.step)
      fail(spath, ": meta.skipped_steps ", sk.dump(), " is not an integer in 0..step (", ck.state.step, ")");
    if (ck.adam_step != ck.state.step - sk.get<int64_t>())
      fail(dir, "/optim.bin: AdamW step ", ck.adam_step, " does not match state.json's step ", ck.state.step,
           sk.get<int64_t>() ? cat(" minus ", sk.get<int64_t>(), " skipped") : std::string(),
           " (the files come from different saves)");
  }
  return ck;
}

}  // namespace beop
