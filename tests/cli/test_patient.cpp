// csss patient (add, list, show, update, history) and csss scans note/notes: the flows, the roles,
// and every bad input with its exit status and nothing written.
#include <doctest/doctest.h>

#include "clinic.hpp"

using namespace csss::test;

namespace {

// The clinic's patients: zoe@ has record P-000001 and lukasz@ P-000002 (made with the accounts).
std::int64_t count(const Clinic& c, const std::string& sql) {
  Store s(c.cli.db_path());
  return s.query_int(sql);
}

std::int64_t audit_count(const Clinic& c, const std::string& action) {
  return count(c, "SELECT count(*) FROM audit_log WHERE action = '" + action + "'");
}

std::vector<std::string> add_args(std::vector<std::string> extra) {
  std::vector<std::string> args{"--json", "patient", "add"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string> kinds(const nlohmann::json& history) {
  std::vector<std::string> out;
  for (const auto& e : history["entries"])
    out.push_back(e["kind"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("patient add, show, list and update: staff keep records, every change audited") {
  Clinic c;
  const auto r = c.doc.run(
      add_args({"--name", "Mia Park", "--birth-date", "1990-05-01", "--sex", "female", "--mrn",
                "MRN-100", "--phone", "+44 20 7946 0958", "--email", "mia@example.org", "--address",
                "1 High Street", "--history", "Asthma since 2001."}));
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  CHECK(doc["id"] == 3);
  CHECK(doc["number"] == "P-000003");
  CHECK(doc["full_name"] == "Mia Park");
  CHECK(doc["mrn"] == "MRN-100");
  CHECK(doc["birth_date"] == "1990-05-01");
  CHECK(doc["sex"] == "female");
  CHECK(doc["phone"] == "+44 20 7946 0958");
  CHECK(doc["email"] == "mia@example.org");
  CHECK(doc["address"] == "1 High Street");
  CHECK(doc["history"] == "Asthma since 2001.");
  CHECK(doc["account"].is_null());
  CHECK(doc["created_at"] == doc["updated_at"]);
  CHECK(audit_count(c, "patient.create") == 1);

  // show by P-000003 or 3; text for people; pharmacists read too.
  const auto shown = c.pharm.run({"patient", "show", "P-000003"});
  REQUIRE_OK(shown);
  CHECK(contains(shown.out, "Patient P-000003"));
  CHECK(contains(shown.out, "MRN:         MRN-100"));
  CHECK(contains(shown.out, "Sex:         female"));
  CHECK(contains(shown.out, "  Asthma since 2001."));
  CHECK(json_of(c.admin.run({"--json", "patient", "show", "3"}))["full_name"] == "Mia Park");
  CHECK(audit_count(c, "patient.read") == 2);

  // update: only the fields given; an empty value clears.
  const auto u = c.admin.run({"--json", "patient", "update", "P-000003", "--phone", "", "--sex",
                              "other", "--history", "Asthma; penicillin allergy."});
  REQUIRE_OK(u);
  const auto updated = json_of(u);
  CHECK(updated["phone"].is_null());
  CHECK(updated["sex"] == "other");
  CHECK(updated["history"] == "Asthma; penicillin allergy.");
  CHECK(updated["mrn"] == "MRN-100");
  CHECK(audit_count(c, "patient.update") == 1);
  CHECK(count(c,
              "SELECT count(*) FROM audit_log WHERE action = 'patient.update' AND detail = "
              "'changed: sex, phone, history' AND object = 'patient:3'") == 1);
  const auto text = c.doc.run({"patient", "update", "3", "--name", "Mia Park-Lee"});
  REQUIRE_OK(text);
  CHECK(contains(text.out, "Updated patient record P-000003"));

  // list: all, by name substring, by MRN; text and JSON.
  const auto all = c.doc.run({"patient", "list"});
  REQUIRE_OK(all);
  CHECK(contains(all.out, "ID"));
  CHECK(contains(all.out, "P-000001"));
  CHECK(contains(all.out, "Mia Park-Lee"));
  CHECK(contains(all.out, "zoe@clinic.example"));
  const auto by_name = json_of(c.pharm.run({"--json", "patient", "list", "--name", "park"}));
  REQUIRE(by_name.size() == 1);
  CHECK(by_name[0]["number"] == "P-000003");
  const auto by_mrn = json_of(c.admin.run({"--json", "patient", "list", "--mrn", "MRN-100"}));
  REQUIRE(by_mrn.size() == 1);
  CHECK(by_mrn[0]["id"] == 3);
  CHECK(json_of(c.admin.run({"--json", "patient", "list", "--name", "nobody"})).empty());
  CHECK(audit_count(c, "patient.list") == 4);
}

TEST_CASE("patient add --account links a patient account to its record, one record per account") {
  Clinic c;
  // Zoë's account came with an empty record, P-000001; the clinic's record replaces it.
  const auto r = c.admin.run(add_args({"--name", "Zoë Ñúñez", "--mrn", "77654033", "--birth-date",
                                       "1980-02-29", "--account", "zoe@clinic.example"}));
  REQUIRE_OK(r);
  CHECK(json_of(r)["account"] == "zoe@clinic.example");
  CHECK(count(c, "SELECT count(*) FROM patients WHERE id = 1") == 0);
  // The patient sees their record (by number, or without one) and nothing else.
  const auto own = c.pat.run({"--json", "patient", "show"});
  REQUIRE_OK(own);
  CHECK(json_of(own)["number"] == "P-000003");
  REQUIRE_OK(c.pat.run({"patient", "show", "P-000003"}));
  // Linking the same account elsewhere, or another account here, is a conflict.
  CHECK_ERROR(c.doc.run({"patient", "update", "P-000003", "--account", "lukasz@clinic.example"}), 7,
              "linked to the account zoe@clinic.example already");
  const std::string scan = upload(c.other, write_png(c.cli.root() / "l.png", 24, 16, 9));
  (void)scan;
  const auto other = json_of(c.doc.run(add_args({"--name", "Łukasz Nowak"})));
  CHECK_ERROR(c.doc.run({"patient", "update", std::to_string(other["id"].get<int>()), "--account",
                         "lukasz@clinic.example"}),
              7, "has patient record P-000002 already");
  CHECK_ERROR(c.doc.run({"patient", "add", "--name", "X", "--account", "dr.lee@clinic.example"}), 5,
              "is a doctor account, not a patient");
  CHECK_ERROR(c.doc.run({"patient", "add", "--name", "X", "--account", "nobody@clinic.example"}), 6,
              "no account with email 'nobody@clinic.example'");
  CHECK(count(c, "SELECT count(*) FROM patients WHERE full_name = 'X'") == 0);
}

TEST_CASE("patient: a batch import with a PatientID files its scan under the record of that MRN") {
  Clinic c;
  const auto added = json_of(c.doc.run(add_args({"--name", "Mia Park", "--mrn", "77654033"})));
  const fs::path in = c.cli.root() / "incoming";
  copy_to(small_cr(1), in, "cr1.dcm");
  const auto r = c.doc.run({"--json", "batch", "import", in.string(), "--model", "none"});
  REQUIRE_OK(r);
  CHECK(json_of(r)["imported"] == 1);
  CHECK(count(c, "SELECT count(*) FROM patients WHERE external_id = '77654033'") == 1);
  CHECK(count(c, "SELECT patient_id FROM scans") == added["id"].get<int>());
  const auto h = json_of(c.doc.run({"--json", "patient", "history", "P-000003"}));
  CHECK(h["scans"] == 1);
  CHECK(kinds(h) == std::vector<std::string>{"scan"});
  CHECK(h["entries"][0]["scan"]["source_name"] == "cr1.dcm");
}

TEST_CASE("patient history: every scan, AI result, note, diagnosis, prescription and report") {
  Clinic c;
  const std::string done = c.analysed_scan(1);
  REQUIRE_OK(c.doc.run({"scans", "note", done, "--text", "Overlay misses the apex."}));
  REQUIRE_OK(c.verify(done));
  REQUIRE_OK(c.prescribe(done));
  REQUIRE_OK(c.approve(done));
  const std::string rejected = c.analysed_scan(2, "low");
  {
    Store s(c.cli.db_path());
    REQUIRE(s.exec("INSERT INTO analyses (id, scan_id, model_name, model_version, weights_sha256, "
                   "predicted_class, confidence, threshold, uncertain, probabilities, risk, "
                   "heatmap, analysed_by, created_at) VALUES ('analysis-x', '" +
                   rejected +
                   "', 'brain', '2.0', 'w', 'normal', 0.6, 0.75, 1, "
                   "'[[\"normal\",0.6],[\"tumour\",0.4]]', 'low', '', 2, 200)") == "");
  }
  REQUIRE_OK(c.doc.run({"reject", rejected, "--reason", "Blurred."}));

  const auto r = c.doc.run({"--json", "patient", "history", "P-000001"});
  REQUIRE_OK(r);
  const auto h = json_of(r);
  CHECK(h["patient"]["number"] == "P-000001");
  CHECK(h["scans"] == 2);
  const auto k = kinds(h);
  for (const char* kind :
       {"scan", "ai_result", "note", "diagnosis", "prescription", "report", "rejection"}) {
    CAPTURE(kind);
    CHECK(std::find(k.begin(), k.end(), kind) != k.end());
  }
  // Newest first.
  for (std::size_t i = 1; i < h["entries"].size(); ++i)
    CHECK(h["entries"][i - 1]["at"].get<std::string>() >= h["entries"][i]["at"].get<std::string>());
  CHECK(k.back() == "ai_result");  // the AI results were recorded at 1970-01-01T00:01:40Z
  for (const auto& e : h["entries"]) {
    const std::string kind = e["kind"];
    if (kind == "report") {
      CHECK(e["scan"]["id"] == done);
      CHECK(e["report"]["id"] == Store(c.cli.db_path()).query_text("SELECT id FROM reports"));
      CHECK(e["report"]["delivered"] == true);
      CHECK(e["by"]["role"] == "admin");
    } else if (kind == "diagnosis") {
      CHECK(e["diagnosis"] == "pneumonia");
      CHECK(e["agrees_with_ai"] == true);
      CHECK(e["notes"] == "Consolidation right lower lobe.");
      CHECK(e["by"]["name"] == "Dr Ana Lee");
    } else if (kind == "prescription") {
      CHECK(e["prescription"] == "Rest and fluids.");
    } else if (kind == "note") {
      CHECK(e["note"] == "Overlay misses the apex.");
      CHECK(e["ai"]["model"] == "cxr");
    } else if (kind == "rejection") {
      CHECK(e["reason"] == "Blurred.");
      CHECK(e["scan"]["status"] == "rejected");
    } else if (kind == "ai_result") {
      CHECK(e["ai"]["model_version"].is_string());
    }
  }
  CHECK(audit_count(c, "patient.history") == 1);

  // Text: one line per entry, texts indented below.
  const auto text = c.pharm.run({"patient", "history", "1"});
  REQUIRE_OK(text);
  CHECK(contains(text.out, "History of patient P-000001 Zoë Ñúñez"));
  CHECK(contains(text.out, "newest first"));
  CHECK(contains(text.out, "pneumonia 90%, high risk (model cxr 1.0.0)"));
  CHECK(contains(text.out, "Uncertain (normal 60%) (model brain 2.0)"));
  CHECK(contains(text.out, "    Rest and fluids."));

  // Filters: --status, --model, --class, --from/--to.
  const auto by_status =
      json_of(c.doc.run({"--json", "patient", "history", "1", "--status", "rejected"}));
  CHECK(by_status["scans"] == 1);
  for (const auto& e : by_status["entries"])
    CHECK(e["scan"]["id"] == rejected);
  const auto by_model =
      json_of(c.doc.run({"--json", "patient", "history", "1", "--model", "brain"}));
  CHECK(kinds(by_model) == std::vector<std::string>{"rejection", "scan", "ai_result"});
  const auto by_class = json_of(c.doc.run(
      {"--json", "patient", "history", "1", "--model", "cxr@1.0.0", "--class", "pneumonia"}));
  CHECK(by_class["scans"] == 2);
  const auto by_date = json_of(c.admin.run(
      {"--json", "patient", "history", "1", "--from", "1970-01-01", "--to", "1970-01-01"}));
  CHECK(kinds(by_date) == std::vector<std::string>{"ai_result", "ai_result", "ai_result"});
  const auto none = c.doc.run({"patient", "history", "1", "--class", "tumour"});
  REQUIRE_OK(none);
  CHECK(contains(none.out, "0 entries of 0 scans"));

  // The patient sees their own history, and another patient's reads as not found.
  const auto own = json_of(c.pat.run({"--json", "patient", "history"}));
  CHECK(own["entries"].size() == h["entries"].size());
  CHECK_ERROR(c.other.run({"patient", "history", "P-000001"}), 6, "no patient record P-000001");
  CHECK_ERROR(c.other.run({"patient", "show", "1"}), 6, "no patient record P-000001");
  CHECK(count(c,
              "SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND object = "
              "'patient:1'") == 2);
}

TEST_CASE("patient: bad input, unknown records and roles not allowed, nothing written") {
  Clinic c;
  REQUIRE_OK(c.doc.run(add_args({"--name", "Mia Park", "--mrn", "MRN-100"})));
  const auto records = count(c, "SELECT count(*) FROM patients");
  const auto changes = count(c, "SELECT count(*) FROM audit_log WHERE action LIKE 'patient.%'");
  // Duplicate MRN: conflict, on add and on update.
  CHECK_ERROR(c.doc.run({"patient", "add", "--name", "Other", "--mrn", "MRN-100"}), 7,
              "'MRN-100' belongs to patient record P-000003 already");
  CHECK_ERROR(c.doc.run({"patient", "update", "1", "--mrn", "MRN-100"}), 7, "P-000003");
  // Invalid date, invalid sex, and other bad values: invalid input.
  CHECK_ERROR(c.doc.run({"patient", "add", "--name", "X", "--birth-date", "1990-02-30"}), 5,
              "date of birth '1990-02-30' is not a date");
  CHECK_ERROR(c.doc.run({"patient", "update", "1", "--birth-date", "2999-01-01"}), 5,
              "between 1900-01-01 and today");
  CHECK_ERROR(c.doc.run({"patient", "add", "--name", "X", "--sex", "yes"}), 5, "invalid sex 'yes'",
              "female, male, other or unknown");
  CHECK_ERROR(c.doc.run({"patient", "update", "1", "--sex", "f2"}), 5, "invalid sex");
  CHECK_ERROR(c.doc.run({"patient", "add", "--name", "X", "--phone", "call me"}), 5,
              "invalid phone number");
  CHECK_ERROR(c.doc.run({"patient", "add", "--name", "X", "--email", "x@"}), 5, "invalid email");
  CHECK_ERROR(c.doc.run({"patient", "add", "--name", ""}), 5, "the full name is empty");
  CHECK_ERROR(c.doc.run({"patient", "history", "1", "--from", "2026-13-01"}), 5,
              "--from '2026-13-01' is not a date");
  CHECK_ERROR(c.doc.run({"patient", "history", "1", "--from", "2026-02-01", "--to", "2026-01-01"}),
              5, "is after --to");
  CHECK_ERROR(c.doc.run({"patient", "history", "1", "--status", "done"}), 2,
              "--status 'done' is not a status");
  CHECK_ERROR(c.doc.run({"patient", "show", "X-1"}), 5, "not a patient record number");
  CHECK_ERROR(c.doc.run({"patient", "add", "--mrn", "M"}), 2, "--name");
  CHECK_ERROR(c.doc.run({"patient", "update", "1"}), 2, "nothing to change");
  // Unknown records: not found.
  CHECK_ERROR(c.doc.run({"patient", "show", "P-000099"}), 6, "no patient record P-000099");
  CHECK_ERROR(c.doc.run({"patient", "update", "99", "--name", "X"}), 6, "P-000099");
  CHECK_ERROR(c.doc.run({"patient", "history", "99"}), 6, "P-000099");
  // Roles: pharmacists and patients may not add or change; patients may not list.
  CHECK_ERROR(c.pharm.run({"patient", "add", "--name", "X"}), 4,
              "a pharmacist may not add and change patient records");
  CHECK_ERROR(c.pat.run({"patient", "update", "1", "--name", "X"}), 4, "permission denied");
  CHECK_ERROR(c.pat.run({"patient", "list"}), 4, "a patient may not list patient records");
  CHECK_ERROR(c.cli.run({"patient", "list"}), 3, "not logged in");
  CHECK_ERROR(c.doc.run({"patient", "show"}), 2, "name the patient record");
  // --json: the error document.
  const auto j = c.doc.run({"--json", "patient", "show", "99"});
  CHECK(j.exit_code == 6);
  CHECK(json_of(j)["error"]["kind"] == "not_found");

  CHECK(count(c, "SELECT count(*) FROM patients") == records);
  CHECK(count(c, "SELECT count(*) FROM audit_log WHERE action LIKE 'patient.%'") == changes);
  Store s(c.cli.db_path());
  CHECK(s.query_text("SELECT full_name || '|' || sex || '|' || coalesce(birth_date, '-') FROM "
                     "patients WHERE id = 1") == "Zoë Ñúñez|unknown|-");
}

TEST_CASE("scans note: notes on an AI result, kept with author and time, never changed") {
  Clinic c;
  const std::string id = c.analysed_scan(1);
  const auto r = c.doc.run({"--json", "scans", "note", id, "--text",
                            "Overlay misses the apex.\n"
                            "Repeat in 6 weeks."});
  REQUIRE_OK(r);
  const auto note = json_of(r);
  CHECK(note["scan_id"] == id);
  CHECK(note["analysis_id"] == "analysis-1");
  CHECK(note["author"]["name"] == "Dr Ana Lee");
  CHECK(note["author"]["role"] == "doctor");
  CHECK(note["at"].is_string());
  REQUIRE_OK(
      c.pharm.run({"scans", "note", id, "--text", "No interactions.", "--analysis", "analysis-1"}));
  CHECK(audit_count(c, "scan.note") == 2);

  // Listed by scans notes and scans show, also to the patient.
  const auto notes = json_of(c.pat.run({"--json", "scans", "notes", id}));
  REQUIRE(notes.size() == 2);
  CHECK(notes[0]["text"] == "Overlay misses the apex.\nRepeat in 6 weeks.");
  CHECK(notes[1]["author"]["name"] == "Jo Kim");
  const auto shown = c.doc.run({"scans", "show", id});
  REQUIRE_OK(shown);
  CHECK(contains(shown.out, "Notes on the AI results"));
  CHECK(contains(shown.out, "by Dr Ana Lee (doctor)"));
  CHECK(contains(shown.out, "  Repeat in 6 weeks."));
  CHECK(json_of(c.doc.run({"--json", "scans", "show", id}))["notes"].size() == 2);
  const auto text = c.doc.run({"scans", "notes", id});
  REQUIRE_OK(text);
  CHECK(contains(text.out, "Note 2 by Jo Kim (pharmacist)"));

  // Immutable in the store.
  Store s(c.cli.db_path());
  CHECK(contains(s.exec("UPDATE analysis_notes SET text = 'x'"), "cannot be changed"));
  CHECK(contains(s.exec("DELETE FROM analysis_notes"), "cannot be deleted"));
  CHECK(s.query_int("SELECT count(*) FROM analysis_notes") == 2);

  // Bad input: empty text, unknown scan, unknown result, a scan without one; roles.
  CHECK_ERROR(c.doc.run({"scans", "note", id, "--text", ""}), 5, "empty");
  CHECK_ERROR(c.doc.run({"scans", "note", id, "--text", "  \n "}), 5, "empty");
  CHECK_ERROR(c.doc.run({"scans", "note", "no-such-scan", "--text", "x"}), 6,
              "no scan with ID 'no-such-scan'");
  CHECK_ERROR(c.doc.run({"scans", "note", id, "--text", "x", "--analysis", "nope"}), 6,
              "no AI result 'nope'");
  const std::string fresh = upload(c.pat, write_png(c.cli.root() / "f.png", 24, 16, 5));
  CHECK_ERROR(c.doc.run({"scans", "note", fresh, "--text", "x"}), 7, "no AI result yet");
  CHECK_ERROR(c.admin.run({"scans", "note", id, "--text", "x"}), 4,
              "an admin may not add notes on an AI result");
  CHECK_ERROR(c.pat.run({"scans", "note", id, "--text", "x"}), 4, "permission denied");
  CHECK_ERROR(c.other.run({"scans", "notes", id}), 6, "no scan with ID");
  CHECK_ERROR(c.doc.run({"scans", "note", id}), 2, "--text");
  CHECK(s.query_int("SELECT count(*) FROM analysis_notes") == 2);
  CHECK(audit_count(c, "scan.note") == 2);
}
