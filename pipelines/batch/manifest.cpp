#include "batch/manifest.hpp"

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

namespace csss::pipelines::batch {

namespace {

constexpr std::size_t kMaxManifestBytes = std::size_t{256} << 20;

// One CSV record from `text` at `pos` (which moves past it); false with `error` set when a quote
// is left open.
bool next_record(const std::string& text, std::size_t& pos, std::vector<std::string>& fields,
                 std::string& error) {
  fields.assign(1, "");
  bool quoted = false;
  bool was_quoted = false;
  while (pos < text.size()) {
    const char c = text[pos++];
    if (quoted) {
      if (c == '"') {
        if (pos < text.size() && text[pos] == '"') {
          fields.back().push_back('"');
          ++pos;
        } else {
          quoted = false;
        }
      } else {
        fields.back().push_back(c);
      }
      continue;
    }
    if (c == '"' && fields.back().empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
      was_quoted = false;
    } else if (c == '\n') {
      break;
    } else if (c == '\r') {
      if (pos < text.size() && text[pos] == '\n')
        ++pos;
      break;
    } else {
      fields.back().push_back(c);
    }
  }
  if (quoted) {
    error = "a quoted field is not closed";
    return false;
  }
  return true;
}

}  // namespace

std::string manifest_key(const std::filesystem::path& relative) {
  return relative.lexically_normal().generic_string();
}

Manifest read_manifest(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw Error(ErrorKind::not_found, fmt::format("manifest {}: no such file", path.string()));
  const std::string text = util::read_file(path, kMaxManifestBytes);
  Manifest m;
  std::size_t pos = 0;
  int line = 0;
  int good_lines = 0;
  std::vector<std::string> fields;
  while (pos < text.size()) {
    ++line;
    std::string error;
    const std::size_t start = pos;
    if (!next_record(text, pos, fields, error)) {
      m.problems.push_back(fmt::format("manifest line {}: {}", line, error));
      break;
    }
    // Lines inside quoted fields count too, so that line numbers match an editor's.
    for (std::size_t i = start; i < pos && i < text.size(); ++i) {
      if (text[i] == '\n' && i + 1 < pos)
        ++line;
    }
    if (fields.size() == 1 && util::trim(fields[0]).empty())
      continue;  // an empty line
    for (std::string& f : fields)
      f = util::trim(f);
    if (line == 1 && fields[0] == "file")
      continue;  // the header
    const auto problem = [&](const std::string& what) {
      m.problems.push_back(fmt::format("manifest line {}: {}", line, what));
    };
    bool ok = true;
    for (const std::string& f : fields) {
      if (!util::is_valid_utf8(f) || util::has_control_chars(f)) {
        problem("not UTF-8 text");
        ok = false;
        break;
      }
    }
    if (!ok)
      continue;
    if (fields.size() < 2 || fields.size() > 5) {
      problem(fmt::format("{} fields; expected file,patient_id[,name,email,birth_date]",
                          fields.size()));
      continue;
    }
    ManifestRow row;
    row.line = line;
    row.file = fields[0];
    row.patient_id = fields[1];
    if (fields.size() > 2)
      row.name = fields[2];
    if (fields.size() > 3)
      row.email = util::to_lower(fields[3]);
    if (fields.size() > 4)
      row.birth_date = fields[4];
    if (row.file.empty() || row.patient_id.empty()) {
      problem("the file and the patient ID must not be empty");
      continue;
    }
    const std::filesystem::path rel(row.file);
    if (rel.is_absolute() || manifest_key(rel).starts_with("../")) {
      problem(fmt::format("'{}' is not a path inside the imported directory", row.file));
      continue;
    }
    if (row.patient_id.size() > 64) {
      problem("the patient ID is longer than 64 characters");
      continue;
    }
    if (!row.birth_date.empty() &&
        (row.birth_date.size() != 10 || !util::parse_utc(row.birth_date))) {
      problem(fmt::format("date of birth '{}' is not a date (YYYY-MM-DD)", row.birth_date));
      continue;
    }
    if (!row.email.empty() && row.email.find('@') == std::string::npos) {
      problem(fmt::format("'{}' is not an email address", row.email));
      continue;
    }
    const std::string key = manifest_key(rel);
    if (const auto it = m.rows.find(key); it != m.rows.end()) {
      problem(fmt::format("'{}' is named already on line {}", row.file, it->second.line));
      continue;
    }
    m.rows.emplace(key, std::move(row));
    ++good_lines;
  }
  if (good_lines == 0 && m.problems.size() == static_cast<std::size_t>(line) && line > 0 &&
      text.find(',') == std::string::npos) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("manifest {}: not a CSV file (file,patient_id[,name,email,"
                            "birth_date])",
                            path.string()));
  }
  return m;
}

}  // namespace csss::pipelines::batch
