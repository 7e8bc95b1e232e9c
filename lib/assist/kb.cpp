#include "assist/kb.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace csss::assist {

namespace {

bool is_id(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string text_of(const YAML::Node& node, const std::string& where, const char* key) {
  if (!node.IsScalar())
    throw Error(ErrorKind::invalid_input, fmt::format("{}: '{}' must be text", where, key));
  std::string value = node.as<std::string>();
  if (util::trim(value).empty())
    throw Error(ErrorKind::invalid_input, fmt::format("{}: '{}' is empty", where, key));
  if (!util::is_valid_utf8(value))
    throw Error(ErrorKind::invalid_input, fmt::format("{}: '{}' is not UTF-8 text", where, key));
  return value;
}

std::vector<std::string> list_of(const YAML::Node& node, const std::string& where,
                                 const char* key) {
  if (!node.IsSequence())
    throw Error(ErrorKind::invalid_input, fmt::format("{}: '{}' must be a list", where, key));
  std::vector<std::string> out;
  for (const YAML::Node& item : node)
    out.push_back(text_of(item, where, key));
  return out;
}

Entry parse_entry(const YAML::Node& n, const std::string& where) {
  if (!n.IsMap())
    throw Error(ErrorKind::invalid_input, where + ": expected a mapping");
  static const std::set<std::string> kKeys = {"id",       "title",  "questions",
                                              "keywords", "answer", "kind"};
  for (const auto& item : n) {
    const std::string key = item.first.as<std::string>();
    if (!kKeys.count(key)) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("{}: unknown key '{}' (the keys are id, title, questions, "
                              "keywords, answer, kind)",
                              where, key));
    }
  }
  Entry e;
  for (const char* key : {"id", "title", "questions", "answer"}) {
    if (!n[key])
      throw Error(ErrorKind::invalid_input, fmt::format("{}: missing '{}'", where, key));
  }
  e.id = text_of(n["id"], where, "id");
  if (!is_id(e.id)) {
    throw Error(
        ErrorKind::invalid_input,
        fmt::format("{}: id '{}' must be 1-64 characters of a-z, 0-9 and '-'", where, e.id));
  }
  const std::string named = fmt::format("{} ('{}')", where, e.id);
  e.title = util::trim(text_of(n["title"], named, "title"));
  e.questions = list_of(n["questions"], named, "questions");
  if (e.questions.empty())
    throw Error(ErrorKind::invalid_input, named + ": 'questions' is empty");
  if (n["keywords"])
    e.keywords = list_of(n["keywords"], named, "keywords");
  e.answer = util::trim(text_of(n["answer"], named, "answer"));
  if (n["kind"]) {
    const std::string kind = text_of(n["kind"], named, "kind");
    if (kind != "answer" && kind != "refusal") {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("{}: kind '{}' must be answer or refusal", named, kind));
    }
    e.refusal = kind == "refusal";
  }
  return e;
}

}  // namespace

KnowledgeBase parse_knowledge_base(std::string_view yaml, std::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("knowledge base {}: line {}: {}", source, e.mark.line + 1, e.msg));
  }
  if (!root.IsMap() || !root["entries"] || !root["entries"].IsSequence() ||
      root["entries"].size() == 0) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("knowledge base {}: expected a non-empty 'entries' list", source));
  }
  KnowledgeBase kb;
  std::set<std::string> ids;
  std::size_t index = 0;
  for (const YAML::Node& node : root["entries"]) {
    ++index;
    const std::string where = fmt::format("knowledge base {}: entry {}", source, index);
    Entry e;
    try {
      e = parse_entry(node, where);
    } catch (const YAML::Exception& ex) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("{}: line {}: {}", where, ex.mark.line + 1, ex.msg));
    }
    if (!ids.insert(e.id).second) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("{}: id '{}' is used by an earlier entry", where, e.id));
    }
    kb.entries.push_back(std::move(e));
  }
  return kb;
}

KnowledgeBase load_knowledge_base(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    throw Error(ErrorKind::not_found,
                fmt::format("knowledge base {} does not exist", file.string()));
  }
  return parse_knowledge_base(util::read_file(file, 4u << 20), file.string());
}

KnowledgeBase builtin_knowledge_base() {
  return parse_knowledge_base(builtin_knowledge_base_text(), "(built in)");
}

}  // namespace csss::assist
