// lib/scans: uploads (who may upload for whom, what is recorded, bad files refused without a
// trace), reading one scan and listing them per role, each read in the audit log. The analysis
// (LibTorch) is covered by the black-box tests of csss analyze.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "auth/accounts.hpp"
#include "crypto/hash.hpp"
#include "imaging/image.hpp"
#include "inference/registry.hpp"
#include "scans/scans.hpp"
#include "store/database.hpp"
#include "support/check_error.hpp"
#include "support/fakes.hpp"
#include "support/principal.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

using csss::test::principal_of;
using namespace csss::scans;
using csss::ErrorKind;
using csss::audit::AuditLog;
using csss::audit::Filter;
using csss::audit::Outcome;
using csss::auth::Principal;
using csss::auth::Role;
using csss::auth::User;
using csss::store::Database;
using csss::store::OpenMode;
using csss::test::check_error;
using csss::test::contains;
namespace fs = std::filesystem;

namespace {

fs::path datasets() {
  return fs::path(csss::test::source_dir()) / "datasets";
}

// A small DICOM file: CR, CSPINE, patient 77654033, 16x16 (DCMTK's dicomdir test set).
fs::path cr_dicom() {
  return datasets() / "dicom" / "dicomdir_77654033_CR1_6154.dcm";
}
constexpr const char* kCrStudy = "1.3.6.1.4.1.5962.1.1.0.0.0.1196527414.5534.0.1";

fs::path chest_jpeg() {
  return datasets() / "samples" / "chest-xray" / "normal" / "0.jpg";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE(out.good());
}

// PNG bytes of a gray gradient, different for each `seed`.
std::string png_bytes(int width, int height, int seed = 0, int channels = 1) {
  csss::imaging::Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  for (int i = 0; i < width * height * channels; ++i) {
    img.pixels.push_back(static_cast<std::uint8_t>((i * 7 + seed * 31) & 0xFF));
  }
  const auto png = csss::imaging::encode_png(img);
  return {png.begin(), png.end()};
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return static_cast<unsigned>(st.st_mode & 07777);
}

// A store with an admin, two patients, a doctor and a pharmacist; scans under data/, the files to
// upload under in/.
struct World {
  csss::test::TempDir dir;
  csss::test::ManualClock clock;
  fs::path data = dir / "data";
  fs::path in = dir / "in";
  Database db = open_db();
  AuditLog audit{db, clock};
  csss::auth::Accounts accounts{db, clock, audit, csss::auth::AuthSettings{}};
  Principal admin = principal_of(accounts.create_first_admin(
      {"admin@clinic.example", "Ada Admin", Role::admin, "admin-password-1"}));
  Principal alice = add("alice@clinic.example", "Alice Patient", Role::patient);
  Principal bob = add("bob@clinic.example", "Bob Patient", Role::patient);
  Principal doctor = add("dr.lee@clinic.example", "Dr Ana Lee", Role::doctor);
  Principal pharmacist = add("pharma@clinic.example", "Phil Pharma", Role::pharmacist);
  Scans scans{db, clock, audit, data, csss::imaging::Limits{}};

  Database open_db() {
    csss::util::ensure_private_dir(data);
    fs::create_directories(in);
    return Database::open(data / "csss.db", OpenMode::create);
  }
  Principal add(const std::string& email, const std::string& name, Role role) {
    return principal_of(accounts.add(admin, {email, name, role, "a-long-password-1"}));
  }
  // Copies `from` into in/ as `name`; returns the new path.
  fs::path input(const fs::path& from, const std::string& name) {
    fs::copy_file(from, in / name, fs::copy_options::overwrite_existing);
    return in / name;
  }
  fs::path input_bytes(const std::string& name, const std::string& bytes) {
    write(in / name, bytes);
    return in / name;
  }
  std::int64_t count(const std::string& sql) {
    auto st = db.prepare(sql);
    REQUIRE(st.step());
    return st.get_int(0);
  }
  std::int64_t scan_rows() { return count("SELECT count(*) FROM scans"); }
  // Patient records beyond the ones created with alice's and bob's accounts.
  std::int64_t patient_rows() { return count("SELECT count(*) FROM patients") - 2; }
  // The files under data/scans ("" entries when the folder does not exist yet).
  std::vector<std::string> stored_files() const {
    std::vector<std::string> out;
    std::error_code ec;
    if (!fs::exists(data / "scans", ec))
      return out;
    for (const auto& e : fs::directory_iterator(data / "scans")) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<csss::audit::Record> audit_rows(const std::string& action) const {
    Filter f;
    f.action = action;
    return audit.list(f);
  }
};

const std::regex kUuid("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

}  // namespace

TEST_CASE("a patient uploads a DICOM file of their own: attributes from the file, bytes kept") {
  World w;
  // A file name that carries the patient's identity, as real exports do.
  const fs::path file = w.input(cr_dicom(), "Alice_Patient_77654033.dcm");
  const std::string bytes = slurp(file);
  const UploadOutcome out = w.scans.upload(w.alice, file, std::nullopt, {});
  const Scan& s = out.scan;
  CHECK_FALSE(out.duplicate);
  CHECK(std::regex_match(s.id, kUuid));
  CHECK(s.format == csss::imaging::Format::dicom);
  CHECK(s.width == 16);
  CHECK(s.height == 16);
  CHECK(s.channels == 1);
  CHECK(s.modality == "CR");
  CHECK(s.body_part == "CSPINE");
  CHECK(s.dicom_patient_id == "77654033");
  CHECK(s.study_uid == kCrStudy);
  CHECK(s.frames == 1);
  CHECK(s.sha256 == csss::crypto::sha256_hex(bytes));
  CHECK(s.size_bytes == static_cast<std::int64_t>(bytes.size()));
  CHECK(s.source_name == "Alice_Patient_77654033.dcm");
  CHECK(s.status == "pending_ai");
  CHECK(s.created_at == w.clock.now());
  CHECK(s.uploaded_by == w.alice.user_id);
  CHECK(s.patient_name == "Alice Patient");
  CHECK(s.patient_email == "alice@clinic.example");
  CHECK(w.count("SELECT user_id FROM patients WHERE id = " + std::to_string(s.patient_id)) ==
        w.alice.user_id);

  // Stored as data/scans/<uuid>: the same bytes, 0600, in a 0700 folder; the name says nothing
  // about the patient.
  const fs::path stored = w.scans.file_of(s);
  CHECK(stored == w.data / "scans" / s.id);
  CHECK(w.stored_files() == std::vector<std::string>{s.id});
  CHECK(slurp(stored) == bytes);
  CHECK(mode_of(stored) == 0600);
  CHECK(mode_of(w.data / "scans") == 0700);
  for (const char* identity : {"alice", "Alice", "77654033", "Patient"}) {
    CHECK_FALSE(contains(stored.filename().string(), identity));
  }

  const auto uploads = w.audit_rows("scan.upload");
  REQUIRE(uploads.size() == 1);
  CHECK(uploads[0].actor == "alice@clinic.example");
  CHECK(uploads[0].object == "scan:" + s.id);
  CHECK(uploads[0].outcome == Outcome::success);
  CHECK(w.scan_rows() == 1);
  CHECK(w.patient_rows() == 0);

  // Naming oneself as the patient is allowed and reuses the patient record.
  const fs::path second = w.input(datasets() / "dicom" / "dicomdir_77654033_CR2_6247.dcm", "b.dcm");
  const UploadOutcome again =
      w.scans.upload(w.alice, second, std::string("  ALICE@clinic.example "), {});
  CHECK_FALSE(again.duplicate);
  CHECK(again.scan.patient_id == s.patient_id);
  CHECK(w.patient_rows() == 0);
  CHECK(w.scan_rows() == 2);
}

TEST_CASE("a PNG upload takes modality and body part from the hints, upper-cased") {
  World w;
  const fs::path file = w.input_bytes("xray.png", png_bytes(12, 9));
  const UploadOutcome out = w.scans.upload(w.alice, file, std::nullopt, {" cr ", "Chest"});
  CHECK(out.scan.format == csss::imaging::Format::png);
  CHECK(out.scan.width == 12);
  CHECK(out.scan.height == 9);
  CHECK(out.scan.channels == 1);
  CHECK(out.scan.modality == "CR");
  CHECK(out.scan.body_part == "CHEST");
  CHECK(out.scan.dicom_patient_id.empty());
  CHECK(out.scan.study_uid.empty());

  // Colour, no hints.
  const fs::path rgb = w.input_bytes("photo.png", png_bytes(5, 4, 1, 3));
  const Scan colour = w.scans.upload(w.alice, rgb, std::nullopt, {}).scan;
  CHECK(colour.channels == 3);
  CHECK(colour.modality.empty());
  CHECK(colour.body_part.empty());

  // A JPEG is recognised by its content whatever its name.
  const fs::path jpeg = w.input(chest_jpeg(), "scan.bin");
  const Scan j = w.scans.upload(w.alice, jpeg, std::nullopt, {"dx", "chest"}).scan;
  CHECK(j.format == csss::imaging::Format::jpeg);
  CHECK(j.modality == "DX");

  // DICOM attributes win over hints; a hint fills what the file leaves empty (CT_small has no
  // body part).
  const fs::path ct = w.input(datasets() / "dicom" / "CT_small.dcm", "ct.dcm");
  const Scan c = w.scans.upload(w.alice, ct, std::nullopt, {"MR", "head"}).scan;
  CHECK(c.modality == "CT");
  CHECK(c.body_part == "HEAD");

  // Hints that are not short plain text are refused.
  const fs::path other = w.input_bytes("other.png", png_bytes(3, 3, 9));
  check_error(
      [&] {
        (void)w.scans.upload(w.alice, other, std::nullopt, {"C\nR", ""});
      },
      ErrorKind::invalid_input, "short plain text");
  check_error(
      [&] {
        (void)w.scans.upload(w.alice, other, std::nullopt, {"", std::string(65, 'X')});
      },
      ErrorKind::invalid_input, "other.png");
  CHECK(w.scan_rows() == 4);
  CHECK(w.stored_files().size() == 4);
}

TEST_CASE("the same bytes uploaded again store nothing and name the scan they duplicate") {
  World w;
  const fs::path file = w.input(cr_dicom(), "first.dcm");
  const Scan first = w.scans.upload(w.alice, file, std::nullopt, {}).scan;
  w.clock.advance_minutes(5);
  const fs::path copy = w.input(cr_dicom(), "copy-with-another-name.dcm");
  const UploadOutcome out = w.scans.upload(w.alice, copy, std::nullopt, {"MR", "BRAIN"});
  CHECK(out.duplicate);
  CHECK(out.scan.id == first.id);
  CHECK(out.scan.source_name == "first.dcm");
  CHECK(out.scan.created_at == first.created_at);
  CHECK(w.scan_rows() == 1);
  CHECK(w.stored_files() == std::vector<std::string>{first.id});
  const auto uploads = w.audit_rows("scan.upload");
  REQUIRE(uploads.size() == 2);
  CHECK(uploads[1].outcome == Outcome::failure);
  CHECK(uploads[1].object == "scan:" + first.id);
  CHECK(contains(uploads[1].detail, "duplicate"));

  // Staff uploading the same bytes for the same patient: a duplicate too.
  const UploadOutcome staff =
      w.scans.upload(w.doctor, copy, std::string("alice@clinic.example"), {});
  CHECK(staff.duplicate);
  CHECK(staff.scan.id == first.id);
  CHECK(w.scan_rows() == 1);

  // Another patient uploading the same bytes learns nothing about Alice's scan, not even its ID.
  const fs::path bobs = w.input(cr_dicom(), "bobs.dcm");
  const std::string message =
      check_error([&] { (void)w.scans.upload(w.bob, bobs, std::nullopt, {}); }, ErrorKind::conflict,
                  "bobs.dcm");
  CHECK(contains(message, "another patient"));
  CHECK_FALSE(contains(message, first.id));
  CHECK_FALSE(contains(message, "Alice"));
  CHECK_FALSE(contains(message, "alice"));
  CHECK(w.scan_rows() == 1);
  CHECK(w.stored_files() == std::vector<std::string>{first.id});
  CHECK(w.scans.list(w.bob).empty());
}

TEST_CASE("staff upload for a patient named by email, patients only for themselves") {
  World w;
  SUBCASE("staff must name the patient") {
    for (const Principal* staff : {&w.doctor, &w.pharmacist, &w.admin}) {
      INFO(staff->email);
      const fs::path file = w.input(cr_dicom(), "scan.dcm");
      check_error([&] { (void)w.scans.upload(*staff, file, std::nullopt, {}); }, ErrorKind::usage,
                  "--patient");
    }
    CHECK(w.scan_rows() == 0);
    CHECK(w.patient_rows() == 0);
    CHECK(w.stored_files().empty());
  }
  SUBCASE("the patient must be a patient account") {
    const fs::path file = w.input(cr_dicom(), "scan.dcm");
    check_error(
        [&] { (void)w.scans.upload(w.doctor, file, std::string("pharma@clinic.example"), {}); },
        ErrorKind::invalid_input, "'pharma@clinic.example' is a pharmacist account, not a patient");
    check_error(
        [&] { (void)w.scans.upload(w.admin, file, std::string("dr.lee@clinic.example"), {}); },
        ErrorKind::invalid_input, "not a patient");
    check_error(
        [&] { (void)w.scans.upload(w.doctor, file, std::string("nobody@clinic.example"), {}); },
        ErrorKind::not_found, "nobody@clinic.example");
    CHECK(w.scan_rows() == 0);
    CHECK(w.patient_rows() == 0);
    CHECK(w.stored_files().empty());
  }
  SUBCASE("doctors, pharmacists and admins may upload for a patient") {
    const std::vector<std::pair<const Principal*, std::string>> uploads{
        {&w.doctor, "dicomdir_77654033_CR1_6154.dcm"},
        {&w.pharmacist, "dicomdir_77654033_CR2_6247.dcm"},
        {&w.admin, "dicomdir_77654033_CR3_6278.dcm"}};
    for (const auto& [staff, name] : uploads) {
      INFO(staff->email);
      const fs::path file = w.input(datasets() / "dicom" / name, name);
      // The email is matched whatever its case and surrounding spaces.
      const Scan s = w.scans.upload(*staff, file, std::string(" Bob@Clinic.Example "), {}).scan;
      CHECK(s.patient_email == "bob@clinic.example");
      CHECK(s.patient_name == "Bob Patient");
      CHECK(s.uploaded_by == staff->user_id);
    }
    CHECK(w.scan_rows() == 3);
    CHECK(w.patient_rows() == 0);
    CHECK(w.stored_files().size() == 3);
    CHECK(w.count("SELECT count(DISTINCT patient_id) FROM scans") == 1);
  }
  SUBCASE("a patient may not upload for another patient, and the refusal is audited") {
    const fs::path file = w.input(cr_dicom(), "scan.dcm");
    check_error([&] { (void)w.scans.upload(w.alice, file, std::string("bob@clinic.example"), {}); },
                ErrorKind::permission, "a patient may not upload a scan for a patient");
    CHECK(w.scan_rows() == 0);
    CHECK(w.patient_rows() == 0);
    CHECK(w.stored_files().empty());
    const auto denied = w.audit_rows("access.denied");
    REQUIRE(denied.size() == 1);
    CHECK(denied[0].actor == "alice@clinic.example");
    CHECK(denied[0].outcome == Outcome::denied);
    CHECK(contains(denied[0].detail, "upload_for_patient"));
    CHECK(w.audit.verify().intact);
  }
}

TEST_CASE("bad files are refused, naming the file, and leave no row and no file behind") {
  World w;
  SUBCASE("an empty file") {
    const fs::path f = w.input_bytes("empty.png", "");
    check_error([&] { (void)w.scans.upload(w.alice, f, std::nullopt, {}); },
                ErrorKind::invalid_input, "empty.png");
  }
  SUBCASE("text named .png") {
    const fs::path f = w.input_bytes("notes.png", "These are my notes, not a scan.\n");
    check_error([&] { (void)w.scans.upload(w.alice, f, std::nullopt, {}); },
                ErrorKind::invalid_input, "notes.png");
  }
  SUBCASE("a truncated JPEG") {
    const std::string jpeg = slurp(chest_jpeg());
    const fs::path f = w.input_bytes("cut.jpg", jpeg.substr(0, jpeg.size() / 2));
    check_error([&] { (void)w.scans.upload(w.alice, f, std::nullopt, {}); },
                ErrorKind::invalid_input, "cut.jpg");
  }
  SUBCASE("a truncated PNG") {
    const std::string png = png_bytes(40, 40, 3);
    const fs::path f = w.input_bytes("cut.png", png.substr(0, png.size() - 30));
    check_error([&] { (void)w.scans.upload(w.alice, f, std::nullopt, {}); },
                ErrorKind::invalid_input, "cut.png");
  }
  SUBCASE("a truncated DICOM file") {
    const std::string dcm = slurp(datasets() / "dicom" / "MR_small.dcm");
    const fs::path f = w.input_bytes("cut.dcm", dcm.substr(0, dcm.size() - 2000));
    check_error([&] { (void)w.scans.upload(w.alice, f, std::nullopt, {}); },
                ErrorKind::invalid_input, "cut.dcm");
  }
  SUBCASE("a directory") {
    fs::create_directories(w.in / "folder.dcm");
    check_error([&] { (void)w.scans.upload(w.alice, w.in / "folder.dcm", std::nullopt, {}); },
                ErrorKind::invalid_input, "is a directory");
  }
  SUBCASE("a file that does not exist") {
    check_error([&] { (void)w.scans.upload(w.alice, w.in / "missing.dcm", std::nullopt, {}); },
                ErrorKind::not_found, "missing.dcm: no such file");
  }
  SUBCASE("an unreadable file, or a FIFO when running as root") {
    if (::geteuid() != 0) {
      const fs::path f = w.input(cr_dicom(), "secret.dcm");
      fs::permissions(f, fs::perms::none);
      check_error([&] { (void)w.scans.upload(w.alice, f, std::nullopt, {}); }, ErrorKind::io,
                  "secret.dcm: cannot read");
      fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write);
    } else {
      MESSAGE("running as root, which reads any file: a FIFO stands in for an unreadable file");
    }
    // A FIFO is refused by its type, without opening it (which would block).
    REQUIRE(::mkfifo((w.in / "pipe.dcm").c_str(), 0600) == 0);
    check_error([&] { (void)w.scans.upload(w.alice, w.in / "pipe.dcm", std::nullopt, {}); },
                ErrorKind::invalid_input, "pipe.dcm: is not a regular file");
  }
  SUBCASE("a file name that is not UTF-8") {
    const fs::path f = w.input(cr_dicom(), std::string("scan-\xff\xfe.dcm"));
    REQUIRE(fs::exists(f));
    const std::string message =
        check_error([&] { (void)w.scans.upload(w.alice, f, std::nullopt, {}); },
                    ErrorKind::invalid_input, "not valid UTF-8");
    CHECK(contains(message, "scan-\\xff\\xfe.dcm"));
    CHECK(csss::util::is_valid_utf8(message));
  }
  SUBCASE("a file over the size limit") {
    csss::imaging::Limits small;
    small.max_file_bytes = 1000;
    Scans limited(w.db, w.clock, w.audit, w.data, small);
    const fs::path f = w.input(cr_dicom(), "big.dcm");  // 2300 bytes
    const std::string message =
        check_error([&] { (void)limited.upload(w.alice, f, std::nullopt, {}); },
                    ErrorKind::invalid_input, "big.dcm");
    CHECK(contains(message, "limit"));
    CHECK(w.scan_rows() == 0);
    CHECK(w.stored_files().empty());
    // At the limit exactly, it goes in.
    small.max_file_bytes = fs::file_size(f);
    Scans exact(w.db, w.clock, w.audit, w.data, small);
    CHECK_NOTHROW((void)exact.upload(w.alice, f, std::nullopt, {}));
    CHECK(w.scan_rows() == 1);
    return;
  }
  SUBCASE("a PNG declaring more pixels than the limit") {
    csss::imaging::Limits small;
    small.max_pixels = 100;
    Scans limited(w.db, w.clock, w.audit, w.data, small);
    const fs::path f = w.input_bytes("wide.png", png_bytes(20, 20));
    check_error([&] { (void)limited.upload(w.alice, f, std::nullopt, {}); },
                ErrorKind::invalid_input, "wide.png");
  }
  SUBCASE("a symbolic link loop") {
    fs::create_symlink(w.in / "b.dcm", w.in / "a.dcm");
    fs::create_symlink(w.in / "a.dcm", w.in / "b.dcm");
    check_error([&] { (void)w.scans.upload(w.alice, w.in / "a.dcm", std::nullopt, {}); },
                ErrorKind::invalid_input, "a.dcm: symbolic link loop");
  }
  CHECK(w.scan_rows() == 0);
  CHECK(w.patient_rows() == 0);
  CHECK(w.stored_files().empty());
  CHECK(w.audit_rows("scan.upload").empty());
}

TEST_CASE("get: patients read only their own scans, staff read any, every read is audited") {
  World w;
  const Scan a = w.scans.upload(w.alice, w.input(cr_dicom(), "a.dcm"), std::nullopt, {}).scan;
  const Scan b =
      w.scans.upload(w.bob, w.input_bytes("b.png", png_bytes(8, 8)), std::nullopt, {}).scan;

  const Scan own = w.scans.get(w.alice, a.id);
  CHECK(own.id == a.id);
  CHECK(own.modality == "CR");
  CHECK(w.audit_rows("scan.read").size() == 1);
  CHECK(w.audit_rows("scan.read")[0].actor == "alice@clinic.example");
  CHECK(w.audit_rows("scan.read")[0].object == "scan:" + a.id);

  // Another patient's scan reads exactly like an ID that does not exist.
  const std::string other =
      check_error([&] { (void)w.scans.get(w.alice, b.id); }, ErrorKind::not_found);
  const std::string random_id = "3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17";
  const std::string missing =
      check_error([&] { (void)w.scans.get(w.alice, random_id); }, ErrorKind::not_found);
  CHECK(other == "no scan with ID '" + b.id + "'");
  CHECK(missing == "no scan with ID '" + random_id + "'");
  const auto denied = w.audit_rows("access.denied");
  REQUIRE(denied.size() == 1);
  CHECK(denied[0].actor == "alice@clinic.example");
  CHECK(denied[0].object == "scan:" + b.id);
  CHECK(denied[0].outcome == Outcome::denied);
  CHECK(w.audit_rows("scan.read").size() == 1);  // refusals are not reads

  for (const Principal* staff : {&w.doctor, &w.pharmacist, &w.admin}) {
    INFO(staff->email);
    CHECK(w.scans.get(*staff, a.id).patient_email == "alice@clinic.example");
    CHECK(w.scans.get(*staff, b.id).patient_email == "bob@clinic.example");
    check_error([&] { (void)w.scans.get(*staff, random_id); }, ErrorKind::not_found, random_id);
  }
  CHECK(w.audit_rows("scan.read").size() == 7);
  CHECK(w.audit_rows("access.denied").size() == 1);
  CHECK(w.scans.analyses(a).empty());
  CHECK(w.audit.verify().intact);
}

TEST_CASE("list: a patient sees their own scans, staff every scan, newest first") {
  World w;
  const Scan a1 = w.scans.upload(w.alice, w.input(cr_dicom(), "a1.dcm"), std::nullopt, {}).scan;
  w.clock.advance_minutes(1);
  const Scan b1 =
      w.scans.upload(w.bob, w.input_bytes("b1.png", png_bytes(8, 8, 1)), std::nullopt, {}).scan;
  w.clock.advance_minutes(1);
  const Scan a2 = w.scans
                      .upload(w.doctor, w.input_bytes("a2.png", png_bytes(8, 8, 2)),
                              std::string("alice@clinic.example"), {})
                      .scan;

  const auto ids = [](const std::vector<Scan>& list) {
    std::vector<std::string> out;
    for (const auto& s : list)
      out.push_back(s.id);
    return out;
  };
  CHECK(ids(w.scans.list(w.alice)) == std::vector<std::string>{a2.id, a1.id});
  CHECK(ids(w.scans.list(w.bob)) == std::vector<std::string>{b1.id});
  for (const Principal* staff : {&w.doctor, &w.pharmacist, &w.admin}) {
    INFO(staff->email);
    CHECK(ids(w.scans.list(*staff)) == std::vector<std::string>{a2.id, b1.id, a1.id});
  }
  // A patient without scans sees none.
  const Principal carol = w.add("carol@clinic.example", "Carol Patient", Role::patient);
  CHECK(w.scans.list(carol).empty());

  const auto lists = w.audit_rows("scan.list");
  REQUIRE(lists.size() == 6);
  CHECK(lists[0].actor == "alice@clinic.example");
  CHECK(contains(lists[0].detail, "2 scans"));
  CHECK(lists[5].actor == "carol@clinic.example");
  CHECK(contains(lists[5].detail, "0 scans"));
}

TEST_CASE("analyze refuses a scan whose stored file changed after upload, before any model runs") {
  World w;
  const auto up = w.scans.upload(
      w.alice,
      w.input(fs::path(csss::test::source_dir()) / "datasets/dicom/MR_small.dcm", "mr.dcm"),
      std::nullopt, {});
  // A model whose manifest and weights agree; its weights are never loaded, since the scan's
  // check comes first.
  const fs::path models = w.dir / "models";
  fs::create_directories(models / "mr");
  write(models / "mr" / "model.pt", "weights");
  write(models / "mr" / "model.yaml",
        "name: mr\nversion: 1\nclasses: [a, b]\n"
        "input: {size: 64, channels: 1, mean: [0.5], std: [0.25]}\n"
        "risk: {a: low, b: high}\narchitecture: {type: mobilenet_v2}\n"
        "weights: {file: model.pt, sha256: " +
            csss::crypto::sha256_hex("weights") + "}\n");
  const csss::inference::Registry registry({models});
  // Change one byte of the stored scan behind the tool's back.
  const fs::path stored = w.scans.file_of(up.scan);
  std::string bytes = slurp(stored);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 1);
  write(stored, bytes);
  check_error([&] { (void)w.scans.analyze(w.doctor, up.scan.id, registry, std::nullopt); },
              ErrorKind::integrity, "no longer matches the SHA-256");
  CHECK(w.count("SELECT count(*) FROM analyses") == 0);
}

TEST_CASE("a group import stores every good file in one transaction, and reports each bad one") {
  World w;
  const auto file = [&](const std::string& name, const std::string& bytes) {
    const auto decoded = csss::imaging::decode(
        std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
        csss::imaging::Limits{}, name);
    return Scans::ImportedFile{bytes, csss::crypto::sha256_hex(bytes), decoded, name};
  };
  // Stored before: its bytes again are a duplicate.
  const auto earlier =
      w.scans.import(w.admin, file("old.png", png_bytes(20, 20, 1)), {"MRN-1", "Ann Old", ""});
  CHECK_FALSE(earlier.duplicate);
  const std::int64_t audit_before = w.count("SELECT count(*) FROM audit_log");

  std::vector<Scans::ImportRequest> group{
      {file("a.png", png_bytes(20, 20, 2)), {"MRN-2", "Ben New", "1970-01-02"}},
      {file("b.png", png_bytes(20, 20, 3)), {"MRN-2", "", ""}},             // the same new patient
      {file("c.png", png_bytes(20, 20, 1)), {"MRN-9", "", ""}},             // old.png's bytes
      {file("d.png", png_bytes(20, 20, 4)), {"", "", ""}},                  // no patient ID
      {file("e.png", png_bytes(20, 20, 5)), {"MRN-3", "", "2001-13-45x"}},  // refused by the store
      {file("f.png", png_bytes(20, 20, 2)), {"MRN-2", "", ""}},             // a.png's bytes again
  };
  const auto results = w.scans.import(w.admin, group);
  REQUIRE(results.size() == group.size());
  REQUIRE(results[0].outcome);
  CHECK_FALSE(results[0].outcome->duplicate);
  CHECK(results[0].outcome->scan.patient_name == "Ben New");
  REQUIRE(results[1].outcome);
  CHECK(results[1].outcome->scan.patient_id == results[0].outcome->scan.patient_id);
  REQUIRE(results[2].outcome);
  CHECK(results[2].outcome->duplicate);
  CHECK(results[2].outcome->scan.id == earlier.scan.id);
  CHECK_FALSE(results[3].outcome);
  CHECK(contains(results[3].error, "patient ID"));
  CHECK_FALSE(results[4].outcome);  // the patient row failed: its savepoint undid it alone
  CHECK_FALSE(results[4].error.empty());
  REQUIRE(results[5].outcome);
  CHECK(results[5].outcome->duplicate);
  CHECK(results[5].outcome->scan.id == results[0].outcome->scan.id);

  CHECK(w.scan_rows() == 3);
  CHECK(w.count("SELECT count(*) FROM patients WHERE external_id = 'MRN-3'") == 0);
  // One file per row, nothing left of the refused or duplicate ones.
  CHECK(w.stored_files().size() == 3);
  for (const std::string& f : w.stored_files())
    CHECK(mode_of(w.data / "scans" / f) == 0600);
  // Two uploads and one new patient record audited, and the chain still verifies.
  CHECK(w.count("SELECT count(*) FROM audit_log") == audit_before + 3);
  CHECK(w.audit.verify().intact);
}
