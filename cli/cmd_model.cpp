// csss model: the models CSSS can run (list, show, verify) and TorchScript import (admins).
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "auth/policy.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "inference/prepared.hpp"
#include "inference/registry.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

namespace csss::cli {

namespace {

struct ImportOptions {
  std::string file;
  std::string name;
  std::string version = "1.0.0";
  std::string description;
  std::string classes;
  int input_size = 224;
  int channels = 3;
  std::string mean;
  std::string stddev;
  std::string modality;
  std::string body_part;
  double threshold = 0.75;
  std::string risk;
  std::string gradcam_layer = "features";
  std::string head_layer = "classifier";
};

nlohmann::json manifest_json(const inference::Manifest& m) {
  nlohmann::json risk = nlohmann::json::object();
  for (const auto& [label, level] : m.risk)
    risk[label] = std::string(inference::to_string(level));
  return {{"name", m.name},
          {"version", m.version},
          {"description", m.description},
          {"modality", m.modalities},
          {"body_part", m.body_part},
          {"classes", m.classes},
          {"input",
           {{"size", m.input.size},
            {"channels", m.input.channels},
            {"mean", m.input.mean},
            {"std", m.input.stddev}}},
          {"threshold", m.threshold},
          {"temperature", m.temperature},
          {"risk", risk},
          {"architecture", m.architecture == inference::Architecture::mobilenet_v2 ? "mobilenet_v2"
                                                                                   : "torchscript"},
          {"weights", {{"file", m.weights_path().string()}, {"sha256", m.weights_sha256}}},
          {"metrics", m.metrics_file.empty() ? nlohmann::json(nullptr)
                                             : nlohmann::json((m.dir / m.metrics_file).string())},
          {"dir", m.dir.string()}};
}

std::vector<float> parse_floats(const std::string& text, std::string_view option) {
  std::vector<float> out;
  for (const std::string& part : util::split(text, ',')) {
    try {
      std::size_t used = 0;
      out.push_back(std::stof(util::trim(part), &used));
      if (used != util::trim(part).size())
        throw std::invalid_argument(part);
    } catch (const std::exception&) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("{} '{}' must be comma-separated numbers", option, text));
    }
  }
  return out;
}

void run_list(Context& ctx) {
  std::vector<inference::Registry::Problem> problems;
  const auto entries = ctx.registry().list(&problems);
  nlohmann::json doc = {{"models", nlohmann::json::array()}, {"problems", nlohmann::json::array()}};
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : entries) {
    const auto& m = e.manifest;
    doc["models"].push_back(manifest_json(m));
    rows.push_back({m.name, m.version, m.modalities.empty() ? "any" : util::join(m.modalities, ","),
                    m.body_part.empty() ? "any" : m.body_part, util::join(m.classes, ", ")});
  }
  std::string text =
      entries.empty() ? "No models.\n"
                      : format_table({"NAME", "VERSION", "MODALITY", "BODY PART", "CLASSES"}, rows);
  for (const auto& p : problems) {
    doc["problems"].push_back({{"dir", p.dir.string()}, {"message", p.message}});
    text += fmt::format("unreadable: {}\n", p.message);
  }
  ctx.result(doc, text);
}

void run_show(const std::string& name, Context& ctx) {
  const inference::Manifest m = ctx.registry().find(name);
  std::string risk;
  for (const auto& c : m.classes) {
    risk += fmt::format("{}{}={}", risk.empty() ? "" : ", ", c, inference::to_string(m.risk.at(c)));
  }
  ctx.result(
      manifest_json(m),
      fmt::format(
          "{} {}\n{}{}Modality:     {}\nBody part:    {}\nClasses:      {}\n"
          "Input:        {}x{}, {} channel(s)\nThreshold:    {:.2f}\n"
          "Temperature:  {:.3f}\nRisk:         {}\nArchitecture: {}\n"
          "Weights:      {}\nSHA-256:      {}\n",
          m.name, m.version, m.description, m.description.empty() ? "" : "\n",
          m.modalities.empty() ? "any" : util::join(m.modalities, ", "),
          m.body_part.empty() ? "any" : m.body_part, util::join(m.classes, ", "), m.input.size,
          m.input.size, m.input.channels, m.threshold, m.temperature, risk,
          m.architecture == inference::Architecture::mobilenet_v2 ? "MobileNetV2" : "TorchScript",
          m.weights_path().string(), m.weights_sha256));
}

void run_verify(const std::string& name, Context& ctx) {
  const auto registry = ctx.registry();
  std::vector<inference::Manifest> models;
  if (name.empty()) {
    for (auto& e : registry.list())
      models.push_back(std::move(e.manifest));
  } else {
    models.push_back(registry.find(name));
  }
  nlohmann::json doc = nlohmann::json::array();
  std::string text;
  std::optional<Error> failure;
  for (const auto& m : models) {
    try {
      inference::verify_weights(m);
      doc.push_back({{"name", m.name}, {"ok", true}});
      text += fmt::format("{}: weights match their SHA-256\n", m.name);
    } catch (const Error& e) {
      doc.push_back({{"name", m.name}, {"ok", false}, {"message", e.what()}});
      if (!failure)
        failure = e;
    }
  }
  if (failure)
    throw *failure;
  ctx.result(doc, text.empty() ? "No models.\n" : text);
}

void run_import(const ImportOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  auth::require(who, auth::Action::manage_models, "model:" + opt.name, ctx.audit());
  inference::ImportRequest req;
  req.file = opt.file;
  inference::Manifest& m = req.manifest;
  m.name = opt.name;
  m.version = opt.version;
  m.description = opt.description;
  for (const std::string& c : util::split(opt.classes, ','))
    m.classes.push_back(util::trim(c));
  if (m.classes.size() < 2 || std::any_of(m.classes.begin(), m.classes.end(),
                                          [](const std::string& c) { return c.empty(); })) {
    throw Error(
        ErrorKind::invalid_input,
        fmt::format("--classes '{}' must name at least two classes, comma-separated", opt.classes));
  }
  if (opt.channels != 1 && opt.channels != 3) {
    throw Error(ErrorKind::invalid_input, "--channels must be 1 or 3");
  }
  m.input.size = opt.input_size;
  m.input.channels = opt.channels;
  // ImageNet statistics for RGB models exported from torchvision; mid-grey for gray ones.
  m.input.mean = !opt.mean.empty()   ? parse_floats(opt.mean, "--mean")
                 : opt.channels == 3 ? std::vector<float>{0.485f, 0.456f, 0.406f}
                                     : std::vector<float>{0.5f};
  m.input.stddev = !opt.stddev.empty() ? parse_floats(opt.stddev, "--std")
                   : opt.channels == 3 ? std::vector<float>{0.229f, 0.224f, 0.225f}
                                       : std::vector<float>{0.25f};
  if (m.input.mean.size() != m.input.stddev.size() ||
      m.input.mean.size() != static_cast<std::size_t>(opt.channels)) {
    throw Error(ErrorKind::invalid_input, "--mean and --std need one value per channel");
  }
  if (!opt.modality.empty()) {
    for (const std::string& mod : util::split(opt.modality, ',')) {
      m.modalities.push_back(util::trim(mod));
    }
  }
  m.body_part = opt.body_part;
  m.threshold = opt.threshold;
  for (const std::string& pair : util::split(opt.risk, ',')) {
    const auto kv = util::split(pair, '=');
    const auto level = kv.size() == 2 ? inference::parse_risk(util::trim(kv[1])) : std::nullopt;
    if (!level) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("--risk '{}' must be CLASS=low|medium|high pairs", opt.risk));
    }
    m.risk[util::trim(kv[0])] = *level;
  }
  for (const std::string& c : m.classes) {
    if (!m.risk.contains(c)) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("--risk gives no level for class '{}'; every class needs one", c));
    }
  }
  if (m.risk.size() != m.classes.size()) {
    throw Error(ErrorKind::invalid_input, "--risk names a class that --classes does not list");
  }
  m.gradcam_layer = opt.gradcam_layer;
  m.head_layer = opt.head_layer;
  const inference::Manifest imported =
      inference::import_torchscript(req, ctx.config().data_dir() / "models",
                                    inference::prepared_cache_dir(ctx.config().data_dir()));
  ctx.audit().append({who.email, "model.import", "model:" + imported.name, audit::Outcome::success,
                      fmt::format("sha256 {}", imported.weights_sha256)});
  ctx.result(manifest_json(imported),
             ctx.options().quiet ? ""
                                 : fmt::format("Imported model {} {} into {}\n", imported.name,
                                               imported.version, imported.dir.string()));
}

}  // namespace

void setup_model(CLI::App& app, Context& ctx) {
  auto name = std::make_shared<std::string>();
  auto opt = std::make_shared<ImportOptions>();
  CLI::App* cmd = app.add_subcommand("model", "List, inspect, verify and import AI models");
  cmd->require_subcommand(1);
  cmd->footer(
      "Models are folders with a model.yaml manifest: the shipped ones (models.dir) and those\n"
      "imported into <data_dir>/models.\n\n"
      "Examples:\n  csss model list\n  csss model verify");

  CLI::App* list = cmd->add_subcommand("list", "List the models");
  list->footer("Example:\n  csss model list --json");
  list->callback([&ctx] { run_list(ctx); });

  CLI::App* show = cmd->add_subcommand("show", "Show a model's manifest");
  show->add_option("name", *name, "The model's name")->required();
  show->footer("Example:\n  csss model show chest-xray");
  show->callback([name, &ctx] { run_show(*name, ctx); });

  CLI::App* verify =
      cmd->add_subcommand("verify", "Check that a model's weights match their recorded SHA-256");
  verify->add_option("name", *name, "The model's name; default: every model");
  verify->footer(
      "Exit status 9 when a weights file was changed or is missing.\n\n"
      "Example:\n  csss model verify chest-xray");
  verify->callback([name, &ctx] { run_verify(*name, ctx); });

  CLI::App* import_cmd =
      cmd->add_subcommand("import", "Import a TorchScript model exported from PyTorch (admins)");
  import_cmd->add_option("file", opt->file, "The TorchScript file (torch.jit.save)")->required();
  import_cmd->add_option("--name", opt->name, "Name for the model (a-z, 0-9, '.', '_', '-')")
      ->required();
  import_cmd->add_option("--classes", opt->classes, "Class labels in output order, comma-separated")
      ->required();
  import_cmd->add_option("--risk", opt->risk, "Risk level of each class: CLASS=low|medium|high,...")
      ->required();
  import_cmd->add_option("--input-size", opt->input_size, "Input width and height")
      ->capture_default_str()
      ->check(CLI::Range(16, 1024));
  import_cmd->add_option("--channels", opt->channels, "Input channels: 1 or 3")
      ->capture_default_str();
  import_cmd->add_option("--mean", opt->mean,
                         "Per-channel mean on the [0,1] scale (default: ImageNet's for 3 channels, "
                         "0.5 for 1)");
  import_cmd->add_option("--std", opt->stddev,
                         "Per-channel standard deviation (default as --mean)");
  import_cmd->add_option("--modality", opt->modality,
                         "DICOM modalities it is for, comma-separated");
  import_cmd->add_option("--body-part", opt->body_part,
                         "The body part it is for (CHEST, BRAIN, ...)");
  import_cmd->add_option("--threshold", opt->threshold, "Below this confidence: \"Uncertain\"")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  import_cmd->add_option("--version", opt->version, "The model's version")->capture_default_str();
  import_cmd->add_option("--description", opt->description, "What the model is for");
  import_cmd
      ->add_option("--gradcam-layer", opt->gradcam_layer, "Submodule whose output Grad-CAM uses")
      ->capture_default_str();
  import_cmd
      ->add_option("--head-layer", opt->head_layer, "Submodule mapping pooled features to logits")
      ->capture_default_str();
  import_cmd->footer(
      "The file is copied into <data_dir>/models/NAME/ with its SHA-256 recorded, and loaded once\n"
      "to check it. Its forward must be head(flatten(avg_pool(features(x)))) for Grad-CAM, as in\n"
      "torchvision's MobileNetV2 (features, classifier).\n\n"
      "Example:\n"
      "  csss model import mobilenet.pt --name cxr-research --classes normal,pneumonia \\\n"
      "      --risk normal=low,pneumonia=high --modality CR,DX --body-part CHEST");
  import_cmd->callback([opt, &ctx] { run_import(*opt, ctx); });
}

}  // namespace csss::cli
