// src/progress.h: the bar's text; nothing at all is written when the output is not a terminal (a file, a
// pipe) or the bar is disabled; on a real terminal (a pseudo-terminal opened here) the line is rewritten in
// place, redraws are rate-limited with reaching the total always drawn, and finish/end close the line once.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "src/progress.h"

using namespace beop;

namespace {

// A pseudo-terminal: `tty` is a FILE* on its slave side (isatty is true), read() returns what was written.
struct Pty {
  int master = -1;
  std::FILE* tty = nullptr;
  Pty() {
    master = ::posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    tty = std::fopen(::ptsname(master), "w");
    REQUIRE(tty);
    ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
  }
  ~Pty() {
    std::fclose(tty);
    ::close(master);
  }
  std::string read() {
    std::fflush(tty);
    std::string out;
    char buf[4096];
    for (int tries = 0; tries < 50; tries++) {  // the bytes cross the pty asynchronously
      ssize_t n = ::read(master, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, size_t(n));
        tries = 40;  // got some: drain what follows, then stop soon
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    return out;
  }
};

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) n++;
  return n;
}

}  // namespace

TEST_CASE("progress_bar_text") {
  CHECK(progress_bar_text(0, 10, "enc") == "[..............................]   0% enc");
  CHECK(progress_bar_text(5, 10, "enc") == "[###############...............]  50% enc");
  CHECK(progress_bar_text(10, 10, "enc") == "[##############################] 100% enc");
  CHECK(progress_bar_text(15, 10, "x") == "[##############################] 100% x");  // clamped
  CHECK(progress_bar_text(0, 0, "x") == "[##############################] 100% x");   // nothing to do = done
}

TEST_CASE("nothing is written when the output is not a terminal, or when disabled") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    Progress bar("label", 10, true, f);
    bar.update(5);
    bar.update(10);
    bar.finish();
    StatusLine line(true, f);
    CHECK_FALSE(line.on());
    line.draw("step 1");
    line.end();
  }
  CHECK(std::ftell(f) == 0);
  std::fclose(f);

  Pty pty;
  {
    Progress bar("label", 10, /*enabled=*/false, pty.tty);
    bar.update(10);
    bar.finish();
    StatusLine line(false, pty.tty);
    CHECK_FALSE(line.on());
    line.draw("x");
  }
  CHECK(pty.read().empty());
}

TEST_CASE("on a terminal: rewritten in place, rate-limited, the total always drawn, one newline at the end") {
  Pty pty;
  {
    Progress bar("enc", 100, true, pty.tty);
    const auto t0 = std::chrono::steady_clock::now();
    bar.update(10);
    bar.update(20);  // within 0.1 s of the first draw: skipped
    bar.update(30);
    const bool quick = std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(90);
    std::string out = pty.read();
    if (quick) CHECK(count(out, "\r\033[K[") == 1);  // (a machine that stalled 0.1 s may draw twice)
    CHECK(out.find("  10% enc") != std::string::npos);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    bar.update(40);  // 0.15 s later: drawn
    bar.update(100);  // the total: drawn at once
    out = pty.read();
    CHECK(count(out, "\r\033[K[") == 2);
    CHECK(out.find("  40% enc") != std::string::npos);
    CHECK(out.find(" 100% enc") != std::string::npos);
    CHECK(count(out, "\n") == 0);
    bar.finish(90);  // a job that stopped short shows where it stopped
    bar.finish();    // once only
    out = pty.read();
    CHECK(out.find("  90% enc") != std::string::npos);
    CHECK(count(out, "\n") == 1);
  }
  CHECK(pty.read().empty());  // finished: the destructor adds nothing

  StatusLine line(true, pty.tty);
  CHECK(line.on());
  line.end();  // nothing drawn: no newline
  CHECK(pty.read().empty());
  line.draw("step 1");
  line.draw("step 2");
  line.end();
  line.end();
  const std::string out = pty.read();
  CHECK(count(out, "\r\033[K") == 2);
  CHECK(out.find("step 2") != std::string::npos);
  CHECK(count(out, "\n") == 1);
}
