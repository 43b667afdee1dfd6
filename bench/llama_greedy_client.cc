// llama.cpp's greedy token ids for given prompt ids, for bench/llama_greedy_check.sh (beop's ids vs llama.cpp's on
// the model `prep export-gguf` wrote). Not part of the beop build (the .cc suffix keeps it out of the Makefile's
// bench/*.cpp): the script compiles it against a llama.cpp build (bench/llama_cpp_build.sh), outside git.
//   llama_greedy_client MODEL.gguf N_NEW THREADS ID ID ...
// stdout: line 1 the N_NEW generated ids, space-separated; line 2 "decode_tok_s X", the tokens/s of the N_NEW - 1
// one-token steps (what bench_infer_dtype compares with beop's decode: same prompt, same steps, argmax included).
// No BOS is added (the ids are fed as given), the argmax is taken over the raw logits (lowest id on ties, as beop's
// sampler), one prompt batch then one token per llama_decode: the same computation as `infer generate
// --temperature 0`.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <llama.h>  // from the llama.cpp build (-I), not this repository

static void quiet(enum ggml_log_level, const char*, void*) {}

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s MODEL.gguf N_NEW THREADS ID...\n", argv[0]);
    return 2;
  }
  const int n_new = std::atoi(argv[2]), threads = std::atoi(argv[3]);
  std::vector<llama_token> toks;
  for (int i = 4; i < argc; i++) toks.push_back(llama_token(std::atoi(argv[i])));
  llama_log_set(quiet, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  // No extra weight buffer types (llama-cli's --no-repack): on this VM the CPU advertises AMX, ggml built with
  // GGML_NATIVE sends Q8_0 matmuls to its AMX kernel, and the first tile instruction dies with SIGILL (the tile
  // state is not usable in the guest). BEOP_LLAMA_REPACK=1 turns them back on where AMX works.
  const char* repack = std::getenv("BEOP_LLAMA_REPACK");
  mp.use_extra_bufts = repack && repack[0] == '1';
  // Weights loaded into anonymous memory (llama-cli's --no-mmap), not mapped from the GGUF file, which is llama.cpp's
  // default: the file's page cache has 4 KiB pages, anonymous memory can get transparent huge pages as beop's
  // weights do. On the dev VM under THP "always" llama.cpp's bf16 decode ran 1.12-1.27x faster that way; under
  // "madvise" the two were level (docs/PERFORMANCE.md). The comparison holds the setting that is never slower;
  // BEOP_LLAMA_MMAP=1 restores the default.
  const char* use_mmap = std::getenv("BEOP_LLAMA_MMAP");
  if (!(use_mmap && use_mmap[0] == '1')) mp.load_mode = LLAMA_LOAD_MODE_NONE;
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (!model) {
    std::fprintf(stderr, "llama_greedy_client: llama.cpp could not load %s\n", argv[1]);
    return 1;
  }
  const int V = llama_vocab_n_tokens(llama_model_get_vocab(model));
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = uint32_t(toks.size()) + uint32_t(n_new) + 8;
  cp.n_batch = cp.n_ctx;
  cp.n_threads = cp.n_threads_batch = threads;
  // beop's attention: fp32 K/V cache, plain softmax attention. llama.cpp's defaults (an F16 cache, flash attention
  // when available) would round K and V to fp16 and move near-ties of the f32 model; at the few dozen positions
  // the benches use, the cache's share of the bytes a step reads is < 0.1%, so the speed is the same.
  cp.type_k = cp.type_v = GGML_TYPE_F32;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) {
    std::fprintf(stderr, "llama_greedy_client: could not create a context\n");
    return 1;
  }
  llama_batch batch = llama_batch_get_one(toks.data(), int32_t(toks.size()));
  auto t1 = std::chrono::steady_clock::now();  // after the prompt's step
  for (int s = 0; s < n_new; s++) {
    if (llama_decode(ctx, batch) != 0) {
      std::fprintf(stderr, "llama_greedy_client: llama_decode failed at step %d\n", s);
      return 1;
    }
    const float* logits = llama_get_logits_ith(ctx, -1);
    llama_token best = 0;
    for (int v = 1; v < V; v++)
      if (logits[v] > logits[best]) best = v;
    std::printf(s ? " %d" : "%d", best);
    if (s == 0) t1 = std::chrono::steady_clock::now();
    toks.assign(1, best);
    batch = llama_batch_get_one(toks.data(), 1);
  }
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::printf("\ndecode_tok_s %.3f\n", n_new > 1 ? (n_new - 1) / dt : 0.0);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}
