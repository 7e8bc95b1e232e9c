#include "report_format.hpp"

#include <fmt/format.h>

#include "context.hpp"
#include "util/time.hpp"

namespace csss::cli {

report::Reports make_reports(Context& ctx, scans::Scans& scans, workflow::Workflow& flow) {
  return report::Reports(ctx.db(), ctx.clock(), ctx.audit(), scans, flow, ctx.mail(),
                         report::ReportSettings::from(ctx.config()));
}

nlohmann::json delivery_json(const report::Delivery& d) {
  return {{"attempt", d.attempt},
          {"recipient", d.recipient},
          {"state", d.state},
          {"detail", d.detail},
          {"requested_by", d.actor},
          {"created_at", util::format_utc(d.created_at)},
          {"updated_at", util::format_utc(d.updated_at)}};
}

nlohmann::json stored_json(const report::StoredReport& r) {
  return {{"id", r.id},
          {"scan_id", r.scan_id},
          {"file", r.file},
          {"size_bytes", r.size_bytes},
          {"sha256", r.sha256},
          {"content_sha256", r.content_sha256},
          {"created_at", util::format_utc(r.created_at)}};
}

std::string delivery_line(const report::DeliveryOutcome& o) {
  const report::Delivery& d = o.delivery;
  if (d.state == "sent") {
    return fmt::format(
        "Report {} emailed to {} (attempt {}): the encrypted PDF in one message, its open code "
        "in another.\n",
        o.report.id, d.recipient, d.attempt);
  }
  return fmt::format("Report {}: delivery attempt {} failed: {}\n", o.report.id, d.attempt,
                     d.detail);
}

}  // namespace csss::cli
