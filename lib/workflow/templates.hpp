#pragma once

// Prescription templates for quick fill (`csss prescribe --template NAME --set KEY=VALUE`), read
// from a YAML file (setting prescription.templates; examples/prescription-templates.yaml):
//
//   templates:
//     amoxicillin-oral:
//       description: Oral amoxicillin course
//       diagnosis: [bacterial_pneumonia]      # the diagnoses it is offered for; [] for any
//       text: "Amoxicillin {dose_mg} mg by mouth {times} times a day for {days} days."
//       fields: {dose_mg: null, times: "3", days: "5"}   # null: must be --set
//
// Every {field} of the text must be declared in `fields`; values are plain text.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace csss::workflow {

struct Template {
  std::string name;
  std::string description;
  std::vector<std::string> diagnoses;
  std::string text;
  std::map<std::string, std::optional<std::string>> fields;  // nullopt: no default
};

// Reads the template file. Throws Error(not_found) when it does not exist, Error(invalid_input)
// naming the file, template and key for a malformed one (an undeclared {field}, a bad name).
std::vector<Template> load_templates(const std::filesystem::path& file);

// The text with every {field} replaced: `values` override the defaults. Throws
// Error(invalid_input) naming the field for a value given for a field the template does not
// have, and for a field without a default that is not given.
std::string render(const Template& t, const std::map<std::string, std::string>& values);

// The template called `name`. Throws Error(invalid_input) listing the names when there is none.
const Template& find_template(const std::vector<Template>& all, const std::string& name);

}  // namespace csss::workflow
