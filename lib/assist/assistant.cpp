#include "assist/assistant.hpp"

#include "assist/text.hpp"

namespace csss::assist {

namespace {

std::vector<std::string> terms_of_all(const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  for (const std::string& t : texts) {
    for (std::string& term : terms(t))
      out.push_back(std::move(term));
  }
  return out;
}

Bm25Index build_index(const KnowledgeBase& kb, const AssistOptions& o) {
  std::vector<std::vector<std::vector<std::string>>> docs;
  for (const Entry& e : kb.entries) {
    docs.push_back(
        {terms(e.title), terms_of_all(e.questions), terms_of_all(e.keywords), terms(e.answer)});
  }
  return Bm25Index(std::move(docs),
                   {o.title_weight, o.questions_weight, o.keywords_weight, o.answer_weight});
}

}  // namespace

Assistant::Assistant(KnowledgeBase kb, AssistOptions options)
    : kb_(std::move(kb)),
      options_(options),
      index_(build_index(kb_, options_)),
      min_score_(options_.threshold * index_.max_idf()) {}

std::vector<Match> Assistant::rank(std::string_view question) const {
  // Two neighbouring words that the knowledge base writes as one ("log in", "grad cam",
  // "pass word") also count as that word.
  std::vector<std::string> query = terms(question);
  const std::vector<std::string> words = tokenize(question);
  for (std::size_t i = 0; i + 1 < words.size(); ++i) {
    std::string joined = stem(words[i] + words[i + 1]);
    if (index_.in_vocabulary(joined))
      query.push_back(std::move(joined));
  }
  std::vector<Match> out;
  for (const Hit& hit : index_.rank(index_.expand(query)))
    out.push_back({&kb_.entries[hit.doc], hit.score, index_.coverage(hit.doc, query)});
  return out;
}

Reply Assistant::ask(std::string_view question) const {
  const std::vector<Match> ranked = rank(question);
  Reply reply;
  if (ranked.empty())
    return reply;
  // Erring on the side of refusing: a question whose medical words lead, but with words the
  // knowledge base does not know ("what does viral pneumonia mean?"), needs only the score.
  if (ranked.front().entry->refusal && ranked.front().score >= min_score_) {
    reply.kind = ReplyKind::refusal;
    reply.matches.push_back(ranked.front());
    return reply;
  }
  if (!good_enough(ranked.front()))
    return reply;
  reply.kind = ReplyKind::answer;
  reply.matches.push_back(ranked.front());
  for (std::size_t i = 1; i < ranked.size() && reply.matches.size() <= options_.see_also; ++i) {
    if (ranked[i].score < min_score_)
      break;
    if (!ranked[i].entry->refusal && good_enough(ranked[i]))
      reply.matches.push_back(ranked[i]);
  }
  return reply;
}

std::vector<const Entry*> Assistant::topics() const {
  std::vector<const Entry*> out;
  for (const Entry& e : kb_.entries) {
    if (!e.refusal)
      out.push_back(&e);
  }
  return out;
}

}  // namespace csss::assist
