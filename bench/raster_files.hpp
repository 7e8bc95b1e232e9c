#pragma once

// The benchmark programs' image sets: the PNG and JPEG files under a directory (by extension),
// in path order, so that every run and every program takes the same images.

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace csss::bench {

inline std::vector<std::filesystem::path> raster_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg"))
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace csss::bench
