#include <doctest/doctest.h>

#include <sqlite3.h>

#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "store/database.hpp"
#include "support/check_error.hpp"
#include "support/fakes.hpp"
#include "support/temp_dir.hpp"

using namespace csss::audit;
using csss::ErrorKind;
using csss::store::Database;
using csss::store::OpenMode;
using csss::store::Transaction;
using csss::test::check_error;
using csss::test::contains;
using csss::test::ManualClock;
using csss::test::TempDir;

namespace {

// A second connection through the plain SQLite C API: how an attacker with write access to the
// file would change it behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // Runs `sql` and returns SQLite's result code; `error` receives the message.
  int try_exec(const std::string& sql, std::string* error = nullptr) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (error != nullptr)
      *error = err != nullptr ? err : "";
    sqlite3_free(err);
    return rc;
  }
  void exec(const std::string& sql) {
    std::string err;
    const int rc = try_exec(sql, &err);
    INFO(sql, ": ", err);
    REQUIRE(rc == SQLITE_OK);
  }
  // Formats with sqlite3_mprintf (%Q quotes a string as an SQL literal) and runs the result.
  template <class... Args>
  void execf(const char* format, Args... args) {
    char* sql = sqlite3_mprintf(format, args...);
    REQUIRE(sql != nullptr);
    const std::string text(sql);
    sqlite3_free(sql);
    exec(text);
  }
  void drop_triggers() {
    exec("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;");
  }

 private:
  sqlite3* db_ = nullptr;
};

struct Fixture {
  TempDir dir;
  ManualClock clock;
  Database db = Database::open(dir / "csss.db", OpenMode::create);
  AuditLog log{db, clock};

  // Appends `n` events, one second apart: actor i@example.org, action "test.event", detail "#i".
  void append_n(int n) {
    for (int i = 1; i <= n; ++i) {
      log.append({std::to_string(i) + "@example.org", "test.event", "object:" + std::to_string(i),
                  Outcome::success, "#" + std::to_string(i)});
      clock.advance_seconds(1);
    }
  }
};

}  // namespace

TEST_CASE("audit::AuditLog::append") {
  Fixture f;
  const std::int64_t t0 = f.clock.now_ms();
  f.log.append(
      {"admin@example.org", "user.add", "user:doc@example.org", Outcome::success, "role doctor"});
  f.clock.advance_ms(1500);
  f.log.append({"eve@example.org", "login", "session", Outcome::failure, "wrong password"});
  f.clock.advance_ms(1);
  f.log.append({"eve@example.org", "access.denied", "users", Outcome::denied, "view_users"});

  const auto rows = f.log.list({});
  REQUIRE(rows.size() == 3);

  SUBCASE("rows keep what was appended, in order") {
    CHECK(rows[0].seq == 1);
    CHECK(rows[1].seq == 2);
    CHECK(rows[2].seq == 3);
    CHECK(rows[0].at_ms == t0);
    CHECK(rows[1].at_ms == t0 + 1500);
    CHECK(rows[2].at_ms == t0 + 1501);
    CHECK(rows[0].actor == "admin@example.org");
    CHECK(rows[0].action == "user.add");
    CHECK(rows[0].object == "user:doc@example.org");
    CHECK(rows[0].outcome == Outcome::success);
    CHECK(rows[0].detail == "role doctor");
    CHECK(rows[1].outcome == Outcome::failure);
    CHECK(rows[2].outcome == Outcome::denied);
  }
  SUBCASE("a hash chain from the genesis hash") {
    CHECK(kGenesisHash == std::string(64, '0'));
    CHECK(rows[0].prev_hash == kGenesisHash);
    CHECK(rows[1].prev_hash == rows[0].hash);
    CHECK(rows[2].prev_hash == rows[1].hash);
    for (const Record& r : rows) {
      CAPTURE(r.seq);
      CHECK(r.hash.size() == 64);
      CHECK(r.hash == record_hash(r));
    }
    CHECK(rows[0].hash != rows[1].hash);
  }
  SUBCASE("verify finds the log intact") {
    const VerifyResult v = f.log.verify();
    CHECK(v.intact);
    CHECK(v.rows == 3);
    CHECK(v.head_hash == rows[2].hash);
    CHECK_FALSE(v.broken_seq.has_value());
    CHECK(v.problem.empty());
  }
}

TEST_CASE("audit::record_hash") {
  Record r;
  r.seq = 7;
  r.at_ms = 1795248000000;
  r.actor = "a@example.org";
  r.action = "login";
  r.object = "session";
  r.outcome = Outcome::success;
  r.detail = "";
  r.prev_hash = std::string(kGenesisHash);
  const std::string h = record_hash(r);
  CHECK(h.size() == 64);
  CHECK(record_hash(r) == h);  // deterministic

  SUBCASE("every field is covered") {
    Record c = r;
    SUBCASE("seq") {
      c.seq = 8;
    }
    SUBCASE("at_ms") {
      c.at_ms += 1;
    }
    SUBCASE("actor") {
      c.actor = "b@example.org";
    }
    SUBCASE("action") {
      c.action = "logout";
    }
    SUBCASE("object") {
      c.object = "session2";
    }
    SUBCASE("outcome") {
      c.outcome = Outcome::failure;
    }
    SUBCASE("detail") {
      c.detail = " ";
    }
    SUBCASE("prev_hash") {
      c.prev_hash = std::string(63, '0') + "1";
    }
    CHECK(record_hash(c) != h);
  }
  SUBCASE("field boundaries are unambiguous") {
    Record a = r, b = r;
    a.actor = "ab";
    a.action = "c";
    b.actor = "a";
    b.action = "bc";
    CHECK(record_hash(a) != record_hash(b));
  }
  SUBCASE("the stored hash itself is not part of the content") {
    Record c = r;
    c.hash = "anything";
    CHECK(record_hash(c) == h);
  }
}

TEST_CASE("audit::AuditLog::verify on an empty log") {
  Fixture f;
  const VerifyResult v = f.log.verify();
  CHECK(v.intact);
  CHECK(v.rows == 0);
  CHECK(v.head_hash == kGenesisHash);
}

TEST_CASE("audit::AuditLog::verify finds tampering") {
  Fixture f;
  f.append_n(5);
  REQUIRE(f.log.verify().intact);
  const auto before = f.log.list({});
  RawDb raw(f.db.path());

  SUBCASE("the triggers refuse UPDATE and DELETE while present") {
    std::string err;
    CHECK(raw.try_exec("UPDATE audit_log SET detail = 'changed' WHERE seq = 2", &err) ==
          SQLITE_CONSTRAINT);
    CHECK(contains(err, "append-only"));
    CHECK(raw.try_exec("DELETE FROM audit_log WHERE seq = 5", &err) == SQLITE_CONSTRAINT);
    CHECK(contains(err, "append-only"));
    // The store's own connection gets the same refusal, as a csss::Error.
    check_error([&] { f.db.exec("DELETE FROM audit_log"); }, ErrorKind::conflict, "append-only");
    check_error([&] { f.db.exec("UPDATE audit_log SET actor = 'x'"); }, ErrorKind::conflict,
                "append-only");
    CHECK(f.log.list({}).size() == 5);
    CHECK(f.log.verify().intact);
  }
  SUBCASE("a changed detail names its row") {
    raw.drop_triggers();
    raw.exec("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 3");
    const VerifyResult v = f.log.verify();
    CHECK_FALSE(v.intact);
    REQUIRE(v.broken_seq.has_value());
    CHECK(*v.broken_seq == 3);
    CHECK(v.rows == 2);  // rows 1 and 2 still verify
    CHECK(contains(v.problem, "row 3"));
  }
  SUBCASE("a changed row with a recomputed hash breaks the link to the next row") {
    raw.drop_triggers();
    Record r = before[2];  // seq 3
    r.actor = "someone.else@example.org";
    r.hash = record_hash(r);
    raw.execf("UPDATE audit_log SET actor = %Q, hash = %Q WHERE seq = 3", r.actor.c_str(),
              r.hash.c_str());
    const VerifyResult v = f.log.verify();
    CHECK_FALSE(v.intact);
    REQUIRE(v.broken_seq.has_value());
    CHECK(*v.broken_seq == 4);
    CHECK(contains(v.problem, "row 4"));
  }
  SUBCASE("a deleted middle row") {
    raw.drop_triggers();
    raw.exec("DELETE FROM audit_log WHERE seq = 2");
    const VerifyResult v = f.log.verify();
    CHECK_FALSE(v.intact);
    REQUIRE(v.broken_seq.has_value());
    CHECK(*v.broken_seq == 2);
    CHECK(contains(v.problem, "missing"));
  }
  SUBCASE("a deleted last row: the head no longer matches") {
    raw.drop_triggers();
    raw.exec("DELETE FROM audit_log WHERE seq = 5");
    const VerifyResult v = f.log.verify();
    CHECK_FALSE(v.intact);
    REQUIRE(v.broken_seq.has_value());
    CHECK(*v.broken_seq == 5);
    CHECK(v.rows == 4);
    CHECK(contains(v.problem, "removed from the end"));
  }
  SUBCASE("deleted last rows with a forged head are still found if the head is stale") {
    raw.drop_triggers();
    raw.exec("DELETE FROM audit_log WHERE seq >= 4");
    raw.execf("UPDATE audit_head SET seq = 3, hash = %Q", before[1].hash.c_str());  // row 2's
    const VerifyResult v = f.log.verify();
    CHECK_FALSE(v.intact);
    CHECK(contains(v.problem, "head"));
  }
  SUBCASE("two rows' contents swapped") {
    raw.drop_triggers();
    const Record& a = before[1];  // seq 2
    const Record& b = before[3];  // seq 4
    const auto put = [&](std::int64_t seq, const Record& r) {
      raw.execf(
          "UPDATE audit_log SET at_ms = %lld, actor = %Q, action = %Q, object = %Q, "
          "outcome = %Q, detail = %Q, prev_hash = %Q, hash = %Q WHERE seq = %lld",
          static_cast<long long>(r.at_ms), r.actor.c_str(), r.action.c_str(), r.object.c_str(),
          std::string(to_string(r.outcome)).c_str(), r.detail.c_str(), r.prev_hash.c_str(),
          r.hash.c_str(), static_cast<long long>(seq));
    };
    put(2, b);
    put(4, a);
    REQUIRE(f.log.list({})[1].actor == "4@example.org");
    const VerifyResult v = f.log.verify();
    CHECK_FALSE(v.intact);
    REQUIRE(v.broken_seq.has_value());
    CHECK(*v.broken_seq == 2);
  }
  SUBCASE("appending after tampering does not hide it") {
    raw.drop_triggers();
    raw.exec("UPDATE audit_log SET outcome = 'failure' WHERE seq = 1");
    f.log.append({"x@example.org", "test.event", "o", Outcome::success, ""});
    const VerifyResult v = f.log.verify();
    CHECK_FALSE(v.intact);
    REQUIRE(v.broken_seq.has_value());
    CHECK(*v.broken_seq == 1);
  }
}

TEST_CASE("audit::AuditLog::list") {
  Fixture f;
  const std::int64_t t0 = f.clock.now_ms();
  const auto add = [&](const char* actor, const char* action) {
    f.log.append({actor, action, "o", Outcome::success, ""});
    f.clock.advance_seconds(10);
  };
  add("alice@example.org", "login");          // seq 1, t0
  add("bob@example.org", "login");            // seq 2, t0 + 10 s
  add("alice@example.org", "login.failure");  // seq 3, t0 + 20 s
  add("alice@example.org", "logout");         // seq 4, t0 + 30 s
  add("bob@example.org", "user.add");         // seq 5, t0 + 40 s
  add("bob@example.org", "user_x");           // seq 6, t0 + 50 s
  add("bob@example.org", "userAx");           // seq 7, t0 + 60 s

  const auto seqs = [&](const Filter& filter) {
    std::vector<std::int64_t> out;
    for (const Record& r : f.log.list(filter))
      out.push_back(r.seq);
    return out;
  };
  using V = std::vector<std::int64_t>;

  SUBCASE("everything, oldest first") {
    CHECK(seqs({}) == V{1, 2, 3, 4, 5, 6, 7});
  }
  SUBCASE("by actor, ignoring case") {
    Filter filter;
    filter.actor = "alice@example.org";
    CHECK(seqs(filter) == V{1, 3, 4});
    filter.actor = "ALICE@Example.org";
    CHECK(seqs(filter) == V{1, 3, 4});
    filter.actor = "alice";
    CHECK(seqs(filter).empty());
  }
  SUBCASE("by exact action") {
    Filter filter;
    filter.action = "login";
    CHECK(seqs(filter) == V{1, 2});
    filter.action = "login.fail";
    CHECK(seqs(filter).empty());
  }
  SUBCASE("by action prefix") {
    Filter filter;
    filter.action = "login*";
    CHECK(seqs(filter) == V{1, 2, 3});
    filter.action = "login.";
    CHECK(seqs(filter) == V{3});
    filter.action = "log*";
    CHECK(seqs(filter) == V{1, 2, 3, 4});
    filter.action = "*";
    CHECK(seqs(filter).size() == 7);
  }
  SUBCASE("LIKE wildcards in a prefix are literal") {
    Filter filter;
    filter.action = "user_*";
    CHECK(seqs(filter) == V{6});
    filter.action = "%*";
    CHECK(seqs(filter).empty());
  }
  SUBCASE("since (inclusive) and until (exclusive)") {
    Filter filter;
    filter.since_ms = t0 + 20000;
    CHECK(seqs(filter) == V{3, 4, 5, 6, 7});
    filter.until_ms = t0 + 40000;
    CHECK(seqs(filter) == V{3, 4});
    filter.since_ms.reset();
    CHECK(seqs(filter) == V{1, 2, 3, 4});
    filter.since_ms = t0 + 20001;
    filter.until_ms = t0 + 29999;
    CHECK(seqs(filter).empty());
  }
  SUBCASE("limit: the newest rows, returned oldest first") {
    Filter filter;
    filter.limit = 3;
    CHECK(seqs(filter) == V{5, 6, 7});
    filter.limit = 100;
    CHECK(seqs(filter).size() == 7);
  }
  SUBCASE("filters combine") {
    Filter filter;
    filter.actor = "alice@example.org";
    filter.action = "login*";
    CHECK(seqs(filter) == V{1, 3});
    filter.limit = 1;
    CHECK(seqs(filter) == V{3});
    filter.since_ms = t0 + 1;
    filter.limit = 0;
    CHECK(seqs(filter) == V{3});
  }
}

TEST_CASE("audit::AuditLog::append in a transaction") {
  Fixture f;
  SUBCASE("a rolled-back transaction leaves no row") {
    {
      Transaction tx(f.db);
      f.log.append({"a@example.org", "user.add", "user:b@example.org", Outcome::success, ""});
      CHECK(f.log.list({}).size() == 1);  // visible inside the transaction
    }
    CHECK(f.log.list({}).empty());
    const VerifyResult v = f.log.verify();
    CHECK(v.intact);
    CHECK(v.rows == 0);
    // The next row starts the chain again at seq 1.
    f.log.append({"a@example.org", "login", "session", Outcome::success, ""});
    const auto rows = f.log.list({});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].seq == 1);
    CHECK(rows[0].prev_hash == kGenesisHash);
    CHECK(f.log.verify().intact);
  }
  SUBCASE("a committed transaction keeps its rows") {
    {
      Transaction tx(f.db);
      f.log.append({"a@example.org", "one", "o", Outcome::success, ""});
      f.log.append({"a@example.org", "two", "o", Outcome::success, ""});
      tx.commit();
    }
    CHECK(f.log.list({}).size() == 2);
    CHECK(f.log.verify().intact);
  }
}

TEST_CASE("audit::to_string(Outcome)") {
  CHECK(to_string(Outcome::success) == "success");
  CHECK(to_string(Outcome::failure) == "failure");
  CHECK(to_string(Outcome::denied) == "denied");
}
