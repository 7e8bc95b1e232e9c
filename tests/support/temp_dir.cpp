#include "support/temp_dir.hpp"

#include <stdlib.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace csss::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(base != nullptr && base[0] == '/' ? base : "/tmp") + "/csss-test-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace csss::test
