#pragma once

// Helpers shared by the black-box tests of csss upload, scans, model and analyze: sample scans
// from datasets/, PNG files written by the test, the shipped-models directory kept empty, and
// the test TorchScript model imported by an admin.

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "cli_fixture.hpp"
#include "imaging/image.hpp"

namespace csss::test {

inline fs::path datasets() {
  return fs::path(source_dir()) / "datasets";
}

// DCMTK's dicomdir test images: CR, CSPINE, patient 77654033, 16x16, about 2 kB each.
inline fs::path small_cr(int n = 1) {
  static const char* const kNames[] = {"dicomdir_77654033_CR1_6154.dcm",
                                       "dicomdir_77654033_CR2_6247.dcm",
                                       "dicomdir_77654033_CR3_6278.dcm"};
  return datasets() / "dicom" / kNames[(n - 1) % 3];
}

// A chest radiograph: CR, CHEST, 1024x1024.
inline fs::path chest_cr() {
  return datasets() / "dicom" / "chest_cr_rsna_monochrome2.dcm";
}

inline fs::path chest_jpeg() {
  return datasets() / "samples" / "chest-xray" / "normal" / "0.jpg";
}

// Writes a gray PNG (different bytes for each `seed`) to `path`; returns `path`.
inline fs::path write_png(const fs::path& path, int width = 24, int height = 16, int seed = 0) {
  imaging::Image img;
  img.width = width;
  img.height = height;
  img.channels = 1;
  for (int i = 0; i < width * height; ++i) {
    img.pixels.push_back(static_cast<std::uint8_t>((i * 5 + seed * 37) & 0xFF));
  }
  const auto png = imaging::encode_png(img);
  write_text(path, std::string(png.begin(), png.end()));
  return path;
}

// Copies `from` to `dir`/`name`, creating `dir`; returns the new path.
inline fs::path copy_to(const fs::path& from, const fs::path& dir, const std::string& name) {
  fs::create_directories(dir);
  fs::copy_file(from, dir / name, fs::copy_options::overwrite_existing);
  return dir / name;
}

// Points models.dir (the shipped models) at an empty folder of the test through the user's
// config file, so that only the models a test imports exist.
inline void isolate_models(const Cli& cli) {
  fs::create_directories(cli.xdg_config_home() / "csss");
  fs::create_directories(cli.root() / "shipped-models");
  write_text(cli.xdg_config_home() / "csss" / "config.yaml",
             "models:\n  dir: " + (cli.root() / "shipped-models").string() + "\n");
}

// The scan IDs in `text`, in order.
inline std::vector<std::string> uuids_in(const std::string& text) {
  static const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), uuid); it != std::sregex_iterator();
       ++it) {
    out.push_back(it->str());
  }
  return out;
}

// The lines of `text`, without their newlines.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      out.push_back(text.substr(start));
      break;
    }
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The files (not folders) under `dir`, relative and sorted.
inline std::vector<std::string> files_under(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file())
      out.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Uploads `file` in `session` (REQUIREs success) and returns the new scan's ID.
inline std::string upload(const Session& session, const fs::path& file,
                          std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--json", "upload", file.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = session.run(args);
  INFO("upload of ", file.string());
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  REQUIRE(doc["stored"] == 1);
  return doc["files"][0]["id"].get<std::string>();
}

// The arguments of `csss model import` of the test model (normal, pneumonia; CR/DX chest).
inline std::vector<std::string> import_args(const std::string& name,
                                            std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"model",
                                "import",
                                CSSS_TEST_MODEL,
                                "--name",
                                name,
                                "--classes",
                                "normal,pneumonia",
                                "--risk",
                                "normal=low,pneumonia=high",
                                "--modality",
                                "CR,DX",
                                "--body-part",
                                "CHEST"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

inline bool starts_with_png_signature(const std::string& bytes) {
  return bytes.rfind("\x89PNG\r\n\x1a\n", 0) == 0;
}

}  // namespace csss::test
