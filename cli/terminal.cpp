#include "terminal.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "util/error.hpp"

namespace csss::cli {

bool stdout_is_terminal() {
  return ::isatty(STDOUT_FILENO) == 1;
}

bool stdin_is_terminal() {
  return ::isatty(STDIN_FILENO) == 1;
}

std::string prompt_secret(std::string_view prompt) {
  const int fd = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(ErrorKind::usage,
                "no terminal to ask for the password on; pass it with --password-stdin");
  }
  struct termios saved {};
  const bool have_termios = ::tcgetattr(fd, &saved) == 0;
  if (have_termios) {
    struct termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  [[maybe_unused]] const ssize_t w = ::write(fd, prompt.data(), prompt.size());
  std::string line;
  char c = 0;
  while (::read(fd, &c, 1) == 1 && c != '\n') {
    if (c != '\r')
      line.push_back(c);
  }
  if (have_termios)
    ::tcsetattr(fd, TCSAFLUSH, &saved);
  ::close(fd);
  return line;
}

std::string read_stdin_line(std::string_view what) {
  std::string line;
  if (!std::getline(std::cin, line)) {
    throw Error(ErrorKind::invalid_input, fmt::format("expected {} on standard input", what));
  }
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  return line;
}

std::string obtain_password(bool from_stdin, std::string_view prompt, bool confirm) {
  if (from_stdin)
    return read_stdin_line("a password");
  std::string first = prompt_secret(prompt);
  if (confirm) {
    const std::string again = prompt_secret("Repeat it: ");
    if (again != first)
      throw Error(ErrorKind::invalid_input, "the two passwords differ");
  }
  return first;
}

}  // namespace csss::cli
