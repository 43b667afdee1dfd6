// A JSONL file written one line at a time so that a run killed at any moment (SIGKILL included) leaves a file
// that the next run can resume from: each line goes out in one write() on an O_APPEND descriptor (no user-space
// buffer to lose), and on resume a torn last line (no final '\n') is cut off before anything is appended.
#pragma once
#include <string>

namespace beop::lawqa {

class JsonlAppendFile {
 public:
  // resume = false starts the file empty; resume = true keeps its complete lines (existing()) and drops a torn
  // tail. Throws Error naming the path when it cannot be opened or a complete line is not a JSON object.
  JsonlAppendFile(const std::string& path, bool resume);
  ~JsonlAppendFile();
  JsonlAppendFile(const JsonlAppendFile&) = delete;
  JsonlAppendFile& operator=(const JsonlAppendFile&) = delete;

  const std::string& existing() const { return existing_; }  // the complete lines kept on resume
  size_t dropped_bytes() const { return dropped_; }           // the torn tail that was cut off
  void append(const std::string& line);                       // line + '\n'; throws Error on a failed write
  const std::string& path() const { return path_; }

 private:
  std::string path_, existing_;
  size_t dropped_ = 0;
  int fd_ = -1;
};

}  // namespace beop::lawqa
