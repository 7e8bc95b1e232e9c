// csss verify: a doctor's signed findings on a scan's AI result.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "commands.hpp"
#include "context.hpp"
#include "terminal.hpp"
#include "util/fs.hpp"
#include "workflow/workflow.hpp"
#include "workflow_format.hpp"

namespace csss::cli {

namespace {

struct VerifyOptions {
  std::string scan_id;
  std::string notes;
  std::string notes_file;
  bool agree = false;
  std::string diagnosis;
  bool addendum = false;
  bool password_stdin = false;
};

void run_verify(const VerifyOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  workflow::VerifyRequest request;
  if (!opt.notes_file.empty())
    request.notes = util::read_file(opt.notes_file, workflow::kMaxNotesBytes + 1);
  else
    request.notes = opt.notes;
  request.agree = opt.agree;
  request.diagnosis = opt.diagnosis;
  request.addendum = opt.addendum;
  const std::string password = obtain_password(
      opt.password_stdin, fmt::format("Password of {} (to sign): ", who.email), false);
  auto scans = ctx.scans();
  workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
  const workflow::Signature s = flow.verify(who, opt.scan_id, password, request);
  ctx.result(signature_json(s), fmt::format("Scan {}: {}\n", opt.scan_id, signature_line(s)));
}

}  // namespace

void setup_verify(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<VerifyOptions>();
  CLI::App* cmd =
      app.add_subcommand("verify", "Sign your clinical findings on a scan's AI result (doctors)");
  cmd->add_option("scan", opt->scan_id, "The scan's ID")->required();
  auto* notes = cmd->add_option("--notes", opt->notes, "Your findings");
  auto* file = cmd->add_option("--notes-file", opt->notes_file, "Read the findings from a file");
  notes->excludes(file);
  auto* agree = cmd->add_flag("--agree", opt->agree, "You agree with the AI's predicted class");
  auto* diagnosis =
      cmd->add_option("--diagnosis", opt->diagnosis, "Your diagnosis: another class of the model");
  agree->excludes(diagnosis);
  cmd->add_flag("--addendum", opt->addendum,
                "Sign a correction of the last verification (the original stays)");
  cmd->add_flag("--password-stdin", opt->password_stdin,
                "Read the password to sign with from the first line of standard input");
  cmd->footer(
      "An electronic signature: you re-enter your password, and the record keeps your name,\n"
      "role, the UTC time, the meaning (\"verified\") and the SHA-256 of exactly what you signed\n"
      "(the AI result, your diagnosis, your notes). Signed records are never changed; a\n"
      "correction is a signed addendum. The scan must be analysed (status ai_analysed).\n\n"
      "Examples:\n"
      "  csss verify 3f0c1e9a-... --agree --notes 'Right lower lobe consolidation.'\n"
      "  csss verify 3f0c1e9a-... --diagnosis viral_pneumonia --notes-file findings.txt");
  cmd->callback([opt, cmd, &ctx] {
    if (cmd->count("--notes") + cmd->count("--notes-file") == 0)
      throw Error(ErrorKind::usage, "give your findings with --notes TEXT or --notes-file FILE");
    run_verify(*opt, ctx);
  });
}

}  // namespace csss::cli
