// csss prescribe: a pharmacist's signed prescription for a verified scan; quick-fill templates.
#include <CLI/CLI.hpp>

#include <algorithm>

#include <fmt/format.h>

#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "terminal.hpp"
#include "util/strings.hpp"
#include "workflow/templates.hpp"
#include "workflow/workflow.hpp"
#include "workflow_format.hpp"

namespace csss::cli {

namespace {

struct PrescribeOptions {
  std::string scan_id;
  std::string text;
  std::string template_name;
  std::vector<std::string> sets;
  bool list_templates = false;
  std::string diagnosis;
  bool addendum = false;
  bool password_stdin = false;
};

std::vector<workflow::Template> templates(Context& ctx) {
  return workflow::load_templates(ctx.config().get("prescription.templates"));
}

void run_list(const PrescribeOptions& opt, Context& ctx) {
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : templates(ctx)) {
    const bool fits =
        opt.diagnosis.empty() || t.diagnoses.empty() ||
        std::find(t.diagnoses.begin(), t.diagnoses.end(), opt.diagnosis) != t.diagnoses.end();
    if (!fits)
      continue;
    nlohmann::json fields = nlohmann::json::object();
    std::vector<std::string> field_text;
    for (const auto& [k, v] : t.fields) {
      fields[k] = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
      field_text.push_back(v ? fmt::format("{}={}", k, *v) : k + " (required)");
    }
    doc.push_back({{"name", t.name},
                   {"description", t.description},
                   {"diagnosis", t.diagnoses},
                   {"text", t.text},
                   {"fields", fields}});
    rows.push_back({t.name, t.diagnoses.empty() ? std::string("any") : util::join(t.diagnoses, ","),
                    t.description});
    rows.push_back({"", "", "fields: " + util::join(field_text, "; ")});
  }
  ctx.result(doc, rows.empty() ? "No templates.\n"
                               : format_table({"TEMPLATE", "FOR", "DESCRIPTION"}, rows));
}

void run_prescribe(const PrescribeOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  workflow::PrescribeRequest request;
  request.addendum = opt.addendum;
  if (!opt.template_name.empty()) {
    const auto all = templates(ctx);
    const workflow::Template& t = workflow::find_template(all, opt.template_name);
    for (const std::string& set : opt.sets) {
      const auto eq = set.find('=');
      if (eq == std::string::npos || eq == 0)
        throw Error(ErrorKind::usage, fmt::format("--set '{}' must be KEY=VALUE", set));
      request.fields[set.substr(0, eq)] = set.substr(eq + 1);
    }
    request.text = workflow::render(t, request.fields);
    request.template_name = t.name;
  } else {
    if (!opt.sets.empty())
      throw Error(ErrorKind::usage, "--set needs --template");
    request.text = opt.text;
  }
  const std::string password = obtain_password(
      opt.password_stdin, fmt::format("Password of {} (to sign): ", who.email), false);
  auto scans = ctx.scans();
  workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
  const workflow::Signature s = flow.prescribe(who, opt.scan_id, password, request);
  ctx.result(signature_json(s), fmt::format("Scan {}: {}\nPrescription: {}\n", opt.scan_id,
                                            signature_line(s), request.text));
}

}  // namespace

void setup_prescribe(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<PrescribeOptions>();
  CLI::App* cmd =
      app.add_subcommand("prescribe", "Sign the prescription for a verified scan (pharmacists)");
  cmd->add_option("scan", opt->scan_id, "The scan's ID");
  auto* text = cmd->add_option("--text", opt->text, "The prescription");
  auto* tmpl = cmd->add_option("--template", opt->template_name, "Fill in a template instead");
  text->excludes(tmpl);
  cmd->add_option("--set", opt->sets, "KEY=VALUE for a template field (repeatable)");
  cmd->add_flag("--list-templates", opt->list_templates, "List the templates and their fields");
  cmd->add_option("--diagnosis", opt->diagnosis, "With --list-templates: only those for LABEL");
  cmd->add_flag("--addendum", opt->addendum,
                "Sign a correction of the last prescription (the original stays)");
  cmd->add_flag("--password-stdin", opt->password_stdin,
                "Read the password to sign with from the first line of standard input");
  cmd->footer(
      "An electronic signature like csss verify (meaning \"prescribed\"). Templates come from\n"
      "the file of the setting prescription.templates (examples/prescription-templates.yaml).\n"
      "The scan must be verified by a doctor (status doctor_verified).\n\n"
      "Examples:\n"
      "  csss prescribe --list-templates --diagnosis bacterial_pneumonia\n"
      "  csss prescribe 3f0c1e9a-... --template antibiotic-oral --set drug=Amoxicillin "
      "--set dose='500 mg'\n"
      "  csss prescribe 3f0c1e9a-... --text 'No treatment needed.'");
  cmd->callback([opt, cmd, &ctx] {
    if (opt->list_templates) {
      run_list(*opt, ctx);
      return;
    }
    if (opt->scan_id.empty())
      throw Error(ErrorKind::usage, "name the scan: csss prescribe SCAN_ID ...");
    if (cmd->count("--text") + cmd->count("--template") == 0)
      throw Error(ErrorKind::usage, "give the prescription with --text TEXT or --template NAME");
    run_prescribe(*opt, ctx);
  });
}

}  // namespace csss::cli
