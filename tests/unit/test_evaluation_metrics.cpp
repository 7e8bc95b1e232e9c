// lib/evaluation/metrics: every figure on small prediction sets worked out by hand (the arithmetic
// is in the comments), bootstrap determinism, temperature fitting on synthetic logits, errors.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "evaluation/metrics.hpp"
#include "support/check_error.hpp"

using namespace csss::evaluation;
using csss::ErrorKind;
using csss::test::check_error;

namespace {

// Six images of three classes; "normal" is the negative class for screening.
//   row  probabilities      truth  predicted
//   0    0.7  0.2  0.1      0      0
//   1    0.6  0.3  0.1      0      0
//   2    0.2  0.7  0.1      1      1
//   3    0.5  0.4  0.1      1      0
//   4    0.3  0.6  0.1      2      1
//   5    0.1  0.8  0.1      0      1
// Class 2 is never predicted.
Predictions six() {
  return {{{0.7f, 0.2f, 0.1f},
           {0.6f, 0.3f, 0.1f},
           {0.2f, 0.7f, 0.1f},
           {0.5f, 0.4f, 0.1f},
           {0.3f, 0.6f, 0.1f},
           {0.1f, 0.8f, 0.1f}},
          {0, 0, 1, 1, 2, 0}};
}

Options six_options() {
  Options o;
  o.labels = {"normal", "pneumonia", "covid"};
  o.negative = {0};
  o.bins = 4;
  o.bootstrap_rounds = 200;
  return o;
}

// A uniform double in [0, 1) from the top 53 bits (the same with every standard library).
double uniform(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// n images of k classes: random "true" logits, and a label drawn from their softmax, so that
// T = 1 is the calibrated temperature of these logits.
struct Synthetic {
  std::vector<std::vector<float>> logits;
  std::vector<int> truth;
};

Synthetic synthetic(std::size_t n, int k, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Synthetic s;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<float> z;
    for (int j = 0; j < k; ++j) {
      z.push_back(static_cast<float>(4.0 * uniform(rng) - 2.0));
    }
    const std::vector<float> p = softmax(z);
    const double u = uniform(rng);
    double cumulative = 0.0;
    int label = k - 1;
    for (int j = 0; j < k; ++j) {
      cumulative += static_cast<double>(p[static_cast<std::size_t>(j)]);
      if (u < cumulative) {
        label = j;
        break;
      }
    }
    s.logits.push_back(std::move(z));
    s.truth.push_back(label);
  }
  return s;
}

double nll(const Synthetic& s, double temperature) {
  double total = 0.0;
  for (std::size_t i = 0; i < s.logits.size(); ++i) {
    const std::vector<float> p = softmax(s.logits[i], temperature);
    total -= std::log(static_cast<double>(p[static_cast<std::size_t>(s.truth[i])]));
  }
  return total / static_cast<double>(s.logits.size());
}

std::vector<std::vector<float>> scaled(const std::vector<std::vector<float>>& logits, float f) {
  std::vector<std::vector<float>> out = logits;
  for (std::vector<float>& row : out) {
    for (float& z : row) {
      z *= f;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("evaluation: argmax takes the first of equal maxima") {
  CHECK(argmax(std::vector<float>{0.2f, 0.4f, 0.4f}) == 1);
  CHECK(argmax(std::vector<float>{0.9f}) == 0);
  CHECK(argmax(std::vector<float>{0.1f, 0.2f, 0.7f}) == 2);
  check_error([] { argmax(std::vector<float>{}); }, ErrorKind::invalid_input, "empty");
}

TEST_CASE("evaluation: roc_auc counts ties as one half") {
  // Positives 0.4 and 0.8, negatives 0.1 and 0.4. Pairs: 0.4>0.1 (1), 0.4=0.4 (1/2), 0.8>0.1 (1),
  // 0.8>0.4 (1): 3.5 of 4 = 0.875.
  const std::vector<double> scores{0.1, 0.4, 0.4, 0.8};
  const bool positive[] = {false, false, true, true};
  const std::optional<double> auc = roc_auc(scores, positive);
  REQUIRE(auc.has_value());
  CHECK(*auc == doctest::Approx(0.875));

  // The order of the input does not matter.
  const std::vector<double> shuffled{0.4, 0.8, 0.1, 0.4};
  const bool shuffled_positive[] = {true, true, false, false};
  CHECK(roc_auc(shuffled, shuffled_positive).value() == doctest::Approx(0.875));

  // Perfect, inverted, and all equal.
  const bool two_two[] = {false, false, true, true};
  CHECK(roc_auc(std::vector<double>{0.1, 0.2, 0.3, 0.4}, two_two).value() == 1.0);
  CHECK(roc_auc(std::vector<double>{0.4, 0.3, 0.2, 0.1}, two_two).value() == 0.0);
  CHECK(roc_auc(std::vector<double>{0.5, 0.5, 0.5, 0.5}, two_two).value() == 0.5);

  // One class only: undefined.
  const bool all_positive[] = {true, true};
  const bool all_negative[] = {false, false};
  CHECK_FALSE(roc_auc(std::vector<double>{0.1, 0.9}, all_positive).has_value());
  CHECK_FALSE(roc_auc(std::vector<double>{0.1, 0.9}, all_negative).has_value());
  CHECK_FALSE(roc_auc(std::vector<double>{}, std::span<const bool>{}).has_value());

  check_error(
      [&] {
        roc_auc(std::vector<double>{0.1, 0.2, 0.3}, positive);
      },
      ErrorKind::invalid_input, "3 scores but 4 labels");
  check_error(
      [&] {
        roc_auc(std::vector<double>{0.1, NAN, 0.3, 0.4}, positive);
      },
      ErrorKind::invalid_input, "not finite");
}

TEST_CASE("evaluation: roc_curve has one point per distinct threshold") {
  // From high to low: 0.8 (one positive) -> (0, 0.5); 0.4 (a positive and a negative) ->
  // (0.5, 1); 0.1 (a negative) -> (1, 1). The trapezoids under it add up to the AUC, 0.875.
  const std::vector<double> scores{0.1, 0.4, 0.4, 0.8};
  const bool positive[] = {false, false, true, true};
  const std::vector<RocPoint> curve = roc_curve(scores, positive);
  REQUIRE(curve.size() == 4u);
  const double expected[4][2] = {{0, 0}, {0, 0.5}, {0.5, 1}, {1, 1}};
  double area = 0.0;
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(curve[i].fpr == doctest::Approx(expected[i][0]));
    CHECK(curve[i].tpr == doctest::Approx(expected[i][1]));
    if (i > 0) {
      area += (curve[i].fpr - curve[i - 1].fpr) * (curve[i].tpr + curve[i - 1].tpr) / 2.0;
    }
  }
  CHECK(area == doctest::Approx(0.875));

  const bool all_positive[] = {true, true, true, true};
  CHECK(roc_curve(scores, all_positive).empty());
}

TEST_CASE("evaluation: evaluate on a hand-worked set") {
  const Report r = evaluate(six(), six_options());
  CHECK(r.n == 6);
  CHECK(r.labels == std::vector<std::string>{"normal", "pneumonia", "covid"});

  // Confusion [true][predicted]: true 0 -> 0, 0, 1; true 1 -> 1, 0; true 2 -> 1.
  CHECK(r.confusion == std::vector<std::vector<int>>{{2, 1, 0}, {1, 1, 0}, {0, 1, 0}});
  CHECK(r.accuracy == doctest::Approx(3.0 / 6.0));

  REQUIRE(r.per_class.size() == 3u);
  // normal: predicted 3 times, 2 right; 3 images, 2 found.
  CHECK(r.per_class[0].label == "normal");
  CHECK(r.per_class[0].support == 3);
  CHECK(r.per_class[0].precision == doctest::Approx(2.0 / 3.0));
  CHECK(r.per_class[0].recall == doctest::Approx(2.0 / 3.0));
  CHECK(r.per_class[0].f1 == doctest::Approx(2.0 / 3.0));
  // pneumonia: predicted 3 times, 1 right; 2 images, 1 found: F1 = 2 (1/3)(1/2) / (5/6) = 0.4.
  CHECK(r.per_class[1].support == 2);
  CHECK(r.per_class[1].precision == doctest::Approx(1.0 / 3.0));
  CHECK(r.per_class[1].recall == doctest::Approx(0.5));
  CHECK(r.per_class[1].f1 == doctest::Approx(0.4));
  // covid: never predicted, so precision 0 (not NaN); its one image was missed.
  CHECK(r.per_class[2].support == 1);
  CHECK(r.per_class[2].precision == 0.0);
  CHECK(r.per_class[2].recall == 0.0);
  CHECK(r.per_class[2].f1 == 0.0);

  // Mean recall (2/3 + 1/2 + 0) / 3 = 7/18; mean F1 (2/3 + 2/5 + 0) / 3 = 16/45.
  CHECK(r.balanced_accuracy == doctest::Approx(7.0 / 18.0));
  CHECK(r.macro_f1 == doctest::Approx(16.0 / 45.0));

  // One-vs-rest AUCs.
  // normal: positives 0.7, 0.6, 0.1 against 0.2, 0.5, 0.3: 3 + 3 + 0 of 9 = 2/3.
  // pneumonia: positives 0.7, 0.4 against 0.2, 0.3, 0.6, 0.8: 3 + 2 of 8 = 5/8.
  // covid: every score 0.1, all ties: 1/2. Macro: (2/3 + 5/8 + 1/2) / 3 = 43/72.
  CHECK(r.per_class[0].auc.value() == doctest::Approx(2.0 / 3.0));
  CHECK(r.per_class[1].auc.value() == doctest::Approx(5.0 / 8.0));
  CHECK(r.per_class[2].auc.value() == doctest::Approx(0.5));
  CHECK(r.auc_macro.value() == doctest::Approx(43.0 / 72.0));
  REQUIRE(r.roc.size() == 3u);
  CHECK(r.roc[2].size() == 2u);  // (0,0) and the one threshold (1,1)

  // p(true) = 0.7, 0.6, 0.7, 0.4, 0.1, 0.1.
  const double log_loss =
      -(2 * std::log(0.7) + std::log(0.6) + std::log(0.4) + 2 * std::log(0.1)) / 6.0;
  CHECK(r.log_loss == doctest::Approx(log_loss).epsilon(1e-6));

  // 4 bins of 0.25. Confidences 0.7, 0.6, 0.7, 0.5, 0.6 fall in [0.5, 0.75): mean 0.62, 3 of 5
  // right; 0.8 in [0.75, 1]: wrong. ECE = 5/6 |0.6 - 0.62| + 1/6 |0 - 0.8| = 0.15.
  CHECK(r.ece == doctest::Approx(0.15).epsilon(1e-6));
  REQUIRE(r.reliability.size() == 4u);
  CHECK(r.reliability[0].count == 0);
  CHECK(r.reliability[0].lower == 0.0);
  CHECK(r.reliability[0].upper == 0.25);
  CHECK(r.reliability[0].mean_confidence == 0.0);
  CHECK(r.reliability[1].count == 0);
  CHECK(r.reliability[2].count == 5);
  CHECK(r.reliability[2].lower == 0.5);
  CHECK(r.reliability[2].mean_confidence == doctest::Approx(0.62).epsilon(1e-6));
  CHECK(r.reliability[2].accuracy == doctest::Approx(0.6));
  CHECK(r.reliability[3].count == 1);
  CHECK(r.reliability[3].upper == 1.0);
  CHECK(r.reliability[3].mean_confidence == doctest::Approx(0.8).epsilon(1e-6));
  CHECK(r.reliability[3].accuracy == 0.0);

  // Screening, normal = class 0: abnormal images are rows 2, 3, 4; flagged (predicted 1 or 2)
  // are rows 2, 4, 5. Sensitivity 2/3 (row 3 missed), specificity 2/3 (row 5 flagged).
  // Abnormal scores 1 - p0: positives 0.8, 0.5, 0.7 against 0.3, 0.4, 0.9: 2 + 2 + 2 of 9.
  REQUIRE(r.screening.has_value());
  CHECK(r.screening->positives == 3);
  CHECK(r.screening->negatives == 3);
  CHECK(r.screening->sensitivity == doctest::Approx(2.0 / 3.0));
  CHECK(r.screening->specificity == doctest::Approx(2.0 / 3.0));
  CHECK(r.screening->accuracy == doctest::Approx(4.0 / 6.0));
  CHECK(r.screening->auc.value() == doctest::Approx(2.0 / 3.0));

  REQUIRE(r.accuracy_ci.has_value());
  REQUIRE(r.auc_macro_ci.has_value());
}

TEST_CASE("evaluation: screening is absent unless the negative classes split the labels") {
  Options o = six_options();
  o.negative = {};
  CHECK_FALSE(evaluate(six(), o).screening.has_value());
  o.negative = {0, 1, 2};
  CHECK_FALSE(evaluate(six(), o).screening.has_value());
  o.negative = {0, 0};  // a repeated index is the same set as {0}
  CHECK(evaluate(six(), o).screening.value().negatives == 3);

  // Normal = classes 0 and 1: the abnormal image is row 4 (covid), which is not flagged since
  // nothing is predicted as covid: sensitivity 0, specificity 1.
  o.negative = {0, 1};
  const Screening s = evaluate(six(), o).screening.value();
  CHECK(s.positives == 1);
  CHECK(s.negatives == 5);
  CHECK(s.sensitivity == 0.0);
  CHECK(s.specificity == 1.0);
  CHECK(s.accuracy == doctest::Approx(5.0 / 6.0));
}

TEST_CASE("evaluation: a class without images and a single-class set") {
  // Three labels, no image of class 2.
  //   row  probabilities    truth  predicted
  //   0    0.8 0.1 0.1      0      0
  //   1    0.3 0.6 0.1      0      1
  //   2    0.4 0.5 0.1      1      1
  //   3    0.2 0.7 0.1      1      1
  Options o;
  o.labels = {"a", "b", "c"};
  o.bootstrap_rounds = 0;
  const Predictions p{
      {{0.8f, 0.1f, 0.1f}, {0.3f, 0.6f, 0.1f}, {0.4f, 0.5f, 0.1f}, {0.2f, 0.7f, 0.1f}},
      {0, 0, 1, 1}};
  const Report r = evaluate(p, o);
  // a: 0.8, 0.3 against 0.4, 0.2: 2 + 1 of 4. b: 0.5, 0.7 against 0.1, 0.6: 1 + 2 of 4.
  CHECK(r.per_class[0].auc.value() == doctest::Approx(0.75));
  CHECK(r.per_class[1].auc.value() == doctest::Approx(0.75));
  CHECK_FALSE(r.per_class[2].auc.has_value());
  CHECK(r.roc[2].empty());
  CHECK(r.auc_macro.value() == doctest::Approx(0.75));  // the mean of the defined ones
  CHECK(r.per_class[2].support == 0);
  CHECK(r.per_class[2].recall == 0.0);
  CHECK(r.per_class[2].precision == 0.0);
  // Balanced accuracy over the classes with images: (1/2 + 1) / 2. Macro F1 over all three:
  // a: P 1, R 1/2, F1 2/3; b: P 2/3, R 1, F1 4/5; c: 0. (2/3 + 4/5) / 3 = 22/45.
  CHECK(r.balanced_accuracy == doctest::Approx(0.75));
  CHECK(r.macro_f1 == doctest::Approx(22.0 / 45.0));
  CHECK_FALSE(r.accuracy_ci.has_value());  // no bootstrap rounds
  CHECK_FALSE(r.auc_macro_ci.has_value());

  // Every image of one class: no AUC is defined, so neither is the macro AUC or its interval;
  // the accuracy interval still is.
  Options two;
  two.labels = {"normal", "abnormal"};
  two.negative = {0};
  two.bootstrap_rounds = 100;
  const Predictions one_class{{{0.9f, 0.1f}, {0.4f, 0.6f}, {0.7f, 0.3f}}, {0, 0, 0}};
  const Report single = evaluate(one_class, two);
  CHECK_FALSE(single.per_class[0].auc.has_value());
  CHECK_FALSE(single.per_class[1].auc.has_value());
  CHECK_FALSE(single.auc_macro.has_value());
  CHECK(single.roc[0].empty());
  CHECK(single.roc[1].empty());
  CHECK_FALSE(single.auc_macro_ci.has_value());
  REQUIRE(single.accuracy_ci.has_value());
  CHECK(single.balanced_accuracy == doctest::Approx(2.0 / 3.0));  // recall of "normal" alone
  REQUIRE(single.screening.has_value());
  CHECK(single.screening->positives == 0);
  CHECK(single.screening->sensitivity == 0.0);  // no abnormal images
  CHECK(single.screening->specificity == doctest::Approx(2.0 / 3.0));
  CHECK_FALSE(single.screening->auc.has_value());

  // A single image: no interval (n < 2).
  const Report lone = evaluate(Predictions{{{0.2f, 0.8f}}, {1}}, two);
  CHECK(lone.accuracy == 1.0);
  CHECK_FALSE(lone.accuracy_ci.has_value());
}

TEST_CASE("evaluation: expected_calibration_error by hand") {
  //   probabilities       truth  confidence  right
  //   0.9  0.05 0.05      0      0.9         yes
  //   1.0  0    0         2      1.0         no   (1.0 belongs to the last bin)
  //   0.2  0.7  0.1       1      0.7         yes
  //   0.4  0.35 0.25      1      0.4         no
  const Predictions p{
      {{0.9f, 0.05f, 0.05f}, {1.0f, 0.0f, 0.0f}, {0.2f, 0.7f, 0.1f}, {0.4f, 0.35f, 0.25f}},
      {0, 2, 1, 1}};
  // 2 bins: [0, 0.5) holds 0.4 (wrong): 1/4 * 0.4 = 0.1; [0.5, 1] holds 0.9, 1.0, 0.7, 2 of 3
  // right: 3/4 * |2/3 - 2.6/3| = 3/4 * 0.2 = 0.15. Total 0.25.
  CHECK(expected_calibration_error(p, 2) == doctest::Approx(0.25).epsilon(1e-6));
  // 4 bins: 0.4 in [0.25, 0.5): 0.1; 0.7 in [0.5, 0.75), right: 1/4 * 0.3 = 0.075; 0.9 and 1.0 in
  // [0.75, 1], one right: 2/4 * |0.5 - 0.95| = 0.225. Total 0.4.
  CHECK(expected_calibration_error(p, 4) == doctest::Approx(0.4).epsilon(1e-6));
  // 1 bin: mean confidence 0.75, accuracy 0.5.
  CHECK(expected_calibration_error(p, 1) == doctest::Approx(0.25).epsilon(1e-6));

  // Perfect calibration: confidence 0.5 and half of them right.
  const Predictions half{{{0.5f, 0.5f}, {0.5f, 0.5f}}, {0, 1}};
  CHECK(expected_calibration_error(half, 10) == doctest::Approx(0.0));

  check_error([&] { expected_calibration_error(p, 0); }, ErrorKind::invalid_input, "bin count");
  check_error([] { expected_calibration_error(Predictions{}, 10); }, ErrorKind::invalid_input,
              "no predictions");
}

TEST_CASE("evaluation: bootstrap intervals are seeded and hold the point estimate") {
  // 200 images of 3 classes: the true class gets a boost, so accuracy and AUC are moderate.
  Predictions p;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    const int t = i % 3;
    std::vector<float> row{static_cast<float>(uniform(rng)), static_cast<float>(uniform(rng)),
                           static_cast<float>(uniform(rng))};
    row[static_cast<std::size_t>(t)] += 0.4f;
    const float sum = row[0] + row[1] + row[2];
    for (float& v : row) {
      v /= sum;
    }
    p.probabilities.push_back(row);
    p.truth.push_back(t);
  }
  Options o;
  o.labels = {"a", "b", "c"};
  o.bootstrap_rounds = 500;
  o.seed = 1234;
  const Report first = evaluate(p, o);
  const Report again = evaluate(p, o);
  REQUIRE(first.accuracy_ci.has_value());
  REQUIRE(first.auc_macro_ci.has_value());
  CHECK(first.accuracy_ci->low == again.accuracy_ci->low);
  CHECK(first.accuracy_ci->high == again.accuracy_ci->high);
  CHECK(first.auc_macro_ci->low == again.auc_macro_ci->low);
  CHECK(first.auc_macro_ci->high == again.auc_macro_ci->high);

  CHECK(first.accuracy_ci->low < first.accuracy);
  CHECK(first.accuracy < first.accuracy_ci->high);
  CHECK(first.auc_macro_ci->low < first.auc_macro.value());
  CHECK(first.auc_macro.value() < first.auc_macro_ci->high);
  CHECK(first.accuracy_ci->low >= 0.0);
  CHECK(first.accuracy_ci->high <= 1.0);
  // About +-1.96 sqrt(p (1 - p) / n) around p: a width of the order of 0.13 for n = 200.
  CHECK(first.accuracy_ci->high - first.accuracy_ci->low > 0.05);
  CHECK(first.accuracy_ci->high - first.accuracy_ci->low < 0.25);

  // Another seed resamples differently; the point estimates do not change.
  o.seed = 99;
  const Report other = evaluate(p, o);
  CHECK(other.accuracy == first.accuracy);
  CHECK((other.accuracy_ci->low != first.accuracy_ci->low ||
         other.accuracy_ci->high != first.accuracy_ci->high ||
         other.auc_macro_ci->low != first.auc_macro_ci->low ||
         other.auc_macro_ci->high != first.auc_macro_ci->high));
}

TEST_CASE("evaluation: softmax is stable and follows the temperature") {
  const std::vector<float> p = softmax(std::vector<float>{1.0f, 2.0f, 3.0f});
  const double sum = std::exp(-2.0) + std::exp(-1.0) + 1.0;
  REQUIRE(p.size() == 3u);
  CHECK(p[0] == doctest::Approx(std::exp(-2.0) / sum));
  CHECK(p[1] == doctest::Approx(std::exp(-1.0) / sum));
  CHECK(p[2] == doctest::Approx(1.0 / sum));

  // T = 2 halves the logits.
  const std::vector<float> hot = softmax(std::vector<float>{0.0f, 2.0f}, 2.0);
  CHECK(hot[1] == doctest::Approx(std::exp(1.0) / (1.0 + std::exp(1.0))));

  // Large logits do not overflow.
  const std::vector<float> big = softmax(std::vector<float>{1000.0f, 1000.0f, -1000.0f});
  CHECK(big[0] == doctest::Approx(0.5));
  CHECK(big[1] == doctest::Approx(0.5));
  CHECK(big[2] == 0.0f);

  CHECK(softmax(std::vector<float>{}).empty());
  check_error([] { softmax(std::vector<float>{1.0f}, 0.0); }, ErrorKind::invalid_input,
              "temperature");
  check_error([] { softmax(std::vector<float>{1.0f}, -1.0); }, ErrorKind::invalid_input,
              "temperature");
}

TEST_CASE("evaluation: fit_temperature recovers a known temperature") {
  const Synthetic s = synthetic(3000, 3, 2024);
  // Labels drawn from softmax(z): the calibrated temperature of z is 1, that of 3 z is 3 and
  // that of z / 2 is 1/2 (up to sampling noise).
  const double t1 = fit_temperature(s.logits, s.truth);
  CHECK(t1 == doctest::Approx(1.0).epsilon(0.15));
  const double t3 = fit_temperature(scaled(s.logits, 3.0f), s.truth);
  CHECK(t3 == doctest::Approx(3.0).epsilon(0.15));
  const double t_half = fit_temperature(scaled(s.logits, 0.5f), s.truth);
  CHECK(t_half == doctest::Approx(0.5).epsilon(0.15));
  // Scaling the logits scales the fitted temperature by the same factor (up to the search's
  // precision).
  CHECK(t3 / t1 == doctest::Approx(3.0).epsilon(1e-4));

  // The fitted temperature is at least as good as its neighbours and T = 1.
  Synthetic hot = s;
  hot.logits = scaled(s.logits, 3.0f);
  const double fitted = nll(hot, t3);
  CHECK(fitted <= nll(hot, 1.0));
  CHECK(fitted <= nll(hot, 2.0 * t3));
  CHECK(fitted <= nll(hot, 0.5 * t3));
  CHECK(fitted <= nll(hot, 1.01 * t3) + 1e-12);
  CHECK(fitted <= nll(hot, 0.99 * t3) + 1e-12);
}

TEST_CASE("evaluation: fit_temperature edge cases and errors") {
  CHECK(fit_temperature({}, std::vector<int>{}) == 1.0);
  // Uniform rows carry no information: T = 1.
  CHECK(fit_temperature({{0.0f, 0.0f}, {3.0f, 3.0f}}, std::vector<int>{0, 1}) == 1.0);
  // Every image right with a margin: the NLL falls as T falls, so the lower bound wins.
  CHECK(fit_temperature({{5.0f, 0.0f}, {0.0f, 4.0f}}, std::vector<int>{0, 1}) ==
        doctest::Approx(0.05));
  // Every image confidently wrong: the NLL falls as T grows, so the upper bound wins.
  CHECK(fit_temperature({{5.0f, 0.0f}, {0.0f, 4.0f}}, std::vector<int>{1, 0}) ==
        doctest::Approx(20.0));

  check_error(
      [] {
        fit_temperature({{1.0f, 2.0f}}, std::vector<int>{0, 1});
      },
      ErrorKind::invalid_input, "1 logit rows but 2 true labels");
  check_error(
      [] {
        fit_temperature({{1.0f, 2.0f}, {1.0f}}, std::vector<int>{0, 0});
      },
      ErrorKind::invalid_input, "row 1 has 1 logits, not 2");
  check_error(
      [] {
        fit_temperature({{1.0f, 2.0f}}, std::vector<int>{2});
      },
      ErrorKind::invalid_input, "not a class index");
  check_error(
      [] {
        fit_temperature({{1.0f, INFINITY}}, std::vector<int>{0});
      },
      ErrorKind::invalid_input, "not finite");
  check_error([] { fit_temperature(std::vector<std::vector<float>>(1), std::vector<int>{0}); },
              ErrorKind::invalid_input, "no logits");
}

TEST_CASE("evaluation: evaluate refuses inconsistent input") {
  const Options o = six_options();
  Options one_label = o;
  one_label.labels = {"only"};
  check_error([&] { evaluate(six(), one_label); }, ErrorKind::invalid_input,
              "at least 2 class labels");
  check_error([&] { evaluate(Predictions{}, o); }, ErrorKind::invalid_input, "no predictions");

  Predictions short_row = six();
  short_row.probabilities[3] = {0.5f, 0.5f};
  check_error([&] { evaluate(short_row, o); }, ErrorKind::invalid_input,
              "row 3 has 2 probabilities, not 3");

  Predictions fewer_labels = six();
  fewer_labels.truth.pop_back();
  check_error([&] { evaluate(fewer_labels, o); }, ErrorKind::invalid_input,
              "6 probability rows but 5 true labels");

  Predictions out_of_range = six();
  out_of_range.truth[2] = 3;
  check_error([&] { evaluate(out_of_range, o); }, ErrorKind::invalid_input, "not a class index");
  out_of_range.truth[2] = -1;
  check_error([&] { evaluate(out_of_range, o); }, ErrorKind::invalid_input, "not a class index");

  Predictions not_finite = six();
  not_finite.probabilities[1][2] = NAN;
  check_error([&] { evaluate(not_finite, o); }, ErrorKind::invalid_input, "not finite");
  not_finite.probabilities[1][2] = INFINITY;
  check_error([&] { evaluate(not_finite, o); }, ErrorKind::invalid_input, "not finite");

  Options bad_negative = o;
  bad_negative.negative = {5};
  check_error([&] { evaluate(six(), bad_negative); }, ErrorKind::invalid_input, "negative class 5");
  Options no_bins = o;
  no_bins.bins = 0;
  check_error([&] { evaluate(six(), no_bins); }, ErrorKind::invalid_input, "bin count");
  Options bad_rounds = o;
  bad_rounds.bootstrap_rounds = -1;
  check_error([&] { evaluate(six(), bad_rounds); }, ErrorKind::invalid_input, "bootstrap");
}
