#pragma once

// The help assistant behind `csss ask`: ranks the knowledge base's entries against a question
// with BM25 (assist/search.hpp) over each entry's title, example questions, keywords and answer,
// and decides what to say: the best entry (and a few related ones), the fixed refusal when the
// best entry is the knowledge base's refusal (a request for medical advice), or "I don't know"
// when nothing scores at least the threshold.

#include <cstddef>
#include <string_view>
#include <vector>

#include "assist/kb.hpp"
#include "assist/search.hpp"

namespace csss::assist {

struct AssistOptions {
  // What an answer needs, else the reply is "unknown": a BM25 score of at least `threshold`
  // times the largest idf of the knowledge base (that of a word no entry has, which grows with
  // the number of entries, as scores do: about 1.5 for the built-in one), and at least this
  // coverage (Bm25Index::coverage: the share of the question's information it matches). The refusal
  // needs only the score. Tuned on lib/assist/kb.yaml; tests/unit/test_assist.cpp holds the
  // questions it was tuned on.
  double threshold = 0.35;
  double min_coverage = 0.5;
  // At most this many further entries that also meet both ("See also").
  std::size_t see_also = 2;
  // Field weights: title, questions, keywords, answer.
  double title_weight = 3.0;
  double questions_weight = 2.0;
  double keywords_weight = 2.0;
  double answer_weight = 1.0;
};

enum class ReplyKind {
  answer,   // matches[0] answers; the rest are related entries
  refusal,  // matches holds the refusal entry alone
  unknown,  // matches is empty
};

struct Match {
  const Entry* entry = nullptr;
  double score = 0.0;
  double coverage = 0.0;
};

struct Reply {
  ReplyKind kind = ReplyKind::unknown;
  std::vector<Match> matches;
};

class Assistant {
 public:
  explicit Assistant(KnowledgeBase kb, AssistOptions options = {});
  Assistant(const Assistant&) = delete;
  Assistant& operator=(const Assistant&) = delete;

  Reply ask(std::string_view question) const;
  // The least score of an answer (AssistOptions::threshold).
  double min_score() const { return min_score_; }
  // Every entry with a positive score for `question`, best first. The query is terms(question),
  // plus the stem of two neighbouring words joined when the knowledge base has that word ("log
  // in": "login").
  std::vector<Match> rank(std::string_view question) const;
  // The entries that answer (not the refusal), in the knowledge base's order.
  std::vector<const Entry*> topics() const;
  const KnowledgeBase& knowledge_base() const { return kb_; }

 private:
  bool good_enough(const Match& m) const {
    return m.score >= min_score_ && m.coverage >= options_.min_coverage;
  }

  KnowledgeBase kb_;
  AssistOptions options_;
  Bm25Index index_;
  double min_score_;
};

}  // namespace csss::assist
