#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/accounts.hpp"
#include "scans/scans.hpp"
#include "util/clock.hpp"

namespace csss::cli {

// Left-aligned columns under a header row, two spaces apart; "" when there are no rows.
std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows);

// A time as ISO 8601 UTC, or JSON null.
nlohmann::json json_time(std::optional<util::UnixSeconds> t);

// The account as --json shows it.
nlohmann::json user_json(const auth::User& user, util::UnixSeconds now);

// "disabled", "locked until ...", "email not verified" or "active".
std::string user_status(const auth::User& user, util::UnixSeconds now);

// "2026-11-21T08:30:00Z".
std::string format_time(util::UnixSeconds t);

nlohmann::json scan_json(const scans::Scan& scan);
nlohmann::json analysis_json(const scans::Analysis& analysis, const std::string& data_dir);

// The result for people: class, confidence, "Uncertain", every probability, risk, model, heat map.
std::string analysis_text(const scans::Analysis& analysis, const std::string& data_dir);

}  // namespace csss::cli
