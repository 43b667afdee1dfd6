// Progress on stderr for long jobs: one status line rewritten in place, shown only when stderr is a terminal
// (logs and pipes never fill up with carriage returns), and a bar drawn on it at most ~10 times a second.
//
//   Progress bar("encoding 120 documents", total_bytes, !quiet);
//   for (...) bar.update(done);   // cheap when nothing is drawn
//   bar.finish();                 // the bar at 100%, then a newline
//
// StatusLine is the shared piece: the bar here and the training log line (src/trainer_util.h) draw on it.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace beop {

// One line of `out` rewritten in place ("\r", clear to end of line, text). on() only when enabled and `out` is
// a terminal; when off, draw() and end() do nothing. end() finishes a drawn line with a newline so that other
// output starts on a fresh line; the destructor does it too.
class StatusLine {
 public:
  explicit StatusLine(bool enabled = true, std::FILE* out = stderr);
  ~StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  bool on() const { return on_; }
  void draw(const std::string& text);
  void end();

 private:
  std::FILE* out_;
  bool on_, drawn_ = false;
};

// "[###############...............]  50% label": a 30-character bar for done of total (total 0 counts as done).
std::string progress_bar_text(uint64_t done, uint64_t total, const std::string& label);

// A progress bar on a StatusLine. update() redraws at most every 0.1 s, except that reaching the total is
// always drawn; finish() draws the total (or `done`, for a job that stopped short) and ends the line.
class Progress {
 public:
  Progress(std::string label, uint64_t total, bool enabled = true, std::FILE* out = stderr);
  void update(uint64_t done);
  void finish() { finish(total_); }
  void finish(uint64_t done);

 private:
  StatusLine line_;
  std::string label_;
  uint64_t total_;
  double last_ = -1;  // steady-clock seconds of the last draw
  bool finished_ = false;
};

}  // namespace beop
