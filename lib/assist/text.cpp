#include "assist/text.hpp"

#include <algorithm>
#include <iterator>

namespace csss::assist {

namespace {

bool is_word_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || u >= 0x80;
}

bool is_joiner(char c) {
  return c == '-' || c == '_';
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_vowel(char c) {
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

bool has_vowel(std::string_view s) {
  return std::any_of(s.begin(), s.end(), is_vowel);
}

// "runn" -> "run", "stopp" -> "stop"; "call", "pass" and "buzz" keep their double letter.
void undouble(std::string& w) {
  const std::size_t n = w.size();
  if (n >= 3 && w[n - 1] == w[n - 2] && !is_vowel(w[n - 1]) && w[n - 1] != 'l' && w[n - 1] != 's' &&
      w[n - 1] != 'z') {
    w.pop_back();
  }
}

// Sorted, for binary search.
constexpr std::string_view kStopwords[] = {
    "a",     "about",  "am",    "an",   "and",  "any",   "are",   "as",   "at",    "be",
    "been",  "being",  "but",   "by",   "can",  "could", "csss",  "did",  "do",    "does",
    "doing", "done",   "for",   "from", "get",  "had",   "has",   "have", "here",  "how",
    "i",     "if",     "in",    "into", "is",   "it",    "its",   "just", "let",   "me",
    "might", "must",   "my",    "need", "not",  "of",    "on",    "or",   "our",   "please",
    "shall", "should", "so",    "some", "tell", "than",  "that",  "the",  "their", "them",
    "then",  "there",  "these", "they", "this", "those", "to",    "us",   "want",  "was",
    "way",   "we",     "were",  "what", "when", "where", "which", "who",  "why",   "will",
    "with",  "would",  "you",   "your",
};
static_assert(std::is_sorted(std::begin(kStopwords), std::end(kStopwords)));

}  // namespace

std::vector<std::string> tokenize(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_word_char(text[i])) {
      ++i;
      continue;
    }
    // A chunk: words joined by single '-' or '_' ("grad-cam", "pending_ai").
    std::vector<std::string> parts;
    for (;;) {
      std::string word;
      while (i < text.size() && is_word_char(text[i]))
        word.push_back(lower(text[i++]));
      parts.push_back(std::move(word));
      if (i + 1 < text.size() && is_joiner(text[i]) && is_word_char(text[i + 1])) {
        ++i;
        continue;
      }
      break;
    }
    std::string joined;
    for (const std::string& p : parts) {
      joined += p;
      if (p.size() > 1)
        out.push_back(p);
    }
    if (parts.size() > 1)
      out.push_back(std::move(joined));
  }
  return out;
}

std::string stem(std::string_view word) {
  std::string w(word);
  const bool letters_only =
      std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  if (w.size() <= 3 || !letters_only || w.ends_with("ss") || w.ends_with("us") ||
      w.ends_with("is")) {
    return w;
  }
  // Plurals.
  if (w.ends_with("ies") && w.size() > 4) {
    w.replace(w.size() - 3, 3, "y");
  } else if (w.ends_with("sses") || w.ends_with("ches") || w.ends_with("shes") ||
             w.ends_with("xes") || w.ends_with("zes")) {
    w.resize(w.size() - 2);
  } else if (w.ends_with("s") && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is")) {
    w.pop_back();
  }
  // Verb forms.
  if (w.ends_with("ied") && w.size() > 4) {
    w.replace(w.size() - 3, 3, "y");
  } else if (w.ends_with("ing") && w.size() >= 6 &&
             has_vowel(std::string_view(w).substr(0, w.size() - 3))) {
    w.resize(w.size() - 3);
    undouble(w);
  } else if (w.ends_with("ed") && w.size() >= 5 &&
             has_vowel(std::string_view(w).substr(0, w.size() - 2))) {
    w.resize(w.size() - 2);
    undouble(w);
  }
  // A silent final "e": "code" and "coded" both give "cod".
  if (w.size() > 3 && w.back() == 'e')
    w.pop_back();
  return w;
}

bool is_stopword(std::string_view word) {
  return std::binary_search(std::begin(kStopwords), std::end(kStopwords), word);
}

std::vector<std::string> terms(std::string_view text) {
  std::vector<std::string> out;
  for (const std::string& word : tokenize(text)) {
    if (!is_stopword(word))
      out.push_back(stem(word));
  }
  return out;
}

}  // namespace csss::assist
