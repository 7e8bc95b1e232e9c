#pragma once

// Classification metrics for `csss train-eval evaluate` and for training's validation: plain
// arithmetic over predicted probabilities and true labels, no LibTorch and no I/O.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace csss::evaluation {

// One row of class probabilities per image (each row sums to ~1), and its true class index.
struct Predictions {
  std::vector<std::vector<float>> probabilities;  // n rows of k values
  std::vector<int> truth;                         // n values in 0..k-1
};

struct Interval {
  double low = 0.0;
  double high = 0.0;
};

struct ClassMetrics {
  std::string label;
  double precision =
      0.0;              // 0 when the class is never predicted (as scikit-learn's zero_division=0)
  double recall = 0.0;  // 0 when the class has no images (support 0)
  double f1 = 0.0;      // 0 when precision + recall is 0
  int support = 0;      // images whose true class is this one
  // One-vs-rest ROC-AUC; nullopt when undefined (no images of this class, or no others).
  std::optional<double> auc;
};

// Abnormal-vs-normal ("screening") metrics: the classes in `negative` of Options are normal, all
// others abnormal; the abnormal score of an image is 1 - (sum of its negative-class
// probabilities), and an image counts as flagged when its predicted class is abnormal.
struct Screening {
  double accuracy = 0.0;
  double sensitivity = 0.0;  // flagged abnormal / all abnormal (0 when there are none)
  double specificity = 0.0;  // not flagged normal / all normal (0 when there are none)
  std::optional<double> auc;
  int positives = 0;  // abnormal images
  int negatives = 0;  // normal images
};

struct ReliabilityBin {
  double lower = 0.0;  // confidence range [lower, upper), the last bin includes 1
  double upper = 0.0;
  int count = 0;
  double mean_confidence = 0.0;  // 0 when count is 0
  double accuracy = 0.0;         // 0 when count is 0
};

struct RocPoint {
  double fpr = 0.0;
  double tpr = 0.0;
};

struct Options {
  std::vector<std::string> labels;  // k class names, in output order
  std::vector<int> negative;        // class indices that are "normal" for Screening
  int bins = 15;                    // for ECE and the reliability diagram
  int bootstrap_rounds = 1000;      // 0: no confidence intervals
  std::uint64_t seed = 42;          // for the bootstrap resampling
};

struct Report {
  int n = 0;
  std::vector<std::string> labels;
  double accuracy = 0.0;
  double balanced_accuracy = 0.0;   // mean recall over classes with support > 0
  double macro_f1 = 0.0;            // mean F1 over all classes
  std::optional<double> auc_macro;  // mean of the defined per-class AUCs; nullopt when none is
  double log_loss = 0.0;            // mean -log(max(p_true, 1e-12))
  double ece = 0.0;                 // expected calibration error, top-label, `bins` equal bins
  std::vector<ClassMetrics> per_class;
  std::vector<std::vector<int>> confusion;  // [true][predicted], k x k
  std::optional<Screening> screening;       // when `negative` is neither empty nor every class
  std::vector<ReliabilityBin> reliability;
  std::vector<std::vector<RocPoint>> roc;  // per class (empty when its AUC is undefined)
  // 95% percentile bootstrap intervals (resampling images with replacement, `bootstrap_rounds`
  // rounds, seeded); nullopt when rounds is 0 or n < 2. The AUC interval skips resamples where
  // the macro AUC is undefined.
  std::optional<Interval> accuracy_ci;
  std::optional<Interval> auc_macro_ci;
};

// Predicted class: the index of the largest probability (the first one on ties).
int argmax(std::span<const float> row);

// Throws Error(invalid_input) when the rows are not all of length labels.size() (at least 2),
// truth has another length or a value out of range, a probability is not finite, or n is 0.
Report evaluate(const Predictions& predictions, const Options& options);

// ROC-AUC of `scores` for the binary truth `positive` (Mann-Whitney U: the probability that a
// random positive scores above a random negative, ties counting one half). nullopt when either
// class is absent.
std::optional<double> roc_auc(std::span<const double> scores, std::span<const bool> positive);

// The ROC curve: (0,0), one point per distinct score threshold from high to low, (1,1). Empty
// when either class is absent.
std::vector<RocPoint> roc_curve(std::span<const double> scores, std::span<const bool> positive);

// Top-label expected calibration error with `bins` equal-width confidence bins:
// sum over bins of (count / n) * |accuracy - mean confidence|.
double expected_calibration_error(const Predictions& predictions, int bins);

// The temperature T > 0 that minimises the mean negative log-likelihood of softmax(logits / T)
// for `truth` (one-dimensional, convex in 1/T; searched over T in [0.05, 20]). Returns 1 for an
// empty set. Throws Error(invalid_input) for inconsistent sizes.
double fit_temperature(const std::vector<std::vector<float>>& logits, std::span<const int> truth);

// softmax(row / temperature), computed stably.
std::vector<float> softmax(std::span<const float> logits, double temperature = 1.0);

}  // namespace csss::evaluation
