#include "train_eval/train.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <future>
#include <limits>
#include <map>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "imaging/charts.hpp"
#include "inference/manifest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"

namespace csss::pipelines {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kEvalBatch = 64;
constexpr int kStateVersion = 1;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  // splitmix64 of a combined with b: independent streams per (seed, epoch, image).
  std::uint64_t z = a + 0x9e3779b97f4a7c15ull * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Writes with `write(tmp)`, then renames to `path`, so that `path` is complete or absent.
template <class Write>
void write_atomically(const fs::path& path, Write write) {
  const fs::path tmp = path.string() + ".tmp";
  write(tmp);
  std::error_code ec;
  fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write, ec);
  fs::rename(tmp, path, ec);
  if (ec)
    throw Error(ErrorKind::io, fmt::format("cannot write {}: {}", path.string(), ec.message()));
}

struct History {
  std::vector<EpochReport> epochs;

  nlohmann::json to_json() const {
    nlohmann::json out = nlohmann::json::array();
    for (const EpochReport& e : epochs) {
      out.push_back({{"epoch", e.epoch},
                     {"train_loss", e.train_loss},
                     {"train_accuracy", e.train_accuracy},
                     {"val_loss", e.val_loss},
                     {"val_accuracy", e.val_accuracy},
                     {"learning_rate", e.learning_rate},
                     {"seconds", e.seconds},
                     {"images_per_second", e.images_per_second},
                     {"improved", e.improved}});
    }
    return out;
  }

  static History from_json(const nlohmann::json& doc) {
    History h;
    for (const auto& e : doc) {
      EpochReport r;
      r.epoch = e.at("epoch").get<int>();
      r.train_loss = e.at("train_loss").get<double>();
      r.train_accuracy = e.at("train_accuracy").get<double>();
      r.val_loss = e.at("val_loss").get<double>();
      r.val_accuracy = e.at("val_accuracy").get<double>();
      r.learning_rate = e.at("learning_rate").get<double>();
      r.seconds = e.at("seconds").get<double>();
      r.images_per_second = e.at("images_per_second").get<double>();
      r.improved = e.at("improved").get<bool>();
      h.epochs.push_back(r);
    }
    return h;
  }
};

// What a checkpoint holds besides the weights and optimiser files.
struct State {
  std::string config_yaml;
  int epoch = 0;  // epochs completed
  int best_epoch = 0;
  double best_val_loss = std::numeric_limits<double>::infinity();
  int bad_epochs = 0;  // epochs without improvement, for early stopping
  double plateau_best = std::numeric_limits<double>::infinity();
  int plateau_bad = 0;  // for the learning-rate reduction
  double learning_rate = 0.0;
  double seconds = 0.0;
  History history;

  nlohmann::json to_json() const {
    return {{"format", kStateVersion},
            {"config", config_yaml},
            {"epoch", epoch},
            {"best_epoch", best_epoch},
            {"best_val_loss", best_val_loss},
            {"bad_epochs", bad_epochs},
            {"plateau_best", plateau_best},
            {"plateau_bad", plateau_bad},
            {"learning_rate", learning_rate},
            {"seconds", seconds},
            {"history", history.to_json()}};
  }

  static State from_json(const nlohmann::json& doc) {
    if (doc.value("format", 0) != kStateVersion)
      throw Error(ErrorKind::invalid_input, "the checkpoint was written by another csss version");
    State s;
    s.config_yaml = doc.at("config").get<std::string>();
    s.epoch = doc.at("epoch").get<int>();
    s.best_epoch = doc.at("best_epoch").get<int>();
    s.best_val_loss = doc.at("best_val_loss").get<double>();
    s.bad_epochs = doc.at("bad_epochs").get<int>();
    s.plateau_best = doc.at("plateau_best").get<double>();
    s.plateau_bad = doc.at("plateau_bad").get<int>();
    s.learning_rate = doc.at("learning_rate").get<double>();
    s.seconds = doc.at("seconds").get<double>();
    s.history = History::from_json(doc.at("history"));
    return s;
  }
};

fs::path epoch_file(const fs::path& dir, int epoch, const char* suffix) {
  return dir / fmt::format("epoch-{:04d}{}", epoch, suffix);
}

// Removes the checkpoint files of every epoch but `keep` and `best`.
void remove_old_epochs(const fs::path& dir, int keep, int best) {
  std::error_code ec;
  std::vector<fs::path> old;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("epoch-", 0) != 0 || name.size() < 10)
      continue;
    const int epoch = std::atoi(name.substr(6, 4).c_str());
    if (epoch != keep && epoch != best)
      old.push_back(it->path());
  }
  for (const fs::path& p : old)
    fs::remove(p, ec);
}

// Mean cross-entropy of logits, weighted per class as PyTorch's weighted mean: sum w_y nll /
// sum w_y; and the number of correct top-1 predictions.
std::pair<double, int> loss_and_correct(const std::vector<std::vector<float>>& logits,
                                        const std::vector<int>& labels,
                                        const std::vector<float>& weights) {
  double total = 0.0;
  double weight_sum = 0.0;
  int correct = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const std::vector<float>& row = logits[i];
    const auto y = static_cast<std::size_t>(labels[i]);
    const float peak = *std::max_element(row.begin(), row.end());
    double sum = 0.0;
    for (const float v : row)
      sum += std::exp(static_cast<double>(v - peak));
    const double nll = std::log(sum) - static_cast<double>(row[y] - peak);
    const double w = weights.empty() ? 1.0 : static_cast<double>(weights[y]);
    total += w * nll;
    weight_sum += w;
    if (evaluation::argmax(row) == labels[i])
      ++correct;
  }
  return {weight_sum > 0.0 ? total / weight_sum : 0.0, correct};
}

std::vector<std::vector<float>> all_logits(inference::Trainer& trainer, const Loaded& data,
                                           const imaging::PreprocessSpec& input) {
  const std::size_t per_image = static_cast<std::size_t>(input.channels) *
                                static_cast<std::size_t>(input.size) *
                                static_cast<std::size_t>(input.size);
  std::vector<std::vector<float>> out;
  out.reserve(data.images.size());
  std::vector<float> buffer;
  for (std::size_t start = 0; start < data.images.size(); start += kEvalBatch) {
    const std::size_t count = std::min<std::size_t>(kEvalBatch, data.images.size() - start);
    buffer.resize(count * per_image);
    for (std::size_t i = 0; i < count; ++i) {
      imaging::normalise_into(data.images[start + i], input,
                              std::span<float>(buffer.data() + i * per_image, per_image));
    }
    auto rows = trainer.logits(buffer, static_cast<int>(count));
    for (auto& r : rows)
      out.push_back(std::move(r));
  }
  return out;
}

evaluation::Predictions calibrated(const std::vector<std::vector<float>>& logits,
                                   const std::vector<int>& labels, double temperature) {
  evaluation::Predictions p;
  p.truth = labels;
  for (const auto& row : logits)
    p.probabilities.push_back(evaluation::softmax(row, temperature));
  return p;
}

std::vector<float> class_weights(const TrainConfig& c, const std::vector<int>& train_counts) {
  if (c.class_weights == "list") {
    if (c.class_weight_values.size() != train_counts.size()) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("training.class_weights lists {} values for {} classes",
                              c.class_weight_values.size(), train_counts.size()));
    }
    return c.class_weight_values;
  }
  if (c.class_weights != "balanced")
    return {};
  // scikit-learn's "balanced": n / (k * n_c).
  const double n = std::accumulate(train_counts.begin(), train_counts.end(), 0.0);
  std::vector<float> out;
  for (const int count : train_counts)
    out.push_back(static_cast<float>(n / (static_cast<double>(train_counts.size()) * count)));
  return out;
}

std::vector<int> negative_classes(const std::vector<std::string>& classes,
                                  const std::map<std::string, inference::RiskLevel>& risk) {
  std::vector<int> out;
  for (std::size_t i = 0; i < classes.size(); ++i) {
    const auto it = risk.find(classes[i]);
    if (it != risk.end() && it->second == inference::RiskLevel::low)
      out.push_back(static_cast<int>(i));
  }
  return out;
}

nlohmann::json skipped_json(const std::vector<Skipped>& list) {
  nlohmann::json out = nlohmann::json::array();
  for (const Skipped& s : list)
    out.push_back({{"path", s.path}, {"reason", s.reason}});
  return out;
}

void write_curves(const fs::path& dir, const History& h) {
  imaging::Series train_loss{"train", {}, {}}, val_loss{"validation", {}, {}};
  imaging::Series train_acc{"train (augmented)", {}, {}}, val_acc{"validation", {}, {}};
  for (const EpochReport& e : h.epochs) {
    const auto x = static_cast<double>(e.epoch);
    train_loss.x.push_back(x);
    train_loss.y.push_back(e.train_loss);
    val_loss.x.push_back(x);
    val_loss.y.push_back(e.val_loss);
    train_acc.x.push_back(x);
    train_acc.y.push_back(e.train_accuracy);
    val_acc.x.push_back(x);
    val_acc.y.push_back(e.val_accuracy);
  }
  imaging::LineChart loss;
  loss.title = "Loss (cross-entropy)";
  loss.x_label = "epoch";
  loss.y_label = "loss";
  loss.series = {train_loss, val_loss};
  imaging::save_png(dir / "curves_loss.png", imaging::draw_line_chart(loss));
  imaging::LineChart acc;
  acc.title = "Accuracy";
  acc.x_label = "epoch";
  acc.y_label = "accuracy";
  acc.series = {train_acc, val_acc};
  imaging::save_png(dir / "curves_accuracy.png", imaging::draw_line_chart(acc));
}

std::string history_csv(const History& h) {
  std::string out =
      "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,"
      "images_per_second\n";
  for (const EpochReport& e : h.epochs) {
    out += fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f},{:.3g},{:.1f},{:.1f}\n", e.epoch,
                       e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy, e.learning_rate,
                       e.seconds, e.images_per_second);
  }
  return out;
}

}  // namespace

nlohmann::json report_json(const evaluation::Report& r) {
  const auto opt = [](const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  nlohmann::json per_class = nlohmann::json::object();
  for (const auto& c : r.per_class) {
    per_class[c.label] = {{"precision", c.precision},
                          {"recall", c.recall},
                          {"f1", c.f1},
                          {"support", c.support},
                          {"auc", opt(c.auc)}};
  }
  const auto interval = [](const std::optional<evaluation::Interval>& i) {
    return i ? nlohmann::json{{"low", i->low}, {"high", i->high}, {"level", 0.95}}
             : nlohmann::json(nullptr);
  };
  nlohmann::json doc = {{"n", r.n},
                        {"labels", r.labels},
                        {"accuracy", r.accuracy},
                        {"accuracy_ci", interval(r.accuracy_ci)},
                        {"balanced_accuracy", r.balanced_accuracy},
                        {"macro_f1", r.macro_f1},
                        {"auc_macro", opt(r.auc_macro)},
                        {"auc_macro_ci", interval(r.auc_macro_ci)},
                        {"log_loss", r.log_loss},
                        {"ece", r.ece},
                        {"per_class", per_class},
                        {"confusion_matrix", r.confusion}};
  if (r.screening) {
    const auto& s = *r.screening;
    doc["screening"] = {{"accuracy", s.accuracy},       {"sensitivity", s.sensitivity},
                        {"specificity", s.specificity}, {"auc", opt(s.auc)},
                        {"positives", s.positives},     {"negatives", s.negatives}};
  } else {
    doc["screening"] = nullptr;
  }
  nlohmann::json bins = nlohmann::json::array();
  for (const auto& b : r.reliability) {
    bins.push_back({{"lower", b.lower},
                    {"upper", b.upper},
                    {"count", b.count},
                    {"confidence", b.mean_confidence},
                    {"accuracy", b.accuracy}});
  }
  doc["reliability"] = bins;
  return doc;
}

TrainResult train(const TrainRequest& request, inference::Backend& backend,
                  const TrainEvents& events) {
  const auto stage = [&](const std::string& text) {
    if (events.stage)
      events.stage(text);
  };
  const fs::path out = request.out;
  const fs::path ckpt = out / "checkpoint";
  const fs::path state_file = ckpt / "state.json";
  std::error_code ec;

  State state;
  TrainConfig config = request.config;
  if (request.resume) {
    if (!fs::exists(state_file, ec)) {
      throw Error(ErrorKind::conflict,
                  fmt::format("nothing to resume: {} has no checkpoint", out.string()));
    }
    try {
      state = State::from_json(nlohmann::json::parse(util::read_file(state_file, 64u << 20)));
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("the checkpoint {} is damaged: {}", state_file.string(), e.what()));
    }
    config = parse_train_config(state.config_yaml, state_file.string(), fs::path("/"));
  } else {
    validate(config);
    if (fs::exists(out / "model.yaml", ec) && !request.force) {
      throw Error(ErrorKind::conflict,
                  fmt::format("{} already holds a trained model; pass --force to replace it",
                              out.string()));
    }
    if (fs::exists(state_file, ec) && !request.force) {
      throw Error(ErrorKind::conflict,
                  fmt::format("{} holds an interrupted training: continue it with --resume, or "
                              "pass --force to start over",
                              out.string()));
    }
  }
  validate(config);

  // The data and its split, written down (and on resume, checked to be the same).
  SplitOptions split = config.split;
  split.classes = config.classes;
  const Dataset data = scan_for_training(config.data, split);
  config.classes = data.classes;
  for (const std::string& c : config.classes) {
    if (!config.risk.count(c))
      config.risk[c] = inference::RiskLevel::medium;
  }
  // Nothing is written before the configuration and the data were found good.
  if (!request.resume)
    fs::remove_all(ckpt, ec);
  util::ensure_private_dir(out);
  util::ensure_private_dir(ckpt);
  const fs::path split_file = ckpt / "split.csv";
  if (request.resume) {
    if (split_csv(data) != util::read_file(split_file, 256u << 20)) {
      throw Error(ErrorKind::conflict,
                  fmt::format("the data in {} changed since the checkpoint was written; start over "
                              "with --force",
                              config.data.string()));
    }
  } else {
    write_split_csv(data, split_file);
    state.config_yaml = to_yaml(config);
    state.learning_rate = config.learning_rate;
  }

  const std::size_t n_train = data.count(Split::train);
  const std::size_t n_val = data.count(Split::val);
  const std::size_t n_test = data.count(Split::test);
  stage(fmt::format("decoding {} images ({} train, {} validation, {} test) at {}x{}",
                    n_train + n_val + n_test, n_train, n_val, n_test, config.input.size,
                    config.input.size));
  std::size_t loaded_before = 0;
  const std::size_t total_images = n_train + n_val + n_test;
  const auto loading = [&](std::size_t done, std::size_t) {
    if (events.loading)
      events.loading(loaded_before + done, total_images);
  };
  Loaded train_set =
      load(data, Split::train, config.input, request.limits, config.workers, loading);
  loaded_before += n_train;
  Loaded val_set = load(data, Split::val, config.input, request.limits, config.workers, loading);
  loaded_before += n_val;
  Loaded test_set = load(data, Split::test, config.input, request.limits, config.workers, loading);
  std::vector<Skipped> rejected;
  for (const Loaded* l : {&train_set, &val_set, &test_set})
    rejected.insert(rejected.end(), l->rejected.begin(), l->rejected.end());
  if (train_set.images.size() < 2 || val_set.images.empty()) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("{}: too few readable images to train ({} train, {} validation)",
                            config.data.string(), train_set.images.size(), val_set.images.size()));
  }
  std::vector<int> train_counts(config.classes.size(), 0);
  for (const int label : train_set.labels)
    ++train_counts[static_cast<std::size_t>(label)];
  for (std::size_t c = 0; c < train_counts.size(); ++c) {
    if (train_counts[c] == 0) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("no readable training images of class '{}'", config.classes[c]));
    }
  }

  // The model and its trainer.
  inference::TrainSpec spec;
  spec.model.architecture = inference::Architecture::mobilenet_v2;
  spec.model.num_classes = static_cast<int>(config.classes.size());
  spec.model.input_channels = config.input.channels;
  spec.model.input_size = config.input.size;
  spec.model.width_mult = config.width_mult;
  spec.learning_rate = config.learning_rate;
  spec.weight_decay = config.weight_decay;
  spec.class_weights = class_weights(config, train_counts);
  spec.seed = config.seed + static_cast<std::uint64_t>(state.epoch);
  const fs::path initial = ckpt / "initial.pt";
  if (!request.resume || !fs::exists(initial, ec)) {
    spec.model.weights = initial;
    write_atomically(initial, [&](const fs::path& tmp) {
      inference::ModelSpec s = spec.model;
      s.weights = tmp;
      backend.write_initial_model(s, config.seed, {});
    });
  }
  spec.model.weights = initial;
  std::unique_ptr<inference::Trainer> trainer = backend.trainer(spec);
  if (request.resume && state.epoch > 0) {
    trainer->load_weights(epoch_file(ckpt, state.epoch, ".pt"));
    trainer->load_optimizer(epoch_file(ckpt, state.epoch, ".optim.pt"));
    trainer->set_learning_rate(state.learning_rate);
    stage(fmt::format("resuming after epoch {} of {}", state.epoch, config.epochs));
  }

  const std::size_t per_image = static_cast<std::size_t>(config.input.channels) *
                                static_cast<std::size_t>(config.input.size) *
                                static_cast<std::size_t>(config.input.size);
  const auto batch_size = static_cast<std::size_t>(config.batch_size);
  const std::size_t n = train_set.images.size();

  // Prepares batch `b` of `order`: augmented, normalised images and their labels.
  struct Batch {
    std::vector<float> images;
    std::vector<int> labels;
  };
  const auto prepare = [&](const std::vector<std::size_t>& order, std::size_t b, int epoch) {
    Batch batch;
    const std::size_t start = b * batch_size;
    const std::size_t count = std::min(batch_size, n - start);
    batch.images.resize(count * per_image);
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t index = order[start + i];
      const imaging::Image augmented =
          imaging::augment(train_set.images[index], config.augment,
                           mix(mix(config.seed, static_cast<std::uint64_t>(epoch)), index));
      imaging::normalise_into(augmented, config.input,
                              std::span<float>(batch.images.data() + i * per_image, per_image));
      batch.labels.push_back(train_set.labels[index]);
    }
    return batch;
  };

  std::string stop_reason = "epoch limit";
  bool interrupted = false;
  const auto run_start = Clock::now();
  const double seconds_before = state.seconds;
  while (state.epoch < config.epochs) {
    const int epoch = state.epoch + 1;
    const auto epoch_start = Clock::now();
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::mt19937_64 rng(mix(config.seed, static_cast<std::uint64_t>(epoch) + 1000));
    std::shuffle(order.begin(), order.end(), rng);
    // BatchNorm needs two images per batch in training mode: a last batch of one is dropped.
    std::size_t batches = (n + batch_size - 1) / batch_size;
    if (n % batch_size == 1)
      --batches;

    double loss_sum = 0.0;
    std::size_t seen = 0;
    int correct = 0;
    const double learning_rate = trainer->learning_rate();
    std::future<Batch> next = std::async(std::launch::async, prepare, std::cref(order), 0, epoch);
    for (std::size_t b = 0; b < batches; ++b) {
      Batch batch = next.get();
      if (b + 1 < batches)
        next = std::async(std::launch::async, prepare, std::cref(order), b + 1, epoch);
      const int count = static_cast<int>(batch.labels.size());
      const inference::StepResult step = trainer->train_step(batch.images, batch.labels, count);
      loss_sum += step.loss * count;
      correct += step.correct;
      seen += static_cast<std::size_t>(count);
      if (events.batch) {
        BatchProgress p;
        p.epoch = epoch;
        p.epochs = config.epochs;
        p.done = seen;
        p.total = std::min(n, batches * batch_size);
        p.loss = loss_sum / static_cast<double>(seen);
        p.accuracy = static_cast<double>(correct) / static_cast<double>(seen);
        const double elapsed = seconds_since(epoch_start);
        p.images_per_second = static_cast<double>(seen) / std::max(elapsed, 1e-9);
        p.eta_seconds = static_cast<double>(p.total - seen) / std::max(p.images_per_second, 1e-9);
        events.batch(p);
      }
      if (events.interrupted && events.interrupted()) {
        if (b + 1 < batches)
          next.wait();
        interrupted = true;
        break;
      }
    }
    if (interrupted) {
      stop_reason = "interrupted";
      break;
    }
    const double train_seconds = seconds_since(epoch_start);

    const auto val_logits = all_logits(*trainer, val_set, config.input);
    const auto [val_loss, val_correct] =
        loss_and_correct(val_logits, val_set.labels, spec.class_weights);

    EpochReport report;
    report.epoch = epoch;
    report.epochs = config.epochs;
    report.train_loss = loss_sum / static_cast<double>(std::max<std::size_t>(seen, 1));
    report.train_accuracy =
        static_cast<double>(correct) / static_cast<double>(std::max<std::size_t>(seen, 1));
    report.val_loss = val_loss;
    report.val_accuracy =
        static_cast<double>(val_correct) / static_cast<double>(val_set.labels.size());
    report.learning_rate = learning_rate;
    report.images_per_second = static_cast<double>(seen) / std::max(train_seconds, 1e-9);

    // Early stopping and plateau, both on the validation loss (relative threshold 1e-4, as
    // PyTorch's ReduceLROnPlateau).
    report.improved = val_loss < state.best_val_loss * (1.0 - 1e-4);
    if (report.improved) {
      state.best_val_loss = val_loss;
      state.best_epoch = epoch;
      state.bad_epochs = 0;
    } else {
      ++state.bad_epochs;
    }
    if (val_loss < state.plateau_best * (1.0 - 1e-4)) {
      state.plateau_best = val_loss;
      state.plateau_bad = 0;
    } else if (++state.plateau_bad > config.lr_patience) {
      trainer->set_learning_rate(std::max(trainer->learning_rate() * config.lr_factor, 1e-8));
      state.plateau_bad = 0;
    }

    // The checkpoint: this epoch's weights and optimiser, the best weights, then the state that
    // points to them; older files go last.
    write_atomically(epoch_file(ckpt, epoch, ".pt"),
                     [&](const fs::path& tmp) { trainer->save_weights(tmp); });
    write_atomically(epoch_file(ckpt, epoch, ".optim.pt"),
                     [&](const fs::path& tmp) { trainer->save_optimizer(tmp); });
    report.seconds = seconds_since(epoch_start);
    state.epoch = epoch;
    state.learning_rate = trainer->learning_rate();
    state.seconds = seconds_before + seconds_since(run_start);
    state.history.epochs.push_back(report);
    util::write_private_file(state_file, state.to_json().dump(1));
    remove_old_epochs(ckpt, epoch, state.best_epoch);
    if (events.epoch)
      events.epoch(report);

    if (state.bad_epochs >= config.early_stopping_patience) {
      stop_reason = "early stopping";
      break;
    }
    if (config.time_limit_minutes > 0.0 &&
        state.seconds + report.seconds > config.time_limit_minutes * 60.0) {
      stop_reason = "time limit";
      break;
    }
    if (events.interrupted && events.interrupted()) {
      stop_reason = "interrupted";
      interrupted = true;
      break;
    }
  }

  TrainResult result;
  result.model_dir = out;
  result.epochs_run = state.epoch;
  result.best_epoch = state.best_epoch;
  result.best_val_loss = state.best_val_loss;
  result.seconds = state.seconds;
  result.rejected = rejected;
  result.skipped = data.skipped;
  result.stop_reason = stop_reason;
  for (const EpochReport& e : state.history.epochs)
    result.images_per_second +=
        e.images_per_second / static_cast<double>(state.history.epochs.size());
  if (interrupted || state.best_epoch == 0) {
    result.finished = false;
    return result;
  }

  // The best epoch's weights, calibrated on the validation part.
  stage(fmt::format("restoring the best epoch ({}) and calibrating", state.best_epoch));
  trainer->load_weights(epoch_file(ckpt, state.best_epoch, ".pt"));
  const auto val_logits = all_logits(*trainer, val_set, config.input);
  const double temperature = evaluation::fit_temperature(val_logits, val_set.labels);
  result.temperature = temperature;

  evaluation::Options options;
  options.labels = config.classes;
  options.negative = negative_classes(config.classes, config.risk);
  options.seed = config.seed;
  const evaluation::Report val_uncalibrated =
      evaluation::evaluate(calibrated(val_logits, val_set.labels, 1.0), options);
  const evaluation::Report val_report =
      evaluation::evaluate(calibrated(val_logits, val_set.labels, temperature), options);
  std::optional<evaluation::Report> test_report;
  if (!test_set.images.empty()) {
    const auto test_logits = all_logits(*trainer, test_set, config.input);
    test_report =
        evaluation::evaluate(calibrated(test_logits, test_set.labels, temperature), options);
  }

  // The model folder; model.yaml last, so that a folder with a manifest is complete.
  fs::remove(out / "model.yaml", ec);
  write_atomically(out / "model.pt", [&](const fs::path& tmp) { trainer->save_weights(tmp); });
  fs::copy_file(split_file, out / "split.csv", fs::copy_options::overwrite_existing, ec);
  if (ec)
    throw Error(ErrorKind::io,
                fmt::format("cannot write {}: {}", (out / "split.csv").string(), ec.message()));
  util::write_private_file(out / "history.csv", history_csv(state.history));
  util::write_private_file(out / "training.yaml", state.config_yaml);
  write_curves(out, state.history);
  imaging::save_png(out / "confusion_matrix.png",
                    imaging::draw_confusion_matrix(
                        fmt::format("{}: validation ({} images)", config.name, val_report.n),
                        config.classes, val_report.confusion));

  nlohmann::json counts = nlohmann::json::object();
  for (const Split s : {Split::train, Split::val, Split::test}) {
    nlohmann::json per = nlohmann::json::object();
    const auto c = data.class_counts(s);
    for (std::size_t i = 0; i < c.size(); ++i)
      per[config.classes[i]] = c[i];
    counts[std::string(to_string(s))] = per;
  }
  nlohmann::json metrics = {
      {"model", config.name},
      {"version", config.version},
      {"backend", backend.describe()},
      {"data",
       {{"root", fs::absolute(config.data).lexically_normal().string()},
        {"classes", config.classes},
        {"split", data.split_made ? "stratified, seeded (split.csv)" : "as given in the folders"},
        {"duplicates_moved", data.duplicates_moved},
        {"counts", counts},
        {"rejected", skipped_json(rejected)},
        {"skipped", skipped_json(data.skipped)}}},
      {"training",
       {{"epochs_run", state.epoch},
        {"best_epoch", state.best_epoch},
        {"best_val_loss", state.best_val_loss},
        {"stop_reason", stop_reason},
        {"seconds", state.seconds},
        {"images_per_second", result.images_per_second},
        {"class_weights", spec.class_weights},
        {"history", state.history.to_json()}}},
      {"calibration",
       {{"temperature", temperature},
        {"val_ece_before", val_uncalibrated.ece},
        {"val_ece_after", val_report.ece},
        {"val_log_loss_before", val_uncalibrated.log_loss},
        {"val_log_loss_after", val_report.log_loss}}},
      {"validation", report_json(val_report)},
      {"test", test_report ? report_json(*test_report) : nlohmann::json(nullptr)},
      {"test_note", test_report ? "the test part of our own split of the given training images"
                                : "no test part: the held-out test set is not given"}};
  util::write_private_file(out / "metrics.json", metrics.dump(2) + "\n");
  result.metrics = metrics;

  inference::Manifest manifest;
  manifest.dir = out;
  manifest.name = config.name;
  manifest.version = config.version;
  manifest.description = config.description;
  manifest.modalities = config.modalities;
  manifest.body_part = config.body_part;
  manifest.classes = config.classes;
  manifest.input = config.input;
  manifest.threshold = config.threshold;
  manifest.temperature = temperature;
  manifest.risk = config.risk;
  manifest.architecture = inference::Architecture::mobilenet_v2;
  manifest.width_mult = config.width_mult;
  manifest.weights_file = "model.pt";
  manifest.metrics_file = "metrics.json";
  manifest.weights_sha256 = inference::weights_hash(manifest);
  inference::save_manifest(manifest);

  if (!request.keep_checkpoint)
    fs::remove_all(ckpt, ec);
  result.finished = true;
  return result;
}

}  // namespace csss::pipelines
