// csss analyze: run an AI model on a scan (doctors).
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"

namespace csss::cli {

namespace {

struct AnalyzeOptions {
  std::string scan_id;
  std::string model;
};

void run_analyze(const AnalyzeOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const auto registry = ctx.registry();
  const scans::Analysis a = ctx.scans().analyze(
      who, opt.scan_id, registry, opt.model.empty() ? std::nullopt : std::optional(opt.model));
  const std::string data_dir = ctx.config().data_dir().string();
  ctx.result(analysis_json(a, data_dir),
             fmt::format("Scan {}\n", a.scan_id) + analysis_text(a, data_dir));
}

}  // namespace

void setup_analyze(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<AnalyzeOptions>();
  CLI::App* cmd = app.add_subcommand("analyze", "Run an AI model on a scan (doctors)");
  cmd->add_option("scan", opt->scan_id, "The scan's ID (from csss upload or csss scans)")
      ->required();
  cmd->add_option("--model", opt->model,
                  "The model to run; default: the one model that fits the scan's modality and "
                  "body part");
  cmd->footer(
      "Records the predicted class, its confidence, every class's probability, the risk level\n"
      "and the model's name, version and weights hash, and writes a Grad-CAM overlay of the\n"
      "predicted class. Below the model's threshold the result reads \"Uncertain\". Earlier\n"
      "results are kept. A model whose weights do not match their recorded hash refuses to run.\n\n"
      "Example:\n"
      "  csss analyze 3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17 --model chest-xray");
  cmd->callback([opt, &ctx] { run_analyze(*opt, ctx); });
}

}  // namespace csss::cli
