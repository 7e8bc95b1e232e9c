// cli/progress.hpp: the progress line reaches the terminal even while the import's decoding has
// descriptor 2 pointed at /dev/null (imaging's QuietStderr, on other threads in a real run).
#include <doctest/doctest.h>

#include <poll.h>
#include <pty.h>
#include <unistd.h>

#include <string>

#include "imaging/internal.hpp"
#include "progress.hpp"

TEST_CASE("cli: the progress line is drawn on the terminal while decoding silences stderr") {
  int master = -1;
  int terminal = -1;
  REQUIRE(::openpty(&master, &terminal, nullptr, nullptr, nullptr) == 0);
  const int saved = ::dup(STDERR_FILENO);
  REQUIRE(saved >= 0);
  REQUIRE(::dup2(terminal, STDERR_FILENO) == STDERR_FILENO);
  bool enabled = false;
  {
    csss::cli::ProgressLine line(true);
    enabled = line.enabled();
    {
      const csss::imaging::detail::QuietStderr quiet;  // as while a PNG or JPEG is decoded
      line.update("[####....] 120/240 files", true);
    }
    line.clear();
  }
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(terminal);
  std::string shown;
  pollfd p{master, POLLIN, 0};
  while (::poll(&p, 1, 200) > 0) {
    char buf[512];
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0)
      break;
    shown.append(buf, static_cast<std::size_t>(n));
  }
  ::close(master);
  CHECK(enabled);
  CHECK(shown.find("120/240 files") != std::string::npos);
  CHECK(shown.find("\r\x1b[K") != std::string::npos);  // and cleared
}
