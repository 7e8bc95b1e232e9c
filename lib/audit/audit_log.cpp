#include "audit/audit_log.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "crypto/hash.hpp"
#include "store/database.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"

namespace csss::audit {

std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::success:
      return "success";
    case Outcome::failure:
      return "failure";
    case Outcome::denied:
      return "denied";
  }
  return "failure";
}

namespace {

Outcome parse_outcome(const std::string& s) {
  if (s == "success")
    return Outcome::success;
  if (s == "denied")
    return Outcome::denied;
  return Outcome::failure;
}

Record read_record(const store::Statement& st) {
  Record r;
  r.seq = st.get_int(0);
  r.at_ms = st.get_int(1);
  r.actor = st.get_text(2);
  r.action = st.get_text(3);
  r.object = st.get_text(4);
  r.outcome = parse_outcome(st.get_text(5));
  r.detail = st.get_text(6);
  r.prev_hash = st.get_text(7);
  r.hash = st.get_text(8);
  return r;
}

constexpr const char* kColumns =
    "seq, at_ms, actor, action, object, outcome, detail, prev_hash, hash";

}  // namespace

std::string record_hash(const Record& r) {
  // A JSON array is an unambiguous encoding: no choice of field values can make two different
  // rows serialise alike.
  const nlohmann::json content = {r.seq,    r.at_ms,    r.actor,
                                  r.action, r.object,   std::string(to_string(r.outcome)),
                                  r.detail, r.prev_hash};
  return crypto::sha256_hex(content.dump());
}

void AuditLog::append(const Event& event) {
  if (db_.in_transaction()) {
    append_locked(event);
    return;
  }
  store::Transaction tx(db_);
  append_locked(event);
  tx.commit();
}

void AuditLog::append_locked(const Event& event) {
  Record r;
  r.actor = event.actor;
  r.action = event.action;
  r.object = event.object;
  r.outcome = event.outcome;
  r.detail = event.detail;
  r.at_ms = clock_.now_ms();
  {
    auto head = db_.prepare("SELECT seq, hash FROM audit_head WHERE id = 1");
    if (head.step()) {
      r.seq = head.get_int(0) + 1;
      r.prev_hash = head.get_text(1);
    } else {
      r.seq = 1;
      r.prev_hash = std::string(kGenesisHash);
    }
  }
  r.hash = record_hash(r);
  db_.prepare(
         fmt::format("INSERT INTO audit_log ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", kColumns))
      .bind_all(r.seq, r.at_ms, r.actor, r.action, r.object, std::string(to_string(r.outcome)),
                r.detail, r.prev_hash, r.hash)
      .run();
  db_.prepare(
         "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) "
         "ON CONFLICT (id) DO UPDATE SET seq = ?1, hash = ?2")
      .bind_all(r.seq, r.hash)
      .run();
}

std::vector<Record> AuditLog::list(const Filter& filter) const {
  std::string sql = fmt::format("SELECT {} FROM audit_log WHERE 1", kColumns);
  std::string action_pattern;
  if (filter.actor)
    sql += " AND actor = ?1 COLLATE NOCASE";
  if (filter.action) {
    std::string a = *filter.action;
    if (!a.empty() && (a.back() == '*' || a.back() == '.')) {
      if (a.back() == '*')
        a.pop_back();
      // Escape LIKE's wildcards in the prefix itself.
      for (char c : a) {
        if (c == '%' || c == '_' || c == '\\')
          action_pattern += '\\';
        action_pattern += c;
      }
      action_pattern += '%';
      sql += " AND action LIKE ?2 ESCAPE '\\'";
    } else {
      action_pattern = a;
      sql += " AND action = ?2";
    }
  }
  if (filter.since_ms)
    sql += " AND at_ms >= ?3";
  if (filter.until_ms)
    sql += " AND at_ms < ?4";
  sql += " ORDER BY seq DESC";
  if (filter.limit > 0)
    sql += " LIMIT ?5";
  auto st = db_.prepare(sql);
  if (filter.actor)
    st.bind(1, *filter.actor);
  if (filter.action)
    st.bind(2, action_pattern);
  if (filter.since_ms)
    st.bind(3, *filter.since_ms);
  if (filter.until_ms)
    st.bind(4, *filter.until_ms);
  if (filter.limit > 0)
    st.bind(5, static_cast<std::int64_t>(filter.limit));
  std::vector<Record> out;
  while (st.step())
    out.push_back(read_record(st));
  std::reverse(out.begin(), out.end());
  return out;
}

VerifyResult AuditLog::verify() const {
  VerifyResult result;
  auto broken = [&](std::int64_t seq, std::string problem) {
    result.intact = false;
    result.broken_seq = seq;
    result.problem = std::move(problem);
    return result;
  };
  auto st = db_.prepare(fmt::format("SELECT {} FROM audit_log ORDER BY seq", kColumns));
  std::string prev(kGenesisHash);
  std::int64_t expected_seq = 1;
  while (st.step()) {
    const Record r = read_record(st);
    if (r.seq != expected_seq) {
      return broken(expected_seq,
                    fmt::format("row {} is missing (the next row is {})", expected_seq, r.seq));
    }
    if (r.prev_hash != prev) {
      return broken(r.seq, fmt::format("row {} does not follow row {}: a row was removed, "
                                       "reordered or changed",
                                       r.seq, r.seq - 1));
    }
    if (record_hash(r) != r.hash) {
      return broken(r.seq, fmt::format("row {} was changed after it was written", r.seq));
    }
    prev = r.hash;
    ++result.rows;
    ++expected_seq;
  }
  result.head_hash = prev;
  auto head = db_.prepare("SELECT seq, hash FROM audit_head WHERE id = 1");
  const bool has_head = head.step();
  const std::int64_t head_seq = has_head ? head.get_int(0) : 0;
  if (head_seq != result.rows || (has_head && head.get_text(1) != prev)) {
    if (head_seq > result.rows) {
      return broken(result.rows + 1, fmt::format("the log ends at row {} but {} rows were written: "
                                                 "rows were removed from the end",
                                                 result.rows, head_seq));
    }
    return broken(result.rows, fmt::format("the log's recorded head (row {}) does not match its "
                                           "last row ({})",
                                           head_seq, result.rows));
  }
  return result;
}

}  // namespace csss::audit
