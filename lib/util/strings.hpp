#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace csss::util {

std::string trim(std::string_view s);
std::string to_lower(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// Edit distance counting insertions, deletions, substitutions and swaps of two neighbouring
// characters as one edit each (optimal string alignment), for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidates closest to `word` (distance at most 2, or a prefix of one), best first.
std::vector<std::string> suggestions(std::string_view word,
                                     const std::vector<std::string>& candidates);

bool is_valid_utf8(std::string_view s);

// True when `s` holds an ASCII control character (other than the ones `allowed` lists).
bool has_control_chars(std::string_view s, std::string_view allowed = {});

}  // namespace csss::util
