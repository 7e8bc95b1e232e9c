// csss train-eval: train a MobileNetV2 on an ImageFolder directory, and evaluate a model on one.
// Researchers' tools: they read image folders and write model folders, and touch no store, so
// they need no login (installing a model for clinical use is an admin's `csss model` step).
#include <CLI/CLI.hpp>

#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "inference/backend.hpp"
#include "progress.hpp"
#include "train_eval/evaluate.hpp"
#include "train_eval/train.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

namespace csss::cli {

namespace {

struct TrainOptions {
  std::string config;
  std::string data;
  std::string out;
  std::string name;
  std::optional<int> epochs;
  std::optional<int> batch_size;
  std::optional<double> learning_rate;
  std::optional<int> size;
  std::optional<std::uint64_t> seed;
  std::optional<double> time_limit;
  std::string class_weights;
  bool resume = false;
  bool force = false;
  bool keep_checkpoint = false;
};

struct EvaluateOptions {
  std::string model;
  std::string data;
  std::string split;
  std::vector<std::string> skip;
  std::string out;
  int bootstrap = 1000;
  int max_overlays = 100;
};

// Epoch lines and stages go to stderr (stdout holds the result, or the --json document).
void note(const Context& ctx, const std::string& text) {
  if (!ctx.options().quiet)
    std::fprintf(stderr, "%s\n", text.c_str());
}

std::string optional_number(const nlohmann::json& v, const char* format = "{:.4f}") {
  return v.is_number() ? fmt::format(fmt::runtime(format), v.get<double>()) : std::string("n/a");
}

// The summary of a report document (report_json) for people.
std::string report_text(const nlohmann::json& r) {
  std::string out;
  out += fmt::format("  images             {}\n", r["n"].get<int>());
  out += fmt::format("  accuracy           {:.4f}", r["accuracy"].get<double>());
  if (r["accuracy_ci"].is_object()) {
    out += fmt::format("  (95% CI {:.4f}-{:.4f})", r["accuracy_ci"]["low"].get<double>(),
                       r["accuracy_ci"]["high"].get<double>());
  }
  out += "\n";
  out += fmt::format("  balanced accuracy  {:.4f}\n", r["balanced_accuracy"].get<double>());
  out += fmt::format("  macro F1           {:.4f}\n", r["macro_f1"].get<double>());
  out += fmt::format("  macro AUC          {}", optional_number(r["auc_macro"]));
  if (r["auc_macro_ci"].is_object()) {
    out += fmt::format("  (95% CI {:.4f}-{:.4f})", r["auc_macro_ci"]["low"].get<double>(),
                       r["auc_macro_ci"]["high"].get<double>());
  }
  out += "\n";
  out += fmt::format("  ECE                {:.4f}\n", r["ece"].get<double>());
  if (r["screening"].is_object()) {
    const auto& s = r["screening"];
    out += fmt::format(
        "  abnormal vs normal accuracy {:.4f}, sensitivity {:.4f}, specificity {:.4f}, AUC {}\n",
        s["accuracy"].get<double>(), s["sensitivity"].get<double>(), s["specificity"].get<double>(),
        optional_number(s["auc"]));
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& label : r["labels"]) {
    const auto& c = r["per_class"][label.get<std::string>()];
    rows.push_back({label.get<std::string>(), fmt::format("{:.4f}", c["precision"].get<double>()),
                    fmt::format("{:.4f}", c["recall"].get<double>()),
                    fmt::format("{:.4f}", c["f1"].get<double>()),
                    std::to_string(c["support"].get<int>()), optional_number(c["auc"])});
  }
  std::string table = format_table({"class", "precision", "recall", "f1", "support", "auc"}, rows);
  for (const std::string& line : util::split(table, '\n')) {
    if (!line.empty())
      out += "  " + line + "\n";
  }
  out += "  confusion matrix (rows: true, columns: predicted)\n";
  std::vector<std::vector<std::string>> matrix;
  std::vector<std::string> header = {""};
  for (const auto& label : r["labels"])
    header.push_back(label.get<std::string>());
  std::size_t i = 0;
  for (const auto& row : r["confusion_matrix"]) {
    std::vector<std::string> cells = {r["labels"][i++].get<std::string>()};
    for (const auto& v : row)
      cells.push_back(std::to_string(v.get<int>()));
    matrix.push_back(cells);
  }
  for (const std::string& line : util::split(format_table(header, matrix), '\n')) {
    if (!line.empty())
      out += "    " + line + "\n";
  }
  return out;
}

void run_train(const TrainOptions& opt, Context& ctx) {
  pipelines::TrainRequest request;
  if (opt.out.empty())
    throw Error(ErrorKind::usage, "--out DIR is required: the model folder to write");
  request.out = opt.out;
  request.resume = opt.resume;
  request.force = opt.force;
  request.keep_checkpoint = opt.keep_checkpoint;
  request.limits = ctx.scan_limits();
  if (opt.resume) {
    if (!opt.config.empty() || !opt.data.empty() || !opt.name.empty() || opt.epochs ||
        opt.batch_size || opt.learning_rate || opt.size || opt.seed || opt.time_limit ||
        !opt.class_weights.empty() || opt.force) {
      throw Error(ErrorKind::usage,
                  "--resume continues with the configuration saved in the checkpoint; pass only "
                  "--out with it");
    }
  } else {
    pipelines::TrainConfig& c = request.config;
    if (!opt.config.empty())
      c = pipelines::load_train_config(opt.config);
    if (!opt.data.empty())
      c.data = opt.data;
    if (!opt.name.empty())
      c.name = opt.name;
    if (opt.epochs)
      c.epochs = *opt.epochs;
    if (opt.batch_size)
      c.batch_size = *opt.batch_size;
    if (opt.learning_rate)
      c.learning_rate = *opt.learning_rate;
    if (opt.size)
      c.input.size = *opt.size;
    if (opt.seed) {
      c.seed = *opt.seed;
      c.split.seed = *opt.seed;
    }
    if (opt.time_limit)
      c.time_limit_minutes = *opt.time_limit;
    if (!opt.class_weights.empty()) {
      if (opt.class_weights != "none" && opt.class_weights != "balanced")
        throw Error(ErrorKind::usage, "--class-weights must be none or balanced");
      c.class_weights = opt.class_weights;
    }
    if (c.name.empty())
      c.name = std::filesystem::path(opt.out).filename().string();
  }

  inference::Backend& backend = inference::torch_backend();
  ProgressLine line(!ctx.options().quiet);
  const InterruptGuard guard;
  pipelines::TrainEvents events;
  events.stage = [&](const std::string& text) {
    line.clear();
    note(ctx, text);
  };
  events.loading = [&](std::size_t done, std::size_t total) {
    line.update(fmt::format("decoding {} {}/{}",
                            bar(static_cast<double>(done), static_cast<double>(total)), done,
                            total));
  };
  events.batch = [&](const pipelines::BatchProgress& p) {
    line.update(fmt::format(
        "epoch {}/{} {} {}/{} loss {:.4f} acc {:.3f} {:.1f} img/s ETA {}", p.epoch, p.epochs,
        bar(static_cast<double>(p.done), static_cast<double>(p.total)), p.done, p.total, p.loss,
        p.accuracy, p.images_per_second, duration_text(p.eta_seconds)));
  };
  events.epoch = [&](const pipelines::EpochReport& e) {
    line.clear();
    note(ctx, fmt::format("epoch {}/{}: loss {:.4f} acc {:.4f} | val loss {:.4f} acc {:.4f} | "
                          "lr {:.2g} | {:.1f} img/s, {}{}",
                          e.epoch, e.epochs, e.train_loss, e.train_accuracy, e.val_loss,
                          e.val_accuracy, e.learning_rate, e.images_per_second,
                          duration_text(e.seconds), e.improved ? " *" : ""));
  };
  events.interrupted = [] { return InterruptGuard::requested(); };

  const pipelines::TrainResult r = pipelines::train(request, backend, events);
  line.clear();
  for (const auto& s : r.rejected)
    note(ctx, fmt::format("skipped {}: {}", s.path, s.reason));
  if (!r.finished) {
    throw Error(ErrorKind::interrupted,
                fmt::format("training stopped after epoch {}; continue it with: csss train-eval "
                            "train --out {} --resume",
                            r.epochs_run, opt.out));
  }
  nlohmann::json doc = {{"model_dir", r.model_dir.string()},
                        {"epochs_run", r.epochs_run},
                        {"best_epoch", r.best_epoch},
                        {"stop_reason", r.stop_reason},
                        {"seconds", r.seconds},
                        {"images_per_second", r.images_per_second},
                        {"temperature", r.temperature},
                        {"validation", r.metrics["validation"]},
                        {"test", r.metrics["test"]}};
  std::string text = fmt::format(
      "Trained {} in {} ({} epochs, stopped by {}; best epoch {}, {:.1f} training images/s).\n"
      "Temperature {:.3f}. Validation:\n{}",
      r.model_dir.string(), duration_text(r.seconds), r.epochs_run, r.stop_reason, r.best_epoch,
      r.images_per_second, r.temperature, report_text(r.metrics["validation"]));
  if (r.metrics["test"].is_object())
    text += "Test part of the split:\n" + report_text(r.metrics["test"]);
  ctx.result(doc, text);
}

void run_evaluate(const EvaluateOptions& opt, Context& ctx) {
  pipelines::EvaluateRequest request;
  // A folder with a model.yaml, or the name of a registered model.
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(opt.model) / "model.yaml", ec)) {
    request.model = inference::load_manifest(opt.model);
  } else if (opt.model.find('/') != std::string::npos) {
    throw Error(ErrorKind::not_found, fmt::format("{} holds no model.yaml", opt.model));
  } else {
    request.model = ctx.registry().find(opt.model);
  }
  request.data = opt.data;
  request.split = opt.split;
  request.skip = opt.skip;
  request.out = opt.out;
  request.bootstrap_rounds = opt.bootstrap;
  request.max_overlays = opt.max_overlays;
  request.limits = ctx.scan_limits();

  inference::Backend& backend = inference::torch_backend();
  ProgressLine line(!ctx.options().quiet);
  pipelines::EvaluateEvents events;
  events.stage = [&](const std::string& text) {
    line.clear();
    note(ctx, text);
  };
  events.progress = [&](std::size_t done, std::size_t total) {
    line.update(fmt::format("evaluating {} {}/{}",
                            bar(static_cast<double>(done), static_cast<double>(total)), done,
                            total));
  };
  const pipelines::EvaluateResult r = pipelines::evaluate(request, backend, events);
  line.clear();
  for (const auto& s : r.rejected)
    note(ctx, fmt::format("skipped {}: {}", s.path, s.reason));
  std::string text = fmt::format("{} {} on {}:\n{}", request.model.name, request.model.version,
                                 r.document["data"].get<std::string>(), report_text(r.document));
  text += fmt::format("  misclassified      {}\n", r.misclassified.size());
  if (!opt.out.empty())
    text += fmt::format("Plots, misclassified.csv and Grad-CAM overlays in {}\n", opt.out);
  ctx.result(r.document, text);
}

}  // namespace

void setup_train_eval(CLI::App& app, Context& ctx) {
  CLI::App* group = app.add_subcommand(
      "train-eval", "Train a MobileNetV2 on an image folder, and evaluate models");
  group->require_subcommand(1);
  group->footer(
      "Image folders are <class>/<image> or train|val|test/<class>/<image>; PNG, JPEG and\n"
      "DICOM files are recognised by content. No login is needed: these commands read image\n"
      "folders and write model folders, and never touch the store.");

  auto t = std::make_shared<TrainOptions>();
  CLI::App* train =
      group->add_subcommand("train", "Train a model from scratch and write its folder");
  train->add_option("--config", t->config, "Training configuration (YAML; see pipelines/*.yaml)");
  train->add_option("--data", t->data, "Image folder to train on (overrides the configuration)");
  train->add_option("--out", t->out, "Model folder to write (model.yaml, model.pt, metrics, plots)")
      ->required();
  train->add_option("--name", t->name,
                    "Model name (default: from the configuration, else the "
                    "folder name of --out)");
  train->add_option("--epochs", t->epochs, "Most epochs to train")->check(CLI::Range(1, 10000));
  train->add_option("--batch-size", t->batch_size, "Images per step")->check(CLI::Range(2, 4096));
  train->add_option("--lr", t->learning_rate, "Adam's learning rate (default 1e-4)");
  train->add_option("--size", t->size, "Input size in pixels (square)")
      ->check(CLI::Range(32, 1024));
  train->add_option("--seed", t->seed, "Seed of the split, initialisation and augmentation");
  train->add_option("--time-limit", t->time_limit,
                    "Stop after this many minutes (keeping the best epoch); 0: no limit");
  train->add_option("--class-weights", t->class_weights, "none or balanced");
  train->add_flag("--resume", t->resume,
                  "Continue the interrupted training in --out from its last checkpoint");
  train->add_flag("--force", t->force,
                  "Replace a finished model or an interrupted training in --out");
  train->add_flag("--keep-checkpoint", t->keep_checkpoint,
                  "Keep --out/checkpoint after training finishes");
  train->footer(
      "Adam, cross-entropy (optionally class-weighted), augmentation from the configuration,\n"
      "early stopping on the validation loss (patience 5, best weights restored), learning\n"
      "rate halved after 3 epochs without improvement, all seeded. Without a val/ folder a\n"
      "stratified 70/15/15 split is made and written to split.csv. A checkpoint is written\n"
      "after every epoch; Ctrl-C stops at the next batch (exit 130; a second one at once), and\n"
      "--resume continues.\n"
      "Finally a temperature is fitted on the validation part (calibration) and stored in\n"
      "model.yaml.\n\n"
      "Example:\n"
      "  csss train-eval train --config pipelines/brain-mri.yaml --out models/brain-mri");
  train->callback([t, &ctx] { run_train(*t, ctx); });

  auto e = std::make_shared<EvaluateOptions>();
  CLI::App* evaluate = group->add_subcommand("evaluate", "Measure a model on an image folder");
  evaluate->add_option("--model", e->model, "Model name (csss model list) or model folder")
      ->required();
  evaluate->add_option("--data", e->data, "Image folder: <class>/<image>, or with train|val|test/")
      ->required();
  evaluate->add_option("--split", e->split,
                       "train, val or test: that part of --data (its folder, or else the images "
                       "the model's split.csv lists for it)");
  evaluate->add_option("--skip-class", e->skip, "A class folder to leave out (repeatable)");
  evaluate->add_option("--out", e->out,
                       "Folder for plots (confusion matrix, ROC, reliability), "
                       "misclassified.csv and Grad-CAM overlays");
  evaluate
      ->add_option("--bootstrap", e->bootstrap, "Bootstrap rounds for the 95% intervals (0: none)")
      ->check(CLI::Range(0, 100000));
  evaluate
      ->add_option("--max-overlays", e->max_overlays,
                   "Most Grad-CAM overlays of misclassified images to draw")
      ->check(CLI::Range(0, 100000));
  evaluate->footer(
      "Reports accuracy, balanced accuracy, per-class precision, recall, F1, support and\n"
      "one-vs-rest AUC, macro AUC, the confusion matrix, expected calibration error (15 bins),\n"
      "95% bootstrap intervals for accuracy and macro AUC, and abnormal-vs-normal sensitivity\n"
      "and specificity (classes of low risk count as normal). Class folders must match the\n"
      "model's classes by name.\n\n"
      "Example:\n"
      "  csss train-eval evaluate --model brain-mri --data ../shared/datasets/brain-mri --split "
      "test");
  evaluate->callback([e, &ctx] { run_evaluate(*e, ctx); });
}

}  // namespace csss::cli
