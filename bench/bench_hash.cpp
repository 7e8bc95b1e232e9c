// SHA-256 as csss computes it (crypto::sha256_hex, OpenSSL's libcrypto) against libsodium's
// crypto_hash_sha256, which it replaced, on the files a batch import hashes: both over every file,
// alternating by round, with their digests compared.
//
//   bench_hash DIR [--rounds R] [--count N]
//
// Reads the first N PNG and JPEG files under DIR (path order; all by default) into memory first
// (not timed), then R rounds of hashing each file by each implementation. Prints per
// implementation the median over rounds of MB/s and of the microseconds per file, and the number
// of files whose digests differ (exit status 1 if any).
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "crypto/hash.hpp"
#include "raster_files.hpp"
#include "util/fs.hpp"

namespace {

int usage() {
  std::fprintf(stderr, "usage: bench_hash DIR [--rounds R] [--count N]\n");
  return 2;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string sodium_hex(const std::string& data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex, 2 * crypto_hash_sha256_BYTES);
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2)
    return usage();
  const std::filesystem::path dir = argv[1];
  int rounds = 5;
  std::size_t count = 0;  // all
  for (int i = 2; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc)
      return usage();
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--rounds" && value > 0)
      rounds = value;
    else if (flag == "--count" && value > 0)
      count = static_cast<std::size_t>(value);
    else
      return usage();
  }
  if (sodium_init() < 0) {
    std::fprintf(stderr, "bench_hash: libsodium cannot be initialised\n");
    return 1;
  }
  std::vector<std::filesystem::path> files = csss::bench::raster_files(dir);
  if (count > 0 && files.size() > count)
    files.resize(count);
  std::vector<std::string> data;
  double bytes = 0;
  for (const auto& f : files) {
    data.push_back(csss::util::read_file(f, std::size_t{1} << 30));
    bytes += static_cast<double>(data.back().size());
  }
  if (data.empty()) {
    std::fprintf(stderr, "bench_hash: no PNG or JPEG files under %s\n", dir.c_str());
    return 1;
  }
  using Clock = std::chrono::steady_clock;
  std::vector<double> csss_s, sodium_s;
  std::size_t differ = 0;
  std::vector<std::string> ours(data.size()), theirs(data.size());
  const auto time = [&](auto hash, std::vector<std::string>& out) {
    const auto start = Clock::now();
    for (std::size_t i = 0; i < data.size(); ++i)
      out[i] = hash(data[i]);
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  for (int r = 0; r < rounds; ++r) {
    const auto run_csss = [&] { csss_s.push_back(time(csss::crypto::sha256_hex, ours)); };
    const auto run_sodium = [&] { sodium_s.push_back(time(sodium_hex, theirs)); };
    if (r % 2 == 0) {
      run_csss();
      run_sodium();
    } else {
      run_sodium();
      run_csss();
    }
    for (std::size_t i = 0; i < data.size(); ++i)
      differ += ours[i] != theirs[i] ? 1 : 0;
  }
  const double n = static_cast<double>(data.size());
  const auto line = [&](const char* name, const std::vector<double>& s) {
    const double t = median(s);
    std::printf("%-28s %8.1f MB/s %8.1f us per file\n", name, bytes / t / 1e6, t / n * 1e6);
  };
  std::printf("%zu files, %.1f MB, %d rounds (medians)\n", data.size(), bytes / 1e6, rounds);
  line("csss (OpenSSL libcrypto):", csss_s);
  line("libsodium:", sodium_s);
  std::printf("digests that differ: %zu\n", differ);
  return differ == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_hash: %s\n", e.what());
  return 1;
}
