#include "src/batch_generator.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace beop {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One request, shared by the waiting caller and the scheduler. The scheduler only appends pieces and sets
// the outcome; the caller only reads them and sets `cancelled`.
struct Job {
  std::vector<int32_t> prompt;
  std::unique_ptr<Decoding> dec;  // built (and the request checked) on the caller's thread
  std::atomic<bool> cancelled{false};
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> pieces;  // streamed text not yet handed to the caller's on_text
  bool done = false;
  GenerateResult result;
  std::exception_ptr error;
  int slot = -1;
  Clock::time_point t_admit;
  double prefill_s = 0;

  void push(const std::string& piece) {
    std::lock_guard<std::mutex> l(mu);
    pieces.push_back(piece);
    cv.notify_one();
  }
  void finish(GenerateResult r, std::exception_ptr e) {
    std::lock_guard<std::mutex> l(mu);
    result = std::move(r), error = e, done = true;
    cv.notify_one();
  }
};
}  // namespace

struct BatchGenerator::Impl {
  CausalLM& lm;
  const Tokenizer& tok;
  int n_slots = 0;
  int context = 0;  // positions per slot (reset_slots): also the most prompt tokens one batched prefill takes
  std::mutex mu;  // guards pending and stopping
  std::condition_variable cv;
  std::deque<std::shared_ptr<Job>> pending;
  bool stopping = false;
  std::atomic<int64_t> n_steps{0}, n_rows{0};
  // scheduler-thread state
  std::vector<std::shared_ptr<Job>> active;
  std::vector<int> free_slots;
  std::thread th;

  Impl(CausalLM& m, const Tokenizer& t, int max_batch) : lm(m), tok(t) {
    BEOP_CHECK(max_batch > 0, "max batch must be positive, got ", max_batch);
    context = lm.config().max_seq_len;
    n_slots = std::max(1, std::min(max_batch, lm.reset_slots(max_batch, context)));
    for (int s = n_slots - 1; s >= 0; s--) free_slots.push_back(s);
    th = std::thread([this] { loop(); });
  }

  void retire(size_t i, std::exception_ptr e = nullptr) {  // active[i] leaves its slot
    std::shared_ptr<Job> j = active[i];
    free_slots.push_back(j->slot);
    active.erase(active.begin() + long(i));
    GenerateResult r;
    if (!e) {
      r = j->dec->finish();
      r.prefill_s = j->prefill_s;
      r.decode_s = since(j->t_admit) - j->prefill_s;
    }
    j->finish(std::move(r), e);
  }

  void retire_job(const std::shared_ptr<Job>& j, std::exception_ptr e = nullptr) {
    for (size_t i = 0; i < active.size(); i++)
      if (active[i] == j) return retire(i, e);
  }

  // Waiting jobs take free slots, their prompts are prefilled, and each gets its first token. Consecutive prompts
  // are prefilled together (one read of the weights for all of them) where the model gives each the logits it
  // would give it alone, bit for bit (CausalLM::prefill_exact), and they fit one prefill (the slots' context);
  // the others alone.
  void admit(const std::vector<std::shared_ptr<Job>>& joining) {
    for (const auto& j : joining) {
      j->slot = free_slots.back();
      free_slots.pop_back();
      active.push_back(j);
      j->t_admit = Clock::now();
    }
    for (size_t i = 0; i < joining.size();) {
      // this group: joining[i, e), grown while the prompts fit one prefill and stay exact together
      std::vector<int> lens{int(joining[i]->prompt.size())};
      int64_t total = lens[0];
      for (size_t e = i + 1; e < joining.size(); e++) {
        const int len = int(joining[e]->prompt.size());
        if (total + len > context) break;
        lens.push_back(len);
        if (!lm.prefill_exact(lens.data(), int(lens.size()))) {
          lens.pop_back();
          break;
        }
        total += len;
      }
      const size_t e = i + lens.size();
      std::vector<int> slots;
      std::vector<int32_t> toks;
      for (size_t k = i; k < e; k++) {
        slots.push_back(joining[k]->slot);
        toks.insert(toks.end(), joining[k]->prompt.begin(), joining[k]->prompt.end());
      }
      std::vector<float> logits;
      try {
        logits = e - i == 1 ? lm.prefill_slot(slots[0], toks.data(), lens[0], 0)
                            : lm.prefill_slots(toks.data(), lens.data(), slots.data(), int(e - i));
      } catch (...) {
        for (size_t k = i; k < e; k++) retire_job(joining[k], std::current_exception());
        i = e;
        continue;
      }
      const size_t V = logits.size() / (e - i);
      for (size_t k = i; k < e; k++) {
        const std::shared_ptr<Job>& j = joining[k];
        j->prefill_s = since(j->t_admit);
        std::vector<float> row(logits.begin() + long((k - i) * V), logits.begin() + long((k - i + 1) * V));
        if (!j->dec->feed(row)) retire_job(j);
      }
      i = e;
    }
  }

  void step() {
    const int n = int(active.size());
    std::vector<int32_t> toks(static_cast<size_t>(n), 0);
    std::vector<int> slot(static_cast<size_t>(n)), pos(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) {
      toks[size_t(i)] = active[size_t(i)]->dec->next_token();
      slot[size_t(i)] = active[size_t(i)]->slot, pos[size_t(i)] = active[size_t(i)]->dec->next_pos();
    }
    std::vector<float> all;
    try {
      all = lm.decode_slots(toks.data(), slot.data(), pos.data(), n);
    } catch (...) {
      const std::exception_ptr e = std::current_exception();
      while (!active.empty()) retire(active.size() - 1, e);
      return;
    }
    n_steps++, n_rows += n;
    const size_t V = all.size() / size_t(n);
    std::vector<float> logits(V);
    for (int i = n - 1; i >= 0; i--) {  // backwards: retire() erases
      std::copy(all.begin() + long(size_t(i) * V), all.begin() + long(size_t(i + 1) * V), logits.begin());
      if (!active[size_t(i)]->dec->feed(logits)) retire(size_t(i));
    }
  }

  void loop() {
    while (true) {
      std::vector<std::shared_ptr<Job>> joining;
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return stopping || !pending.empty() || !active.empty(); });
        if (stopping) break;
        while (!pending.empty() && joining.size() < free_slots.size())
          joining.push_back(pending.front()), pending.pop_front();
      }
      // Idle until now: reserve the slots again, in case the model served someone else meanwhile (a Generator on
      // the same model, e.g. a test's oracle, re-reserves it for one sequence; a no-op when nothing changed).
      if (active.empty() && !joining.empty()) {
        try {
          lm.reset_slots(n_slots, context);
        } catch (...) {
          for (auto& j : joining) j->finish({}, std::current_exception());
          continue;
        }
      }
      admit(joining);
      for (size_t i = active.size(); i-- > 0;)
        if (active[i]->cancelled) active[i]->dec->cancel(), retire(i);
      if (!active.empty()) step();
    }
    // shutting down: everything still here ends as cancelled
    for (size_t i = active.size(); i-- > 0;) active[i]->dec->cancel(), retire(i);
    std::lock_guard<std::mutex> l(mu);
    for (auto& j : pending) j->dec->cancel(), j->finish(j->dec->finish(), nullptr);
    pending.clear();
  }
};

BatchGenerator::BatchGenerator(CausalLM& lm, const Tokenizer& tok, int max_batch)
    : impl_(std::make_unique<Impl>(lm, tok, max_batch)) {}

BatchGenerator::~BatchGenerator() {
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->th.join();
}

int BatchGenerator::slots() const { return impl_->n_slots; }
int64_t BatchGenerator::steps() const { return impl_->n_steps; }
int64_t BatchGenerator::rows() const { return impl_->n_rows; }

GenerateResult BatchGenerator::generate(const std::vector<int32_t>& prompt, const GenerateOptions& o,
                                        const TextCallback& on_text) {
  auto j = std::make_shared<Job>();
  Job* raw = j.get();  // the Decoding lives inside the job: a raw pointer, no ownership cycle
  TextCallback push;
  if (on_text)
    push = [raw](const std::string& piece) {
      if (raw->cancelled) return false;
      raw->push(piece);
      return true;
    };
  j->dec = std::make_unique<Decoding>(impl_->tok, prompt, o, impl_->lm.config().max_seq_len, std::move(push));
  j->prompt = prompt;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    BEOP_CHECK(!impl_->stopping, "the generator is shutting down");
    impl_->pending.push_back(j);
  }
  impl_->cv.notify_all();
  std::unique_lock<std::mutex> l(j->mu);
  while (true) {
    j->cv.wait(l, [&] { return j->done || !j->pieces.empty(); });
    while (!j->pieces.empty()) {
      const std::string piece = std::move(j->pieces.front());
      j->pieces.pop_front();
      if (j->cancelled) continue;  // nothing more for a caller that cancelled
      l.unlock();
      if (!on_text(piece)) j->cancelled = true;
      l.lock();
    }
    if (j->done && j->pieces.empty()) break;
  }
  if (j->error) std::rethrow_exception(j->error);
  if (j->cancelled && j->result.finish_reason != "cancelled") j->result.finish_reason = "cancelled";
  return j->result;
}

}  // namespace beop
