// lib/patients: patient records (add, update, list, show, linking an account), the MRN that batch
// imports find a record by, a patient's history newest first with its filters, and notes on AI
// results (lib/workflow), each change and read in the audit log.
#include <doctest/doctest.h>

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "auth/accounts.hpp"
#include "crypto/hash.hpp"
#include "imaging/image.hpp"
#include "patients/patients.hpp"
#include "scans/scans.hpp"
#include "store/database.hpp"
#include "support/check_error.hpp"
#include "support/fakes.hpp"
#include "support/principal.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"
#include "workflow/workflow.hpp"

using csss::test::principal_of;
using namespace csss::patients;
using csss::ErrorKind;
using csss::audit::AuditLog;
using csss::audit::Filter;
using csss::auth::Principal;
using csss::auth::Role;
using csss::auth::User;
using csss::store::Database;
using csss::store::OpenMode;
using csss::test::check_error;
using csss::test::contains;
namespace fs = std::filesystem;

namespace {

std::string png_bytes(int seed) {
  csss::imaging::Image img;
  img.width = 8;
  img.height = 8;
  img.channels = 1;
  for (int i = 0; i < 64; ++i)
    img.pixels.push_back(static_cast<std::uint8_t>((i * 7 + seed * 31) & 0xFF));
  const auto png = csss::imaging::encode_png(img);
  return {png.begin(), png.end()};
}

// A store with an admin, a doctor, a pharmacist, two patients (each with the record made with
// the account: alice P-000001, bob P-000002) and an importer.
struct World {
  csss::test::TempDir dir;
  csss::test::ManualClock clock;
  fs::path data = dir / "data";
  Database db = open_db();
  AuditLog audit{db, clock};
  csss::auth::Accounts accounts{db, clock, audit, csss::auth::AuthSettings{}};
  Principal admin = principal_of(accounts.create_first_admin(
      {"admin@clinic.example", "Ada Admin", Role::admin, "admin-password-1"}));
  Principal alice = add("alice@clinic.example", "Alice Patient", Role::patient, "1970-01-02");
  Principal bob = add("bob@clinic.example", "Bob Patient", Role::patient);
  Principal doctor = add("dr.lee@clinic.example", "Dr Ana Lee", Role::doctor);
  Principal pharmacist = add("pharma@clinic.example", "Phil Pharma", Role::pharmacist);
  Principal importer = add("import@clinic.example", "PACS", Role::importer);
  csss::scans::Scans scans{db, clock, audit, data, csss::imaging::Limits{}};
  csss::workflow::Workflow flow{db, clock, audit, scans};
  Patients patients{db, clock, audit, scans, flow};

  Database open_db() {
    csss::util::ensure_private_dir(data);
    return Database::open(data / "csss.db", OpenMode::create);
  }
  Principal add(const std::string& email, const std::string& name, Role role,
                const std::string& birth_date = "") {
    return principal_of(accounts.add(
        admin, {email, name, role, role == Role::importer ? "" : "a-long-password-1", birth_date}));
  }
  std::int64_t count(const std::string& sql) {
    auto st = db.prepare(sql);
    REQUIRE(st.step());
    return st.get_int(0);
  }
  std::int64_t audit_rows(const std::string& action) const {
    Filter f;
    f.action = action;
    return static_cast<std::int64_t>(audit.list(f).size());
  }
  // A PNG scan stored by a batch import for the patient with `mrn`.
  csss::scans::Scan imported(const std::string& mrn, int seed) {
    const std::string bytes = png_bytes(seed);
    const auto span = std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    csss::scans::Scans::ImportedFile file{bytes, csss::crypto::sha256_hex(bytes),
                                          csss::imaging::decode(span, {}, "x.png"),
                                          "in/" + std::to_string(seed) + ".png"};
    return scans.import(importer, file, {mrn, "", ""}).scan;
  }
  // An AI result written to the store (LibTorch stays out of these tests), at the clock's time.
  void analysis(const std::string& scan_id, const std::string& id, const std::string& model,
                const std::string& label) {
    db.prepare(
          "INSERT INTO analyses (id, scan_id, model_name, model_version, weights_sha256, "
          "predicted_class, confidence, threshold, uncertain, probabilities, risk, heatmap, "
          "analysed_by, created_at) VALUES (?, ?, ?, '1.0', 'w', ?, 0.9, 0.75, 0, "
          "'[[\"a\",0.9],[\"b\",0.1]]', 'high', '', ?, ?)")
        .bind_all(id, scan_id, model, label, doctor.user_id, clock.now())
        .run();
    db.prepare("UPDATE scans SET status = 'ai_analysed' WHERE id = ? AND status = 'pending_ai'")
        .bind(1, scan_id)
        .run();
  }
};

PatientFields named(const std::string& name) {
  PatientFields f;
  f.full_name = name;
  return f;
}

}  // namespace

TEST_CASE("patients: record numbers, sexes") {
  CHECK(format_id(42) == "P-000042");
  CHECK(format_id(1234567) == "P-1234567");
  CHECK(parse_id("P-000042") == 42);
  CHECK(parse_id("p-42") == 42);
  CHECK(parse_id("42") == 42);
  for (const char* bad : {"", "P-", "P-0", "0", "-4", "P42", "4x", "P-00000000000001", " 42"})
    check_error([&] { parse_id(bad); }, ErrorKind::invalid_input, "P-000042 or 42");
  CHECK(parse_sex("female") == Sex::female);
  CHECK(parse_sex("M") == Sex::male);
  CHECK(parse_sex(" Other ") == Sex::other);
  CHECK(parse_sex("u") == Sex::unknown);
  check_error([&] { parse_sex("x"); }, ErrorKind::invalid_input, "female, male, other or unknown");
  check_error([&] { parse_sex(""); }, ErrorKind::invalid_input, "invalid sex");
}

TEST_CASE("patients: add, show, update and list, each audited") {
  World w;
  PatientFields f = named("  Mia Park ");
  f.birth_date = "1990-05-01";
  f.sex = "female";
  f.mrn = " MRN-100 ";
  f.phone = "+44 20 7946 0958";
  f.email = "Mia@Example.org";
  f.address = "1 High Street\nLondon";
  f.history = "Asthma since 2001.\n\tInhaler.";
  const Patient p = w.patients.add(w.doctor, f);
  CHECK(p.id == 3);
  CHECK(p.full_name == "Mia Park");
  CHECK(p.mrn == "MRN-100");
  CHECK(p.birth_date == "1990-05-01");
  CHECK(p.sex == Sex::female);
  CHECK(p.phone == "+44 20 7946 0958");
  CHECK(p.email == "mia@example.org");
  CHECK(p.address == "1 High Street\nLondon");
  CHECK(p.history == "Asthma since 2001.\n\tInhaler.");
  CHECK_FALSE(p.user_id);
  CHECK(p.created_at == w.clock.now());
  CHECK(p.updated_at == w.clock.now());
  CHECK(w.audit_rows("patient.create") == 1);

  // Staff read any record; each read audited.
  CHECK(w.patients.show(w.pharmacist, 3).full_name == "Mia Park");
  CHECK(w.patients.show(w.admin, 1).full_name == "Alice Patient");
  CHECK(w.patients.show(w.admin, 1).birth_date == "1970-01-02");
  CHECK(w.audit_rows("patient.read") == 3);

  w.clock.advance_minutes(5);
  PatientFields change;
  change.phone = "";
  change.sex = "other";
  change.history = "Asthma; penicillin allergy.";
  const Patient u = w.patients.update(w.admin, 3, change);
  CHECK(u.phone.empty());
  CHECK(u.sex == Sex::other);
  CHECK(u.history == "Asthma; penicillin allergy.");
  CHECK(u.mrn == "MRN-100");  // not given: unchanged
  CHECK(u.email == "mia@example.org");
  CHECK(u.created_at == p.created_at);
  CHECK(u.updated_at == p.created_at + 300);
  CHECK(w.audit_rows("patient.update") == 1);
  Filter upd;
  upd.action = "patient.update";
  CHECK(w.audit.list(upd).front().detail == "changed: sex, phone, history");

  // list: by name (substring, any case), by MRN; staff only.
  const auto all = w.patients.list(w.doctor, {});
  REQUIRE(all.size() == 3);
  CHECK(all[0].full_name == "Alice Patient");  // by name
  CHECK(all[2].full_name == "Mia Park");
  CHECK(w.patients.list(w.pharmacist, {"patient", ""}).size() == 2);
  CHECK(w.patients.list(w.pharmacist, {"PARK", ""}).size() == 1);
  CHECK(w.patients.list(w.pharmacist, {"%", ""}).empty());  // a wildcard is a character
  CHECK(w.patients.list(w.admin, {"", "MRN-100"}).at(0).id == 3);
  CHECK(w.patients.list(w.admin, {"", "MRN-1"}).empty());  // the MRN is matched exactly
  CHECK(w.audit_rows("patient.list") == 6);
}

TEST_CASE("patients: bad input changes nothing") {
  World w;
  PatientFields first = named("Mia Park");
  first.mrn = "MRN-100";
  w.patients.add(w.doctor, first);
  const auto rows = w.count("SELECT count(*) FROM patients");
  const auto creates = w.audit_rows("patient.create");
  const auto with = [](auto set) {
    PatientFields f = named("Some One");
    set(f);
    return f;
  };
  check_error([&] { w.patients.add(w.doctor, with([](auto& f) { f.mrn = "MRN-100"; })); },
              ErrorKind::conflict, "belongs to patient record P-000003 already");
  check_error([&] { w.patients.add(w.doctor, with([](auto& f) { f.birth_date = "1990-02-30"; })); },
              ErrorKind::invalid_input, "not a date");
  check_error([&] { w.patients.add(w.doctor, with([](auto& f) { f.birth_date = "2999-01-01"; })); },
              ErrorKind::invalid_input, "between 1900-01-01 and today");
  check_error([&] { w.patients.add(w.doctor, with([](auto& f) { f.sex = "yes"; })); },
              ErrorKind::invalid_input, "invalid sex 'yes'");
  check_error([&] { w.patients.add(w.doctor, with([](auto& f) { f.phone = "call me"; })); },
              ErrorKind::invalid_input, "invalid phone number");
  check_error([&] { w.patients.add(w.doctor, with([](auto& f) { f.email = "nope"; })); },
              ErrorKind::invalid_input, "invalid email");
  check_error(
      [&] { w.patients.add(w.doctor, with([](auto& f) { f.mrn = std::string(65, '1'); })); },
      ErrorKind::invalid_input, "at most 64");
  check_error([&] { w.patients.add(w.doctor, with([](auto& f) { f.history = "a\x01"; })); },
              ErrorKind::invalid_input, "control characters");
  check_error([&] { w.patients.add(w.doctor, with([](auto& f) { f.full_name = " "; })); },
              ErrorKind::invalid_input, "name is empty");
  check_error([&] { w.patients.add(w.doctor, PatientFields{}); }, ErrorKind::usage, "--name");
  CHECK(w.count("SELECT count(*) FROM patients") == rows);
  CHECK(w.audit_rows("patient.create") == creates);

  // update: an unknown record, another record's MRN, nothing to change.
  PatientFields mrn;
  mrn.mrn = "MRN-100";
  check_error([&] { w.patients.update(w.doctor, 99, named("X")); }, ErrorKind::not_found,
              "no patient record P-000099");
  check_error([&] { w.patients.update(w.doctor, 1, mrn); }, ErrorKind::conflict,
              "belongs to patient record P-000003");
  check_error([&] { w.patients.update(w.doctor, 1, PatientFields{}); }, ErrorKind::usage,
              "nothing to change");
  w.patients.update(w.doctor, 3, mrn);  // its own MRN again: no conflict
  CHECK(w.count("SELECT count(*) FROM patients WHERE external_id IS NULL AND id = 1") == 1);
  CHECK(w.audit_rows("patient.update") == 1);
}

TEST_CASE("patients: roles, and a patient reads only their own record") {
  World w;
  const auto denied = w.audit_rows("access.denied");
  check_error([&] { w.patients.add(w.pharmacist, named("X")); }, ErrorKind::permission,
              "a pharmacist may not add and change patient records (allowed: doctor, admin)");
  check_error([&] { w.patients.add(w.alice, named("X")); }, ErrorKind::permission);
  check_error([&] { w.patients.update(w.bob, 2, named("X")); }, ErrorKind::permission);
  check_error([&] { w.patients.list(w.alice, {}); }, ErrorKind::permission,
              "may not list patient records");
  check_error([&] { w.patients.show(w.importer, 1); }, ErrorKind::permission);
  check_error([&] { w.patients.history(w.importer, 1, {}); }, ErrorKind::permission);
  CHECK(w.audit_rows("access.denied") == denied + 6);

  CHECK(w.patients.own_record(w.alice) == 1);
  CHECK(w.patients.show(w.alice, 1).full_name == "Alice Patient");
  CHECK(w.patients.history(w.alice, 1, {}).entries.empty());
  // Another patient's record reads like one that does not exist, and the attempt is audited.
  check_error([&] { w.patients.show(w.alice, 2); }, ErrorKind::not_found,
              "no patient record P-000002");
  check_error([&] { w.patients.show(w.alice, 99); }, ErrorKind::not_found,
              "no patient record P-000099");
  check_error([&] { w.patients.history(w.alice, 2, {}); }, ErrorKind::not_found,
              "no patient record P-000002");
  CHECK(w.audit_rows("access.denied") == denied + 8);
  check_error([&] { w.patients.own_record(w.doctor); }, ErrorKind::usage);
}

TEST_CASE("patients: an account is linked to one record, and its empty record gives way") {
  World w;
  // Alice's account came with an empty record (P-000001, with her date of birth). Staff add the
  // record she has at the clinic and link her account to it.
  PatientFields f = named("Alice Patient");
  f.mrn = "MRN-7";
  f.account = "ALICE@clinic.example";
  const Patient p = w.patients.add(w.doctor, f);
  CHECK(p.account_email == "alice@clinic.example");
  CHECK(p.user_id == w.alice.user_id);
  CHECK(p.birth_date == "1970-01-02");  // moved over from the empty record
  CHECK(w.count("SELECT count(*) FROM patients WHERE id = 1") == 0);
  CHECK(w.patients.own_record(w.alice) == p.id);
  Filter create;
  create.action = "patient.create";
  CHECK(contains(w.audit.list(create).back().detail, "its empty record P-000001 removed"));

  // One record per account; one account per record.
  PatientFields bob_link;
  bob_link.account = "bob@clinic.example";
  check_error([&] { w.patients.update(w.doctor, p.id, bob_link); }, ErrorKind::conflict,
              "linked to the account alice@clinic.example already");
  // Bob's record holds a scan: it stays, and no second record gets his account.
  const auto scan = w.scans.upload(w.bob,
                                   [&] {
                                     const fs::path file = w.dir / "b.png";
                                     csss::util::write_private_file(file, png_bytes(1));
                                     return file;
                                   }(),
                                   std::nullopt, {});
  const Patient other = w.patients.add(w.doctor, named("Robert Patient"));
  check_error([&] { w.patients.update(w.doctor, other.id, bob_link); }, ErrorKind::conflict,
              "has patient record P-000002 already");
  CHECK(w.patients.show(w.doctor, other.id).account_email.empty());
  CHECK(w.count("SELECT count(*) FROM patients WHERE user_id = " + std::to_string(w.bob.user_id)) ==
        1);
  (void)scan;

  // Only patient accounts; unknown emails.
  PatientFields doc_link;
  doc_link.account = "dr.lee@clinic.example";
  check_error([&] { w.patients.update(w.doctor, other.id, doc_link); }, ErrorKind::invalid_input,
              "is a doctor account, not a patient");
  PatientFields nobody;
  nobody.account = "nobody@clinic.example";
  check_error([&] { w.patients.update(w.doctor, other.id, nobody); }, ErrorKind::not_found,
              "no account with email 'nobody@clinic.example'");
  // A failed link changes nothing else either (one transaction).
  PatientFields rename = nobody;
  rename.full_name = "Renamed";
  check_error([&] { w.patients.update(w.doctor, other.id, rename); }, ErrorKind::not_found);
  CHECK(w.patients.show(w.doctor, other.id).full_name == "Robert Patient");
}

TEST_CASE("patients: a batch import files scans under the record with that MRN") {
  World w;
  PatientFields f = named("Mia Park");
  f.mrn = "77654033";
  const Patient p = w.patients.add(w.doctor, f);
  const auto records = w.count("SELECT count(*) FROM patients");
  const auto s1 = w.imported("77654033", 1);
  CHECK(s1.patient_id == p.id);
  CHECK(s1.patient_name == "Mia Park");
  CHECK(w.count("SELECT count(*) FROM patients") == records);
  // An unknown ID makes a record without an account, which the MRN then names.
  const auto s2 = w.imported("NEW-1", 2);
  CHECK(w.count("SELECT count(*) FROM patients") == records + 1);
  CHECK(w.patients.list(w.doctor, {"", "NEW-1"}).at(0).id == s2.patient_id);
  CHECK(w.patients.list(w.doctor, {"", "NEW-1"}).at(0).full_name == "Patient NEW-1");
  // Changing a record's MRN moves where later imports go.
  PatientFields mrn;
  mrn.mrn = "NEW-2";
  w.patients.update(w.doctor, s2.patient_id, mrn);
  CHECK(w.imported("NEW-2", 3).patient_id == s2.patient_id);
}

TEST_CASE("patients: history newest first, with every step and its filters") {
  World w;
  const auto t0 = w.clock.now();
  const fs::path f1 = w.dir / "one.png";
  csss::util::write_private_file(f1, png_bytes(1));
  const auto s1 = w.scans.upload(w.alice, f1, std::nullopt, {"CR", "CHEST"}).scan;
  w.clock.advance_minutes(1);
  w.analysis(s1.id, "a1", "cxr", "pneumonia");
  w.clock.advance_minutes(1);
  w.analysis(s1.id, "a2", "other", "normal");
  w.clock.advance_minutes(1);
  const auto note = w.flow.add_note(w.doctor, s1.id, "Overlay misses the apex.", "a1");
  CHECK(note.analysis_id == "a1");
  CHECK(note.author_name == "Dr Ana Lee");
  CHECK(note.author_role == "doctor");
  w.clock.advance_minutes(1);
  w.flow.reject(w.doctor, s1.id, "Blurred.");
  w.clock.advance_minutes(1);
  const fs::path f2 = w.dir / "two.png";
  csss::util::write_private_file(f2, png_bytes(2));
  const auto s2 = w.scans.upload(w.alice, f2, std::nullopt, {"CR", "CHEST"}).scan;

  using Kind = HistoryEntry::Kind;
  const auto kinds = [](const History& h) {
    std::vector<std::string> out;
    for (const auto& e : h.entries)
      out.emplace_back(to_string(e.kind));
    return out;
  };
  const History h = w.patients.history(w.pharmacist, 1, {});
  CHECK(h.scans == 2);
  CHECK(kinds(h) ==
        std::vector<std::string>{"scan", "rejection", "note", "ai_result", "ai_result", "scan"});
  CHECK(h.entries[0].scan.id == s2.id);
  CHECK(h.entries[1].text == "Blurred.");
  CHECK(h.entries[1].by_name == "Dr Ana Lee");
  CHECK(h.entries[2].text == "Overlay misses the apex.");
  CHECK(h.entries[2].analysis->model_name == "cxr");
  CHECK(h.entries[3].analysis->model_name == "other");
  CHECK(h.entries[4].analysis->model_version == "1.0");
  CHECK(h.entries[5].at == t0);
  CHECK(h.entries[5].scan.status == "rejected");
  CHECK(w.audit_rows("patient.history") == 1);

  HistoryQuery q;
  q.from = t0 + 60;
  q.to = t0 + 180;
  CHECK(kinds(w.patients.history(w.doctor, 1, q)) ==
        std::vector<std::string>{"note", "ai_result", "ai_result"});
  HistoryQuery status;
  status.statuses = {"pending_ai"};
  CHECK(kinds(w.patients.history(w.doctor, 1, status)) == std::vector<std::string>{"scan"});
  HistoryQuery model;
  model.model = "other";
  CHECK(kinds(w.patients.history(w.doctor, 1, model)) ==
        std::vector<std::string>{"rejection", "ai_result", "scan"});
  model.model = "cxr@1.0";
  model.predicted_class = "pneumonia";
  CHECK(kinds(w.patients.history(w.doctor, 1, model)) ==
        std::vector<std::string>{"rejection", "note", "ai_result", "scan"});
  model.model = "cxr@2.0";
  CHECK(w.patients.history(w.doctor, 1, model).entries.empty());
  HistoryQuery cls;
  cls.predicted_class = "normal";
  const History n = w.patients.history(w.alice, 1, cls);
  CHECK(n.scans == 1);
  CHECK(n.entries.at(1).kind == Kind::ai_result);
  CHECK(n.entries.at(1).analysis->predicted_class == "normal");
  // Bob's history holds none of Alice's scans.
  CHECK(w.patients.history(w.doctor, 2, {}).entries.empty());
}

TEST_CASE("workflow: notes on AI results") {
  World w;
  const fs::path f1 = w.dir / "one.png";
  csss::util::write_private_file(f1, png_bytes(1));
  const auto s1 = w.scans.upload(w.alice, f1, std::nullopt, {}).scan;
  check_error([&] { w.flow.add_note(w.doctor, s1.id, "Early."); }, ErrorKind::conflict,
              "has no AI result yet");
  w.analysis(s1.id, "a1", "cxr", "pneumonia");
  w.clock.advance_seconds(1);
  w.analysis(s1.id, "a2", "cxr", "normal");
  const auto n1 = w.flow.add_note(w.doctor, s1.id, "Line one.\nLine two.");
  CHECK(n1.analysis_id == "a2");  // the latest result
  CHECK(n1.at == w.clock.now());
  const auto n2 = w.flow.add_note(w.pharmacist, s1.id, "Checked.", "a1");
  CHECK(n2.analysis_id == "a1");
  CHECK(w.audit_rows("scan.note") == 2);
  check_error([&] { w.flow.add_note(w.admin, s1.id, "x"); }, ErrorKind::permission,
              "may not add notes on an AI result");
  check_error([&] { w.flow.add_note(w.alice, s1.id, "x"); }, ErrorKind::permission);
  check_error([&] { w.flow.add_note(w.doctor, s1.id, " \n "); }, ErrorKind::invalid_input, "empty");
  check_error([&] { w.flow.add_note(w.doctor, s1.id, "x", "nope"); }, ErrorKind::not_found,
              "no AI result 'nope'");
  check_error([&] { w.flow.add_note(w.doctor, "no-such-scan", "x"); }, ErrorKind::not_found,
              "no scan with ID 'no-such-scan'");
  // The patient reads them in the scan's record; they cannot be changed behind the tool's back.
  const auto r = w.flow.record(w.alice, s1.id);
  REQUIRE(r.notes.size() == 2);
  CHECK(r.notes[0].text == "Line one.\nLine two.");
  CHECK(r.notes[1].author_name == "Phil Pharma");
  check_error([&] { w.db.exec("UPDATE analysis_notes SET text = 'x'"); }, ErrorKind::conflict,
              "cannot be changed");
  check_error([&] { w.db.exec("DELETE FROM analysis_notes"); }, ErrorKind::conflict,
              "cannot be deleted");
  CHECK(w.count("SELECT count(*) FROM analysis_notes") == 2);
}
