#include "patients/patients.hpp"

#include <algorithm>
#include <cctype>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "audit/audit_log.hpp"
#include "auth/accounts.hpp"
#include "auth/policy.hpp"
#include "report/reports.hpp"
#include "store/database.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

namespace csss::patients {

namespace {

constexpr const char* kPatientColumns =
    "p.id, p.full_name, coalesce(p.external_id, ''), coalesce(p.birth_date, ''), p.sex, "
    "coalesce(p.phone, ''), coalesce(p.contact_email, ''), coalesce(p.address, ''), p.history, "
    "p.user_id, coalesce(u.email, ''), p.created_at, coalesce(p.updated_at, p.created_at)";
constexpr const char* kPatientFrom = "FROM patients p LEFT JOIN users u ON u.id = p.user_id";

Patient read_patient(const store::Statement& st) {
  Patient p;
  p.id = st.get_int(0);
  p.full_name = st.get_text(1);
  p.mrn = st.get_text(2);
  p.birth_date = st.get_text(3);
  p.sex = parse_sex(st.get_text(4));
  p.phone = st.get_text(5);
  p.email = st.get_text(6);
  p.address = st.get_text(7);
  p.history = st.get_text(8);
  p.user_id = st.get_opt_int(9);
  p.account_email = st.get_text(10);
  p.created_at = st.get_int(11);
  p.updated_at = st.get_int(12);
  return p;
}

std::optional<std::string> or_null(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional(s);
}

// Plain text a person typed: at most `max` bytes of UTF-8 without control characters other than
// `allowed`.
void check_plain(const std::string& text, std::size_t max, std::string_view what,
                 std::string_view allowed = {}) {
  if (text.size() > max) {
    throw Error(ErrorKind::invalid_input, fmt::format("the {} is {} bytes long; at most {} are "
                                                      "allowed",
                                                      what, text.size(), max));
  }
  if (!util::is_valid_utf8(text) || util::has_control_chars(text, allowed)) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("the {} holds control characters or is not valid UTF-8", what));
  }
}

// The fields checked and normalised: every given value in the form it is stored in.
struct CheckedFields {
  std::optional<std::string> full_name, birth_date, mrn, phone, email, address, history;
  std::optional<Sex> sex;
  std::optional<std::string> account;  // normalised email
  std::vector<std::string> names;      // the fields given, for the audit row
};

CheckedFields check_fields(const PatientFields& f, util::UnixSeconds now) {
  CheckedFields c;
  if (f.full_name) {
    c.full_name = auth::normalize_full_name(*f.full_name);
    c.names.emplace_back("name");
  }
  if (f.birth_date) {
    c.birth_date = util::trim(*f.birth_date);
    if (!c.birth_date->empty())
      auth::check_birth_date(*c.birth_date, now);
    c.names.emplace_back("birth date");
  }
  if (f.sex) {
    c.sex = util::trim(*f.sex).empty() ? Sex::unknown : parse_sex(*f.sex);
    c.names.emplace_back("sex");
  }
  if (f.mrn) {
    c.mrn = util::trim(*f.mrn);
    check_plain(*c.mrn, kMaxMrnBytes, "medical record number");
    c.names.emplace_back("MRN");
  }
  if (f.phone) {
    c.phone = util::trim(*f.phone);
    check_plain(*c.phone, kMaxPhoneBytes, "phone number");
    const bool digits = std::any_of(c.phone->begin(), c.phone->end(),
                                    [](char ch) { return ch >= '0' && ch <= '9'; });
    const bool plain = std::all_of(c.phone->begin(), c.phone->end(), [](char ch) {
      return (ch >= '0' && ch <= '9') ||
             std::string_view(" +-().,/x").find(ch) != std::string::npos;
    });
    if (!c.phone->empty() && (!digits || !plain)) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("invalid phone number '{}': use digits, spaces and + - ( ) . / "
                              "(x for an extension)",
                              *c.phone));
    }
    c.names.emplace_back("phone");
  }
  if (f.email) {
    c.email = util::trim(*f.email).empty() ? std::string() : auth::normalize_email(*f.email);
    c.names.emplace_back("email");
  }
  if (f.address) {
    c.address = util::trim(*f.address);
    check_plain(*c.address, kMaxAddressBytes, "address", "\n");
    c.names.emplace_back("address");
  }
  if (f.history) {
    c.history = *f.history;  // stored exactly as typed
    check_plain(*c.history, kMaxHistoryBytes, "history", "\n\r\t");
    c.names.emplace_back("history");
  }
  if (f.account) {
    c.account = auth::normalize_email(*f.account);
    c.names.emplace_back("account");
  }
  return c;
}

// The rank of a kind among entries of one scan at the same second: the order things happen in.
int rank(HistoryEntry::Kind kind) {
  return static_cast<int>(kind);
}

bool matches_model(const scans::Analysis& a, const HistoryQuery& q) {
  if (!q.model.empty() && a.model_name != q.model &&
      a.model_name + "@" + a.model_version != q.model) {
    return false;
  }
  return q.predicted_class.empty() || a.predicted_class == q.predicted_class;
}

}  // namespace

std::string_view to_string(Sex sex) noexcept {
  switch (sex) {
    case Sex::female:
      return "female";
    case Sex::male:
      return "male";
    case Sex::other:
      return "other";
    case Sex::unknown:
      return "unknown";
  }
  return "unknown";
}

Sex parse_sex(std::string_view text) {
  const std::string t = util::to_lower(util::trim(text));
  for (const Sex s : {Sex::female, Sex::male, Sex::other, Sex::unknown}) {
    const std::string_view name = to_string(s);
    if (t == name || (t.size() == 1 && t[0] == name[0]))
      return s;
  }
  throw Error(ErrorKind::invalid_input,
              fmt::format("invalid sex '{}': use female, male, other or unknown", text));
}

std::string format_id(std::int64_t id) {
  return fmt::format("P-{:06}", id);
}

std::int64_t parse_id(std::string_view text) {
  std::string_view digits = text;
  if (digits.size() > 2 && (digits[0] == 'P' || digits[0] == 'p') && digits[1] == '-')
    digits.remove_prefix(2);
  const bool ok =
      !digits.empty() && digits.size() <= 12 &&
      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  std::int64_t id = 0;
  if (ok) {
    for (const char c : digits)
      id = id * 10 + (c - '0');
  }
  if (!ok || id == 0) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("'{}' is not a patient record number: use P-000042 or 42", text));
  }
  return id;
}

std::string_view to_string(HistoryEntry::Kind kind) noexcept {
  using Kind = HistoryEntry::Kind;
  switch (kind) {
    case Kind::scan:
      return "scan";
    case Kind::ai_result:
      return "ai_result";
    case Kind::note:
      return "note";
    case Kind::diagnosis:
      return "diagnosis";
    case Kind::prescription:
      return "prescription";
    case Kind::rejection:
      return "rejection";
    case Kind::returned:
      return "return";
    case Kind::report:
      return "report";
  }
  return "scan";
}

std::optional<Patient> Patients::find(std::int64_t id) const {
  auto st = db_.prepare(fmt::format("SELECT {} {} WHERE p.id = ?", kPatientColumns, kPatientFrom));
  st.bind(1, id);
  if (!st.step())
    return std::nullopt;
  return read_patient(st);
}

namespace {

[[noreturn]] void no_record(std::int64_t id) {
  throw Error(ErrorKind::not_found, fmt::format("no patient record {}", format_id(id)));
}

}  // namespace

std::string Patients::link_account(const Patient& record, const std::string& email) {
  std::int64_t user_id = 0;
  {
    auto st = db_.prepare("SELECT id, role FROM users WHERE email = ?");
    st.bind(1, email);
    if (!st.step())
      throw Error(ErrorKind::not_found, fmt::format("no account with email '{}'", email));
    if (st.get_text(1) != "patient") {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("'{}' is a {} account, not a patient", email, st.get_text(1)));
    }
    user_id = st.get_int(0);
  }
  if (record.user_id == user_id)
    return "";
  if (record.user_id) {
    throw Error(ErrorKind::conflict,
                fmt::format("patient record {} is linked to the account {} already",
                            format_id(record.id), record.account_email));
  }
  std::string detail = fmt::format("; account {} linked", email);
  auto st = db_.prepare(
      "SELECT p.id, p.external_id IS NOT NULL OR EXISTS (SELECT 1 FROM scans s WHERE "
      "s.patient_id = p.id), coalesce(p.birth_date, '') FROM patients p WHERE p.user_id = ?");
  st.bind(1, user_id);
  if (st.step()) {
    const std::int64_t previous = st.get_int(0);
    if (st.get_int(1) != 0) {
      throw Error(ErrorKind::conflict,
                  fmt::format("the account {} has patient record {} already, which holds scans or "
                              "a medical record number: one record per account (change that "
                              "record instead)",
                              email, format_id(previous)));
    }
    // The empty record made with the account: its date of birth moves over unless this record
    // has one, and it is removed (nothing refers to a record without scans).
    const std::string birth_date = st.get_text(2);
    if (!birth_date.empty()) {
      db_.prepare("UPDATE patients SET birth_date = coalesce(birth_date, ?) WHERE id = ?")
          .bind_all(birth_date, record.id)
          .run();
    }
    db_.prepare("DELETE FROM patients WHERE id = ?").bind(1, previous).run();
    detail += fmt::format("; its empty record {} removed", format_id(previous));
  }
  db_.prepare("UPDATE patients SET user_id = ? WHERE id = ?").bind_all(user_id, record.id).run();
  return detail;
}

void Patients::check_mrn_free(const std::string& mrn, std::int64_t except_id) {
  auto st = db_.prepare("SELECT id FROM patients WHERE external_id = ? AND id <> ?");
  st.bind_all(mrn, except_id);
  if (st.step()) {
    throw Error(ErrorKind::conflict,
                fmt::format("the medical record number '{}' belongs to patient record {} already",
                            mrn, format_id(st.get_int(0))));
  }
}

Patient Patients::add(const auth::Principal& who, const PatientFields& fields) {
  auth::require(who, auth::Action::manage_patients, "patients", audit_);
  if (!fields.full_name)
    throw Error(ErrorKind::usage, "a new patient record needs a name (--name)");
  const util::UnixSeconds now = clock_.now();
  const CheckedFields c = check_fields(fields, now);
  store::Transaction tx(db_);
  if (c.mrn && !c.mrn->empty())
    check_mrn_free(*c.mrn, 0);
  db_.prepare(
         "INSERT INTO patients (full_name, external_id, birth_date, sex, phone, contact_email, "
         "address, history, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(*c.full_name, or_null(c.mrn.value_or("")), or_null(c.birth_date.value_or("")),
                std::string(to_string(c.sex.value_or(Sex::unknown))), or_null(c.phone.value_or("")),
                or_null(c.email.value_or("")), or_null(c.address.value_or("")),
                c.history.value_or(""), now, now)
      .run();
  const std::int64_t id = db_.last_insert_rowid();
  std::string detail = fmt::format("fields: {}", util::join(c.names, ", "));
  if (c.account)
    detail += link_account(*find(id), *c.account);
  audit_.append({who.email, "patient.create", fmt::format("patient:{}", id),
                 audit::Outcome::success, detail});
  tx.commit();
  return *find(id);
}

Patient Patients::update(const auth::Principal& who, std::int64_t id, const PatientFields& fields) {
  auth::require(who, auth::Action::manage_patients, fmt::format("patient:{}", id), audit_);
  if (fields.empty()) {
    throw Error(ErrorKind::usage,
                "nothing to change: give at least one of --name, --birth-date, --sex, --mrn, "
                "--phone, --email, --address, --history, --account");
  }
  const util::UnixSeconds now = clock_.now();
  const CheckedFields c = check_fields(fields, now);
  store::Transaction tx(db_);
  const auto current = find(id);
  if (!current)
    no_record(id);
  if (c.mrn && !c.mrn->empty())
    check_mrn_free(*c.mrn, id);
  // Each given field's column and value; values are bound, never spliced into the SQL.
  std::vector<std::pair<const char*, std::optional<std::string>>> set;
  if (c.full_name)
    set.emplace_back("full_name", *c.full_name);
  if (c.birth_date)
    set.emplace_back("birth_date", or_null(*c.birth_date));
  if (c.sex)
    set.emplace_back("sex", std::string(to_string(*c.sex)));
  if (c.mrn)
    set.emplace_back("external_id", or_null(*c.mrn));
  if (c.phone)
    set.emplace_back("phone", or_null(*c.phone));
  if (c.email)
    set.emplace_back("contact_email", or_null(*c.email));
  if (c.address)
    set.emplace_back("address", or_null(*c.address));
  if (c.history)
    set.emplace_back("history", *c.history);
  std::string sql = "UPDATE patients SET updated_at = ?";
  for (const auto& [column, value] : set)
    sql += fmt::format(", {} = ?", column);
  sql += " WHERE id = ?";
  auto st = db_.prepare(sql);
  int index = 0;
  st.bind(++index, now);
  for (const auto& [column, value] : set)
    st.bind(++index, value);
  st.bind(++index, id);
  st.run();
  std::string detail = fmt::format("changed: {}", util::join(c.names, ", "));
  if (c.account)
    detail += link_account(*current, *c.account);
  audit_.append({who.email, "patient.update", fmt::format("patient:{}", id),
                 audit::Outcome::success, detail});
  tx.commit();
  return *find(id);
}

std::vector<Patient> Patients::list(const auth::Principal& who, const ListQuery& query) {
  auth::require(who, auth::Action::view_any_patient, "patients", audit_);
  std::string sql = fmt::format("SELECT {} {} WHERE 1", kPatientColumns, kPatientFrom);
  if (!query.name.empty())
    sql += " AND p.full_name LIKE ? ESCAPE '\\'";
  if (!query.mrn.empty())
    sql += " AND p.external_id = ?";
  sql += " ORDER BY p.full_name COLLATE NOCASE, p.id";
  auto st = db_.prepare(sql);
  int index = 0;
  if (!query.name.empty()) {
    std::string pattern = "%";
    for (const char c : query.name) {
      if (c == '%' || c == '_' || c == '\\')
        pattern += '\\';
      pattern += c;
    }
    pattern += '%';
    st.bind(++index, pattern);
  }
  if (!query.mrn.empty())
    st.bind(++index, util::trim(query.mrn));
  std::vector<Patient> out;
  while (st.step())
    out.push_back(read_patient(st));
  audit_.append({who.email, "patient.list", "patients", audit::Outcome::success,
                 fmt::format("{} records", out.size())});
  return out;
}

Patient Patients::readable(const auth::Principal& who, std::int64_t id) {
  const std::string object = fmt::format("patient:{}", id);
  const bool staff = auth::is_allowed(who.role, auth::Action::view_any_patient);
  if (!staff && !auth::is_allowed(who.role, auth::Action::view_own_record))
    auth::require(who, auth::Action::view_any_patient, object, audit_);
  const auto record = find(id);
  const bool own = record && record->user_id && *record->user_id == who.user_id;
  if (!record || (!staff && !own)) {
    if (record) {
      audit_.append(
          {who.email, "access.denied", object, audit::Outcome::denied, "not the patient's own"});
    }
    // The same answer whether the record is another patient's or does not exist.
    no_record(id);
  }
  return *record;
}

std::int64_t Patients::own_record(const auth::Principal& who) {
  if (who.role != auth::Role::patient)
    throw Error(ErrorKind::usage, "name the patient record: P-000042 or 42");
  auto st = db_.prepare("SELECT id FROM patients WHERE user_id = ?");
  st.bind(1, who.user_id);
  if (!st.step())
    throw Error(ErrorKind::not_found, "your account has no patient record yet");
  return st.get_int(0);
}

Patient Patients::show(const auth::Principal& who, std::int64_t id) {
  Patient p = readable(who, id);
  audit_.append(
      {who.email, "patient.read", fmt::format("patient:{}", id), audit::Outcome::success, ""});
  return p;
}

History Patients::history(const auth::Principal& who, std::int64_t id, const HistoryQuery& query) {
  using Kind = HistoryEntry::Kind;
  History out;
  out.patient = readable(who, id);
  scans::Scans::ListQuery scan_query;
  scan_query.statuses = query.statuses;
  scan_query.patient = std::to_string(id);
  const std::vector<scans::Scan> list = scans_.list(who, scan_query);
  const bool by_model = !query.model.empty() || !query.predicted_class.empty();
  const auto in_range = [&](util::UnixSeconds t) {
    return (!query.from || t >= *query.from) && (!query.to || t <= *query.to);
  };
  for (const scans::Scan& scan : list) {
    const workflow::Record r = workflow_.record_of(scan);
    std::vector<const scans::Analysis*> shown;
    for (const scans::Analysis& a : r.analyses) {
      if (matches_model(a, query))
        shown.push_back(&a);
    }
    if (by_model && shown.empty())
      continue;
    ++out.scans;
    const auto add = [&](HistoryEntry e) {
      if (in_range(e.at))
        out.entries.push_back(std::move(e));
    };
    const auto entry = [&](Kind kind, util::UnixSeconds at) {
      HistoryEntry e;
      e.kind = kind;
      e.at = at;
      e.scan = scan;
      return e;
    };
    add(entry(Kind::scan, scan.created_at));
    for (const scans::Analysis* a : shown) {
      HistoryEntry e = entry(Kind::ai_result, a->created_at);
      e.analysis = *a;
      add(std::move(e));
    }
    for (const workflow::Note& n : r.notes) {
      const auto noted = std::find_if(shown.begin(), shown.end(), [&](const scans::Analysis* a) {
        return a->id == n.analysis_id;
      });
      if (noted == shown.end())
        continue;
      HistoryEntry e = entry(Kind::note, n.at);
      e.analysis = **noted;
      e.by_name = n.author_name;
      e.by_role = n.author_role;
      e.text = n.text;
      add(std::move(e));
    }
    for (const workflow::Signature& s : r.signatures) {
      if (s.kind != "verification" && s.kind != "prescription")
        continue;
      const auto content = nlohmann::json::parse(s.content, nullptr, false);
      HistoryEntry e =
          entry(s.kind == "verification" ? Kind::diagnosis : Kind::prescription, s.signed_at);
      e.by_name = s.signer_name;
      e.by_role = s.signer_role;
      e.signature_id = s.id;
      e.addendum = !s.amends.empty();
      if (content.is_object()) {
        e.diagnosis = content.value("diagnosis", "");
        e.agrees_with_ai = content.value("agrees_with_ai", false);
        e.text = content.value(s.kind == "verification" ? "notes" : "text", "");
      }
      add(std::move(e));
    }
    bool delivered = false;
    for (const workflow::HistoryEvent& h : r.history) {
      delivered = delivered || h.step == "deliver";
      const bool reject = h.step == "reject";
      if (!reject && !h.step.starts_with("return"))
        continue;
      HistoryEntry e = entry(reject ? Kind::rejection : Kind::returned, h.at);
      e.by_name = h.actor_name;
      e.by_role = h.actor_role;
      e.text = h.reason;
      add(std::move(e));
    }
    if (const workflow::Signature* approval = workflow::latest(r.signatures, "approval")) {
      const auto stored = report::find_stored(db_, scan.id);
      HistoryEntry e = entry(Kind::report, stored ? stored->created_at : approval->signed_at);
      e.by_name = approval->signer_name;
      e.by_role = approval->signer_role;
      e.signature_id = approval->id;
      if (stored) {
        e.report_id = stored->id;
        e.report_sha256 = stored->sha256;
      }
      e.delivered = delivered;
      add(std::move(e));
    }
  }
  // Newest first; within a second, the newer scan first and a scan's later steps first (entries
  // of one kind keep the order they were recorded in, reversed).
  for (std::size_t i = 0; i < out.entries.size(); ++i)
    out.entries[i].seq = static_cast<std::int64_t>(i);
  std::sort(out.entries.begin(), out.entries.end(),
            [](const HistoryEntry& a, const HistoryEntry& b) {
              return std::tuple(a.at, a.scan.created_at, a.scan.id, rank(a.kind), a.seq) >
                     std::tuple(b.at, b.scan.created_at, b.scan.id, rank(b.kind), b.seq);
            });
  audit_.append({who.email, "patient.history", fmt::format("patient:{}", id),
                 audit::Outcome::success,
                 fmt::format("{} entries of {} scans", out.entries.size(), out.scans)});
  return out;
}

}  // namespace csss::patients
