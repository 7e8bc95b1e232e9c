#pragma once

// Line editing and history for interactive prompts (csss ask), through libedit's
// readline-compatible API. libedit is used in line_editor.cpp only.

#include <optional>
#include <string>

namespace csss::cli {

// One prompt session on the terminal. The history lives in memory for the session only; nothing
// is written to disk. libedit reads ~/.editrc (the program name is "csss") for key bindings.
class LineEditor {
 public:
  LineEditor();
  ~LineEditor();
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // The next line typed after `prompt`, without its line end; nullopt at end of input (Ctrl-D).
  std::optional<std::string> read_line(const std::string& prompt);
  // Makes `line` reachable with the up arrow (not when empty or equal to the previous one).
  void remember(const std::string& line);

 private:
  std::string last_;
};

}  // namespace csss::cli
