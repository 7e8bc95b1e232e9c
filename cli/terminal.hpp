#pragma once

#include <string>
#include <string_view>

namespace csss::cli {

// True when standard output is a terminal (progress bars and colours only then).
bool stdout_is_terminal();

// True when standard input is a terminal (interactive prompts only then).
bool stdin_is_terminal();

// Reads one line from the controlling terminal with echo off, after printing `prompt` there.
// Throws Error(usage) when there is no terminal, telling to use --password-stdin.
std::string prompt_secret(std::string_view prompt);

// Reads one line from standard input, without its line end. Throws Error(invalid_input) naming
// `what` when standard input is already at its end.
std::string read_stdin_line(std::string_view what);

// A password: the next line of standard input with `from_stdin`, otherwise a prompt; with
// `confirm`, the prompt asks twice and the two must match.
std::string obtain_password(bool from_stdin, std::string_view prompt, bool confirm);

}  // namespace csss::cli
