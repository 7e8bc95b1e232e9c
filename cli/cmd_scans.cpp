// csss scans: the scans a user may see, and one scan's record.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "util/strings.hpp"
#include "workflow/workflow.hpp"
#include "workflow_format.hpp"

namespace csss::cli {

namespace {

struct ListOptions {
  std::string status;
  std::string patient;
  std::string search;
};

void run_list(const ListOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  workflow::WorklistFilter filter;
  if (opt.status == "all") {
    filter.statuses = std::vector<workflow::Status>{};
  } else if (!opt.status.empty()) {
    std::vector<workflow::Status> statuses;
    for (const std::string& part : util::split(opt.status, ',')) {
      const auto st = workflow::parse_status(util::trim(part));
      if (!st) {
        throw Error(ErrorKind::usage,
                    fmt::format("--status '{}' is not a status: all, pending_ai, ai_analysed, "
                                "doctor_verified, pharmacist_completed, approved, "
                                "report_delivered, rejected",
                                part));
      }
      statuses.push_back(*st);
    }
    filter.statuses = statuses;
  }
  filter.patient = opt.patient;
  filter.search = opt.search;
  auto scans = ctx.scans();
  workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
  const auto list = flow.worklist(who, filter);
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : list) {
    const auto analyses = scans.analyses(s);
    std::string ai = "-";
    nlohmann::json item = scan_json(s);
    if (!analyses.empty()) {
      const auto& a = analyses.back();
      ai = a.uncertain
               ? fmt::format("Uncertain ({} {:.0f}%)", a.predicted_class, 100 * a.confidence)
               : fmt::format("{} {:.0f}%, {} risk", a.predicted_class, 100 * a.confidence, a.risk);
      item["ai"] = {{"predicted_class", a.predicted_class},
                    {"confidence", a.confidence},
                    {"uncertain", a.uncertain},
                    {"risk", a.risk}};
    } else {
      item["ai"] = nullptr;
    }
    doc.push_back(item);
    rows.push_back({s.id, s.status, s.patient_name, ai, s.modality.empty() ? "-" : s.modality,
                    format_time(s.created_at)});
  }
  ctx.result(doc, list.empty() ? "No scans.\n"
                               : format_table({"ID", "STATUS", "PATIENT", "AI RESULT", "MODALITY",
                                               "UPLOADED (UTC)"},
                                              rows));
}

void run_show(const std::string& id, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  auto scans = ctx.scans();
  workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
  const workflow::Record r = flow.record(who, id);
  const scans::Scan& s = r.scan;
  const std::string data_dir = ctx.config().data_dir().string();
  nlohmann::json doc = scan_json(s);
  doc["analyses"] = nlohmann::json::array();
  for (const auto& a : r.analyses)
    doc["analyses"].push_back(analysis_json(a, data_dir));
  doc["signatures"] = nlohmann::json::array();
  for (const auto& sig : r.signatures)
    doc["signatures"].push_back(signature_json(sig));
  doc["history"] = nlohmann::json::array();
  for (const auto& e : r.history)
    doc["history"].push_back(history_json(e));
  doc["notes"] = nlohmann::json::array();
  for (const auto& n : r.notes)
    doc["notes"].push_back(note_json(n));
  std::string text = fmt::format(
      "Scan {}\nPatient:     {}\nStatus:      {}\nFormat:      {} {}x{}{}\nModality:    {}\n"
      "Body part:   {}\nUploaded:    {} ({})\n",
      s.id, s.patient_name, s.status, imaging::to_string(s.format), s.width, s.height,
      s.frames > 1 ? fmt::format(", {} frames (middle one used)", s.frames) : "",
      s.modality.empty() ? "-" : s.modality, s.body_part.empty() ? "-" : s.body_part,
      format_time(s.created_at), s.source_name);
  if (!s.study_uid.empty())
    text += fmt::format("Study UID:   {}\n", s.study_uid);
  if (r.analyses.empty())
    text += "\nNo AI analysis yet.\n";
  for (const auto& a : r.analyses) {
    text += fmt::format("\nAI analysis {} ({})\n", a.id, format_time(a.created_at));
    text += analysis_text(a, data_dir);
  }
  for (const auto& sig : r.signatures) {
    const auto content = nlohmann::json::parse(sig.content, nullptr, false);
    text += fmt::format("\n{} {}\n  {}\n", sig.kind, sig.id, signature_line(sig));
    if (content.is_object()) {
      if (content.contains("diagnosis"))
        text += fmt::format("  Diagnosis: {}{}\n", content["diagnosis"].get<std::string>(),
                            content.value("agrees_with_ai", false) ? " (agrees with the AI)"
                                                                   : " (differs from the AI)");
      if (content.contains("notes"))
        text += fmt::format("  Notes: {}\n", content["notes"].get<std::string>());
      if (content.contains("text"))
        text += fmt::format("  Prescription: {}\n", content["text"].get<std::string>());
    }
  }
  if (!r.notes.empty()) {
    text += "\nNotes on the AI results\n";
    for (const auto& n : r.notes)
      text += note_text(n);
  }
  if (!r.history.empty()) {
    text += "\nHistory\n";
    for (const auto& e : r.history) {
      text += fmt::format("  {}  {} -> {}  by {} ({}){}\n", format_time(e.at), e.from_status,
                          e.to_status, e.actor_name, e.actor_role,
                          e.reason.empty() ? "" : ": " + e.reason);
    }
  }
  ctx.result(doc, text);
}

struct NoteOptions {
  std::string text;
  std::string analysis;
};

void run_note(const std::string& id, const NoteOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  auto scans = ctx.scans();
  workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
  const workflow::Note n = flow.add_note(who, id, opt.text, opt.analysis);
  ctx.result(note_json(n), ctx.options().quiet
                               ? ""
                               : fmt::format("Added note {} on AI result {} of scan {}\n", n.id,
                                             n.analysis_id, n.scan_id));
}

void run_notes(const std::string& id, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  auto scans = ctx.scans();
  workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
  const workflow::Record r = flow.record(who, id);
  nlohmann::json doc = nlohmann::json::array();
  std::string text;
  for (const auto& n : r.notes) {
    doc.push_back(note_json(n));
    text += note_text(n);
  }
  ctx.result(doc, r.notes.empty() ? "No notes on this scan's AI results.\n" : text);
}

void run_check(const std::string& id, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  auto scans = ctx.scans();
  workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
  const workflow::CheckResult r = flow.check(who, id);
  nlohmann::json doc = {{"id", id},
                        {"valid", r.valid},
                        {"hashes_checked", r.hashes_checked},
                        {"problems", r.problems}};
  if (!r.valid) {
    std::string text = fmt::format("scan {}: {} problem(s): {}", id, r.problems.size(),
                                   util::join(r.problems, "; "));
    throw ErrorWithResult(Error(ErrorKind::integrity, text), doc);
  }
  ctx.result(doc, fmt::format("Scan {}: valid ({} hashes checked)\n", id, r.hashes_checked));
}

}  // namespace

void setup_scans(CLI::App& app, Context& ctx) {
  auto id = std::make_shared<std::string>();
  auto opt = std::make_shared<ListOptions>();
  CLI::App* cmd =
      app.add_subcommand("scans", "Your worklist of scans, one scan's record, or its check");
  cmd->add_option("--status", opt->status,
                  "Only these statuses (comma-separated), or 'all'; default: your role's worklist");
  cmd->add_option("--patient", opt->patient, "Only this patient's scans (email or record number)");
  cmd->add_option("--search", opt->search,
                  "Only scans whose patient name, ID, file name, modality or body part holds TEXT");
  cmd->footer(
      "Worklists: doctors see scans awaiting analysis or verification, pharmacists those\n"
      "awaiting a prescription, admins those awaiting approval, high-risk and uncertain AI\n"
      "results first, then the oldest. Patients see all their own scans, newest first.\n\n"
      "Examples:\n  csss scans\n  csss scans --status all --search 'Ana'\n"
      "  csss scans show 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17 --json\n"
      "  csss scans check 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17");
  CLI::App* show = cmd->add_subcommand("show", "Show one scan: AI results, signatures, history");
  show->add_option("id", *id, "The scan's ID")->required();
  show->footer("Example:\n  csss scans show 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17");
  show->callback([id, &ctx] { run_show(*id, ctx); });
  CLI::App* check = cmd->add_subcommand(
      "check", "Recompute every hash of a scan's record: 'valid', or what no longer matches");
  check->add_option("id", *id, "The scan's ID")->required();
  check->footer(
      "Exit 0 when valid, 9 naming each mismatch otherwise.\n\n"
      "Example:\n  csss scans check 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17");
  check->callback([id, &ctx] { run_check(*id, ctx); });
  auto note_opt = std::make_shared<NoteOptions>();
  CLI::App* note = cmd->add_subcommand(
      "note", "Add a note on a scan's AI result, kept with your name and the time (never changed)");
  note->add_option("id", *id, "The scan's ID")->required();
  note->add_option("--text", note_opt->text, "The note (line breaks allowed)")->required();
  note->add_option("--analysis", note_opt->analysis,
                   "The AI result noted on (its ID in csss scans show); default: the latest");
  note->footer(
      "Doctors and pharmacists add notes; whoever may see the scan reads them (csss scans notes,\n"
      "csss scans show, csss patient history).\n\n"
      "Example:\n"
      "  csss scans note 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17 --text 'Overlay misses the apex.'");
  note->callback([id, note_opt, &ctx] { run_note(*id, *note_opt, ctx); });
  CLI::App* notes = cmd->add_subcommand("notes", "List the notes on a scan's AI results");
  notes->add_option("id", *id, "The scan's ID")->required();
  notes->footer("Example:\n  csss scans notes 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17 --json");
  notes->callback([id, &ctx] { run_notes(*id, ctx); });
  cmd->callback([cmd, opt, &ctx] {
    if (cmd->get_subcommands().empty())
      run_list(*opt, ctx);
  });
}

}  // namespace csss::cli
