// csss approve: an admin's signed final approval of a scan's record.
#include <CLI/CLI.hpp>

#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "context.hpp"
#include "report_format.hpp"
#include "terminal.hpp"
#include "util/error.hpp"
#include "workflow/workflow.hpp"
#include "workflow_format.hpp"

namespace csss::cli {

void setup_approve(CLI::App& app, Context& ctx) {
  struct Options {
    std::string scan_id;
    bool password_stdin = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("approve", "Sign the final approval of a scan (admins)");
  cmd->add_option("scan", opt->scan_id, "The scan's ID")->required();
  cmd->add_flag("--password-stdin", opt->password_stdin,
                "Read the password to sign with from the first line of standard input");
  cmd->footer(
      "An electronic signature (meaning \"approved\") over the signed verification and\n"
      "prescription. Admin sessions exist only after the emailed one-time code. The scan must\n"
      "have its prescription (status pharmacist_completed). Approval issues the report (an\n"
      "AES-256 encrypted PDF, stored once with its hash) and emails it to the patient, with the\n"
      "open code in a second message; if that fails the approval stands and the warning says\n"
      "so: retry with csss report resend SCAN. To send the scan back instead:\n"
      "csss return SCAN --to doctor|pharmacist --reason TEXT.\n\n"
      "Example:\n  csss approve 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17");
  cmd->callback([opt, &ctx] {
    const auth::Principal who = ctx.require_login();
    const std::string password = obtain_password(
        opt->password_stdin, fmt::format("Password of {} (to sign): ", who.email), false);
    auto scans = ctx.scans();
    workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
    const workflow::Signature s = flow.approve(who, opt->scan_id, password);
    // The approval is committed: what follows (issuing and emailing the report) never undoes it.
    // A report that could not be issued or sent is retried with csss report resend.
    nlohmann::json doc = signature_json(s);
    std::string text = fmt::format("Scan {}: {}\n", opt->scan_id, signature_line(s));
    std::string problem;
    try {
      report::Reports reports = make_reports(ctx, scans, flow);
      const report::DeliveryOutcome o = reports.deliver(who, opt->scan_id);
      doc["report"] = stored_json(o.report);
      doc["delivery"] = delivery_json(o.delivery);
      text += delivery_line(o);
      if (o.delivery.state != "sent")
        problem = o.delivery.detail;
    } catch (const Error& e) {
      problem = e.what();
      doc["report"] = nullptr;
      doc["delivery"] = {{"state", "failed"}, {"detail", problem}};
    }
    ctx.result(doc, text);
    if (!problem.empty()) {
      std::fprintf(stderr,
                   "csss: warning: the scan is approved, but its report did not reach the "
                   "patient: %s; retry with: csss report resend %s\n",
                   problem.c_str(), opt->scan_id.c_str());
    }
  });
}

void setup_reject(CLI::App& app, Context& ctx) {
  struct Options {
    std::string scan_id;
    std::string reason;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("reject", "Reject a scan as unusable (doctors)");
  cmd->add_option("scan", opt->scan_id, "The scan's ID")->required();
  cmd->add_option("--reason", opt->reason, "Why; shown to the patient, who may upload again")
      ->required();
  cmd->footer(
      "Allowed before verification (status pending_ai or ai_analysed).\n\n"
      "Example:\n  csss reject 3f0c1e9a-... --reason 'Image cut off above the diaphragm'");
  cmd->callback([opt, &ctx] {
    const auth::Principal who = ctx.require_login();
    auto scans = ctx.scans();
    workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
    flow.reject(who, opt->scan_id, opt->reason);
    ctx.result({{"id", opt->scan_id}, {"status", "rejected"}, {"reason", opt->reason}},
               fmt::format("Scan {} rejected: {}\n", opt->scan_id, opt->reason));
  });
}

void setup_return(CLI::App& app, Context& ctx) {
  struct Options {
    std::string scan_id;
    std::string to;
    std::string reason;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "return", "Send a scan awaiting approval back to the doctor or pharmacist");
  cmd->add_option("scan", opt->scan_id, "The scan's ID")->required();
  cmd->add_option("--to", opt->to, "doctor (a new verification) or pharmacist (a new prescription)")
      ->required()
      ->check(CLI::IsMember({"doctor", "pharmacist"}));
  cmd->add_option("--reason", opt->reason, "Why")->required();
  cmd->footer(
      "Admins, for scans awaiting approval (status pharmacist_completed).\n\n"
      "Example:\n  csss return 3f0c1e9a-... --to pharmacist --reason 'Dose for weight?'");
  cmd->callback([opt, &ctx] {
    const auth::Principal who = ctx.require_login();
    auto scans = ctx.scans();
    workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
    const workflow::Step step = opt->to == "doctor" ? workflow::Step::return_to_doctor
                                                    : workflow::Step::return_to_pharmacist;
    flow.send_back(who, opt->scan_id, step, opt->reason);
    const std::string status = opt->to == "doctor" ? "ai_analysed" : "doctor_verified";
    ctx.result({{"id", opt->scan_id}, {"status", status}, {"reason", opt->reason}},
               fmt::format("Scan {} returned to the {} ({}): {}\n", opt->scan_id, opt->to, status,
                           opt->reason));
  });
}

}  // namespace csss::cli
