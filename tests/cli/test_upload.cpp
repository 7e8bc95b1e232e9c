// csss upload: one or several files, by a patient or by staff for a patient; duplicates; bad files.
#include <doctest/doctest.h>

#include "cli_fixture.hpp"
#include "crypto/hash.hpp"
#include "scan_support.hpp"
#include "util/strings.hpp"

using namespace csss::test;

namespace {

std::int64_t count_scans(const Cli& cli) {
  Store s(cli.db_path());
  return s.query_int("SELECT count(*) FROM scans");
}

// An initialised store with a patient logged in on the default session.
Account patient_logged_in(Cli& cli, const std::string& email = "alice@clinic.example") {
  cli.init_with_admin();
  const Account p = cli.add_user("patient", email, "Alice Patient");
  cli.login(p.email, p.password);
  return p;
}

}  // namespace

TEST_CASE("upload stores a patient's DICOM file under a random ID, with its attributes") {
  Cli cli;
  const Account alice = patient_logged_in(cli);
  const fs::path file = copy_to(small_cr(1), cli.root() / "in", "Alice_Patient_77654033.dcm");
  const auto r = cli.run({"upload", file.string()});
  REQUIRE_OK(r);
  const auto ids = uuids_in(r.out);
  REQUIRE(ids.size() == 1);
  const std::string id = ids[0];
  CHECK(r.out ==
        file.string() + ": stored as scan " + id + " (dicom 16x16, CR), pending AI analysis\n");

  // The bytes, as data/scans/<id>, 0600 in a 0700 folder; the name carries no identity.
  const fs::path stored = cli.data_dir() / "scans" / id;
  CHECK(read_bytes(stored) == read_bytes(file));
  CHECK(mode_of(stored) == 0600);
  CHECK(mode_of(cli.data_dir() / "scans") == 0700);
  CHECK(files_under(cli.data_dir() / "scans") == std::vector<std::string>{id});

  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM scans") == 1);
  CHECK(s.query_text("SELECT modality || '/' || body_part || '/' || dicom_patient_id || '/' || "
                     "status FROM scans") == "CR/CSPINE/77654033/pending_ai");
  CHECK(s.query_text("SELECT source_name FROM scans") == "Alice_Patient_77654033.dcm");
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'scan.upload' AND actor = '" +
                    alice.email + "' AND object = 'scan:" + id + "' AND outcome = 'success'") == 1);

  // --json: one document listing the file.
  const fs::path second = copy_to(small_cr(2), cli.root() / "in", "second.dcm");
  const auto j = cli.run({"--json", "upload", second.string()});
  REQUIRE_OK(j);
  const auto doc = json_of(j);
  CHECK(doc["stored"] == 1);
  CHECK(doc["duplicates"] == 0);
  CHECK(doc["failed"] == 0);
  REQUIRE(doc["files"].size() == 1);
  const auto& f = doc["files"][0];
  CHECK(f["file"] == second.string());
  CHECK(f["duplicate"] == false);
  CHECK(f["format"] == "dicom");
  CHECK(f["width"] == 16);
  CHECK(f["height"] == 16);
  CHECK(f["modality"] == "CR");
  CHECK(f["body_part"] == "CSPINE");
  CHECK(f["dicom_patient_id"] == "77654033");
  CHECK(f["study_uid"] == "1.3.6.1.4.1.5962.1.1.0.0.0.1196527414.5534.0.1");
  CHECK(f["status"] == "pending_ai");
  CHECK(f["source_name"] == "second.dcm");
  CHECK(f["sha256"] == csss::crypto::sha256_hex(read_bytes(second)));
  CHECK(f["size_bytes"] == fs::file_size(second));
  CHECK(f["patient"]["email"] == alice.email);
  CHECK(f["patient"]["name"] == "Alice Patient");
  CHECK(f["uploaded_at"].is_string());
  CHECK(f["id"] != id);
  CHECK(count_scans(cli) == 2);
}

TEST_CASE("upload of several files stores the good ones and reports each bad one") {
  Cli cli;
  patient_logged_in(cli);
  const fs::path in = cli.root() / "in";
  fs::create_directories(in);
  const fs::path good_png = write_png(in / "a.png");
  write_text(in / "notes.png", "These are my notes, not a scan.\n");
  const fs::path good_dcm = copy_to(small_cr(1), in, "b.dcm");

  SUBCASE("text output") {
    const auto r = cli.run({"upload", good_png.string(), (in / "notes.png").string(),
                            good_dcm.string(), (in / "missing.dcm").string()});
    // The exit code of the first failure (invalid input), one line per bad file, then a summary.
    CHECK(r.exit_code == 5);
    const auto err = lines_of(r.err);
    REQUIRE(err.size() == 3);
    for (const auto& line : err)
      CHECK(line.starts_with("csss: error: "));
    CHECK(contains(err[0], (in / "notes.png").string()));
    CHECK(contains(err[1], (in / "missing.dcm").string() + ": no such file"));
    CHECK(contains(err[2], "2 of 4 files could not be uploaded"));
    const auto out = lines_of(r.out);
    REQUIRE(out.size() == 2);
    CHECK(out[0].starts_with(good_png.string() + ": stored as scan "));
    CHECK(out[1].starts_with(good_dcm.string() + ": stored as scan "));
    CHECK(count_scans(cli) == 2);
    CHECK(files_under(cli.data_dir() / "scans").size() == 2);
  }
  SUBCASE("--json: one document listing each file") {
    const auto r = cli.run({"--json", "upload", (in / "missing.dcm").string(), good_png.string(),
                            (in / "notes.png").string(), good_dcm.string()});
    CHECK(r.exit_code == 6);  // the first failure: no such file
    const auto err = lines_of(r.err);
    REQUIRE(err.size() == 3);
    for (const auto& line : err)
      CHECK(line.starts_with("csss: error: "));
    CHECK(contains(err[0], (in / "missing.dcm").string()));
    CHECK(contains(err[1], (in / "notes.png").string()));
    CHECK(contains(err[2], "2 of 4 files could not be uploaded"));
    const auto doc = json_of(r);
    CHECK(doc["stored"] == 2);
    CHECK(doc["failed"] == 2);
    CHECK(doc["duplicates"] == 0);
    REQUIRE(doc["files"].size() == 4);
    CHECK(doc["files"][0]["file"] == (in / "missing.dcm").string());
    CHECK(doc["files"][0]["error"]["kind"] == "not_found");
    CHECK(doc["files"][1]["file"] == good_png.string());
    CHECK(doc["files"][1]["format"] == "png");
    CHECK(doc["files"][2]["error"]["kind"] == "invalid_input");
    CHECK(contains(doc["files"][2]["error"]["message"].get<std::string>(), "notes.png"));
    CHECK(doc["files"][3]["format"] == "dicom");
    CHECK(doc["error"]["exit_code"] == 6);
    CHECK(doc["error"]["kind"] == "not_found");
    CHECK(doc["error"]["message"] == "2 of 4 files could not be uploaded");
    CHECK(count_scans(cli) == 2);
  }
  SUBCASE("a single bad file is one error line") {
    const auto r = cli.run({"upload", (in / "notes.png").string()});
    CHECK_ERROR(r, 5, (in / "notes.png").string());
    const auto j = cli.run({"--json", "upload", (in / "notes.png").string()});
    CHECK(error_problem(j, 5, {(in / "notes.png").string()}, true) == "");
    const auto doc = json_of(j);
    CHECK(doc["error"]["kind"] == "invalid_input");
    CHECK(doc["failed"] == 1);
    CHECK(count_scans(cli) == 0);
    CHECK(files_under(cli.data_dir() / "scans").empty());
  }
}

TEST_CASE("upload of the same bytes again names the scan it duplicates and stores nothing") {
  Cli cli;
  patient_logged_in(cli);
  const std::string id = upload(cli.session(), copy_to(small_cr(1), cli.root() / "in", "a.dcm"));
  const fs::path copy = copy_to(small_cr(1), cli.root() / "in", "copy.dcm");
  const auto r = cli.run({"upload", copy.string()});
  REQUIRE_OK(r);
  CHECK(contains(r.out, copy.string() + ": duplicates scan " + id + " of "));
  CHECK(contains(r.out, "(uploaded "));
  CHECK(contains(r.out, "nothing stored"));
  const auto j = cli.run({"--json", "upload", copy.string()});
  REQUIRE_OK(j);
  const auto doc = json_of(j);
  CHECK(doc["stored"] == 0);
  CHECK(doc["duplicates"] == 1);
  CHECK(doc["files"][0]["duplicate"] == true);
  CHECK(doc["files"][0]["id"] == id);
  CHECK(count_scans(cli) == 1);
  CHECK(files_under(cli.data_dir() / "scans") == std::vector<std::string>{id});

  // Another patient with the same bytes is told nothing about the first patient's scan.
  const Account bob = cli.add_user("patient", "bob@clinic.example", "Bob Patient");
  Session b = cli.as("bob");
  b.login(bob.email, bob.password);
  const auto other = b.run({"upload", copy.string()});
  CHECK_ERROR(other, 7, "copy.dcm", "another patient");
  CHECK_FALSE(contains(other.err, id));
  const auto other_json = b.run({"--json", "upload", copy.string()});
  CHECK(error_problem(other_json, 7, {"another patient"}, true) == "");
  CHECK_FALSE(contains(other_json.out, id));
  CHECK_FALSE(contains(other_json.out, "alice"));
  CHECK(count_scans(cli) == 1);
}

TEST_CASE("upload --modality and --body-part describe a PNG or JPEG") {
  Cli cli;
  patient_logged_in(cli);
  fs::create_directories(cli.root() / "in");
  const fs::path png = write_png(cli.root() / "in" / "x.png");
  const auto r =
      cli.run({"--json", "upload", png.string(), "--modality", "cr", "--body-part", " chest "});
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  CHECK(doc["files"][0]["format"] == "png");
  CHECK(doc["files"][0]["modality"] == "CR");
  CHECK(doc["files"][0]["body_part"] == "CHEST");
  const std::string id = doc["files"][0]["id"];
  const auto show = cli.run({"scans", "show", id});
  REQUIRE_OK(show);
  CHECK(contains(show.out, "Modality:    CR\n"));
  CHECK(contains(show.out, "Body part:   CHEST\n"));

  // A JPEG without hints has neither.
  const auto j =
      cli.run({"--json", "upload", copy_to(chest_jpeg(), cli.root() / "in", "c.jpg").string()});
  REQUIRE_OK(j);
  CHECK(json_of(j)["files"][0]["format"] == "jpeg");
  CHECK(json_of(j)["files"][0]["modality"] == "");
  // A DICOM file's own modality wins over the flag.
  const auto d =
      cli.run({"--json", "upload", copy_to(small_cr(2), cli.root() / "in", "d.dcm").string(),
               "--modality", "MR"});
  REQUIRE_OK(d);
  CHECK(json_of(d)["files"][0]["modality"] == "CR");
}

TEST_CASE("upload by staff names the patient, a patient uploads only for themselves") {
  Cli cli;
  cli.init_with_admin();
  const Account alice = cli.add_user("patient", "alice@clinic.example", "Alice Patient");
  const Account bob = cli.add_user("patient", "bob@clinic.example", "Bob Patient");
  const Account doctor = cli.add_user("doctor");
  const Account pharmacist = cli.add_user("pharmacist");
  const fs::path in = cli.root() / "in";
  const fs::path file = copy_to(small_cr(1), in, "scan.dcm");

  Session dr = cli.as("doctor");
  dr.login(doctor.email, doctor.password);
  CHECK_ERROR(dr.run({"upload", file.string()}), 2, "--patient");
  CHECK_ERROR(dr.run({"upload", file.string(), "--patient", pharmacist.email}), 5, pharmacist.email,
              "not a patient");
  CHECK_ERROR(dr.run({"upload", file.string(), "--patient", "nobody@clinic.example"}), 6,
              "nobody@clinic.example");
  CHECK(count_scans(cli) == 0);
  const auto ok = dr.run({"--json", "upload", file.string(), "--patient", "Alice@Clinic.Example"});
  REQUIRE_OK(ok);
  CHECK(json_of(ok)["files"][0]["patient"]["email"] == alice.email);

  Session ph = cli.as("pharmacist");
  ph.login(pharmacist.email, pharmacist.password);
  REQUIRE_OK(
      ph.run({"upload", copy_to(small_cr(2), in, "p.dcm").string(), "--patient", bob.email}));
  Session admin = cli.as("admin");
  admin.login_admin();
  REQUIRE_OK(
      admin.run({"upload", copy_to(small_cr(3), in, "q.dcm").string(), "--patient", bob.email}));
  CHECK(count_scans(cli) == 3);

  Session pat = cli.as("alice");
  pat.login(alice.email, alice.password);
  const fs::path mine = write_png(in / "mine.png");
  CHECK_ERROR(pat.run({"upload", mine.string(), "--patient", bob.email}), 4, "permission denied",
              "patient");
  CHECK(count_scans(cli) == 3);
  REQUIRE_OK(pat.run({"upload", mine.string(), "--patient", alice.email}));
  CHECK(count_scans(cli) == 4);

  // Not logged in.
  CHECK_ERROR(cli.as("nobody").run({"upload", mine.string()}), 3);
  // No file named.
  CHECK_ERROR(pat.run({"upload"}), 2, "files");
}

TEST_CASE("upload refuses a directory, an empty file, a non-UTF-8 name and a file over the limit") {
  Cli cli;
  patient_logged_in(cli);
  const fs::path in = cli.root() / "in";
  fs::create_directories(in / "folder");
  write_text(in / "empty.dcm", "");
  const fs::path odd = copy_to(small_cr(1), in, std::string("scan-\xff.dcm"));
  write_text(in / "big.png", std::string((1 << 20) + 1, 'x'));

  CHECK_ERROR(cli.run({"upload", (in / "folder").string()}), 5, "is a directory");
  CHECK_ERROR(cli.run({"upload", (in / "empty.dcm").string()}), 5, "empty.dcm");
  const auto r = cli.run({"upload", odd.string()});
  CHECK_ERROR(r, 5, "not valid UTF-8", "scan-\\xff.dcm");
  CHECK(csss::util::is_valid_utf8(r.err));
  const auto big =
      cli.run({"upload", (in / "big.png").string()}, "", {{"CSSS_SCAN_MAX_FILE_MB", "1"}});
  CHECK_ERROR(big, 5, "big.png", "the limit is 1 MiB (scan.max_file_mb)");
  CHECK(count_scans(cli) == 0);
  CHECK(files_under(cli.data_dir() / "scans").empty());
}
