#include "workflow/workflow.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "audit/audit_log.hpp"
#include "auth/policy.hpp"
#include "crypto/hash.hpp"
#include "crypto/password.hpp"
#include "crypto/random.hpp"
#include "store/database.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace csss::workflow {

namespace {

using nlohmann::json;

Status status_of(const scans::Scan& scan) {
  const auto s = parse_status(scan.status);
  if (!s)
    throw Error(ErrorKind::integrity,
                fmt::format("scan {} has an unknown status '{}'", scan.id, scan.status));
  return *s;
}

// Free text a person typed: non-empty after trimming, at most `max` bytes of UTF-8, no control
// characters but line breaks and tabs. Stored exactly as given.
void check_text(const std::string& text, std::size_t max, std::string_view what) {
  if (util::trim(text).empty())
    throw Error(ErrorKind::invalid_input, fmt::format("the {} are empty", what));
  if (text.size() > max) {
    throw Error(
        ErrorKind::invalid_input,
        fmt::format("the {} are {} bytes long; at most {} are allowed", what, text.size(), max));
  }
  if (!util::is_valid_utf8(text))
    throw Error(ErrorKind::invalid_input, fmt::format("the {} are not valid UTF-8 text", what));
  if (util::has_control_chars(text, "\n\r\t"))
    throw Error(ErrorKind::invalid_input, fmt::format("the {} contain control characters", what));
}

std::string record_hash(const Signature& s) {
  const json fields = {{"id", s.id},
                       {"scan_id", s.scan_id},
                       {"kind", s.kind},
                       {"meaning", s.meaning},
                       {"amends", s.amends},
                       {"signer_id", s.signer_id},
                       {"signer_name", s.signer_name},
                       {"signer_role", s.signer_role},
                       {"signed_at", s.signed_at},
                       {"content_sha256", s.content_sha256}};
  return crypto::sha256_hex(fields.dump());
}

json analysis_content(const scans::Analysis& a) {
  json probabilities = json::array();
  for (const auto& [label, p] : a.probabilities)
    probabilities.push_back({label, p});
  return {{"id", a.id},
          {"model", a.model_name},
          {"model_version", a.model_version},
          {"weights_sha256", a.weights_sha256},
          {"predicted_class", a.predicted_class},
          {"confidence", a.confidence},
          {"uncertain", a.uncertain},
          {"risk", a.risk},
          {"probabilities", probabilities}};
}

// How a signed record names an earlier one it builds on.
json reference(const Signature& s) {
  return {{"id", s.id}, {"content_sha256", s.content_sha256}};
}

[[noreturn]] void moved_on(const std::string& scan_id, std::string_view now, Step step) {
  throw Error(ErrorKind::conflict,
              fmt::format("scan {} has moved on: it is {} now, and {} needs {}", scan_id, now,
                          to_string(step), allowed_from(step)));
}

// What a signature of `kind` applies to: with `addendum`, the latest record of that kind (no status
// change); otherwise the step from the one status that allows it, which the scan must be in.
std::pair<std::string, std::optional<Status>> target(const scans::Scan& scan,
                                                     const std::vector<Signature>& existing,
                                                     std::string_view kind, bool addendum,
                                                     Step step) {
  if (addendum) {
    const Signature* last = latest(existing, kind);
    if (!last) {
      throw Error(ErrorKind::conflict, fmt::format("scan {} has no {} to amend", scan.id, kind));
    }
    return {last->id, std::nullopt};
  }
  for (const Transition& t : transitions()) {
    if (t.step == step && t.from == status_of(scan))
      return {"", t.from};
  }
  moved_on(scan.id, scan.status, step);
}

}  // namespace

const Signature* latest(const std::vector<Signature>& list, std::string_view kind) {
  const Signature* found = nullptr;
  for (const Signature& s : list) {
    if (s.kind == kind)
      found = &s;
  }
  return found;
}

std::vector<Status> worklist_statuses(auth::Role role) {
  switch (role) {
    case auth::Role::doctor:
      return {Status::pending_ai, Status::ai_analysed};
    case auth::Role::pharmacist:
      return {Status::doctor_verified};
    case auth::Role::admin:
      return {Status::pharmacist_completed};
    case auth::Role::patient:
    case auth::Role::importer:  // sees no scans (auth/policy.cpp)
      break;
  }
  return {};
}

void Workflow::check_password(const auth::Principal& who, std::string_view password,
                              const std::string& scan_id, std::string_view meaning) {
  auto st = db_.prepare("SELECT password_hash FROM users WHERE id = ?");
  st.bind(1, who.user_id);
  const bool found = st.step();
  const bool ok = found && crypto::verify_password(password, st.get_text(0));
  if (!ok) {
    audit_.append({who.email, "signature.failure", "scan:" + scan_id, audit::Outcome::failure,
                   fmt::format("wrong password when signing ({})", meaning)});
    throw Error(ErrorKind::authentication,
                "wrong password: the signature was not made, nothing was recorded");
  }
}

std::vector<Signature> Workflow::signatures_of(const std::string& scan_id) const {
  auto st = db_.prepare(
      "SELECT id, scan_id, kind, meaning, coalesce(amends, ''), signer_id, signer_name, "
      "signer_role, signed_at, content, content_sha256, record_sha256 FROM signatures WHERE "
      "scan_id = ? ORDER BY signed_at, rowid");
  st.bind(1, scan_id);
  std::vector<Signature> out;
  while (st.step()) {
    Signature s;
    s.id = st.get_text(0);
    s.scan_id = st.get_text(1);
    s.kind = st.get_text(2);
    s.meaning = st.get_text(3);
    s.amends = st.get_text(4);
    s.signer_id = st.get_int(5);
    s.signer_name = st.get_text(6);
    s.signer_role = st.get_text(7);
    s.signed_at = st.get_int(8);
    s.content = st.get_text(9);
    s.content_sha256 = st.get_text(10);
    s.record_sha256 = st.get_text(11);
    out.push_back(std::move(s));
  }
  return out;
}

// Writes the signature and, unless it is an addendum (`expected` nullopt), moves the scan from
// `expected` by `step`: one transaction, the status re-read under the write lock.
Signature Workflow::sign(const auth::Principal& who, const scans::Scan& scan, Step step,
                         const std::string& kind, const std::string& meaning,
                         const std::string& amends, const std::string& content,
                         std::optional<Status> expected) {
  Signature s;
  s.id = crypto::random_uuid();
  s.scan_id = scan.id;
  s.kind = kind;
  s.meaning = meaning;
  s.amends = amends;
  s.signer_id = who.user_id;
  s.signer_name = who.full_name;
  s.signer_role = std::string(auth::to_string(who.role));
  s.signed_at = clock_.now();
  s.content = content;
  s.content_sha256 = crypto::sha256_hex(content);
  s.record_sha256 = record_hash(s);

  store::Transaction tx(db_);
  if (expected)
    advance(who, scan.id, step, expected, "", s.signed_at);
  db_.prepare(
         "INSERT INTO signatures (id, scan_id, kind, meaning, amends, signer_id, signer_name, "
         "signer_role, signed_at, content, content_sha256, record_sha256) VALUES (?, ?, ?, ?, ?, "
         "?, ?, ?, ?, ?, ?, ?)")
      .bind_all(s.id, s.scan_id, s.kind, s.meaning,
                s.amends.empty() ? std::optional<std::string>() : std::optional(s.amends),
                s.signer_id, s.signer_name, s.signer_role, s.signed_at, s.content, s.content_sha256,
                s.record_sha256)
      .run();
  audit_.append(
      {who.email, amends.empty() ? "scan." + std::string(to_string(step)) : "scan.addendum",
       "scan:" + scan.id, audit::Outcome::success,
       fmt::format("signature {} ({}), content sha256 {}", s.id, meaning, s.content_sha256)});
  tx.commit();
  return s;
}

Signature Workflow::verify(const auth::Principal& who, const std::string& scan_id,
                           std::string_view password, const VerifyRequest& request) {
  auth::require(who, auth::Action::add_clinical_notes, "scan:" + scan_id, audit_);
  const scans::Scan scan = scans_.get(who, scan_id);
  check_text(request.notes, kMaxNotesBytes, "notes");
  if (request.agree == !request.diagnosis.empty()) {
    throw Error(ErrorKind::usage,
                "say whether you agree with the AI result: --agree, or --diagnosis LABEL");
  }
  const auto analyses = scans_.analyses(scan);
  if (analyses.empty()) {
    throw Error(
        ErrorKind::conflict,
        fmt::format("scan {} has no AI result yet: run csss analyze {} first", scan.id, scan.id));
  }
  const scans::Analysis& a = analyses.back();
  std::string diagnosis = a.predicted_class;
  if (!request.agree) {
    const bool known = std::any_of(a.probabilities.begin(), a.probabilities.end(),
                                   [&](const auto& p) { return p.first == request.diagnosis; });
    if (!known) {
      std::vector<std::string> labels;
      for (const auto& p : a.probabilities)
        labels.push_back(p.first);
      throw Error(ErrorKind::invalid_input,
                  fmt::format("unknown diagnosis '{}': the model's classes are {}",
                              request.diagnosis, util::join(labels, ", ")));
    }
    diagnosis = request.diagnosis;
  }
  const auto [amends, expected] =
      target(scan, signatures_of(scan.id), "verification", request.addendum, Step::verify);
  check_password(who, password, scan.id, "verified");
  const json content = {{"scan_id", scan.id},
                        {"scan_sha256", scan.sha256},
                        {"analysis", analysis_content(a)},
                        {"agrees_with_ai", request.agree || diagnosis == a.predicted_class},
                        {"diagnosis", diagnosis},
                        {"notes", request.notes},
                        {"amends", amends}};
  return sign(who, scan, Step::verify, "verification", "verified", amends, content.dump(),
              expected);
}

Signature Workflow::prescribe(const auth::Principal& who, const std::string& scan_id,
                              std::string_view password, const PrescribeRequest& request) {
  auth::require(who, auth::Action::add_prescription, "scan:" + scan_id, audit_);
  const scans::Scan scan = scans_.get(who, scan_id);
  check_text(request.text, kMaxNotesBytes, "prescription");
  const auto existing = signatures_of(scan.id);
  const Signature* verification = latest(existing, "verification");
  const auto [amends, expected] =
      target(scan, existing, "prescription", request.addendum, Step::prescribe);
  if (!verification)
    throw Error(ErrorKind::integrity, fmt::format("scan {} has no signed verification", scan.id));
  check_password(who, password, scan.id, "prescribed");
  json fields = json::object();
  for (const auto& [k, v] : request.fields)
    fields[k] = v;
  const json content = {{"scan_id", scan.id},   {"verification", reference(*verification)},
                        {"text", request.text}, {"template", request.template_name},
                        {"fields", fields},     {"amends", amends}};
  return sign(who, scan, Step::prescribe, "prescription", "prescribed", amends, content.dump(),
              expected);
}

Signature Workflow::approve(const auth::Principal& who, const std::string& scan_id,
                            std::string_view password) {
  auth::require(who, auth::Action::approve_report, "scan:" + scan_id, audit_);
  const scans::Scan scan = scans_.get(who, scan_id);
  if (status_of(scan) != Status::pharmacist_completed)
    moved_on(scan.id, scan.status, Step::approve);
  const auto existing = signatures_of(scan.id);
  const Signature* verification = latest(existing, "verification");
  const Signature* prescription = latest(existing, "prescription");
  if (!verification || !prescription) {
    throw Error(ErrorKind::integrity,
                fmt::format("scan {} lacks a signed verification or prescription", scan.id));
  }
  check_password(who, password, scan.id, "approved");
  const json content = {{"scan_id", scan.id},
                        {"scan_sha256", scan.sha256},
                        {"verification", reference(*verification)},
                        {"prescription", reference(*prescription)}};
  return sign(who, scan, Step::approve, "approval", "approved", "", content.dump(),
              Status::pharmacist_completed);
}

bool Workflow::mark_delivered(const auth::Principal& who, const std::string& scan_id,
                              util::UnixSeconds at) {
  auto st = db_.prepare("SELECT status FROM scans WHERE id = ?");
  st.bind(1, scan_id);
  if (st.step() && st.get_text(0) == "report_delivered")
    return false;
  advance(who, scan_id, Step::deliver, Status::approved, "", at);
  return true;
}

Status Workflow::advance(const auth::Principal& who, const std::string& scan_id, Step step,
                         std::optional<Status> expected, const std::string& reason,
                         util::UnixSeconds at) {
  auto st = db_.prepare("SELECT status FROM scans WHERE id = ?");
  st.bind(1, scan_id);
  if (!st.step())
    throw Error(ErrorKind::not_found, fmt::format("no scan with ID '{}'", scan_id));
  const std::string now = st.get_text(0);
  const auto from = parse_status(now);
  const auto to = from ? next(*from, step) : std::nullopt;
  if (!to || (expected && from != expected))
    moved_on(scan_id, now, step);
  db_.prepare("UPDATE scans SET status = ? WHERE id = ? AND status = ?")
      .bind_all(std::string(to_string(*to)), scan_id, now)
      .run();
  if (db_.changes() != 1)
    moved_on(scan_id, now, step);
  db_.prepare(
         "INSERT INTO scan_events (scan_id, step, from_status, to_status, actor_id, reason, "
         "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(scan_id, std::string(to_string(step)), now, std::string(to_string(*to)),
                who.user_id, reason, at)
      .run();
  return *from;
}

void Workflow::move(const auth::Principal& who, const scans::Scan& scan, Step step,
                    const std::string& reason) {
  check_text(reason, kMaxReasonBytes, "reason");
  store::Transaction tx(db_);
  const Status from = advance(who, scan.id, step, std::nullopt, reason, clock_.now());
  audit_.append({who.email, "scan." + std::string(to_string(step)), "scan:" + scan.id,
                 audit::Outcome::success,
                 fmt::format("{} -> {}", to_string(from), to_string(*next(from, step)))});
  tx.commit();
}

void Workflow::reject(const auth::Principal& who, const std::string& scan_id,
                      const std::string& reason) {
  auth::require(who, auth::Action::add_clinical_notes, "scan:" + scan_id, audit_);
  const scans::Scan scan = scans_.get(who, scan_id);
  move(who, scan, Step::reject, reason);
}

void Workflow::send_back(const auth::Principal& who, const std::string& scan_id, Step step,
                         const std::string& reason) {
  if (step != Step::return_to_doctor && step != Step::return_to_pharmacist)
    throw Error(ErrorKind::internal, "send_back: not a return step");
  auth::require(who, auth::Action::approve_report, "scan:" + scan_id, audit_);
  const scans::Scan scan = scans_.get(who, scan_id);
  move(who, scan, step, reason);
}

Record Workflow::record(const auth::Principal& who, const std::string& scan_id) {
  return record_of(scans_.get(who, scan_id));
}

Record Workflow::record_of(const scans::Scan& scan) const {
  Record r;
  r.scan = scan;
  r.analyses = scans_.analyses(r.scan);
  r.signatures = signatures_of(r.scan.id);
  auto st = db_.prepare(
      "SELECT e.step, e.from_status, e.to_status, u.full_name, u.role, e.reason, e.created_at "
      "FROM scan_events e JOIN users u ON u.id = e.actor_id WHERE e.scan_id = ? ORDER BY e.id");
  st.bind(1, r.scan.id);
  while (st.step()) {
    r.history.push_back({st.get_text(0), st.get_text(1), st.get_text(2), st.get_text(3),
                         st.get_text(4), st.get_text(5), st.get_int(6)});
  }
  auto notes = db_.prepare(
      "SELECT id, scan_id, analysis_id, author_id, author_name, author_role, text, created_at "
      "FROM analysis_notes WHERE scan_id = ? ORDER BY id");
  notes.bind(1, r.scan.id);
  while (notes.step()) {
    r.notes.push_back({notes.get_int(0), notes.get_text(1), notes.get_text(2), notes.get_int(3),
                       notes.get_text(4), notes.get_text(5), notes.get_text(6), notes.get_int(7)});
  }
  return r;
}

Note Workflow::add_note(const auth::Principal& who, const std::string& scan_id,
                        const std::string& text, const std::string& analysis_id) {
  auth::require(who, auth::Action::note_ai_results, "scan:" + scan_id, audit_);
  const scans::Scan scan = scans_.get(who, scan_id);
  check_text(text, kMaxNotesBytes, "notes");
  const auto analyses = scans_.analyses(scan);
  if (analyses.empty()) {
    throw Error(ErrorKind::conflict,
                fmt::format("scan {} has no AI result yet to note on: run csss analyze {} first",
                            scan.id, scan.id));
  }
  const scans::Analysis* target = &analyses.back();
  if (!analysis_id.empty()) {
    const auto it = std::find_if(analyses.begin(), analyses.end(),
                                 [&](const scans::Analysis& a) { return a.id == analysis_id; });
    if (it == analyses.end()) {
      throw Error(ErrorKind::not_found,
                  fmt::format("scan {} has no AI result '{}'", scan.id, analysis_id));
    }
    target = &*it;
  }
  Note n;
  n.scan_id = scan.id;
  n.analysis_id = target->id;
  n.author_id = who.user_id;
  n.author_name = who.full_name;
  n.author_role = std::string(auth::to_string(who.role));
  n.text = text;
  n.at = clock_.now();
  store::Transaction tx(db_);
  db_.prepare(
         "INSERT INTO analysis_notes (analysis_id, scan_id, author_id, author_name, author_role, "
         "text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(n.analysis_id, n.scan_id, n.author_id, n.author_name, n.author_role, n.text, n.at)
      .run();
  n.id = db_.last_insert_rowid();
  audit_.append({who.email, "scan.note", "scan:" + scan.id, audit::Outcome::success,
                 fmt::format("note {} on AI result {} ({} {})", n.id, target->id,
                             target->model_name, target->model_version)});
  tx.commit();
  return n;
}

CheckResult Workflow::check(const auth::Principal& who, const std::string& scan_id) {
  const Record r = record(who, scan_id);
  CheckResult out;
  const auto problem = [&](std::string text) {
    out.valid = false;
    out.problems.push_back(std::move(text));
  };
  // The scan's file.
  ++out.hashes_checked;
  try {
    const std::string bytes = util::read_file(scans_.file_of(r.scan), std::size_t{4} << 30);
    if (!crypto::constant_time_equal(crypto::sha256_hex(bytes), r.scan.sha256))
      problem("the scan file no longer matches the SHA-256 recorded at upload");
  } catch (const Error& e) {
    problem(fmt::format("the scan file cannot be read: {}", e.what()));
  }
  std::map<std::string, const Signature*> by_id;
  for (const Signature& s : r.signatures)
    by_id[s.id] = &s;
  for (const Signature& s : r.signatures) {
    out.hashes_checked += 2;
    const std::string label = fmt::format("{} signature {} by {}", s.kind, s.id, s.signer_name);
    if (!crypto::constant_time_equal(crypto::sha256_hex(s.content), s.content_sha256))
      problem(label + ": the signed content was changed");
    if (!crypto::constant_time_equal(record_hash(s), s.record_sha256))
      problem(label + ": the name, role, time or meaning of the signature was changed");
    json content;
    try {
      content = json::parse(s.content);
    } catch (const json::exception&) {
      problem(label + ": the signed content is not readable");
      continue;
    }
    const auto refers = [&](const char* key) {
      if (!content.contains(key) || !content[key].is_object())
        return;
      ++out.hashes_checked;
      const std::string id = content[key].value("id", "");
      const auto it = by_id.find(id);
      if (it == by_id.end()) {
        problem(fmt::format("{}: the {} it signed ({}) is missing", label, key, id));
      } else if (it->second->content_sha256 != content[key].value("content_sha256", "")) {
        problem(fmt::format("{}: the {} it signed ({}) was changed", label, key, id));
      }
    };
    refers("verification");
    refers("prescription");
    if (content.contains("analysis")) {
      ++out.hashes_checked;
      const std::string id = content["analysis"].value("id", "");
      const auto a = std::find_if(r.analyses.begin(), r.analyses.end(),
                                  [&](const scans::Analysis& x) { return x.id == id; });
      if (a == r.analyses.end())
        problem(fmt::format("{}: the AI result it verified ({}) is missing", label, id));
      else if (analysis_content(*a) != content["analysis"])
        problem(fmt::format("{}: the AI result it verified ({}) was changed", label, id));
    }
  }
  audit_.append({who.email, "scan.check", "scan:" + r.scan.id,
                 out.valid ? audit::Outcome::success : audit::Outcome::failure,
                 out.valid ? fmt::format("{} hashes valid", out.hashes_checked)
                           : fmt::format("{} problems", out.problems.size())});
  return out;
}

std::vector<scans::Scan> Workflow::worklist(const auth::Principal& who,
                                            const WorklistFilter& filter) {
  scans::Scans::ListQuery query;
  const std::vector<Status> statuses =
      filter.statuses ? *filter.statuses : worklist_statuses(who.role);
  for (const Status s : statuses)
    query.statuses.emplace_back(to_string(s));
  query.patient = filter.patient;
  query.search = filter.search;
  query.worklist_order = who.role != auth::Role::patient;
  return scans_.list(who, query);
}

}  // namespace csss::workflow
