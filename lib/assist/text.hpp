#pragma once

// The words of the help assistant's retrieval (assist/search.hpp): questions and knowledge-base
// entries are both cut into terms the same way, so that "Uploading scans" and "upload a scan"
// meet at "upload" and "scan".

#include <string>
#include <string_view>
#include <vector>

namespace csss::assist {

// The words of `text`, lower-cased: runs of ASCII letters and digits, and of bytes above 0x7F
// (UTF-8 letters such as "ë" stay inside their word); everything else separates words. A word
// joined to the next by one '-', '_' or '/' ("Grad-CAM", "one-time") also gives the joined form
// after its parts ("grad", "cam", "gradcam"), so that "gradcam" and "grad cam" both find it.
std::vector<std::string> tokenize(std::string_view text);

// A light stemmer that strips common English endings so that word forms meet: plurals ("scans",
// "batches", "entries" -> "scan", "batch", "entry"), "-ing" and "-ed" ("uploading", "uploaded"
// -> "upload"), then a final silent "e" ("code", "coding" -> "cod"), and a doubled consonant
// left behind ("running" -> "run"). Words of three letters or fewer, and words ending in "ss",
// "us" or "is" ("access", "status", "diagnosis"), keep their endings.
std::string stem(std::string_view word);

// True for the small words that carry no topic ("how", "do", "i", "the", ...).
bool is_stopword(std::string_view word);

// The search terms of `text`: tokenize(), without stopwords, each stemmed.
std::vector<std::string> terms(std::string_view text);

}  // namespace csss::assist
