#pragma once

#include <map>
#include <string>
#include <vector>

namespace csss::test {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal number when killed by a signal
  std::string out;
  std::string err;
  long peak_rss_kib = 0;  // the child's peak resident memory (getrusage ru_maxrss)
};

struct ProcessOptions {
  std::string stdin_text;                  // written to the child's stdin, then closed
  std::map<std::string, std::string> env;  // set (or, with an empty value, unset) in the child
  std::string cwd;                         // the child's working directory; "" keeps ours
};

// Runs `argv` (argv[0] is the program path) to completion with no terminal, capturing stdout and
// stderr. The child inherits this process's environment, changed by `options.env`.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// Starts `argv` in the background with stdout and stderr sent to `log_path`; returns its pid.
int start_background(const std::vector<std::string>& argv, const std::string& log_path,
                     const ProcessOptions& options = {});

// Sends SIGTERM to `pid` and waits for it (SIGKILL after 5 seconds).
void stop_background(int pid);

// The path of the csss binary under test.
std::string csss_binary();

// The repository's root directory.
std::string source_dir();

}  // namespace csss::test
