// pipelines/batch/import.cpp, through its library API: what waits to be committed is committed
// within a bounded delay even when no more files come (a walk that stalls, on a slow share). The
// rest of the import is covered by the black-box tests of csss batch import (tests/cli).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "audit/audit_log.hpp"
#include "auth/accounts.hpp"
#include "batch/import.hpp"
#include "imaging/image.hpp"
#include "inference/registry.hpp"
#include "scans/scans.hpp"
#include "store/database.hpp"
#include "support/fakes.hpp"
#include "support/principal.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"

using csss::auth::Principal;
using csss::auth::Role;
using csss::store::Database;
using csss::store::OpenMode;
using csss::test::principal_of;
namespace fs = std::filesystem;
namespace batch = csss::pipelines::batch;

namespace {

// A gray PNG, different for every `n`.
void write_png(const fs::path& path, int n) {
  csss::imaging::Image img;
  img.width = 32;
  img.height = 32;
  img.channels = 1;
  for (int i = 0; i < img.width * img.height; ++i)
    img.pixels.push_back(static_cast<std::uint8_t>((i * 3 + n * 41) & 0xFF));
  const auto png = csss::imaging::encode_png(img);
  csss::util::write_private_file(path, std::string(png.begin(), png.end()));
}

std::int64_t count(const fs::path& db_path, const char* sql) {
  Database db = Database::open(db_path, OpenMode::existing);
  auto st = db.prepare(sql);
  REQUIRE(st.step());
  return st.get_int(0);
}

}  // namespace

TEST_CASE("batch import: files stored while the walk stalls, not held until it goes on") {
  csss::test::TempDir dir;
  csss::test::ManualClock clock;
  const fs::path data = dir / "data";
  const fs::path in = dir / "in";
  csss::util::ensure_private_dir(data);
  fs::create_directories(in);
  Database db = Database::open(data / "csss.db", OpenMode::create);
  csss::audit::AuditLog audit{db, clock};
  csss::auth::Accounts accounts{db, clock, audit, csss::auth::AuthSettings{}};
  const Principal admin = principal_of(accounts.create_first_admin(
      {"admin@clinic.example", "Ada Admin", Role::admin, "admin-password-1"}));
  const Principal doctor = principal_of(
      accounts.add(admin, {"dr.lee@clinic.example", "Dr Ana Lee", Role::doctor, "a-long-pass-1"}));
  csss::scans::Scans scans{db, clock, audit, data, csss::imaging::Limits{}};
  const csss::inference::Registry registry({dir / "models"});

  // 12 files, fewer than a group: with the walk held up after 5 of them, those 5 must reach the
  // store without waiting for the rest (or for a full group).
  std::string manifest;
  for (int i = 0; i < 12; ++i) {
    write_png(in / ("f" + std::to_string(i) + ".png"), i);
    manifest += "f" + std::to_string(i) + ".png,MRN-1\n";
  }
  csss::util::write_private_file(dir / "m.csv", manifest);

  batch::ImportOptions options;
  options.dir = in;
  options.manifest = dir / "m.csv";
  options.model = "none";
  options.jobs = 1;
  int calls = 0;
  std::int64_t stored_while_stalled = -1;
  double waited = 0;
  // Called by the walk before each entry: the sixth call holds it until the first five are in.
  const auto stall = [&] {
    if (++calls == 6) {
      const auto start = std::chrono::steady_clock::now();
      const auto give_up = start + std::chrono::seconds(5);
      while ((stored_while_stalled = count(data / "csss.db", "SELECT count(*) FROM scans")) < 5 &&
             std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    return false;
  };
  batch::Importer importer(scans, audit, registry, csss::imaging::Limits{}, doctor);
  const batch::ImportSummary sum = importer.run(options, {}, stall);
  CHECK(stored_while_stalled == 5);
  CHECK(waited < 2.0);  // stored some 0.1 s after they were read (kCommitDelay)
  CHECK(sum.imported == 12);
  CHECK(sum.rejected.empty());
  CHECK(count(data / "csss.db", "SELECT count(*) FROM scans") == 12);
}
