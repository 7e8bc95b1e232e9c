#include "line_editor.hpp"

#include <cstdio>
#include <cstdlib>

#include <editline/readline.h>

namespace csss::cli {

namespace {

constexpr int kHistoryLength = 500;

}  // namespace

LineEditor::LineEditor() {
  static char name[] = "csss";
  rl_readline_name = name;
  using_history();
  stifle_history(kHistoryLength);
}

LineEditor::~LineEditor() {
  clear_history();
}

std::optional<std::string> LineEditor::read_line(const std::string& prompt) {
  char* line = readline(prompt.c_str());
  if (line == nullptr)
    return std::nullopt;
  std::string out(line);
  std::free(line);
  return out;
}

void LineEditor::remember(const std::string& line) {
  if (line.empty() || line == last_)
    return;
  add_history(line.c_str());
  last_ = line;
}

}  // namespace csss::cli
