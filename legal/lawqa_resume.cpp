// Line-atomic JSONL append file (see lawqa_resume.h).
#include "legal/lawqa_resume.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "src/common.h"
#include "src/io.h"
#include "src/jsonl.h"

namespace beop::lawqa {

JsonlAppendFile::JsonlAppendFile(const std::string& path, bool resume) : path_(path) {
  if (resume && file_exists(path)) {
    existing_ = read_file(path);
    size_t keep = existing_.rfind('\n');
    keep = keep == std::string::npos ? 0 : keep + 1;
    dropped_ = existing_.size() - keep;
    existing_.resize(keep);
    // Every complete line must be an object: a file damaged some other way is an error, not silently resumed.
    for_each_jsonl_text<nlohmann::json>(existing_, path, [](const nlohmann::json&, int) {});
    if (dropped_ && ::truncate(path.c_str(), (off_t)keep) != 0)
      fail(path, ": cannot cut the torn last line: ", std::strerror(errno));
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (resume ? 0 : O_TRUNC), 0644);
  if (fd_ < 0) fail(path, ": cannot open for appending: ", std::strerror(errno));
}

JsonlAppendFile::~JsonlAppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

void JsonlAppendFile::append(const std::string& line) {
  std::string l = line + "\n";
  for (size_t done = 0; done < l.size();) {
    ssize_t n = ::write(fd_, l.data() + done, l.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(path_, ": write failed: ", std::strerror(errno));
    done += (size_t)n;
  }
}

}  // namespace beop::lawqa
