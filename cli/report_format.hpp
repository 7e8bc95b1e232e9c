#pragma once

// How reports and their delivery are shown (csss report, csss approve), as text and as --json.

#include <string>

#include <nlohmann/json.hpp>

#include "report/reports.hpp"

namespace csss::scans {
class Scans;
}
namespace csss::workflow {
class Workflow;
}

namespace csss::cli {

class Context;

// The report service over the command's store, mail transport and configuration.
report::Reports make_reports(Context& ctx, scans::Scans& scans, workflow::Workflow& flow);

nlohmann::json delivery_json(const report::Delivery& d);
nlohmann::json stored_json(const report::StoredReport& r);
// "Report ... emailed to ... (attempt 1): ..." or "Report ...: delivery attempt 2 failed: ..."
std::string delivery_line(const report::DeliveryOutcome& o);

}  // namespace csss::cli
