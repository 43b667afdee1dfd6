// train: pre-training, continual pre-training (CPT) and instruction tuning (IT) of beop models.
//
//   ./train --preset small --tokenizer tok.json --data legal=...:0.7,general=...:0.3 --val ... --out runs/base
//   ./train --stage cpt --init runs/base --data ... --out runs/cpt
//   ./train --stage it  --init runs/cpt  --data it_legal=...:0.5,it_general=...:0.5 --out runs/it
//   ./train ... --out runs/cpt --resume          # continue an interrupted run, bit-identically
//   mpirun -np 4 ./train ...                     # 4 data-parallel ranks, the same training (docs/DISTRIBUTED.md)
//
// The loop is src/trainer.h; this file is the command line.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/comm_mpi.h"
#include "cli/omp_policy.h"
#include "cli/run_command.h"
#include "cpu/model_cpu.h"
#include "cuda/backend.h"
#include "src/flags.h"
#include "src/trainer.h"

using namespace beop;

static TrainOptions parse(int argc, char** argv, bool& help) {
  TrainOptions d;  // defaults
  Flags f("train", "train [flags]",
                "Trains a Llama-family model on a weighted mixture of token shards (docs: README.md).");
  auto S = [](auto v) { return std::to_string(v); };
  f.add("preset", d.preset, "model preset for training from scratch: tiny, small, 125m, 1b");
  f.add("config", "", "model config JSON instead of a preset (keys as in a checkpoint's config.json)");
  f.add("init", "", "continue from this checkpoint (a step_* dir, a run dir: its newest, or hf:DIR) — CPT, IT");
  f.add("tokenizer", "", "tokenizer.json (from scratch; with --init/--resume the checkpoint's is used)");
  f.add("stage", d.stage, "pretrain | cpt | it (cpt and it need --init)");
  f.add("device", d.device, "cpu | cuda (bf16 mixed precision) | cuda-fp32");
  f.add("dtype", d.dtype,
        "cpu training GEMMs: fp32 | bf16 (bf16 operands, fp32 sums; fp32 master weights, moments and activations; "
        "AMX or AVX512-BF16 where the CPU has it). cuda: the precision is in --device");
  f.add("attention", d.attention,
        "training attention: flash (fused kernels, saves B*H*T logsumexps; the default, auto, on cpu and cuda) | "
        "gemm (GEMMs + softmax, saves the B*H*T*T probabilities)");
  f.add("data", "", "training mixture: name=GLOB:weight,... of token shards", true);
  f.add("val", "", "validation sources: name=GLOB,... (loss reported per source)");
  f.add("batch", S(d.batch), "sequences per micro-batch");
  f.add("seq", S(d.seq), "tokens per sequence");
  f.add("grad-accum", S(d.grad_accum), "micro-batches per optimizer step");
  f.add("zero", "auto", "ZeRO-1: 1 shards the optimizer state (AdamW moments; bf16: the fp32 master) over the "
        "ranks, 0 does not; auto = 1 with several ranks");
  f.add("steps", "0", "optimizer steps (or --tokens)");
  f.add("tokens", "0", "token budget; steps = ceil(tokens / (batch*seq*grad-accum))");
  f.add("lr", "1e-3", "peak learning rate");
  f.add("min-lr-frac", "0.1", "final learning rate as a fraction of --lr (cosine, linear)");
  f.add("schedule", d.schedule, "cosine | linear | constant (after warmup)");
  f.add("warmup", "0", "linear warmup steps");
  f.add("weight-decay", "0.1", "AdamW decoupled weight decay (2-D weights only)");
  f.add("clip", "1.0", "global gradient-norm clip (0 = off)");
  f.add("beta1", "0.9", "AdamW beta1");
  f.add("beta2", "0.95", "AdamW beta2");
  f.add("seed", "1", "seed of the weights (from scratch) and the data order");
  f.add("threads", "0", "OpenMP threads (0 = all cores)");
  f.add("out", "", "run directory: checkpoints, metrics.jsonl, run.json", true);
  f.add_bool("resume", "continue the run in --out from its newest checkpoint");
  f.add_bool("force", "overwrite a run already in --out");
  f.add("eval-every", S(d.eval_every), "validation every N steps (and at the end); 0 = only at the end");
  f.add("val-batches", S(d.val_batches), "batches per validation source");
  f.add("save-every", "0", "checkpoint every N steps (always at the end and on SIGINT/SIGTERM)");
  f.add("stop-after", "0", "stop (with a checkpoint) after N steps of this invocation; resume later");
  f.add("keep-last", S(d.keep_last), "checkpoints kept (older ones are pruned)");
  f.add("keep-steps", "", "comma-separated steps whose checkpoints are never pruned");
  f.add_bool("skip-bad-steps", "skip a step whose loss or gradient is NaN/Inf instead of stopping");
  f.add("log-every", S(d.log_every), "progress line every N steps when stderr is not a terminal");
  f.add_bool("quiet", "no progress line");
  help = !f.parse(argc, argv);
  if (help) return d;
  if (!f.positional().empty()) throw UsageError("unexpected argument '" + f.positional()[0] + "'");
  TrainOptions o;
  o.preset = f.str("preset"), o.config_path = f.str("config"), o.init = f.str("init");
  o.tokenizer = f.str("tokenizer"), o.stage = f.str("stage"), o.device = f.str("device");
  o.attention = f.str("attention"), o.dtype = f.str("dtype");
  o.data = f.str("data"), o.val = f.str("val");
  o.batch = int(f.i64("batch")), o.seq = int(f.i64("seq")), o.grad_accum = int(f.i64("grad-accum"));
  o.steps = f.i64("steps"), o.tokens = f.i64("tokens");
  o.lr = f.f64("lr"), o.min_lr_frac = f.f64("min-lr-frac"), o.schedule = f.str("schedule");
  o.warmup = f.i64("warmup"), o.weight_decay = f.f64("weight-decay"), o.clip = f.f64("clip");
  o.beta1 = f.f64("beta1"), o.beta2 = f.f64("beta2"), o.seed = uint64_t(f.i64("seed"));
  o.threads = int(f.i64("threads")), o.out = f.str("out"), o.resume = f.on("resume"), o.force = f.on("force");
  o.eval_every = f.i64("eval-every"), o.val_batches = f.i64("val-batches"), o.save_every = f.i64("save-every");
  o.stop_after = f.i64("stop-after"), o.keep_last = int(f.i64("keep-last")), o.keep_steps = f.str("keep-steps");
  o.skip_bad_steps = f.on("skip-bad-steps"), o.log_every = f.i64("log-every"), o.quiet = f.on("quiet");
  const std::string zero = f.str("zero");
  if (zero != "auto" && zero != "0" && zero != "1") throw UsageError("--zero '" + zero + "': 0, 1 or auto");
  o.zero = zero == "auto" ? -1 : zero == "1";
  if (!f.given("preset")) o.preset = "tiny";
  o.preset_given = f.given("preset");
  for (int i = 0; i < argc; i++) o.command_line += (i ? " " : "") + std::string(argv[i]);
  return o;
}

int main(int argc, char** argv) {
  cli::default_omp_wait_policy(argv);  // before any OpenMP use (may re-execute this program once)
  std::unique_ptr<Comm> comm;
  const int rc = cli::run_command("train", [&] {
    comm = cli::open_comm();  // MPI when mpirun started this process, else one rank
    // only rank 0 prints (errors still reach stderr from every rank)
    if (comm->rank() != 0 && !std::freopen("/dev/null", "w", stdout)) fail("rank ", comm->rank(), ": no /dev/null");
    bool help = false;
    TrainOptions o = parse(argc, argv, help);
    if (help) return 0;
    if (comm->rank() != 0) o.quiet = true;
    if (o.threads > 0) omp_set_num_threads(o.threads);
    else if (comm->local_size() > 1)  // the host's cores split between its ranks, not each rank on all of them
      omp_set_num_threads(std::max(1, omp_get_num_procs() / comm->local_size()));
    if (o.device.compare(0, 4, "cuda") == 0) {  // cuda (bf16 mixed precision) | cuda-fp32: cuda/backend.h
      BEOP_CHECK(o.dtype == "fp32", "--dtype ", o.dtype, " is for --device cpu; on cuda the precision is in --device "
                 "(cuda = bf16 mixed, cuda-fp32)");
      return cuda_backend::train(o, cuda_backend::precision_of(o.device), *comm);  // several ranks: NCCL
    }
    BEOP_CHECK(o.device == "cpu", "unknown --device '", o.device, "' (cpu, cuda or cuda-fp32)");
    return Trainer<CpuModel>(o, *comm).run();
  });
  return comm ? comm->finish(rc) : rc;
}
