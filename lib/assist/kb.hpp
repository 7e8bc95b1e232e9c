#pragma once

// The help assistant's knowledge base: questions about using CSSS and their answers, in YAML
// (lib/assist/kb.yaml, compiled into the library at build time so that `csss ask` needs no file
// and no network):
//
//   entries:
//     - id: upload                      # a-z, 0-9 and '-'; unique
//       title: Uploading scans
//       questions: [How do I upload a DICOM?, ...]   # example questions
//       keywords: [upload, dicom, png]              # optional
//       answer: |
//         ...
//     - id: medical-advice
//       kind: refusal                   # "answer" (default) or "refusal": asked for medical
//       ...                             # advice, the assistant gives this text and nothing else

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace csss::assist {

struct Entry {
  std::string id;
  std::string title;
  std::vector<std::string> questions;
  std::vector<std::string> keywords;
  std::string answer;
  bool refusal = false;
};

struct KnowledgeBase {
  std::vector<Entry> entries;
};

// Parses a knowledge base; `source` names it in messages. Throws Error(invalid_input) naming the
// source, the entry and the key for malformed YAML, an unknown key, a missing or empty title,
// question list or answer, a bad or repeated id, or no entries.
KnowledgeBase parse_knowledge_base(std::string_view yaml, std::string_view source);

// Reads and parses `file` (at most 4 MiB). Throws Error(not_found) when it does not exist.
KnowledgeBase load_knowledge_base(const std::filesystem::path& file);

// The text of lib/assist/kb.yaml as it was at build time (a generated source file).
std::string_view builtin_knowledge_base_text();

// parse_knowledge_base() of builtin_knowledge_base_text().
KnowledgeBase builtin_knowledge_base();

}  // namespace csss::assist
