// csss scans: the scans a user may see, and one scan's record.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"

namespace csss::cli {

namespace {

void run_list(Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const auto list = ctx.scans().list(who);
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : list) {
    doc.push_back(scan_json(s));
    rows.push_back({s.id, s.status, s.patient_name, std::string(imaging::to_string(s.format)),
                    s.modality.empty() ? "-" : s.modality, format_time(s.created_at)});
  }
  ctx.result(doc, list.empty() ? "No scans.\n"
                               : format_table({"ID", "STATUS", "PATIENT", "FORMAT", "MODALITY",
                                               "UPLOADED (UTC)"},
                                              rows));
}

void run_show(const std::string& id, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  auto scans = ctx.scans();
  const scans::Scan s = scans.get(who, id);
  const auto analyses = scans.analyses(s);
  const std::string data_dir = ctx.config().data_dir().string();
  nlohmann::json doc = scan_json(s);
  doc["analyses"] = nlohmann::json::array();
  for (const auto& a : analyses) doc["analyses"].push_back(analysis_json(a, data_dir));
  std::string text = fmt::format(
      "Scan {}\nPatient:     {}\nStatus:      {}\nFormat:      {} {}x{}{}\nModality:    {}\n"
      "Body part:   {}\nUploaded:    {} ({})\n",
      s.id, s.patient_name, s.status, imaging::to_string(s.format), s.width, s.height,
      s.frames > 1 ? fmt::format(", {} frames (middle one used)", s.frames) : "",
      s.modality.empty() ? "-" : s.modality, s.body_part.empty() ? "-" : s.body_part,
      format_time(s.created_at), s.source_name);
  if (!s.study_uid.empty()) text += fmt::format("Study UID:   {}\n", s.study_uid);
  if (analyses.empty()) text += "\nNo AI analysis yet.\n";
  for (const auto& a : analyses) {
    text += fmt::format("\nAI analysis {} ({})\n", a.id, format_time(a.created_at));
    text += analysis_text(a, data_dir);
  }
  ctx.result(doc, text);
}

}  // namespace

void setup_scans(CLI::App& app, Context& ctx) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("scans", "List the scans you may see, or show one");
  cmd->footer(
      "Patients see their own scans; doctors, pharmacists and admins see every scan.\n\n"
      "Examples:\n  csss scans\n  csss scans show 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17 --json");
  CLI::App* show = cmd->add_subcommand("show", "Show one scan with its AI analyses");
  show->add_option("id", *id, "The scan's ID")->required();
  show->footer("Example:\n  csss scans show 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17");
  show->callback([id, &ctx] { run_show(*id, ctx); });
  cmd->callback([cmd, &ctx] {
    if (cmd->get_subcommands().empty()) run_list(ctx);
  });
}

}  // namespace csss::cli
