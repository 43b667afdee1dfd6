#include "src/common.h"

#include <cstdlib>

namespace beop {

std::string data_dir() {
  const char* env = std::getenv("BEOP_DATA");
  return (env && *env) ? std::string(env) : std::string("../shared/data");
}

}  // namespace beop
