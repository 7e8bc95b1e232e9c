#include "assist/search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "util/error.hpp"
#include "util/strings.hpp"

namespace csss::assist {

std::size_t typo_allowance(std::size_t length) {
  if (length <= 3)
    return 0;
  return length <= 6 ? 1 : 2;
}

double typo_weight(std::size_t distance) {
  return 1.0 - 0.25 * static_cast<double>(distance);
}

Bm25Index::Bm25Index(std::vector<std::vector<std::vector<std::string>>> docs,
                     std::vector<double> field_weights, Bm25Params params)
    : params_(params) {
  double total = 0.0;
  for (std::size_t d = 0; d < docs.size(); ++d) {
    if (docs[d].size() != field_weights.size())
      throw Error(ErrorKind::internal, "BM25: a document with the wrong number of fields");
    double length = 0.0;
    for (std::size_t f = 0; f < field_weights.size(); ++f) {
      for (const std::string& term : docs[d][f])
        postings_[term][d] += field_weights[f];
      length += field_weights[f] * static_cast<double>(docs[d][f].size());
    }
    lengths_.push_back(length);
    total += length;
  }
  average_length_ = docs.empty() ? 0.0 : total / static_cast<double>(docs.size());
}

double Bm25Index::idf(const std::string& term) const {
  const auto it = postings_.find(term);
  const double n = it == postings_.end() ? 0.0 : static_cast<double>(it->second.size());
  const auto total = static_cast<double>(size());
  return std::log(1.0 + (total - n + 0.5) / (n + 0.5));
}

double Bm25Index::max_idf() const {
  return std::log(1.0 + (static_cast<double>(size()) + 0.5) / 0.5);
}

double Bm25Index::frequency(std::size_t doc, const std::string& term) const {
  const auto it = postings_.find(term);
  if (it == postings_.end())
    return 0.0;
  const auto d = it->second.find(doc);
  return d == it->second.end() ? 0.0 : d->second;
}

std::vector<WeightedTerm> Bm25Index::corrections(const std::string& term) const {
  if (in_vocabulary(term))
    return {{term, 1.0}};
  const std::size_t allowance = typo_allowance(term.size());
  if (allowance == 0)
    return {};
  std::size_t best = std::numeric_limits<std::size_t>::max();
  std::vector<std::string> nearest;
  for (const auto& [candidate, docs] : postings_) {
    // Lengths that differ by more than the allowance cannot be within it.
    const std::size_t gap = candidate.size() > term.size() ? candidate.size() - term.size()
                                                           : term.size() - candidate.size();
    if (gap > allowance)
      continue;
    const std::size_t d = util::edit_distance(term, candidate);
    if (d > allowance || d > best)
      continue;
    if (d < best) {
      best = d;
      nearest.clear();
    }
    nearest.push_back(candidate);
  }
  std::vector<WeightedTerm> out;
  for (std::string& candidate : nearest)
    out.push_back({std::move(candidate), typo_weight(best)});
  return out;
}

std::vector<WeightedTerm> Bm25Index::expand(const std::vector<std::string>& query) const {
  std::vector<WeightedTerm> out;
  std::set<std::string> seen;
  for (const std::string& term : query) {
    if (!seen.insert(term).second)
      continue;
    for (WeightedTerm& c : corrections(term)) {
      const auto same = std::find_if(out.begin(), out.end(),
                                     [&](const WeightedTerm& w) { return w.term == c.term; });
      if (same == out.end())
        out.push_back(std::move(c));
      else
        same->weight = std::max(same->weight, c.weight);
    }
  }
  return out;
}

double Bm25Index::coverage(std::size_t doc, const std::vector<std::string>& query) const {
  double matched = 0.0;
  double total = 0.0;
  std::set<std::string> seen;
  for (const std::string& term : query) {
    if (!seen.insert(term).second)
      continue;
    const std::vector<WeightedTerm> candidates = corrections(term);
    if (candidates.empty()) {
      total += max_idf();  // no document has it
      continue;
    }
    double best_total = 0.0;
    double best_matched = 0.0;
    for (const WeightedTerm& c : candidates) {
      best_total = std::max(best_total, idf(c.term));
      if (frequency(doc, c.term) > 0.0)
        best_matched = std::max(best_matched, c.weight * idf(c.term));
    }
    total += best_total;
    matched += best_matched;
  }
  return total > 0.0 ? matched / total : 0.0;
}

double Bm25Index::score(std::size_t doc, const std::vector<WeightedTerm>& query) const {
  if (average_length_ <= 0.0)
    return 0.0;
  const double norm =
      params_.k1 * (1.0 - params_.b + params_.b * lengths_.at(doc) / average_length_);
  double total = 0.0;
  for (const WeightedTerm& q : query) {
    const double tf = frequency(doc, q.term);
    if (tf > 0.0)
      total += q.weight * idf(q.term) * tf * (params_.k1 + 1.0) / (tf + norm);
  }
  return total;
}

std::vector<Hit> Bm25Index::rank(const std::vector<WeightedTerm>& query) const {
  std::vector<Hit> hits;
  for (std::size_t d = 0; d < size(); ++d) {
    const double s = score(d, query);
    if (s > 0.0)
      hits.push_back({d, s});
  }
  std::stable_sort(hits.begin(), hits.end(),
                   [](const Hit& x, const Hit& y) { return x.score > y.score; });
  return hits;
}

}  // namespace csss::assist
