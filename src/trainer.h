// The training loop, over any backend's Model<Ops> (float parameters): pre-training, continual
// pre-training and instruction tuning differ only in where the weights come from (--init) and what the
// data is (plain or loss-masked shards). See train.cpp for the CLI.
//
// One optimizer step = grad_accum micro-batches of (batch, seq) from the mixture loader; the loss is the mean
// over every unmasked target of all micro-batches (so accumulation equals one big batch). Resume restores
// weights, AdamW moments and step, the loader state and the RNG, so a resumed run is bit-identical to an
// uninterrupted one.
//
// Data parallel (docs/DISTRIBUTED.md): with N ranks (src/comm.h) every rank draws the same grad_accum micro-batches
// from its own copy of the loader (same seed, same state) and runs a contiguous 1/N of them; the loss sums and
// gradients are summed over ranks in rank order before clipping and AdamW, so every rank holds the same weights
// and a step sees exactly the sequences of one process with the same flags. Rank 0 logs and writes checkpoints.
// ZeRO-1 (--zero 1, the default with several ranks): the gradients are reduce-scattered instead, each rank
// updates its shard of the optimizer state (src/model.h set_shard) and the weights are all-gathered; a checkpoint
// gathers the shards first, so its format does not depend on N.
// Two communicators: comm_ (host memory: the loss sums, flags, signals, checkpoint gathers) and dcomm_ (the
// backend's buffers: gradients and weights), the same object except with NCCL (cuda/comm_nccl.h).
#pragma once
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "src/checkpoint.h"
#include "src/checkpoint_spec.h"
#include "src/comm.h"
#include "src/common.h"
#include "src/data_fingerprint.h"
#include "src/hf_model.h"
#include "src/io.h"
#include "src/mixture_loader.h"
#include "src/optim.h"
#include "src/rng.h"
#include "src/text.h"
#include "src/tokenizer.h"
#include "src/train_options.h"
#include "src/trainer_util.h"

namespace beop {

// Backends whose training GEMMs take a --dtype (CpuOps::set_gemm_dtype); the others (CUDA) set precision by --device.
template <class Ops, class = void>
struct HasGemmDtype : std::false_type {};
template <class Ops>
struct HasGemmDtype<Ops, std::void_t<decltype(std::declval<Ops&>().set_gemm_dtype(std::string()))>> : std::true_type {};

template <class ModelT>
class Trainer {
 public:
  explicit Trainer(TrainOptions o, Comm& comm = single_comm(), Comm* data_comm = nullptr)
      : o_(std::move(o)), comm_(comm), dcomm_(data_comm ? *data_comm : comm) {}

  // Returns the process exit code: 0 done, 128+signal when stopped by SIGINT/SIGTERM (after saving).
  int run() {
    install_test_kill_hook();
    setup();
    return loop();
  }

 private:
  using Clock = std::chrono::steady_clock;

  TrainOptions o_;
  Comm& comm_;
  Comm& dcomm_;
  bool zero_ = false;  // ZeRO-1: the optimizer state sharded over the ranks
  ModelConfig cfg_;
  std::unique_ptr<ModelT> model_;
  std::unique_ptr<MixtureLoader> train_, val_;
  std::unique_ptr<MetricsLog> metrics_;
  std::string tokenizer_json_;  // the run's tokenizer.json bytes, read once at start (see save())
  LrSchedule sched_;
  AdamWConfig adamw_;
  Rng rng_{1};
  long step_ = 0, total_steps_ = 0, skipped_ = 0;
  int64_t tokens_seen_ = 0;
  double last_loss_ = NAN, last_val_ = NAN;

  void metric(const nlohmann::json& j) {
    if (metrics_) metrics_->write(j);  // rank 0 only
  }

  // For rank 0's save: a full host copy of an fp32 buffer of which this rank holds shard() if `sharded`, else all.
  // Every rank calls it; only rank 0 gets the copy (sharded: a gather to rank 0, so no other rank ever holds more
  // than its shard — the memory ZeRO-1 saves stays saved at a checkpoint); the others get an empty vector.
  std::vector<float> gathered(const float* p, bool sharded) {
    const size_t n = model_->layout().total;
    if (!sharded && comm_.rank() != 0) return {};
    std::vector<float> h(comm_.rank() == 0 ? n : 0);
    if (!sharded) {
      model_->ops().download(h.data(), p, n);
      return h;
    }
    const ShardRange s = model_->shard();
    std::vector<float> mine;  // the shard in host memory (the CPU backend's buffers already are)
    if (!ModelT::kHostMemory) {
      mine.resize(s.size());
      model_->ops().download(mine.data(), p, s.size());
    }
    comm_.gather_to_root(ModelT::kHostMemory ? p : mine.data(), h.data(), n, sizeof(float));
    return h;
  }

  // fn over a backend buffer of n elements, in the memory dcomm_ works on: directly when the backend's buffers are
  // host memory (CPU) or the transport takes device buffers (NCCL), else through a host copy and back.
  template <class U, class F>
  void on_data(U* p, size_t n, F&& fn) {
    if (ModelT::kHostMemory || dcomm_.device_buffers()) return fn(p);
    std::vector<U> h(n);
    model_->ops().download(h.data(), p, n);
    fn(h.data());
    model_->ops().upload(p, h.data(), n);
  }
  static constexpr DType kGradType = sizeof(typename ModelT::T) == 4 ? DType::f32 : DType::bf16;

  // The step's gradients summed over the ranks (src/comm.h: rank order, the same result on every rank): all of
  // them (a reduce-scatter and an all-gather), or with ZeRO-1 only this rank's shard.
  void reduce_grads() {
    const size_t n = model_->layout().total;
    on_data(model_->grads(), n, [&](typename ModelT::T* g) {
      dcomm_.reduce_scatter_sum(g, n, kGradType);
      if (!zero_) dcomm_.all_gather(g, n, sizeof(*g));
    });
  }

  // One optimizer step: ZeRO-1 updates this rank's shard with the global norm (the shards' squared norms summed in
  // rank order) and all-gathers the updated working weights. Returns the pre-clip gradient norm.
  double optimizer_step(double lr) {
    if (!zero_) return model_->step(adamw_, lr);
    double ss = model_->shard_grad_sum_squares();
    comm_.all_reduce_sum(&ss, 1);
    const double norm = model_->step_shard(adamw_, lr, ss);
    const size_t n = model_->layout().total;
    on_data(model_->work_params(), n, [&](typename ModelT::T* w) { dcomm_.all_gather(w, n, sizeof(*w)); });
    return norm;
  }

  void setup() {
    BEOP_CHECK(o_.stage == "pretrain" || o_.stage == "cpt" || o_.stage == "it", "unknown --stage '", o_.stage,
               "' (pretrain, cpt or it)");
    BEOP_CHECK(!o_.data.empty(), "--data is required (e.g. legal=data/build/legal_train_*.bin:0.7,...)");
    BEOP_CHECK(o_.batch > 0 && o_.seq > 0 && o_.grad_accum > 0, "--batch, --seq and --grad-accum must be positive");
    const int ranks = comm_.size();
    // --grad-accum counts the step's micro-batches over all ranks, so the flags mean the same training at any N
    BEOP_CHECK(ranks <= o_.grad_accum, ranks, " ranks but a step has only --grad-accum ", o_.grad_accum,
               " micro-batch(es): each rank needs at least one (--grad-accum ", ranks, " or a multiple)");
    BEOP_CHECK(o_.grad_accum % ranks == 0, "--grad-accum ", o_.grad_accum, " does not divide among ", ranks,
               " ranks (use a multiple of ", ranks, ")");
    BEOP_CHECK(o_.zero >= -1 && o_.zero <= 1, "--zero ", o_.zero, ": 0 (off) or 1 (ZeRO-1)");
    BEOP_CHECK(!(o_.zero == 1 && ranks == 1), "--zero 1 shards the optimizer over several ranks, but this is one ",
               "process (launch with mpirun -np N, or drop --zero)");
    zero_ = o_.zero < 0 ? ranks > 1 : o_.zero == 1;
    check_same_on_every_rank(comm_, o_.command_line, "command line");
    if (ranks > 1)  // the same flags can name other files on another host: checked before anything is written
      check_same_on_every_rank(comm_, "--data " + data_fingerprint(o_.data) +
                                          (o_.val.empty() ? "" : "; --val " + data_fingerprint(o_.val)), "data");
    on_root(comm_, [&] {
      prepare_run_dir(o_);
      if (o_.resume) remove_checkpoint_leftovers(o_.out);  // a prune or save that a kill interrupted
    });
    std::string resume_from;
    if (o_.resume) {
      resume_from = latest_checkpoint(o_.out);
      BEOP_CHECK(!resume_from.empty(), "--resume: no complete checkpoint in ", o_.out);
    }
    LoadedCheckpoint ck;
    if (!resume_from.empty() || !o_.init.empty()) {
      std::string dir = resume_from;
      CheckpointSpec init;  // --init: a step directory, a run directory (its newest) or hf:DIR (src/checkpoint_spec.h)
      if (dir.empty()) init = resolve_checkpoint_spec(o_.init, "--init"), dir = init.step_dir;
      if (init.is_hf()) {  // --init hf:DIR: a Hugging Face model (docs/HF.md)
        HfModel hf = load_hf_model(init.hf_dir);
        for (const std::string& n : hf.notes) std::printf("note: %s\n", n.c_str());
        ck.config = hf.config, ck.params = std::move(hf.params), ck.tokenizer_path = hf.tokenizer_path;
        Tokenizer::load(ck.tokenizer_path);  // parsed now, not first in infer
        ck.state.stage = hf.architecture, dir = o_.init;
      } else {
        ck = load_checkpoint(dir, /*with_optimizer=*/!resume_from.empty());
      }
      cfg_ = ck.config;
      // Kept in memory: --keep-last may prune the checkpoint this run started from before the run's next save.
      tokenizer_json_ = read_file(ck.tokenizer_path);
      std::printf("%s from %s (step %ld, stage %s)\n", resume_from.empty() ? "initialising" : "resuming",
                  dir.c_str(), ck.state.step, ck.state.stage.c_str());
      if (!o_.config_path.empty() || o_.preset_given) {
        // the user also named an architecture: it must agree with the checkpoint
        ModelConfig want = o_.config_path.empty() ? preset(o_.preset) : config_from_json(
            nlohmann::json::parse(read_file(o_.config_path)), o_.config_path);
        want.vocab_size = cfg_.vocab_size;
        check_compatible(want, cfg_, "checkpoint " + dir);
      }
    } else {
      BEOP_CHECK(o_.stage == "pretrain", "--stage ", o_.stage, " continues a model: pass --init CHECKPOINT");
      BEOP_CHECK(!o_.tokenizer.empty(), "--tokenizer is required when training from scratch");
      cfg_ = o_.config_path.empty() ? preset(o_.preset)
                                    : config_from_json(nlohmann::json::parse(read_file(o_.config_path)), o_.config_path);
      const Tokenizer tok = Tokenizer::load(o_.tokenizer);
      cfg_.vocab_size = tok.vocab_size();  // the model's vocabulary is the tokenizer's
      tokenizer_json_ = read_file(o_.tokenizer);
    }
    cfg_.validate();
    BEOP_CHECK(o_.seq <= cfg_.max_seq_len, "--seq ", o_.seq, " exceeds the model's max_seq_len ", cfg_.max_seq_len);

    model_.reset(new ModelT(cfg_));
    model_->ops().set_attention(o_.attention);  // before reserve(): it decides what attention saves
    if constexpr (HasGemmDtype<std::remove_reference_t<decltype(std::declval<ModelT&>().ops())>>::value)
      model_->ops().set_gemm_dtype(o_.dtype);
    else
      BEOP_CHECK(o_.dtype == "fp32", "--dtype ", o_.dtype, ": this backend sets its precision with --device");
    if (zero_) model_->set_shard(shard_range(model_->layout().total, ranks, comm_.rank()), ranks);
    if (ck.params.empty()) {
      model_->init_random(o_.seed);
    } else {
      BEOP_CHECK(ck.params.size() == model_->layout().total, "the checkpoint has ", ck.params.size(),
                 " parameters, its config needs ", model_->layout().total);
      model_->load_params(ck.params.data());
      if (!resume_from.empty()) {  // the whole optimizer state is on disk; each rank takes its shard
        const ShardRange s = model_->shard();
        model_->ops().upload(model_->adam_m(), ck.m.data() + s.lo, s.size());
        model_->ops().upload(model_->adam_v(), ck.v.data() + s.lo, s.size());
        model_->set_adam_step(ck.adam_step);
      }
    }
    model_->reserve(o_.batch, o_.seq);
    std::printf("%s\n%s", cfg_.summary().c_str(), model_->memory_table().c_str());

    LoaderOptions lo;
    lo.seed = o_.seed;
    lo.vocab_limit = cfg_.vocab_size;
    train_.reset(new MixtureLoader(o_.data, o_.seq, lo));
    if (!o_.val.empty()) val_.reset(new MixtureLoader(o_.val, o_.seq, lo));
    for (int s = 0; s < train_->n_sources(); s++)
      std::printf("data %-10s weight %.3f  %lld tokens in %zu shard(s)\n", train_->source_name(s).c_str(),
                  train_->source_weight(s), (long long)train_->source_tokens(s), train_->source_files(s).size());

    const int64_t tokens_per_step = int64_t(o_.batch) * o_.seq * o_.grad_accum;
    total_steps_ = o_.steps > 0 ? o_.steps : (o_.tokens + tokens_per_step - 1) / tokens_per_step;
    BEOP_CHECK(total_steps_ > 0, "say how long to train: --steps N or --tokens N");
    sched_.kind = LrSchedule::parse(o_.schedule);
    sched_.lr = o_.lr;
    sched_.min_lr = o_.lr * o_.min_lr_frac;
    sched_.warmup = o_.warmup;
    sched_.total_steps = total_steps_;
    adamw_.beta1 = o_.beta1, adamw_.beta2 = o_.beta2, adamw_.weight_decay = o_.weight_decay;
    adamw_.grad_clip = o_.clip;
    rng_ = Rng(o_.seed);

    if (!resume_from.empty()) {
      // load_checkpoint checked step >= 0, the step_ name and the AdamW step; here: the run's length.
      BEOP_CHECK(ck.state.step <= total_steps_, resume_from, ": checkpoint is at step ", ck.state.step,
                 ", past this run's ", total_steps_, " steps (--steps/--tokens)");
      step_ = ck.state.step;
      skipped_ = ck.state.meta.value("skipped_steps", 0L);
      tokens_seen_ = ck.state.tokens_seen;
      train_->load_state(ck.state.loader_state);
      for (int i = 0; i < 4; i++) rng_.s[i] = ck.state.rng_state[i];
      BEOP_CHECK(ck.state.data_spec == o_.data, "--resume with a different --data than the run used (",
                 ck.state.data_spec, ")");
    }
    if (comm_.rank() == 0) metrics_.reset(new MetricsLog(o_.out, resume_from.empty() ? -1 : step_));
    std::printf("training %ld steps of %lld tokens (batch %d x seq %d x accum %d), stage %s, lr %.2e %s\n",
                total_steps_, (long long)tokens_per_step, o_.batch, o_.seq, o_.grad_accum, o_.stage.c_str(), o_.lr,
                o_.schedule.c_str());
    if (ranks > 1)
      std::printf("%d ranks, %d micro-batch(es) each per step, ZeRO-1 %s\n", ranks, o_.grad_accum / ranks,
                  zero_ ? "on (optimizer state sharded)" : "off");
    install_stop_handlers();
  }

  // Mean loss over the first val_batches batches of each validation source; logged per source.
  void evaluate() {
    if (!val_) return;
    std::string line = "val";
    double total_sum = 0;
    int64_t total_count = 0;
    for (int s = 0; s < val_->n_sources(); s++) {
      double sum = 0;
      int64_t count = 0;
      val_->for_each_val_batch(
          s, o_.batch,
          [&](const Batch& b) {
            const LossSum ls = model_->forward(b.inputs.data(), b.targets.data(), b.loss_mask.data(), b.B, b.T);
            sum += ls.sum, count += ls.count;
          },
          o_.val_batches);
      const double loss = count ? sum / double(count) : NAN;
      total_sum += sum, total_count += count;
      metric({{"type", "val"}, {"step", step_}, {"source", val_->source_name(s)}, {"loss", loss},
              {"tokens", count}});
      char buf[96];
      std::snprintf(buf, sizeof buf, " | %s %.4f", val_->source_name(s).c_str(), loss);
      line += buf;
    }
    last_val_ = total_count ? total_sum / double(total_count) : NAN;
    std::printf("step %ld: %s\n", step_, line.c_str());
    std::fflush(stdout);
  }

  // The weights and optimizer state to save, whole: with ZeRO-1 the shards are gathered (every rank calls this).
  struct Snapshot {
    std::vector<float> p, m, v;
  };
  Snapshot snapshot() {
    const bool sharded = model_->sharded();
    Snapshot snap{gathered(model_->master(), sharded && ModelT::kMixed), gathered(model_->adam_m(), sharded),
                  gathered(model_->adam_v(), sharded)};
    if constexpr (ModelT::kMixed) {  // continue from the saved master exactly as a resumed run will
      model_->rederive_work();
      const size_t n = model_->layout().total;
      if (sharded) on_data(model_->work_params(), n, [&](typename ModelT::T* w) { dcomm_.all_gather(w, n, sizeof(*w)); });
    }
    return snap;
  }

  std::string save(const Snapshot& snap) {
    // never write a checkpoint from bad weights (an update can overflow even when its gradient was finite)
    double wss = 0;
    for (float x : snap.p) wss += double(x) * double(x);
    BEOP_CHECK(std::isfinite(wss), "step ", step_, ": the weights are no longer finite; not saving (the last ",
               "checkpoint in ", o_.out, " is intact)");
    CheckpointState st;
    st.stage = o_.stage;
    st.tokens_seen = tokens_seen_;
    st.seed = o_.seed;
    for (int i = 0; i < 4; i++) st.rng_state[i] = rng_.s[i];
    st.loader_state = train_->save_state();
    st.data_spec = o_.data;
    st.val_spec = o_.val;
    st.lr_schedule = {{"kind", o_.schedule}, {"lr", o_.lr}, {"min_lr", sched_.min_lr}, {"warmup", o_.warmup},
                      {"total_steps", total_steps_}};
    st.last_loss = last_loss_;
    st.val_loss = last_val_;
    st.command_line = o_.command_line;
    st.meta["skipped_steps"] = skipped_;  // so a resume can check optim.bin's AdamW step (= step - skipped)
    const std::string dir = save_checkpoint_with_tokenizer(o_.out, step_, cfg_, snap.p.data(), snap.m.data(),
                                                           snap.v.data(), snap.p.size(), model_->adam_step(), st,
                                                           tokenizer_json_);
    for (const std::string& k : split(o_.keep_steps, ','))
      if (!k.empty() && std::stol(k) == step_) mark_checkpoint(dir);
    prune_checkpoints(o_.out, o_.keep_last);
    return dir;
  }

  // "3.1416", or "-" before the first measured value (a resumed run that had nothing left to do)
  static std::string loss_text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return std::isfinite(v) ? buf : "-";
  }

  int loop() {
    ProgressLine progress(o_.quiet, o_.log_every);
    if (step_ == total_steps_ && step_ > 0) {
      std::printf("nothing to do: the run is complete at step %ld of %ld\n", step_, total_steps_);
      return 0;
    }
    if (step_ == 0) evaluate();
    const auto t_start = Clock::now();
    const long first_step = step_;
    long done_this_run = 0;
    Batch b;
    while (step_ < total_steps_) {
      const auto t0 = Clock::now();
      const double lr = sched_.at(step_);
      // fetch all micro-batches first: the loss is normalised by the unmasked targets of the whole step
      std::vector<Batch> micro(o_.grad_accum);
      int64_t count = 0;
      for (Batch& mb : micro) {
        train_->next_batch(o_.batch, o_.seq, mb);
        for (uint8_t m : mb.loss_mask) count += m;
      }
      model_->zero_grad();
      double loss_sum = 0;
      bool bad = false;
      std::string why;
      if (count == 0) {
        bad = true, why = "every target of the step is masked";
      }
      const int per_rank = o_.grad_accum / comm_.size();  // this rank's micro-batches: a contiguous share
      for (int i = comm_.rank() * per_rank; i < (comm_.rank() + 1) * per_rank; i++) {
        Batch& mb = micro[i];
        if (bad) break;
        const LossSum ls = model_->forward(mb.inputs.data(), mb.targets.data(), mb.loss_mask.data(), mb.B, mb.T);
        if (!std::isfinite(ls.sum)) {
          bad = true, why = cat("loss is ", ls.sum);
          break;
        }
        loss_sum += ls.sum;
        model_->backward(1.0 / double(count));
      }
      if (comm_.size() > 1) {  // the global loss sum; a bad loss on any rank makes every rank skip (or stop)
        double sums[2] = {loss_sum, bad ? 1.0 : 0.0};
        comm_.all_reduce_sum(sums, 2);
        loss_sum = sums[0];
        if (!bad && sums[1] > 0) bad = true, why = "a loss is not finite on another rank";
        if (!bad) reduce_grads();
      }
      double gnorm = NAN;
      if (!bad) {
        try {
          gnorm = optimizer_step(lr);
        } catch (const Error& e) {
          bad = true, why = e.what();
        }
      }
      step_++;
      tokens_seen_ += int64_t(o_.batch) * o_.seq * o_.grad_accum;
      if (bad) {
        progress.clear();
        if (!o_.skip_bad_steps)
          fail("step ", step_, ": ", why, "; stopping without saving (the last checkpoint in ", o_.out,
               " is intact; --skip-bad-steps skips such steps)");
        skipped_++;
        std::printf("step %ld skipped: %s\n", step_, why.c_str());
        metric({{"type", "skip"}, {"step", step_}, {"reason", why}});
      } else {
        last_loss_ = loss_sum / double(count);
        const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        const double elapsed = std::chrono::duration<double>(Clock::now() - t_start).count();
        const double tok_s = double(o_.batch) * o_.seq * o_.grad_accum / dt;
        const double eta = elapsed / double(step_ - first_step) * double(total_steps_ - step_);
        metric({{"type", "train"}, {"step", step_}, {"loss", last_loss_}, {"lr", lr}, {"grad_norm", gnorm},
                {"tokens", tokens_seen_}, {"tok_s", tok_s}});
        progress.update(step_, total_steps_, last_loss_, lr, gnorm, tok_s, eta);
      }
      done_this_run++;
      const bool last = step_ == total_steps_;
      if ((o_.eval_every > 0 && step_ % o_.eval_every == 0) || last) {
        progress.clear();
        evaluate();
      }
      int64_t sig = stop_signal();
      comm_.all_reduce_max(&sig, 1);  // a signal seen by any rank stops every rank at this step
      const bool stop_now = sig != 0 || (o_.stop_after > 0 && done_this_run >= o_.stop_after);
      if ((o_.save_every > 0 && step_ % o_.save_every == 0) || last || stop_now) {
        progress.clear();
        std::string dir;
        const Snapshot snap = snapshot();  // ZeRO-1: the shards gathered (a collective)
        on_root(comm_, [&] { dir = save(snap); });  // the others wait: the checkpoint is complete when they go on
        std::printf("saved %s\n", dir.c_str());
      }
      if (stop_now && !last) {
        std::printf("stopped at step %ld%s; continue with --resume\n", step_,
                    sig ? cat(" by signal ", sig).c_str() : " (--stop-after)");
        return sig ? 128 + int(sig) : 0;
      }
    }
    progress.clear();
    const double elapsed = std::chrono::duration<double>(Clock::now() - t_start).count();
    std::printf("done: %ld steps, %lld tokens, final train loss %s, val loss %s, %s%s\n", step_,
                (long long)tokens_seen_, loss_text(last_loss_).c_str(),
                val_ ? loss_text(last_val_).c_str() : "- (no --val)", format_duration(elapsed).c_str(),
                skipped_ ? cat(", ", skipped_, " skipped step(s)").c_str() : "");
    return 0;
  }
};

}  // namespace beop
