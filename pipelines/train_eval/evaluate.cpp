#include "train_eval/evaluate.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "imaging/charts.hpp"
#include "imaging/preprocess.hpp"
#include "train_eval/train.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace csss::pipelines {

namespace fs = std::filesystem;

namespace {

std::string safe_name(std::string text) {
  for (char& c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      c = '_';
  }
  return text.size() > 80 ? text.substr(text.size() - 80) : text;
}

}  // namespace

EvaluateResult evaluate(const EvaluateRequest& request, inference::Backend& backend,
                        const EvaluateEvents& events) {
  const auto start = std::chrono::steady_clock::now();
  const auto stage = [&](const std::string& text) {
    if (events.stage)
      events.stage(text);
  };
  const inference::Manifest& m = request.model;
  inference::verify_weights(m);
  const fs::path split_csv = m.dir / "split.csv";
  const Dataset data =
      scan_for_evaluation(request.data, m.classes, request.split, split_csv, request.skip);
  stage(fmt::format("evaluating {} {} on {} images of {}", m.name, m.version, data.samples.size(),
                    data.root.string()));
  std::unique_ptr<inference::Model> model = backend.load(m.spec());

  // Decoding and prediction in chunks, so that memory stays bounded for large folders.
  EvaluateResult result;
  evaluation::Predictions predictions;
  std::vector<std::string> paths;
  const std::size_t per_image = static_cast<std::size_t>(m.input.channels) *
                                static_cast<std::size_t>(m.input.size) *
                                static_cast<std::size_t>(m.input.size);
  const std::size_t chunk = 512;
  std::vector<float> buffer;
  for (std::size_t begin = 0; begin < data.samples.size(); begin += chunk) {
    Dataset part;
    part.root = data.root;
    part.classes = data.classes;
    const std::size_t end = std::min(data.samples.size(), begin + chunk);
    part.samples.assign(data.samples.begin() + static_cast<std::ptrdiff_t>(begin),
                        data.samples.begin() + static_cast<std::ptrdiff_t>(end));
    Loaded loaded = load_all(part, m.input, request.limits, request.workers);
    result.rejected.insert(result.rejected.end(), loaded.rejected.begin(), loaded.rejected.end());
    const auto batch = static_cast<std::size_t>(std::max(1, request.batch_size));
    for (std::size_t b = 0; b < loaded.images.size(); b += batch) {
      const std::size_t count = std::min(batch, loaded.images.size() - b);
      buffer.resize(count * per_image);
      for (std::size_t i = 0; i < count; ++i) {
        imaging::normalise_into(loaded.images[b + i], m.input,
                                std::span<float>(buffer.data() + i * per_image, per_image));
      }
      auto rows = model->predict(buffer, static_cast<int>(count));
      for (std::size_t i = 0; i < count; ++i) {
        predictions.probabilities.push_back(std::move(rows[i]));
        predictions.truth.push_back(loaded.labels[b + i]);
        paths.push_back(loaded.paths[b + i]);
      }
      if (events.progress)
        events.progress(begin + b + count, data.samples.size());
    }
  }
  if (predictions.truth.empty()) {
    throw Error(ErrorKind::invalid_input, fmt::format("{}: none of the {} images could be read",
                                                      request.data.string(), data.samples.size()));
  }

  evaluation::Options options;
  options.labels = m.classes;
  for (std::size_t i = 0; i < m.classes.size(); ++i) {
    const auto it = m.risk.find(m.classes[i]);
    if (it != m.risk.end() && it->second == inference::RiskLevel::low)
      options.negative.push_back(static_cast<int>(i));
  }
  options.bootstrap_rounds = request.bootstrap_rounds;
  options.seed = request.seed;
  result.report = evaluation::evaluate(predictions, options);
  result.skipped = data.skipped;

  for (std::size_t i = 0; i < paths.size(); ++i) {
    const int predicted = evaluation::argmax(predictions.probabilities[i]);
    if (predicted == predictions.truth[i])
      continue;
    Misclassified mc;
    mc.path = paths[i];
    mc.truth = m.classes[static_cast<std::size_t>(predictions.truth[i])];
    mc.predicted = m.classes[static_cast<std::size_t>(predicted)];
    mc.confidence = predictions.probabilities[i][static_cast<std::size_t>(predicted)];
    result.misclassified.push_back(mc);
  }

  if (!request.out.empty()) {
    stage(fmt::format("writing plots and {} Grad-CAM overlays to {}",
                      std::min<std::size_t>(result.misclassified.size(),
                                            static_cast<std::size_t>(request.max_overlays)),
                      request.out.string()));
    util::ensure_private_dir(request.out);
    const evaluation::Report& r = result.report;
    imaging::save_png(
        request.out / "confusion_matrix.png",
        imaging::draw_confusion_matrix(fmt::format("{} {}: {} images", m.name, m.version, r.n),
                                       m.classes, r.confusion));
    imaging::LineChart roc;
    roc.title = r.auc_macro ? fmt::format("ROC, one vs rest (macro AUC {:.3f})", *r.auc_macro)
                            : std::string("ROC, one vs rest");
    roc.x_label = "false positive rate";
    roc.y_label = "true positive rate";
    roc.unit_square = true;
    for (std::size_t c = 0; c < r.roc.size(); ++c) {
      if (r.roc[c].empty())
        continue;
      imaging::Series s;
      s.name = r.per_class[c].auc
                   ? fmt::format("{} (AUC {:.3f})", m.classes[c], *r.per_class[c].auc)
                   : m.classes[c];
      for (const auto& p : r.roc[c]) {
        s.x.push_back(p.fpr);
        s.y.push_back(p.tpr);
      }
      roc.series.push_back(s);
    }
    imaging::save_png(request.out / "roc.png", imaging::draw_line_chart(roc));
    std::vector<imaging::Bar> bars;
    for (const auto& bin : r.reliability)
      bars.push_back({bin.lower, bin.upper, bin.accuracy, bin.count});
    imaging::save_png(
        request.out / "reliability.png",
        imaging::draw_reliability_diagram(
            fmt::format("Reliability (ECE {:.3f}, T = {:.2f})", r.ece, m.temperature), bars));

    // Grad-CAM of the predicted class over the original image, for the first max_overlays.
    const fs::path dir = request.out / "misclassified";
    util::ensure_private_dir(dir);
    std::string csv = "path,truth,predicted,confidence,overlay\n";
    for (std::size_t i = 0; i < result.misclassified.size(); ++i) {
      Misclassified& mc = result.misclassified[i];
      if (static_cast<int>(i) < request.max_overlays) {
        try {
          const std::string bytes =
              util::read_file(data.root / mc.path, request.limits.max_file_bytes);
          const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
          const imaging::Decoded decoded = imaging::decode(
              std::span<const std::uint8_t>(p, bytes.size()), request.limits, mc.path);
          const std::vector<float> input = imaging::preprocess(decoded.image, m.input);
          const auto target =
              std::find(m.classes.begin(), m.classes.end(), mc.predicted) - m.classes.begin();
          const inference::HeatMap heat = model->gradcam(input, static_cast<int>(target));
          const std::string name =
              fmt::format("{:04d}_{}_as_{}_{}.png", i + 1, mc.truth, mc.predicted,
                          safe_name(fs::path(mc.path).stem().string()));
          imaging::save_png(dir / name, imaging::overlay_heatmap(decoded.image, heat.values,
                                                                 heat.width, heat.height));
          mc.overlay = (fs::path("misclassified") / name).string();
        } catch (const Error&) {
          mc.overlay.clear();  // listed without an overlay
        }
      }
      csv += fmt::format("\"{}\",{},{},{:.4f},{}\n", mc.path, mc.truth, mc.predicted, mc.confidence,
                         mc.overlay);
    }
    util::write_private_file(request.out / "misclassified.csv", csv);
  }

  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json doc = report_json(result.report);
  doc["model"] = {{"name", m.name},
                  {"version", m.version},
                  {"weights_sha256", m.weights_sha256},
                  {"temperature", m.temperature},
                  {"dir", m.dir.string()}};
  doc["data"] = data.root.string();
  doc["split"] = request.split.empty() ? nlohmann::json(nullptr) : nlohmann::json(request.split);
  nlohmann::json rejected = nlohmann::json::array();
  for (const auto& s : result.rejected)
    rejected.push_back({{"path", s.path}, {"reason", s.reason}});
  doc["rejected"] = rejected;
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : result.skipped)
    skipped.push_back({{"path", s.path}, {"reason", s.reason}});
  doc["skipped"] = skipped;
  nlohmann::json wrong = nlohmann::json::array();
  for (const auto& mc : result.misclassified) {
    wrong.push_back(
        {{"path", mc.path},
         {"truth", mc.truth},
         {"predicted", mc.predicted},
         {"confidence", mc.confidence},
         {"overlay", mc.overlay.empty() ? nlohmann::json(nullptr) : nlohmann::json(mc.overlay)}});
  }
  doc["misclassified"] = wrong;
  doc["seconds"] = result.seconds;
  if (!request.out.empty())
    util::write_private_file(request.out / "evaluation.json", doc.dump(2) + "\n");
  result.document = std::move(doc);
  return result;
}

}  // namespace csss::pipelines
