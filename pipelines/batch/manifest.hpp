#pragma once

// The CSV manifest of a batch import: which patient each file belongs to.
//   file,patient_id[,name,email,birth_date]
// `file` is relative to the imported directory. A first line starting with "file," is a header.
// Fields may be quoted as in RFC 4180 ("Doe, Jane"; "" is a quote).

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace csss::pipelines::batch {

struct ManifestRow {
  int line = 0;
  std::string file;
  std::string patient_id;
  std::string name;
  std::string email;
  std::string birth_date;
};

struct Manifest {
  std::map<std::string, ManifestRow> rows;  // by `file`, normalised ("a/./b.png" is "a/b.png")
  // Lines that could not be used, one reason each ("manifest line 7: ..."): the batch goes on.
  std::vector<std::string> problems;
};

// Reads and checks the manifest: the columns, a non-empty file and patient ID, a file named
// twice, a date of birth that is not YYYY-MM-DD, text that is not UTF-8. Throws Error(not_found)
// or Error(io) when the file cannot be read, Error(invalid_input) when it is not a CSV with at
// least the two columns.
Manifest read_manifest(const std::filesystem::path& path);

// The key of a path relative to the imported directory, as the manifest's rows are stored.
std::string manifest_key(const std::filesystem::path& relative);

}  // namespace csss::pipelines::batch
