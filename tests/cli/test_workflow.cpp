// The four-role workflow: verify, prescribe, approve (electronic signatures), reject and return,
// worklists, scans show and check, the store's refusal of any other status change, concurrency,
// and bad input. AI results are written with the real `csss analyze` in the end-to-end case;
// elsewhere an analysis row is added to the store directly, to keep LibTorch out of the loop.
#include <doctest/doctest.h>

#include <thread>

#include "cli_fixture.hpp"
#include "clinic.hpp"
#include "scan_support.hpp"

using namespace csss::test;

TEST_CASE("workflow: a scan goes through all four roles, every step signed, checked and audited") {
  Clinic c;
  // The real model run: the test model imported and run by the doctor.
  REQUIRE_OK(c.admin.run(import_args("cxr-test")));
  const std::string id = upload(c.pat, chest_cr());
  CHECK(c.status(id) == "pending_ai");
  // Verification needs an AI result.
  CHECK_ERROR(c.verify(id), 7, "no AI result");
  REQUIRE_OK(c.doc.run({"analyze", id}));
  CHECK(c.status(id) == "ai_analysed");

  const auto v = c.verify(id, {"--agree", "--json"});
  REQUIRE(v.exit_code == 0);
  const auto sig = json_of(v);
  CHECK(sig["meaning"] == "verified");
  CHECK(sig["signer"]["name"] == "Dr Ana Lee");
  CHECK(sig["signer"]["role"] == "doctor");
  CHECK(sig["signed_at"].is_string());
  CHECK(sig["content"]["notes"] == "Consolidation right lower lobe.");
  CHECK(sig["content"]["agrees_with_ai"] == true);
  CHECK(sig["content_sha256"].get<std::string>().size() == 64);
  CHECK(c.status(id) == "doctor_verified");

  REQUIRE_OK(c.prescribe(id));
  CHECK(c.status(id) == "pharmacist_completed");
  const auto a = c.approve(id);
  REQUIRE_OK(a);
  CHECK(contains(a.out, "approved by Ada Admin (admin)"));
  // Approval issues the report and emails it (tests/cli/test_report.cpp): the scan moves on.
  CHECK(c.status(id) == "report_delivered");

  // The whole record, for staff and for the patient; another patient sees nothing.
  const auto shown = c.pat.run({"scans", "show", id, "--json"});
  REQUIRE(shown.exit_code == 0);
  const auto record = json_of(shown);
  CHECK(record["signatures"].size() == 3);
  CHECK(record["history"].size() == 5);  // analyse, verify, prescribe, approve, deliver
  CHECK(record["history"][3]["to"] == "approved");
  CHECK(record["history"][4]["to"] == "report_delivered");
  CHECK_ERROR(c.other.run({"scans", "show", id}), 6, "no scan with ID");
  CHECK_ERROR(c.other.run({"scans", "check", id}), 6, "no scan with ID");

  const auto check = c.doc.run({"scans", "check", id});
  REQUIRE_OK(check);
  CHECK(contains(check.out, "valid"));
  REQUIRE_OK(c.admin.run({"audit", "verify"}));
  Store s(c.cli.db_path());
  for (const char* action : {"scan.verify", "scan.prescribe", "scan.approve", "scan.read"}) {
    CAPTURE(action);
    CHECK(s.query_int(std::string("SELECT count(*) FROM audit_log WHERE action = '") + action +
                      "' AND object = 'scan:" + id + "'") >= 1);
  }
}

TEST_CASE("workflow: signatures need the signer's password and cannot be changed") {
  Clinic c;
  const std::string id = c.analysed_scan();
  const auto wrong = c.doc.run({"verify", id, "--agree", "--notes", "ok", "--password-stdin"},
                               "not-the-password\n");
  CHECK_ERROR(wrong, 3, "wrong password");
  CHECK(c.status(id) == "ai_analysed");
  Store s(c.cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM signatures") == 0);
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'signature.failure'") == 1);

  REQUIRE_OK(c.verify(id));
  // The store refuses to change or delete a signed record.
  CHECK(contains(s.exec("UPDATE signatures SET content = 'x'"), "cannot be changed"));
  CHECK(contains(s.exec("DELETE FROM signatures"), "cannot be deleted"));
  // A correction is a signed addendum; the original stays.
  const auto add =
      c.verify(id, {"--addendum", "--diagnosis", "normal", "--json"}, "On review: normal.");
  REQUIRE(add.exit_code == 0);
  const auto addendum = json_of(add);
  CHECK(addendum["amends"].is_string());
  CHECK(addendum["content"]["agrees_with_ai"] == false);
  CHECK(s.query_int("SELECT count(*) FROM signatures") == 2);
  CHECK(c.status(id) == "doctor_verified");
}

TEST_CASE("workflow: scans check names what no longer matches") {
  Clinic c;
  const std::string id = c.analysed_scan();
  REQUIRE_OK(c.verify(id));
  REQUIRE_OK(c.prescribe(id));
  REQUIRE_OK(c.doc.run({"scans", "check", id}));
  Store s(c.cli.db_path());
  // Behind the tool's back: the AI result that was verified is changed.
  REQUIRE(s.exec("UPDATE analyses SET predicted_class = 'normal' WHERE scan_id = '" + id + "'") ==
          "");
  const auto r = c.doc.run({"scans", "check", id});
  CHECK_ERROR(r, 9, "the AI result it verified", "was changed");
  // The signed content itself (triggers dropped, as an attacker with the file could).
  REQUIRE(s.exec("DROP TRIGGER signatures_immutable_update") == "");
  REQUIRE(s.exec("UPDATE signatures SET content = replace(content, 'Rest', 'Rust') WHERE kind = "
                 "'prescription'") == "");
  const auto r2 = c.doc.run({"scans", "check", id, "--json"});
  CHECK(r2.exit_code == 9);
  const auto doc = json_of(r2);
  CHECK(doc["valid"] == false);
  CHECK(contains(doc["problems"].dump(), "prescription signature"));
  CHECK(contains(doc["problems"].dump(), "the signed content was changed"));
}

TEST_CASE("workflow: steps in the wrong state, by the wrong role, and illegal status changes") {
  Clinic c;
  const std::string id = c.analysed_scan();
  CHECK_ERROR(c.prescribe(id), 7, "moved on", "ai_analysed", "doctor_verified");
  CHECK_ERROR(c.approve(id), 7, "moved on");
  // Roles: each step only by its role (the policy), refused before the password is asked.
  CHECK_ERROR(c.pharm.run({"verify", id, "--agree", "--notes", "x", "--password-stdin"}, "p\n"), 4,
              "may not add clinical notes");
  CHECK_ERROR(c.pat.run({"verify", id, "--agree", "--notes", "x", "--password-stdin"}, "p\n"), 4);
  CHECK_ERROR(c.doc.run({"prescribe", id, "--text", "x", "--password-stdin"}, "p\n"), 4,
              "may not add a prescription");
  CHECK_ERROR(c.pharm.run({"approve", id, "--password-stdin"}, "p\n"), 4, "may not approve");
  CHECK_ERROR(c.doc.run({"return", id, "--to", "doctor", "--reason", "x"}), 4);
  CHECK_ERROR(c.admin.run({"reject", id, "--reason", "x"}), 4);
  // The store itself refuses a status change that is not a step.
  Store s(c.cli.db_path());
  CHECK(contains(s.exec("UPDATE scans SET status = 'approved' WHERE id = '" + id + "'"),
                 "not a step of the workflow"));
  CHECK(contains(s.exec("DELETE FROM workflow_transitions"), "cannot be changed"));
  CHECK(c.status(id) == "ai_analysed");
  CHECK_ERROR(c.verify("no-such-scan"), 6, "no-such-scan");
}

TEST_CASE("workflow: rejection with a reason the patient sees, and returns by the admin") {
  Clinic c;
  const std::string id = c.analysed_scan();
  REQUIRE_OK(c.doc.run({"reject", id, "--reason", "Image cut off above the diaphragm"}));
  CHECK(c.status(id) == "rejected");
  const auto seen = c.pat.run({"scans", "show", id});
  REQUIRE_OK(seen);
  CHECK(contains(seen.out, "rejected  by Dr Ana Lee (doctor): Image cut off above the diaphragm"));
  CHECK_ERROR(c.verify(id), 7, "moved on");

  const std::string id2 = c.analysed_scan(1);
  REQUIRE_OK(c.verify(id2));
  REQUIRE_OK(c.prescribe(id2));
  REQUIRE_OK(c.admin.run({"return", id2, "--to", "pharmacist", "--reason", "Dose for weight?"}));
  CHECK(c.status(id2) == "doctor_verified");
  REQUIRE_OK(c.prescribe(id2, {"--text", "Rest, fluids; dose by weight."}));
  REQUIRE_OK(c.admin.run({"return", id2, "--to", "doctor", "--reason", "Second opinion"}));
  CHECK(c.status(id2) == "ai_analysed");
  REQUIRE_OK(c.verify(id2, {"--agree"}, "Confirmed."));
  REQUIRE_OK(c.prescribe(id2));
  REQUIRE_OK(c.approve(id2));
  REQUIRE_OK(c.doc.run({"scans", "check", id2}));
}

TEST_CASE("workflow: worklists per role, high-risk and uncertain first, filters") {
  Clinic c;
  const std::string low = c.analysed_scan(1, "low");
  const std::string high = c.analysed_scan(2, "high");
  const std::string unsure = c.analysed_scan(3, "low", true);
  const std::string pending = upload(c.pat, write_png(c.cli.root() / "p.png", 24, 16, 9));
  const auto list = json_of(c.doc.run({"scans", "--json"}));
  REQUIRE(list.size() == 4);
  // High-risk and uncertain first (oldest first among them), then the oldest of the rest.
  CHECK(list[0]["id"] == high);
  CHECK(list[1]["id"] == unsure);
  CHECK(list[2]["id"] == low);
  CHECK(list[3]["id"] == pending);
  CHECK(json_of(c.pharm.run({"scans", "--json"})).empty());
  REQUIRE_OK(c.verify(high));
  const auto ph = json_of(c.pharm.run({"scans", "--json"}));
  REQUIRE(ph.size() == 1);
  CHECK(ph[0]["id"] == high);
  CHECK(json_of(c.admin.run({"scans", "--json"})).empty());
  CHECK(json_of(c.admin.run({"scans", "--status", "all", "--json"})).size() == 4);
  CHECK(json_of(c.doc.run({"scans", "--status", "doctor_verified", "--json"})).size() == 1);
  CHECK(json_of(c.doc.run({"scans", "--status", "all", "--search", "Zoë", "--json"})).size() == 4);
  CHECK(json_of(c.doc.run({"scans", "--status", "all", "--search", "%", "--json"})).empty());
  CHECK(json_of(c.doc.run({"scans", "--status", "all", "--search", "' OR 1=1 --", "--json"}))
            .empty());
  CHECK(
      json_of(c.doc.run({"scans", "--status", "all", "--patient", c.other_patient.email, "--json"}))
          .empty());
  CHECK_ERROR(c.doc.run({"scans", "--status", "done"}), 2, "--status");
  // A patient sees only their own, whatever they ask for.
  CHECK(json_of(c.pat.run({"scans", "--json"})).size() == 4);
  CHECK(json_of(c.other.run({"scans", "--status", "all", "--json"})).empty());
  CHECK(json_of(c.other.run({"scans", "--patient", c.patient.email, "--json"})).empty());
}

TEST_CASE("workflow: two doctors verify at once: exactly one succeeds, the other is told") {
  Clinic c;
  const Account second = c.cli.add_user("doctor", "dr.two@clinic.example", "Dr Two");
  Session doc2 = c.cli.as("doctor2");
  doc2.login(second.email, second.password);
  for (int round = 0; round < 3; ++round) {
    const std::string id = c.analysed_scan(10 + round);
    ProcessResult a, b;
    std::thread t1([&] { a = c.verify(id); });
    std::thread t2([&] {
      b = doc2.run({"verify", id, "--agree", "--notes", "Mine.", "--password-stdin"},
                   second.password + "\n");
    });
    t1.join();
    t2.join();
    const int ok = (a.exit_code == 0) + (b.exit_code == 0);
    CHECK(ok == 1);
    const ProcessResult& loser = a.exit_code == 0 ? b : a;
    CHECK_ERROR(loser, 7, "moved on");
    Store s(c.cli.db_path());
    CHECK(s.query_int("SELECT count(*) FROM signatures WHERE scan_id = '" + id + "'") == 1);
    CHECK(s.query_int("SELECT count(*) FROM scan_events WHERE scan_id = '" + id +
                      "' AND step = 'verify'") == 1);
  }
}

TEST_CASE("workflow: bad input is refused with one line, and text is stored exactly") {
  Clinic c;
  const std::string id = c.analysed_scan();
  CHECK_ERROR(c.verify(id, {"--agree"}, ""), 5, "notes are empty");
  CHECK_ERROR(c.verify(id, {"--agree"}, "   "), 5, "notes are empty");
  CHECK_ERROR(c.verify(id, {"--agree"}, std::string(20001, 'x')), 5, "20001 bytes");
  CHECK_ERROR(c.verify(id, {"--agree"}, "bell\a"), 5, "control characters");
  CHECK_ERROR(c.verify(id, {"--diagnosis", "flu"}), 5, "unknown diagnosis 'flu'",
              "normal, pneumonia");
  CHECK_ERROR(c.verify(id, {}), 2, "--agree");
  CHECK_ERROR(c.doc.run({"verify", id, "--agree", "--password-stdin"}, "x\n"), 2, "--notes");
  CHECK(c.status(id) == "ai_analysed");

  const std::string tricky = "Robert'); DROP TABLE scans; -- «Zoë» 肺炎 \"quoted\"\nsecond line";
  REQUIRE_OK(c.verify(id, {"--agree"}, tricky));
  const auto shown = json_of(c.doc.run({"scans", "show", id, "--json"}));
  CHECK(shown["signatures"][0]["content"]["notes"] == tricky);

  // Templates: unknown template, unknown field, missing field; then a filled one.
  CHECK_ERROR(c.prescribe(id, {"--template", "nope"}), 5, "unknown prescription template 'nope'");
  CHECK_ERROR(c.prescribe(id, {"--template", "antibiotic-oral", "--set", "drug=X", "--set",
                               "dose=1", "--set", "colour=red"}),
              5, "no field 'colour'");
  CHECK_ERROR(c.prescribe(id, {"--template", "antibiotic-oral", "--set", "drug=X"}), 5,
              "--set dose=VALUE");
  CHECK_ERROR(c.prescribe(id, {"--template", "antibiotic-oral", "--set", "drugX"}), 2, "KEY=VALUE");
  const auto filled = c.prescribe(id, {"--template", "antibiotic-oral", "--set", "drug=Amoxicillin",
                                       "--set", "dose=500 mg", "--json"});
  REQUIRE(filled.exit_code == 0);
  CHECK(json_of(filled)["content"]["text"] ==
        "Amoxicillin 500 mg by mouth three times a day for 5 days. Review in 3 days or sooner if "
        "worse.");
  const auto listed = json_of(c.pharm.run(
      {"prescribe", "--list-templates", "--diagnosis", "bacterial_pneumonia", "--json"}));
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["name"] == "antibiotic-oral");
  CHECK_ERROR(c.doc.run({"reject", id, "--reason", ""}), 5, "reason");
}
