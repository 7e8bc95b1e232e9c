// csss scans: the list each role sees, and scans show of one's own and of another patient's scan.
#include <doctest/doctest.h>

#include "cli_fixture.hpp"
#include "scan_support.hpp"

using namespace csss::test;

namespace {

// Alice with two scans and Bob with one, staff of each role, each on a session of their own.
struct Clinic {
  Cli cli;
  Account alice, bob, carol, doctor, pharmacist;
  Session s_alice = cli.as("alice"), s_bob = cli.as("bob"), s_carol = cli.as("carol"),
          s_doctor = cli.as("doctor"), s_pharmacist = cli.as("pharmacist"),
          s_admin = cli.as("admin");
  std::string a1, a2, b1;

  Clinic() {
    cli.init_with_admin();
    alice = cli.add_user("patient", "alice@clinic.example", "Alice Patient");
    bob = cli.add_user("patient", "bob@clinic.example", "Bob Patient");
    carol = cli.add_user("patient", "carol@clinic.example", "Carol Patient");
    doctor = cli.add_user("doctor");
    pharmacist = cli.add_user("pharmacist");
    s_alice.login(alice.email, alice.password);
    s_bob.login(bob.email, bob.password);
    s_carol.login(carol.email, carol.password);
    s_doctor.login(doctor.email, doctor.password);
    s_pharmacist.login(pharmacist.email, pharmacist.password);
    s_admin.login_admin();
    const fs::path in = cli.root() / "in";
    a1 = upload(s_alice, copy_to(small_cr(1), in, "a1.dcm"));
    a2 = upload(s_alice, write_png(in / "a2.png"), {"--modality", "DX", "--body-part", "CHEST"});
    b1 = upload(s_bob, copy_to(small_cr(2), in, "b1.dcm"));
  }
};

std::vector<std::string> ids_of(const nlohmann::json& list) {
  std::vector<std::string> out;
  for (const auto& s : list)
    out.push_back(s["id"].get<std::string>());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("scans lists a patient's own scans and every scan for staff") {
  Clinic c;
  const auto mine = c.s_alice.run({"scans"});
  REQUIRE_OK(mine);
  const auto rows = lines_of(mine.out);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].starts_with("ID"));
  CHECK(contains(rows[0], "STATUS"));
  CHECK(contains(rows[0], "PATIENT"));
  CHECK(sorted(uuids_in(mine.out)) == sorted({c.a1, c.a2}));
  CHECK(contains(mine.out, "Alice Patient"));
  CHECK(contains(mine.out, "pending_ai"));
  CHECK_FALSE(contains(mine.out, "Bob"));

  const auto j = c.s_alice.run({"--json", "scans"});
  REQUIRE_OK(j);
  const auto doc = json_of(j);
  REQUIRE(doc.is_array());
  CHECK(ids_of(doc) == sorted({c.a1, c.a2}));
  for (const auto& s : doc) {
    CHECK(s["patient"]["email"] == c.alice.email);
    CHECK(s["status"] == "pending_ai");
    CHECK(s["sha256"].get<std::string>().size() == 64);
    CHECK(s.contains("modality"));
    CHECK(s.contains("uploaded_at"));
    CHECK_FALSE(s.contains("analyses"));
  }

  const auto bob = c.s_bob.run({"--json", "scans"});
  REQUIRE_OK(bob);
  CHECK(ids_of(json_of(bob)) == std::vector<std::string>{c.b1});

  for (const Session* staff : {&c.s_doctor, &c.s_pharmacist, &c.s_admin}) {
    INFO(staff->name());
    const auto r = staff->run({"--json", "scans", "--status", "all"});
    REQUIRE_OK(r);
    CHECK(ids_of(json_of(r)) == sorted({c.a1, c.a2, c.b1}));
    // Without --status, the role's worklist: new scans await the doctor only.
    const auto worklist = staff->run({"--json", "scans"});
    REQUIRE_OK(worklist);
    CHECK(json_of(worklist).size() == (staff == &c.s_doctor ? 3u : 0u));
    const auto t = staff->run({"scans", "--status", "all"});
    REQUIRE_OK(t);
    CHECK(contains(t.out, "Alice Patient"));
    CHECK(contains(t.out, "Bob Patient"));
  }

  const auto none = c.s_carol.run({"scans"});
  REQUIRE_OK(none);
  CHECK(none.out == "No scans.\n");
  const auto none_json = c.s_carol.run({"--json", "scans"});
  REQUIRE_OK(none_json);
  CHECK(json_of(none_json) == nlohmann::json::array());

  CHECK_ERROR(c.cli.as("nobody").run({"scans"}), 3);
}

TEST_CASE("scans show: one's own scan, another patient's reads as not found") {
  Clinic c;
  const auto own = c.s_alice.run({"scans", "show", c.a1});
  REQUIRE_OK(own);
  CHECK(own.out.starts_with("Scan " + c.a1 + "\n"));
  CHECK(contains(own.out, "Patient:     Alice Patient\n"));
  CHECK(contains(own.out, "Status:      pending_ai\n"));
  CHECK(contains(own.out, "Format:      dicom 16x16\n"));
  CHECK(contains(own.out, "Modality:    CR\n"));
  CHECK(contains(own.out, "Body part:   CSPINE\n"));
  CHECK(contains(own.out, "(a1.dcm)"));
  CHECK(contains(own.out, "Study UID:   1.3.6.1.4.1.5962.1.1.0.0.0.1196527414.5534.0.1\n"));
  CHECK(contains(own.out, "No AI analysis yet."));

  const auto j = c.s_alice.run({"--json", "scans", "show", c.a2});
  REQUIRE_OK(j);
  const auto doc = json_of(j);
  CHECK(doc["id"] == c.a2);
  CHECK(doc["format"] == "png");
  CHECK(doc["modality"] == "DX");
  CHECK(doc["body_part"] == "CHEST");
  CHECK(doc["patient"]["email"] == c.alice.email);
  CHECK(doc["patient"]["name"] == "Alice Patient");
  CHECK(doc["analyses"] == nlohmann::json::array());

  // Bob's scan and an ID that exists nowhere get the same answer.
  const std::string random_id = "3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17";
  const auto other = c.s_alice.run({"scans", "show", c.b1});
  const auto missing = c.s_alice.run({"scans", "show", random_id});
  CHECK_ERROR(other, 6, "no scan with ID '" + c.b1 + "'");
  CHECK_ERROR(missing, 6, "no scan with ID '" + random_id + "'");
  CHECK(other.err == "csss: error: no scan with ID '" + c.b1 + "'\n");
  CHECK(missing.err == "csss: error: no scan with ID '" + random_id + "'\n");
  const auto other_json = c.s_alice.run({"--json", "scans", "show", c.b1});
  CHECK(error_problem(other_json, 6, {c.b1}, true) == "");
  CHECK(json_of(other_json)["error"]["kind"] == "not_found");
  {
    Store s(c.cli.db_path());
    CHECK(
        s.query_int("SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND actor = '" +
                    c.alice.email + "' AND object = 'scan:" + c.b1 + "'") == 2);
    CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'scan.read' AND actor = '" +
                      c.alice.email + "'") == 2);
  }

  // Staff see any scan.
  for (const Session* staff : {&c.s_doctor, &c.s_pharmacist, &c.s_admin}) {
    INFO(staff->name());
    const auto r = staff->run({"--json", "scans", "show", c.b1});
    REQUIRE_OK(r);
    CHECK(json_of(r)["patient"]["email"] == c.bob.email);
    CHECK_ERROR(staff->run({"scans", "show", random_id}), 6, random_id);
  }
  CHECK_ERROR(c.s_alice.run({"scans", "show"}), 2);
}
