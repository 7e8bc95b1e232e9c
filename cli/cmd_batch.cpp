// csss batch import: a whole directory of scans, for cron (with a token) or staff.
#include <CLI/CLI.hpp>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "batch/import.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "progress.hpp"
#include "util/error.hpp"

namespace csss::cli {

namespace {

nlohmann::json problems_json(const std::vector<pipelines::batch::Problem>& list) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : list)
    out.push_back({{"file", p.file}, {"reason", p.reason}});
  return out;
}

nlohmann::json summary_json(const pipelines::batch::ImportSummary& s) {
  return {{"found", s.found},
          {"imported", s.imported},
          {"duplicates", s.duplicates},
          {"rejected", problems_json(s.rejected)},
          {"analysed", s.analysed},
          {"failed", problems_json(s.failed)},
          {"other_shards", s.other_shards},
          {"seconds", s.seconds},
          {"images_per_second", s.images_per_second()},
          {"dry_run", s.dry_run},
          {"interrupted", s.interrupted}};
}

std::string summary_text(const pipelines::batch::ImportSummary& s) {
  std::string text = fmt::format(
      "{}{} files found: {} imported, {} already in the store, {} rejected; {} analysed, {} not "
      "analysed ({:.1f} s, {:.1f} images/s){}\n",
      s.dry_run ? "Dry run (nothing stored): " : "", s.found, s.imported, s.duplicates,
      s.rejected.size(), s.analysed, s.failed.size(), s.seconds, s.images_per_second(),
      s.other_shards > 0 ? fmt::format("; {} files left to other shards", s.other_shards) : "");
  for (const auto& p : s.rejected)
    text += fmt::format("  rejected {}: {}\n", p.file.empty() ? "-" : p.file, p.reason);
  for (const auto& p : s.failed)
    text += fmt::format("  not analysed {}: {}\n", p.file, p.reason);
  return text;
}

}  // namespace

void setup_batch(CLI::App& app, Context& ctx) {
  struct Options {
    std::string dir;
    std::string manifest;
    std::string model = "auto";
    std::string shard = "0/1";
    int batch_size = pipelines::batch::ImportOptions{}.batch_size;
    int jobs = pipelines::batch::default_jobs();
    bool dry_run = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* batch =
      app.add_subcommand("batch", "Import whole directories of scans (hospital imports)");
  batch->require_subcommand(1);
  CLI::App* cmd =
      batch->add_subcommand("import", "Import every scan under a directory, and analyse them");
  cmd->add_option("dir", opt->dir, "The directory, walked recursively")->required();
  cmd->add_option("--manifest", opt->manifest,
                  "CSV: file,patient_id[,name,email,birth_date] (file relative to DIR)");
  cmd->add_option("--model", opt->model,
                  "auto (by modality and body part; default), none, or a model's name");
  cmd->add_option("--shard", opt->shard,
                  "K/N: take only the files whose content hash falls in share K of N (0-based)");
  cmd->add_option("--batch-size", opt->batch_size, "Images per model run (default 4)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--jobs,-j", opt->jobs,
                  fmt::format("Threads that read, hash, decode and preprocess files (default: "
                              "the number of CPUs, {})",
                              pipelines::batch::default_jobs()))
      ->check(CLI::Range(1, 64));
  cmd->add_flag("--dry-run", opt->dry_run, "Check every file and patient; store nothing");
  cmd->footer(
      "Files are recognised by content (PNG, JPEG, DICOM) and hashed; bytes the store holds\n"
      "already are skipped, so rerunning the same command after a crash or SIGKILL finishes the\n"
      "rest, each file stored once and each result recorded once. SIGINT/SIGTERM stop after the\n"
      "files being read and the images queued for the model; a second one stops at once (safe:\n"
      "a rerun finishes the rest as after a crash). The patient comes from the manifest, else the\n"
      "DICOM PatientID; records are created without login accounts. Bad files are listed with a\n"
      "reason; the batch goes on.\n"
      "Results are recorded without a Grad-CAM overlay (csss analyze makes one).\n"
      "Runs in a staff session, or unattended with an importer token: CSSS_TOKEN_FILE=FILE.\n"
      "Exit status: 0 all done; 10 done, with rejected or unanalysed files; any other code: the\n"
      "import could not run (see README, Exit codes). --json prints the summary.\n\n"
      "Examples:\n"
      "  csss batch import /srv/pacs/2026-11-21 --manifest /srv/pacs/2026-11-21.csv\n"
      "  CSSS_TOKEN_FILE=/etc/csss/importer.token csss batch import /srv/pacs/in --json");
  cmd->callback([opt, &ctx] {
    const auth::Principal who = ctx.require_login();
    pipelines::batch::ImportOptions options;
    options.dir = opt->dir;
    if (!opt->manifest.empty())
      options.manifest = opt->manifest;
    options.model = opt->model;
    options.shard = pipelines::batch::parse_shard(opt->shard);
    options.batch_size = opt->batch_size;
    options.jobs = opt->jobs;
    options.dry_run = opt->dry_run;
    options.queued_bytes = static_cast<std::size_t>(ctx.config().get_int("batch.queue_mb")) << 20;

    // The model runs on a thread of its own. With glibc's arena per thread, its large buffers of
    // every batch were mapped, faulted in and unmapped again (a quarter of the CPU time in the
    // kernel, measured); one arena for the process keeps them reused. Before any thread starts.
    ::mallopt(M_ARENA_MAX, 1);
    // LibTorch's OpenMP threads sleep as soon as a layer is done instead of spinning (libgomp's
    // default), so the decoding threads get the cores whenever the model waits. libgomp reads it
    // when LibTorch is loaded, later, on the model's thread; a value the user set is kept.
    // Measured (1000 brain MRIs, 224x224 MobileNetV2, 2 cores): the model's thread waited for
    // input 0.01-0.03 s in all, against 0.8-1.4 s with spinning threads.
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
    auto scans = ctx.scans();
    const auto registry = ctx.registry();
    pipelines::batch::Importer importer(scans, ctx.audit(), registry, ctx.scan_limits(), who);
    ProgressLine line(!ctx.options().quiet && ::isatty(STDERR_FILENO) != 0);
    const std::int64_t total = line.enabled() ? pipelines::batch::count_files(opt->dir) : -1;
    const InterruptGuard guard;
    const auto summary = importer.run(
        options,
        [&](const pipelines::batch::ImportProgress& p) {
          if (!line.enabled())
            return;
          if (InterruptGuard::requested()) {
            line.update(fmt::format(
                "Stopping after the queued images, {} to go (Ctrl-C again: at once)", p.waiting));
            return;
          }
          // Files are read, stored and queued ahead of the model: once it runs, its rate (and
          // what waits for it) sets the line's rate and the ETA.
          const bool model = options.model != "none" && !options.dry_run && p.analysed > 0;
          const double rate =
              p.seconds > 0 ? static_cast<double>(model ? p.analysed : p.done) / p.seconds : 0;
          std::string text =
              p.total > 0
                  ? fmt::format("{} {}/{} files",
                                bar(static_cast<double>(p.done), static_cast<double>(p.total)),
                                p.done, p.total)
                  : fmt::format("{} files", p.done);
          if (model)
            text += fmt::format(", {} analysed", p.analysed);
          text += fmt::format(", {:.1f}/s", rate);
          if (p.total > 0 && rate > 0) {
            const auto left = static_cast<double>(std::max<std::int64_t>(p.total - p.done, 0));
            text += ", ETA " +
                    duration_text((left + (model ? static_cast<double>(p.waiting) : 0.0)) / rate);
          }
          line.update(text);
        },
        [] { return InterruptGuard::requested(); }, total);
    line.clear();
    const nlohmann::json doc = summary_json(summary);
    if (summary.interrupted) {
      throw ErrorWithResult(
          Error(ErrorKind::interrupted,
                fmt::format("stopped after {} files; run the same command again to finish the "
                            "rest (nothing is imported twice)",
                            summary.imported + summary.duplicates)),
          doc);
    }
    if (!summary.rejected.empty() || !summary.failed.empty()) {
      if (!ctx.options().json)
        ctx.result(doc, summary_text(summary));
      throw ErrorWithResult(
          Error(ErrorKind::incomplete,
                fmt::format("{} rejected and {} not analysed (listed in the summary)",
                            summary.rejected.size(), summary.failed.size())),
          doc);
    }
    ctx.result(doc, summary_text(summary));
  });
}

}  // namespace csss::cli
