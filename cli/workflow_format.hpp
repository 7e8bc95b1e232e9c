#pragma once

// How the workflow's records are shown: signatures (Part 11 manifestation: printed name, role, UTC
// time, meaning) and a scan's history, as text and as --json.

#include <string>

#include <nlohmann/json.hpp>

#include "workflow/workflow.hpp"

namespace csss::cli {

nlohmann::json signature_json(const workflow::Signature& s);
// "verified by Dr Ana Lee (doctor) at 2026-11-21T09:30:00Z, content SHA-256 ab12..."
std::string signature_line(const workflow::Signature& s);
nlohmann::json history_json(const workflow::HistoryEvent& e);
nlohmann::json note_json(const workflow::Note& n);
// "Note 3 by Dr Ana Lee (doctor) at 2026-11-21T09:30:00Z on AI result <id>", then the text
// indented, one line each.
std::string note_text(const workflow::Note& n);

}  // namespace csss::cli
