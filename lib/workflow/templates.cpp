#include "workflow/templates.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace csss::workflow {

namespace {

bool is_name(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// The {field} names of `text`, in order; throws on an unclosed brace.
std::vector<std::string> placeholders(const std::string& text, const std::string& where) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{')
      continue;
    const auto end = text.find('}', i);
    if (end == std::string::npos)
      throw Error(ErrorKind::invalid_input,
                  fmt::format("{}: '{{' without '}}' in the text", where));
    out.push_back(text.substr(i + 1, end - i - 1));
    i = end;
  }
  return out;
}

}  // namespace

std::vector<Template> load_templates(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    throw Error(ErrorKind::not_found, fmt::format("prescription templates {} do not exist (setting "
                                                  "prescription.templates)",
                                                  file.string()));
  }
  YAML::Node root;
  try {
    root = YAML::Load(util::read_file(file, 1 << 20));
  } catch (const YAML::Exception& e) {
    throw Error(ErrorKind::invalid_input, fmt::format("prescription templates {}: line {}: {}",
                                                      file.string(), e.mark.line + 1, e.msg));
  }
  if (!root.IsMap() || !root["templates"] || !root["templates"].IsMap()) {
    throw Error(
        ErrorKind::invalid_input,
        fmt::format("prescription templates {}: expected a 'templates' mapping", file.string()));
  }
  std::vector<Template> out;
  for (const auto& item : root["templates"]) {
    Template t;
    t.name = item.first.as<std::string>();
    const std::string where =
        fmt::format("prescription templates {}: template '{}'", file.string(), t.name);
    if (!is_name(t.name)) {
      throw Error(ErrorKind::invalid_input,
                  where + ": names are 1-64 characters of a-z, 0-9, '_' and '-'");
    }
    const YAML::Node n = item.second;
    try {
      if (!n.IsMap() || !n["text"])
        throw Error(ErrorKind::invalid_input, where + ": needs a 'text'");
      t.text = n["text"].as<std::string>();
      t.description = n["description"] ? n["description"].as<std::string>() : "";
      if (n["diagnosis"]) {
        for (const auto& d : n["diagnosis"])
          t.diagnoses.push_back(d.as<std::string>());
      }
      if (n["fields"]) {
        for (const auto& f : n["fields"]) {
          const std::string key = f.first.as<std::string>();
          if (f.second.IsNull())
            t.fields[key] = std::nullopt;
          else
            t.fields[key] = f.second.as<std::string>();
        }
      }
    } catch (const YAML::Exception&) {
      throw Error(ErrorKind::invalid_input, where +
                                                ": malformed (text, description and field "
                                                "values are text; diagnosis is a list)");
    }
    for (const std::string& p : placeholders(t.text, where)) {
      if (!t.fields.count(p)) {
        throw Error(
            ErrorKind::invalid_input,
            fmt::format("{}: the text uses {{{}}}, which 'fields' does not declare", where, p));
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

const Template& find_template(const std::vector<Template>& all, const std::string& name) {
  for (const Template& t : all) {
    if (t.name == name)
      return t;
  }
  std::vector<std::string> names;
  for (const Template& t : all)
    names.push_back(t.name);
  throw Error(ErrorKind::invalid_input,
              fmt::format("unknown prescription template '{}'; the templates are: {}", name,
                          names.empty() ? std::string("none") : util::join(names, ", ")));
}

std::string render(const Template& t, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values) {
    if (!t.fields.count(key)) {
      std::vector<std::string> known;
      for (const auto& [k, v] : t.fields)
        known.push_back(k);
      throw Error(ErrorKind::invalid_input,
                  fmt::format("template '{}' has no field '{}'; its fields are: {}", t.name, key,
                              known.empty() ? std::string("none") : util::join(known, ", ")));
    }
  }
  std::string out;
  for (std::size_t i = 0; i < t.text.size(); ++i) {
    if (t.text[i] != '{') {
      out += t.text[i];
      continue;
    }
    const auto end = t.text.find('}', i);
    const std::string key = t.text.substr(i + 1, end - i - 1);
    const auto given = values.find(key);
    if (given != values.end()) {
      out += given->second;
    } else if (t.fields.at(key)) {
      out += *t.fields.at(key);
    } else {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("template '{}' needs --set {}=VALUE", t.name, key));
    }
    i = end;
  }
  return out;
}

}  // namespace csss::workflow
