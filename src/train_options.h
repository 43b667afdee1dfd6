// Everything `train` can be told, with its defaults (the one place they are defined; train.cpp's --help
// prints them from here).
#pragma once
#include <cstdint>
#include <string>

namespace beop {

struct TrainOptions {
  // model
  std::string preset = "tiny";  // from scratch: a named preset ...
  bool preset_given = false;    // --preset was on the command line (checked against --init/--resume)
  std::string config_path;      // ... or a config JSON (same keys as a checkpoint's config.json)
  std::string init;             // continue from a checkpoint (a step_* dir, or a run dir = its newest)
  std::string tokenizer;        // tokenizer.json (from scratch; with --init the checkpoint's is used)
  std::string stage = "pretrain";  // pretrain | cpt | it (recorded; cpt/it require --init or --resume)
  std::string device = "cpu";
  std::string dtype = "fp32";      // fp32 | bf16: the cpu backend's training GEMMs (Ops::set_gemm_dtype)
  std::string attention = "auto";  // auto | flash | gemm: training attention kernels (Ops::set_attention)
  // data
  std::string data;  // mixture spec: name=GLOB:weight,...
  std::string val;   // validation sources: name=GLOB,...
  // batch
  int batch = 8, seq = 128, grad_accum = 1;
  int zero = -1;  // ZeRO-1: -1 = on with several ranks, 0 off, 1 on (an error with one rank)
  long steps = 0;           // optimizer steps (or derived from tokens)
  int64_t tokens = 0;       // alternatively: a token budget
  // optimizer
  double lr = 1e-3, min_lr_frac = 0.1, weight_decay = 0.1, clip = 1.0, beta1 = 0.9, beta2 = 0.95;
  std::string schedule = "cosine";
  long warmup = 0;
  uint64_t seed = 1;
  int threads = 0;  // 0 = OpenMP default
  // run directory
  std::string out;
  bool resume = false, force = false;
  long eval_every = 50, val_batches = 8, save_every = 0, stop_after = 0;
  int keep_last = 2;
  std::string keep_steps;  // comma-separated steps whose checkpoints are never pruned
  bool skip_bad_steps = false;
  long log_every = 10;
  bool quiet = false;
  std::string command_line;
};

}  // namespace beop
