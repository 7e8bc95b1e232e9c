// Classification metrics (see metrics.hpp): confusion, per-class and screening figures, ROC-AUC by
// Mann-Whitney, calibration, percentile bootstrap intervals and temperature scaling.

#include "evaluation/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <numeric>
#include <random>
#include <string>

#include "util/error.hpp"

namespace csss::evaluation {

namespace {

// Plain bools that a std::span can view (std::vector<bool> is packed and cannot).
class Flags {
 public:
  explicit Flags(std::size_t n) : data_(std::make_unique<bool[]>(n)), size_(n) {}
  bool& operator[](std::size_t i) { return data_[i]; }
  std::span<const bool> span() const { return {data_.get(), size_}; }

 private:
  std::unique_ptr<bool[]> data_;
  std::size_t size_;
};

[[noreturn]] void bad(const char* where, const std::string& what) {
  throw Error(ErrorKind::invalid_input, std::string(where) + ": " + what);
}

// Checks that `predictions` holds n > 0 rows of `k` finite probabilities and n labels in 0..k-1.
void check_predictions(const Predictions& predictions, std::size_t k, const char* where) {
  const std::size_t n = predictions.probabilities.size();
  if (n == 0) {
    bad(where, "there are no predictions");
  }
  if (predictions.truth.size() != n) {
    bad(where, "there are " + std::to_string(n) + " probability rows but " +
                   std::to_string(predictions.truth.size()) + " true labels");
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::vector<float>& row = predictions.probabilities[i];
    if (row.size() != k) {
      bad(where, "row " + std::to_string(i) + " has " + std::to_string(row.size()) +
                     " probabilities, not " + std::to_string(k));
    }
    for (float p : row) {
      if (!std::isfinite(p)) {
        bad(where, "row " + std::to_string(i) + " has a probability that is not finite");
      }
    }
    const int t = predictions.truth[i];
    if (t < 0 || static_cast<std::size_t>(t) >= k) {
      bad(where, "true label " + std::to_string(t) + " of row " + std::to_string(i) +
                     " is not a class index (0.." + std::to_string(k - 1) + ")");
    }
  }
}

void check_binary(std::span<const double> scores, std::span<const bool> positive,
                  const char* where) {
  if (scores.size() != positive.size()) {
    bad(where, std::to_string(scores.size()) + " scores but " + std::to_string(positive.size()) +
                   " labels");
  }
  for (double s : scores) {
    if (!std::isfinite(s)) {
      bad(where, "a score is not finite");
    }
  }
}

// Indices of `scores` in ascending order of score (stable, so equal scores keep their order).
std::vector<std::size_t> ascending_order(std::span<const double> scores) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  return order;
}

// Mann-Whitney AUC over items in ascending score order, each counted `weight[i]` times (all once
// when `weight` is empty): for every group of equal scores, its positives beat every negative
// below it and tie with the negatives in the group (one half each).
std::optional<double> weighted_auc(std::span<const double> scores, std::span<const bool> positive,
                                   std::span<const std::size_t> order,
                                   std::span<const int> weight) {
  double negatives_below = 0.0;
  double positives_total = 0.0;
  double u = 0.0;
  std::size_t g = 0;
  while (g < order.size()) {
    const double s = scores[order[g]];
    double pos = 0.0;
    double neg = 0.0;
    std::size_t e = g;
    for (; e < order.size() && scores[order[e]] == s; ++e) {
      const std::size_t i = order[e];
      const double w = weight.empty() ? 1.0 : static_cast<double>(weight[i]);
      (positive[i] ? pos : neg) += w;
    }
    u += pos * negatives_below + 0.5 * pos * neg;
    negatives_below += neg;
    positives_total += pos;
    g = e;
  }
  if (positives_total == 0.0 || negatives_below == 0.0) {
    return std::nullopt;
  }
  return u / (positives_total * negatives_below);
}

// The 2.5th and 97.5th percentiles of `values` (linear interpolation between order statistics).
std::optional<Interval> percentile_interval(std::vector<double> values) {
  if (values.empty()) {
    return std::nullopt;
  }
  std::sort(values.begin(), values.end());
  const auto at = [&](double q) {
    const double pos = q * static_cast<double>(values.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, values.size() - 1);
    const double frac = pos - static_cast<double>(lo);
    return values[lo] + frac * (values[hi] - values[lo]);
  };
  return Interval{at(0.025), at(0.975)};
}

// A uniform index in 0..n-1 without modulo bias, identical with every standard library (unlike
// std::uniform_int_distribution, whose algorithm is unspecified).
std::size_t uniform_index(std::mt19937_64& rng, std::size_t n) {
  const std::uint64_t range = n;
  const std::uint64_t threshold = (0 - range) % range;  // 2^64 mod n
  for (;;) {
    const std::uint64_t r = rng();
    if (r >= threshold) {
      return static_cast<std::size_t>(r % range);
    }
  }
}

double mean_nll(const std::vector<std::vector<float>>& logits, std::span<const int> truth,
                double temperature) {
  double total = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const std::vector<float>& row = logits[i];
    const double m = static_cast<double>(*std::max_element(row.begin(), row.end()));
    double sum = 0.0;
    for (float z : row) {
      sum += std::exp((static_cast<double>(z) - m) / temperature);
    }
    const double z_true = static_cast<double>(row[static_cast<std::size_t>(truth[i])]);
    total += std::log(sum) - (z_true - m) / temperature;
  }
  return total / static_cast<double>(logits.size());
}

}  // namespace

int argmax(std::span<const float> row) {
  if (row.empty()) {
    bad("argmax", "the row is empty");
  }
  std::size_t best = 0;
  for (std::size_t j = 1; j < row.size(); ++j) {
    if (row[j] > row[best]) {
      best = j;
    }
  }
  return static_cast<int>(best);
}

std::optional<double> roc_auc(std::span<const double> scores, std::span<const bool> positive) {
  check_binary(scores, positive, "roc_auc");
  const std::vector<std::size_t> order = ascending_order(scores);
  return weighted_auc(scores, positive, order, {});
}

std::vector<RocPoint> roc_curve(std::span<const double> scores, std::span<const bool> positive) {
  check_binary(scores, positive, "roc_curve");
  const auto positives = static_cast<double>(std::count(positive.begin(), positive.end(), true));
  const double negatives = static_cast<double>(positive.size()) - positives;
  if (positives == 0.0 || negatives == 0.0) {
    return {};
  }
  std::vector<std::size_t> order = ascending_order(scores);
  std::reverse(order.begin(), order.end());
  std::vector<RocPoint> curve{{0.0, 0.0}};
  double tp = 0.0;
  double fp = 0.0;
  std::size_t g = 0;
  while (g < order.size()) {
    const double s = scores[order[g]];
    for (; g < order.size() && scores[order[g]] == s; ++g) {
      (positive[order[g]] ? tp : fp) += 1.0;
    }
    curve.push_back({fp / negatives, tp / positives});
  }
  return curve;  // the last threshold (the lowest score) flags everything: (1, 1)
}

double expected_calibration_error(const Predictions& predictions, int bins) {
  if (bins < 1) {
    bad("expected_calibration_error", "the bin count must be at least 1");
  }
  const std::size_t k =
      predictions.probabilities.empty() ? 0 : predictions.probabilities.front().size();
  check_predictions(predictions, k, "expected_calibration_error");
  if (k == 0) {
    bad("expected_calibration_error", "the rows hold no probabilities");
  }
  const auto b = static_cast<std::size_t>(bins);
  std::vector<double> confidence(b, 0.0);
  std::vector<double> correct(b, 0.0);
  std::vector<double> count(b, 0.0);
  for (std::size_t i = 0; i < predictions.probabilities.size(); ++i) {
    const std::vector<float>& row = predictions.probabilities[i];
    const int predicted = argmax(row);
    const double c = static_cast<double>(row[static_cast<std::size_t>(predicted)]);
    const double scaled = std::clamp(c, 0.0, 1.0) * static_cast<double>(bins);
    const std::size_t bin = std::min(static_cast<std::size_t>(scaled), b - 1);
    confidence[bin] += c;
    correct[bin] += predicted == predictions.truth[i] ? 1.0 : 0.0;
    count[bin] += 1.0;
  }
  const auto n = static_cast<double>(predictions.probabilities.size());
  double ece = 0.0;
  for (std::size_t j = 0; j < b; ++j) {
    if (count[j] > 0.0) {
      ece += (count[j] / n) * std::abs(correct[j] / count[j] - confidence[j] / count[j]);
    }
  }
  return ece;
}

Report evaluate(const Predictions& predictions, const Options& options) {
  const char* const where = "evaluate";
  const std::size_t k = options.labels.size();
  if (k < 2) {
    bad(where, "at least 2 class labels are needed, not " + std::to_string(k));
  }
  check_predictions(predictions, k, where);
  if (options.bins < 1) {
    bad(where, "the bin count must be at least 1, not " + std::to_string(options.bins));
  }
  if (options.bootstrap_rounds < 0) {
    bad(where, "the bootstrap round count must not be negative");
  }
  std::vector<bool> is_negative(k, false);
  for (int c : options.negative) {
    if (c < 0 || static_cast<std::size_t>(c) >= k) {
      bad(where, "negative class " + std::to_string(c) + " is not a class index (0.." +
                     std::to_string(k - 1) + ")");
    }
    is_negative[static_cast<std::size_t>(c)] = true;
  }

  const std::size_t n = predictions.probabilities.size();
  const std::vector<int>& truth = predictions.truth;
  Report r;
  r.n = static_cast<int>(n);
  r.labels = options.labels;

  // Predicted classes, confusion matrix, accuracy, log loss.
  std::vector<int> predicted(n);
  std::vector<bool> correct(n);
  r.confusion.assign(k, std::vector<int>(k, 0));
  double hits = 0.0;
  double nll = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::vector<float>& row = predictions.probabilities[i];
    predicted[i] = argmax(row);
    correct[i] = predicted[i] == truth[i];
    hits += correct[i] ? 1.0 : 0.0;
    ++r.confusion[static_cast<std::size_t>(truth[i])][static_cast<std::size_t>(predicted[i])];
    const double p = static_cast<double>(row[static_cast<std::size_t>(truth[i])]);
    nll -= std::log(std::max(p, 1e-12));
  }
  r.accuracy = hits / static_cast<double>(n);
  r.log_loss = nll / static_cast<double>(n);

  // Per class: precision, recall, F1 from the confusion matrix; one-vs-rest AUC and ROC.
  std::vector<std::vector<double>> columns(k, std::vector<double>(n));
  std::vector<Flags> is_class;
  is_class.reserve(k);
  std::vector<std::vector<std::size_t>> orders(k);
  double recall_sum = 0.0;
  int classes_present = 0;
  double f1_sum = 0.0;
  double auc_sum = 0.0;
  int auc_count = 0;
  for (std::size_t c = 0; c < k; ++c) {
    ClassMetrics m;
    m.label = options.labels[c];
    int predicted_as = 0;
    for (std::size_t t = 0; t < k; ++t) {
      m.support += r.confusion[c][t];
      predicted_as += r.confusion[t][c];
    }
    const int tp = r.confusion[c][c];
    m.precision = predicted_as > 0 ? static_cast<double>(tp) / predicted_as : 0.0;
    m.recall = m.support > 0 ? static_cast<double>(tp) / m.support : 0.0;
    m.f1 = m.precision + m.recall > 0.0 ? 2.0 * m.precision * m.recall / (m.precision + m.recall)
                                        : 0.0;
    Flags& flags = is_class.emplace_back(n);
    for (std::size_t i = 0; i < n; ++i) {
      columns[c][i] = static_cast<double>(predictions.probabilities[i][c]);
      flags[i] = truth[i] == static_cast<int>(c);
    }
    const std::span<const bool> positive = flags.span();
    orders[c] = ascending_order(columns[c]);
    m.auc = weighted_auc(columns[c], positive, orders[c], {});
    r.roc.push_back(m.auc ? roc_curve(columns[c], positive) : std::vector<RocPoint>{});
    if (m.support > 0) {
      recall_sum += m.recall;
      ++classes_present;
    }
    f1_sum += m.f1;
    if (m.auc) {
      auc_sum += *m.auc;
      ++auc_count;
    }
    r.per_class.push_back(std::move(m));
  }
  r.balanced_accuracy = recall_sum / classes_present;  // n > 0: at least one class is present
  r.macro_f1 = f1_sum / static_cast<double>(k);
  if (auc_count > 0) {
    r.auc_macro = auc_sum / auc_count;
  }

  // Calibration: ECE and the reliability bins.
  r.ece = expected_calibration_error(predictions, options.bins);
  const auto bins = static_cast<std::size_t>(options.bins);
  r.reliability.resize(bins);
  std::vector<double> confidence_sum(bins, 0.0);
  std::vector<double> correct_sum(bins, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const double c =
        static_cast<double>(predictions.probabilities[i][static_cast<std::size_t>(predicted[i])]);
    const double scaled = std::clamp(c, 0.0, 1.0) * static_cast<double>(options.bins);
    const std::size_t bin = std::min(static_cast<std::size_t>(scaled), bins - 1);
    ++r.reliability[bin].count;
    confidence_sum[bin] += c;
    correct_sum[bin] += correct[i] ? 1.0 : 0.0;
  }
  for (std::size_t j = 0; j < bins; ++j) {
    ReliabilityBin& bin = r.reliability[j];
    bin.lower = static_cast<double>(j) / static_cast<double>(bins);
    bin.upper = static_cast<double>(j + 1) / static_cast<double>(bins);
    if (bin.count > 0) {
      bin.mean_confidence = confidence_sum[j] / bin.count;
      bin.accuracy = correct_sum[j] / bin.count;
    }
  }

  // Screening: abnormal (any class not in `negative`) against normal.
  const auto negative_classes = std::count(is_negative.begin(), is_negative.end(), true);
  if (negative_classes > 0 && static_cast<std::size_t>(negative_classes) < k) {
    Screening s;
    std::vector<double> score(n);
    Flags abnormal(n);
    int flagged_abnormal = 0;
    int clear_normal = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double normal_probability = 0.0;
      for (std::size_t c = 0; c < k; ++c) {
        if (is_negative[c]) {
          normal_probability += static_cast<double>(predictions.probabilities[i][c]);
        }
      }
      score[i] = 1.0 - normal_probability;
      const bool is_abnormal = !is_negative[static_cast<std::size_t>(truth[i])];
      const bool flagged = !is_negative[static_cast<std::size_t>(predicted[i])];
      abnormal[i] = is_abnormal;
      if (is_abnormal) {
        ++s.positives;
        flagged_abnormal += flagged ? 1 : 0;
      } else {
        ++s.negatives;
        clear_normal += flagged ? 0 : 1;
      }
    }
    s.accuracy = static_cast<double>(flagged_abnormal + clear_normal) / static_cast<double>(n);
    s.sensitivity = s.positives > 0 ? static_cast<double>(flagged_abnormal) / s.positives : 0.0;
    s.specificity = s.negatives > 0 ? static_cast<double>(clear_normal) / s.negatives : 0.0;
    s.auc = roc_auc(score, abnormal.span());
    r.screening = s;
  }

  // Percentile bootstrap: resample images with replacement; each resample is a multiplicity per
  // image, so the per-class AUCs reuse the sorted orders above (O(k n) per round).
  if (options.bootstrap_rounds > 0 && n >= 2) {
    std::mt19937_64 rng(options.seed);
    std::vector<int> weight(n);
    std::vector<double> accuracies;
    std::vector<double> aucs;
    accuracies.reserve(static_cast<std::size_t>(options.bootstrap_rounds));
    for (int round = 0; round < options.bootstrap_rounds; ++round) {
      std::fill(weight.begin(), weight.end(), 0);
      for (std::size_t draw = 0; draw < n; ++draw) {
        ++weight[uniform_index(rng, n)];
      }
      double round_hits = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        round_hits += correct[i] ? weight[i] : 0;
      }
      accuracies.push_back(round_hits / static_cast<double>(n));
      double sum = 0.0;
      int defined = 0;
      for (std::size_t c = 0; c < k; ++c) {
        if (const std::optional<double> auc =
                weighted_auc(columns[c], is_class[c].span(), orders[c], weight)) {
          sum += *auc;
          ++defined;
        }
      }
      if (defined > 0) {
        aucs.push_back(sum / defined);
      }
    }
    r.accuracy_ci = percentile_interval(std::move(accuracies));
    r.auc_macro_ci = percentile_interval(std::move(aucs));
  }
  return r;
}

std::vector<float> softmax(std::span<const float> logits, double temperature) {
  if (!(temperature > 0.0) || !std::isfinite(temperature)) {
    bad("softmax", "the temperature must be finite and positive");
  }
  std::vector<float> out(logits.size());
  if (logits.empty()) {
    return out;
  }
  const double m = static_cast<double>(*std::max_element(logits.begin(), logits.end()));
  std::vector<double> e(logits.size());
  double sum = 0.0;
  for (std::size_t j = 0; j < logits.size(); ++j) {
    e[j] = std::exp((static_cast<double>(logits[j]) - m) / temperature);
    sum += e[j];
  }
  for (std::size_t j = 0; j < logits.size(); ++j) {
    out[j] = static_cast<float>(e[j] / sum);
  }
  return out;
}

double fit_temperature(const std::vector<std::vector<float>>& logits, std::span<const int> truth) {
  const char* const where = "fit_temperature";
  if (logits.size() != truth.size()) {
    bad(where, std::to_string(logits.size()) + " logit rows but " + std::to_string(truth.size()) +
                   " true labels");
  }
  if (logits.empty()) {
    return 1.0;
  }
  const std::size_t k = logits.front().size();
  if (k == 0) {
    bad(where, "the rows hold no logits");
  }
  bool informative = false;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const std::vector<float>& row = logits[i];
    if (row.size() != k) {
      bad(where, "row " + std::to_string(i) + " has " + std::to_string(row.size()) +
                     " logits, not " + std::to_string(k));
    }
    for (float z : row) {
      if (!std::isfinite(z)) {
        bad(where, "row " + std::to_string(i) + " has a logit that is not finite");
      }
      informative = informative || z != row.front();
    }
    if (truth[i] < 0 || static_cast<std::size_t>(truth[i]) >= k) {
      bad(where, "true label " + std::to_string(truth[i]) + " of row " + std::to_string(i) +
                     " is not a class index (0.." + std::to_string(k - 1) + ")");
    }
  }
  if (!informative) {
    return 1.0;  // every row is uniform: the likelihood does not depend on T
  }

  // The NLL is convex in 1/T, hence unimodal in u = log T: golden-section search on u.
  constexpr double kMinT = 0.05;
  constexpr double kMaxT = 20.0;
  const auto f = [&](double u) { return mean_nll(logits, truth, std::exp(u)); };
  const double inv_phi = (std::sqrt(5.0) - 1.0) / 2.0;
  double a = std::log(kMinT);
  double b = std::log(kMaxT);
  double c = b - inv_phi * (b - a);
  double d = a + inv_phi * (b - a);
  double fc = f(c);
  double fd = f(d);
  while (b - a > 1e-9) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - inv_phi * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + inv_phi * (b - a);
      fd = f(d);
    }
  }
  // The minimum may sit on a bound (e.g. a perfectly separated set wants T -> 0).
  double best_u = 0.5 * (a + b);
  double best = f(best_u);
  for (const double u : {std::log(kMinT), std::log(kMaxT)}) {
    const double value = f(u);
    if (value < best) {
      best = value;
      best_u = u;
    }
  }
  return std::clamp(std::exp(best_u), kMinT, kMaxT);
}

}  // namespace csss::evaluation
