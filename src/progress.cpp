// Status line and progress bar on stderr; see progress.h.
#include "src/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace beop {

StatusLine::StatusLine(bool enabled, std::FILE* out) : out_(out), on_(enabled && out && ::isatty(::fileno(out))) {}

StatusLine::~StatusLine() { end(); }

void StatusLine::draw(const std::string& text) {
  if (!on_) return;
  std::fprintf(out_, "\r\033[K%s", text.c_str());
  std::fflush(out_);
  drawn_ = true;
}

void StatusLine::end() {
  if (!drawn_) return;
  std::fputs("\n", out_);
  std::fflush(out_);
  drawn_ = false;
}

std::string progress_bar_text(uint64_t done, uint64_t total, const std::string& label) {
  const double frac = total ? std::min(1.0, (double)done / (double)total) : 1.0;
  const int width = 30, fill = (int)(frac * width);
  std::string bar(fill, '#');
  bar.resize(width, '.');
  char pct[8];
  std::snprintf(pct, sizeof pct, "%3d%%", (int)(frac * 100));
  return "[" + bar + "] " + pct + " " + label;
}

Progress::Progress(std::string label, uint64_t total, bool enabled, std::FILE* out)
    : line_(enabled, out), label_(std::move(label)), total_(total) {}

void Progress::update(uint64_t done) {
  if (!line_.on() || finished_) return;
  const double now = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  if (done < total_ && now - last_ < 0.1) return;
  last_ = now;
  line_.draw(progress_bar_text(done, total_, label_));
}

void Progress::finish(uint64_t done) {
  if (!line_.on() || finished_) return;
  line_.draw(progress_bar_text(done, total_, label_));
  line_.end();
  finished_ = true;
}

}  // namespace beop
