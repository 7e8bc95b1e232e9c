#pragma once

// Ranked retrieval for the help assistant: Okapi BM25 over documents made of weighted fields
// (a title counts more than the body; the BM25F simplification of Robertson, Zaragoza and Taylor
// 2004: a term's frequency and a document's length are sums of the fields' counts times their
// weights), with typo tolerance for query terms that no document contains.
//
// For a query term t and document d:
//   idf(t)     = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))   N documents, n(t) of them contain t
//   tf(t, d)   = sum over fields f of weight(f) * count of t in f
//   len(d)     = sum over fields f of weight(f) * number of terms in f;  avglen = mean of len
//   score(t,d) = idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avglen))
// and score(q, d) is the sum over the distinct terms of q, each times its weight (1, or less for
// a typo correction; see expand()).

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace csss::assist {

struct Bm25Params {
  double k1 = 1.2;
  double b = 0.75;
};

// A query term and how much it counts: 1 for a term as asked, less for a vocabulary term that
// stands for a misspelt one.
struct WeightedTerm {
  std::string term;
  double weight = 1.0;
};

struct Hit {
  std::size_t doc = 0;
  double score = 0.0;
};

// The edit distance (util::edit_distance: insertions, deletions, substitutions, swaps) within
// which a query term of `length` characters that is not in the vocabulary is taken for a
// vocabulary term: 0 up to 3 characters, 1 up to 6, 2 from 7 on.
std::size_t typo_allowance(std::size_t length);

// The weight of a correction at edit distance `distance`: 1 - 0.25 * distance (0.75, 0.5).
double typo_weight(std::size_t distance);

class Bm25Index {
 public:
  // docs[d][f]: the terms of field f of document d (every document has field_weights.size()
  // fields).
  Bm25Index(std::vector<std::vector<std::vector<std::string>>> docs,
            std::vector<double> field_weights, Bm25Params params = {});

  std::size_t size() const { return lengths_.size(); }
  double idf(const std::string& term) const;
  // The idf of a term no document contains, the largest there is: ln(1 + (N + 0.5) / 0.5).
  double max_idf() const;
  // The weighted frequency of `term` in document `doc`, and the document's weighted length.
  double frequency(std::size_t doc, const std::string& term) const;
  double length(std::size_t doc) const { return lengths_.at(doc); }
  double average_length() const { return average_length_; }
  bool in_vocabulary(const std::string& term) const { return postings_.count(term) > 0; }

  // The query terms to score: each distinct term of `query` that some document contains, with
  // weight 1; for one that none contains, the vocabulary terms at the smallest edit distance
  // within typo_allowance(), with typo_weight(); nothing for one with no such term.
  std::vector<WeightedTerm> expand(const std::vector<std::string>& query) const;

  double score(std::size_t doc, const std::vector<WeightedTerm>& query) const;

  // How much of what `query` asks document `doc` matches, from 0 to 1: the sum over the distinct
  // terms of `query` that `doc` contains (or a correction of, as expand() makes them) of their
  // idf (the correction's, times its weight), divided by the sum of every distinct term's idf
  // (a term without a correction counts as one that no document contains). A document that
  // scores well on one common word of a question whose other words it lacks covers little.
  double coverage(std::size_t doc, const std::vector<std::string>& query) const;

  // The documents with a positive score, best first (equal scores: the earlier document first).
  std::vector<Hit> rank(const std::vector<WeightedTerm>& query) const;

 private:
  // The vocabulary terms that stand for `term`: itself with weight 1 when some document has it,
  // else the nearest ones within the typo allowance, else none.
  std::vector<WeightedTerm> corrections(const std::string& term) const;

  Bm25Params params_;
  // term -> (document -> weighted frequency)
  std::map<std::string, std::map<std::size_t, double>> postings_;
  std::vector<double> lengths_;
  double average_length_ = 0.0;
};

}  // namespace csss::assist
