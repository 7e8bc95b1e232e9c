#include "workflow_format.hpp"

#include <fmt/format.h>

#include "format.hpp"
#include "util/strings.hpp"

namespace csss::cli {

nlohmann::json signature_json(const workflow::Signature& s) {
  nlohmann::json content;
  try {
    content = nlohmann::json::parse(s.content);
  } catch (const nlohmann::json::exception&) {
    content = s.content;
  }
  return {{"id", s.id},
          {"kind", s.kind},
          {"meaning", s.meaning},
          {"amends", s.amends.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.amends)},
          {"signer", {{"name", s.signer_name}, {"role", s.signer_role}}},
          {"signed_at", json_time(s.signed_at)},
          {"content", content},
          {"content_sha256", s.content_sha256},
          {"record_sha256", s.record_sha256}};
}

std::string signature_line(const workflow::Signature& s) {
  return fmt::format("{}{} by {} ({}) at {}, content SHA-256 {}",
                     s.amends.empty() ? "" : "addendum: ", s.meaning, s.signer_name, s.signer_role,
                     format_time(s.signed_at), s.content_sha256);
}

nlohmann::json history_json(const workflow::HistoryEvent& e) {
  return {{"step", e.step},     {"from", e.from_status},
          {"to", e.to_status},  {"by", {{"name", e.actor_name}, {"role", e.actor_role}}},
          {"reason", e.reason}, {"at", json_time(e.at)}};
}

nlohmann::json note_json(const workflow::Note& n) {
  return {{"id", n.id},
          {"scan_id", n.scan_id},
          {"analysis_id", n.analysis_id},
          {"author", {{"name", n.author_name}, {"role", n.author_role}}},
          {"at", json_time(n.at)},
          {"text", n.text}};
}

std::string note_text(const workflow::Note& n) {
  std::string text = fmt::format("Note {} by {} ({}) at {} on AI result {}\n", n.id, n.author_name,
                                 n.author_role, format_time(n.at), n.analysis_id);
  for (const std::string& line : util::split(n.text, '\n'))
    text += fmt::format("  {}\n", line);
  return text;
}

}  // namespace csss::cli
