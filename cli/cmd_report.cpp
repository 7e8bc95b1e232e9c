// csss report: download a scan's report (PDF or FHIR), see its delivery, and resend it.
#include <CLI/CLI.hpp>

#include <unistd.h>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "commands.hpp"
#include "context.hpp"
#include "report/reports.hpp"
#include "report_format.hpp"
#include "terminal.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"
#include "workflow/workflow.hpp"

namespace csss::cli {

namespace fs = std::filesystem;

namespace {

void write_output(const std::string& path, const std::string& bytes) {
  if (path == "-") {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
    return;
  }
  util::write_private_file(path, bytes);
}

}  // namespace

void setup_report(CLI::App& app, Context& ctx) {
  struct Options {
    std::string scan_id;
    std::string output;
    std::string format = "pdf";
    bool show_code = false;
    bool force = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("report", "Download a scan's report; see and retry its delivery");
  cmd->add_option("scan", opt->scan_id, "The scan's ID");
  cmd->add_option("-o,--output", opt->output,
                  "Where to write it ('-' for standard output); default: report-<scan>.pdf "
                  "(or .fhir.json) in the current directory");
  cmd->add_option("--format", opt->format, "pdf (default) or fhir (HL7 FHIR R4 DiagnosticReport)")
      ->check(CLI::IsMember({"pdf", "fhir"}));
  cmd->add_flag("--show-code", opt->show_code,
                "Staff: also print the open code of an approved report (audited)");
  cmd->add_flag("--force", opt->force, "Replace the output file if it exists");
  cmd->require_subcommand(0, 1);
  cmd->footer(
      "Every PDF is encrypted (AES-256); it opens with its open code. Approval emails the report\n"
      "to the patient, and the open code in a second message. Patients download their own\n"
      "approved reports; doctors, pharmacists and admins any report, and before approval a\n"
      "DRAFT preview under a one-off open code printed here. Every download is audited.\n"
      "The FHIR document carries the same PDF as presentedForm. Files are written 0600.\n\n"
      "Examples:\n"
      "  csss report 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17 -o report.pdf\n"
      "  csss report 3f0c1e9a-... --format fhir -o report.json\n"
      "  csss report status 3f0c1e9a-...\n"
      "  csss report resend 3f0c1e9a-...");
  cmd->callback([opt, cmd, &ctx] {
    if (!cmd->get_subcommands().empty())
      return;
    if (opt->scan_id.empty())
      throw Error(ErrorKind::usage, "csss report needs a scan ID (see 'csss report --help')");
    const auth::Principal who = ctx.require_login();
    auto scans = ctx.scans();
    workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
    report::Reports reports = make_reports(ctx, scans, flow);
    const report::Format format =
        opt->format == "fhir" ? report::Format::fhir : report::Format::pdf;
    std::string path =
        opt->output.empty() ? report::default_file_name(opt->scan_id, format) : opt->output;
    if (path == "-" && format == report::Format::pdf && stdout_is_terminal()) {
      throw Error(ErrorKind::usage,
                  "a PDF is not for the terminal: write it to a file with -o FILE, or pipe it");
    }
    if (path != "-" && !opt->force && fs::exists(path)) {
      throw Error(ErrorKind::conflict,
                  fmt::format("{} exists already; choose another -o FILE or add --force", path));
    }
    const report::Download d = reports.download(who, opt->scan_id, {format, opt->show_code});
    write_output(path, d.bytes);

    nlohmann::json doc = {{"scan_id", opt->scan_id},      {"report_id", d.report_id},
                          {"format", opt->format},        {"draft", d.draft},
                          {"size_bytes", d.bytes.size()}, {"sha256", d.sha256}};
    if (path != "-")
      doc["file"] = fs::absolute(path).string();
    if (!d.open_code.empty())
      doc["open_code"] = d.open_code;
    std::string text;
    const std::string where = path == "-" ? "standard output" : path;
    if (d.draft) {
      text = fmt::format(
          "Wrote {}: a DRAFT preview of scan {} (not approved; DRAFT on every page).\n"
          "Open code of this file: {}\n",
          where, opt->scan_id, d.open_code);
    } else {
      text = fmt::format("Wrote {}: report {} of scan {} ({} bytes, SHA-256 {}).\n", where,
                         d.report_id, opt->scan_id, d.bytes.size(), d.sha256);
      text += d.open_code.empty()
                  ? (who.role == auth::Role::patient
                         ? "The PDF opens with the code emailed to you in a separate message.\n"
                         : "The PDF opens with the code emailed to the patient (staff: "
                           "--show-code).\n")
                  : fmt::format("Open code: {}\n", d.open_code);
    }
    // With -o -, standard output is the document itself: nothing else is printed.
    if (path != "-")
      ctx.result(doc, text);
  });

  auto resend_id = std::make_shared<std::string>();
  CLI::App* resend =
      cmd->add_subcommand("resend", "Email an approved scan's report again (admins)");
  resend->add_option("scan", *resend_id, "The scan's ID")->required();
  resend->footer(
      "A new delivery attempt: the stored report (issued now if approval could not issue it)\n"
      "and its open code, in two messages. Exit status 8 when it fails again.\n\n"
      "Example:\n  csss report resend 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17");
  resend->callback([resend_id, &ctx] {
    const auth::Principal who = ctx.require_login();
    auto scans = ctx.scans();
    workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
    report::Reports reports = make_reports(ctx, scans, flow);
    const report::DeliveryOutcome o = reports.deliver(who, *resend_id);
    const nlohmann::json doc = {{"scan_id", *resend_id},
                                {"report", stored_json(o.report)},
                                {"delivery", delivery_json(o.delivery)}};
    if (o.delivery.state != "sent") {
      throw ErrorWithResult(Error(ErrorKind::io, fmt::format("report {} could not be emailed: {}",
                                                             o.report.id, o.delivery.detail)),
                            doc);
    }
    ctx.result(doc, delivery_line(o));
  });

  auto status_id = std::make_shared<std::string>();
  CLI::App* status =
      cmd->add_subcommand("status", "Show a scan's report and its delivery attempts");
  status->add_option("scan", *status_id, "The scan's ID")->required();
  status->callback([status_id, &ctx] {
    const auth::Principal who = ctx.require_login();
    auto scans = ctx.scans();
    workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
    report::Reports reports = make_reports(ctx, scans, flow);
    const auto stored = reports.stored(who, *status_id);
    const auto attempts = reports.deliveries(who, *status_id);
    nlohmann::json list = nlohmann::json::array();
    std::string text;
    if (!stored) {
      text = fmt::format("Scan {} has no report yet (one is issued on approval).\n", *status_id);
    } else {
      text = fmt::format("Report {} of scan {}, issued {}\n  SHA-256 {} ({} bytes)\n", stored->id,
                         *status_id, util::format_utc(stored->created_at), stored->sha256,
                         stored->size_bytes);
    }
    for (const report::Delivery& d : attempts) {
      list.push_back(delivery_json(d));
      text += fmt::format("  attempt {}  {}  {}  to {}  by {}: {}\n", d.attempt,
                          util::format_utc(d.updated_at), d.state,
                          d.recipient.empty() ? "-" : d.recipient, d.actor, d.detail);
    }
    ctx.result({{"scan_id", *status_id},
                {"report", stored ? stored_json(*stored) : nlohmann::json(nullptr)},
                {"deliveries", list}},
               text);
  });
}

}  // namespace csss::cli
