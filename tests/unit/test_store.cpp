#include <doctest/doctest.h>

#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/database.hpp"
#include "store/migrations.hpp"
#include "support/check_error.hpp"
#include "support/temp_dir.hpp"

using namespace csss::store;
using csss::ErrorKind;
using csss::test::check_error;
using csss::test::contains;
using csss::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr int kApplicationId = 0x43535353;  // "CSSS"

// A connection through the plain SQLite C API, behind the store's back.
class RawDb {
 public:
  explicit RawDb(const fs::path& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            nullptr) == SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    const std::string msg = err != nullptr ? err : "";
    sqlite3_free(err);
    INFO(sql, ": ", msg);
    REQUIRE(rc == SQLITE_OK);
  }

  // Every row of `sql`'s result, each column as SQLite's text (NULL as "NULL"), one line per row.
  std::string dump(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    INFO(sql);
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    std::string out;
    while (sqlite3_step(st) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const auto* text = sqlite3_column_text(st, i);
        out += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
        out += '|';
      }
      out += '\n';
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::int64_t query_int(Database& db, const std::string& sql) {
  auto st = db.prepare(sql);
  REQUIRE(st.step());
  return st.get_int(0);
}

std::string query_text(Database& db, const std::string& sql) {
  auto st = db.prepare(sql);
  REQUIRE(st.step());
  return st.get_text(0);
}

std::int64_t count_users(Database& db) {
  return query_int(db, "SELECT count(*) FROM users");
}

void insert_user(Database& db, const std::string& email) {
  db.prepare(
        "INSERT INTO users (email, full_name, role, password_hash, created_at, "
        "password_changed_at) VALUES (?, 'Test User', 'patient', 'x', 0, 0)")
      .bind(1, email)
      .run();
}

}  // namespace

TEST_CASE("store::Database::open creates a store") {
  TempDir tmp;
  const fs::path path = tmp / "csss.db";
  Database db = Database::open(path, OpenMode::create);

  SUBCASE("a 0600 file") {
    CHECK(fs::is_regular_file(path));
    CHECK(mode_of(path) == 0600u);
    CHECK(db.path() == path);
  }
  SUBCASE("WAL journal, foreign keys, FULL sync, application id") {
    CHECK(query_text(db, "PRAGMA journal_mode") == "wal");
    CHECK(query_int(db, "PRAGMA foreign_keys") == 1);
    CHECK(query_int(db, "PRAGMA synchronous") == 2);  // FULL
    CHECK(query_int(db, "PRAGMA application_id") == kApplicationId);
  }
  SUBCASE("the latest schema") {
    CHECK(latest_schema_version() >= 1);
    CHECK(db.schema_version() == latest_schema_version());
    CHECK(query_int(db, "PRAGMA user_version") == latest_schema_version());
    for (const std::string table :
         {"users", "sessions", "otp_challenges", "audit_log", "audit_head"}) {
      CAPTURE(table);
      auto st = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?");
      st.bind(1, table);
      REQUIRE(st.step());
      CHECK(st.get_int(0) == 1);
    }
  }
  SUBCASE("the WAL file is private too") {
    insert_user(db, "a@example.org");
    REQUIRE(fs::exists(tmp / "csss.db-wal"));
    CHECK(mode_of(tmp / "csss.db-wal") == 0600u);
  }
  SUBCASE("foreign keys are enforced") {
    check_error(
        [&] {
          db.prepare(
                "INSERT INTO sessions (user_id, token_hash, stage, created_at, expires_at, "
                "last_seen_at) VALUES (999, 'h', 'active', 0, 0, 0)")
              .run();
        },
        ErrorKind::conflict, "FOREIGN KEY");
  }
}

TEST_CASE("store::Database::open reopens") {
  TempDir tmp;
  const fs::path path = tmp / "csss.db";
  {
    Database db = Database::open(path, OpenMode::create);
    insert_user(db, "a@example.org");
  }
  SUBCASE("with OpenMode::create, idempotently") {
    for (int i = 0; i < 2; ++i) {
      Database db = Database::open(path, OpenMode::create);
      CHECK(db.schema_version() == latest_schema_version());
      CHECK(count_users(db) == 1);
      CHECK(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'users'") == 1);
    }
  }
  SUBCASE("with OpenMode::existing") {
    Database db = Database::open(path, OpenMode::existing);
    CHECK(count_users(db) == 1);
    CHECK(query_int(db, "PRAGMA foreign_keys") == 1);  // per connection, set again
    CHECK(query_text(db, "PRAGMA journal_mode") == "wal");
  }
  SUBCASE("two connections at once see each other's commits") {
    Database a = Database::open(path, OpenMode::existing);
    Database b = Database::open(path, OpenMode::existing);
    insert_user(a, "b@example.org");
    CHECK(count_users(b) == 2);
  }
}

TEST_CASE("store::Database::open refuses") {
  TempDir tmp;
  const fs::path path = tmp / "csss.db";

  SUBCASE("a missing store with OpenMode::existing: not_found, and nothing is created") {
    check_error([&] { (void)Database::open(path, OpenMode::existing); }, ErrorKind::not_found,
                "csss init");
    CHECK_FALSE(fs::exists(path));
  }
  SUBCASE("a store of a newer csss") {
    { (void)Database::open(path, OpenMode::create); }
    {
      RawDb raw(path);
      raw.exec("PRAGMA user_version = " + std::to_string(latest_schema_version() + 1));
    }
    const std::string msg = check_error([&] { (void)Database::open(path, OpenMode::existing); },
                                        ErrorKind::io, "newer");
    CHECK(contains(msg, path.string()));
    check_error([&] { (void)Database::open(path, OpenMode::create); }, ErrorKind::io, "newer");
  }
  SUBCASE("a text file named csss.db") {
    std::ofstream(path) << std::string(4096, 'x') << "\nthis is not a database\n";
    check_error([&] { (void)Database::open(path, OpenMode::existing); }, ErrorKind::io,
                "not a CSSS store");
    check_error([&] { (void)Database::open(path, OpenMode::create); }, ErrorKind::io,
                "not a CSSS store");
  }
  SUBCASE("an SQLite database of another program") {
    {
      RawDb raw(path);
      raw.exec("PRAGMA application_id = 1234; CREATE TABLE notes (id INTEGER PRIMARY KEY);");
    }
    check_error([&] { (void)Database::open(path, OpenMode::create); }, ErrorKind::io,
                "another program");
    RawDb raw(path);  // the file was left alone
    raw.exec("INSERT INTO notes DEFAULT VALUES");
  }
  SUBCASE("an SQLite database without an application id but with tables") {
    {
      RawDb raw(path);
      raw.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY);");
    }
    check_error([&] { (void)Database::open(path, OpenMode::existing); }, ErrorKind::io,
                "another program");
  }
  SUBCASE("a directory in place of the file") {
    fs::create_directory(path);
    check_error([&] { (void)Database::open(path, OpenMode::create); }, ErrorKind::io,
                "not a regular file");
  }
}

TEST_CASE("store::Transaction") {
  TempDir tmp;
  Database db = Database::open(tmp / "csss.db", OpenMode::create);

  SUBCASE("rolls back when not committed") {
    {
      Transaction tx(db);
      CHECK(db.in_transaction());
      insert_user(db, "a@example.org");
      CHECK(count_users(db) == 1);
    }
    CHECK_FALSE(db.in_transaction());
    CHECK(count_users(db) == 0);
  }
  SUBCASE("rolls back when an exception leaves the scope") {
    try {
      Transaction tx(db);
      insert_user(db, "a@example.org");
      insert_user(db, "A@EXAMPLE.ORG");  // UNIQUE COLLATE NOCASE: conflict
      tx.commit();
    } catch (const csss::Error& e) {
      CHECK(e.kind() == ErrorKind::conflict);
    }
    CHECK(count_users(db) == 0);
  }
  SUBCASE("keeps the changes when committed") {
    {
      Transaction tx(db);
      insert_user(db, "a@example.org");
      tx.commit();
      CHECK_FALSE(db.in_transaction());
    }
    CHECK(count_users(db) == 1);
  }
}

TEST_CASE("store::Statement") {
  TempDir tmp;
  Database db = Database::open(tmp / "csss.db", OpenMode::create);
  db.exec("CREATE TABLE t (i INTEGER, d REAL, s TEXT)");

  SUBCASE("text is stored verbatim, never as SQL") {
    const std::string evil = "Robert'); DROP TABLE users;--";
    db.prepare(
          "INSERT INTO users (email, full_name, role, password_hash, created_at, "
          "password_changed_at) VALUES (?, ?, 'patient', 'x', 0, 0)")
        .bind_all("bobby@example.org", evil)
        .run();
    CHECK(query_text(db, "SELECT full_name FROM users") == evil);
    CHECK(count_users(db) == 1);  // the table is still there
    for (const std::string& s : {std::string("it's \"quoted\""), std::string("%_\\ LIKE wildcards"),
                                 std::string("Gr\xC3\xBC\xC3\x9F"
                                             "e \xF0\x9F\x98\x80"),
                                 std::string("a\0b", 3), std::string()}) {
      db.exec("DELETE FROM t");
      db.prepare("INSERT INTO t (s) VALUES (?)").bind(1, s).run();
      auto st = db.prepare("SELECT s, length(s) FROM t");
      REQUIRE(st.step());
      CHECK(st.get_text(0) == s);
    }
  }
  SUBCASE("numbers, NULL and optionals") {
    const std::optional<std::int64_t> none;
    const std::optional<std::string> text = "x";
    db.prepare("INSERT INTO t VALUES (?, ?, ?)").bind_all(std::int64_t{1} << 40, 2.5, none).run();
    db.prepare("INSERT INTO t VALUES (?, ?, ?)").bind_all(-7, 0.0, text).run();
    auto st = db.prepare("SELECT i, d, s FROM t ORDER BY rowid");
    REQUIRE(st.step());
    CHECK(st.get_int(0) == (std::int64_t{1} << 40));
    CHECK(st.get_double(1) == doctest::Approx(2.5));
    CHECK(st.is_null(2));
    CHECK(st.get_opt_text(2) == std::nullopt);
    CHECK(st.get_text(2).empty());
    REQUIRE(st.step());
    CHECK(st.get_int(0) == -7);
    CHECK(st.get_opt_int(0) == -7);
    CHECK(st.get_opt_text(2) == "x");
    CHECK_FALSE(st.step());
  }
  SUBCASE("reset runs a statement again with new bindings") {
    auto ins = db.prepare("INSERT INTO t (i) VALUES (?)");
    for (int i = 1; i <= 3; ++i) {
      ins.bind(1, i).run();
      ins.reset();
    }
    CHECK(query_int(db, "SELECT sum(i) FROM t") == 6);
    CHECK(db.last_insert_rowid() == 3);
  }
  SUBCASE("a constraint violation is a conflict") {
    insert_user(db, "a@example.org");
    check_error([&] { insert_user(db, "a@example.org"); }, ErrorKind::conflict, "UNIQUE");
  }
  SUBCASE("malformed SQL is an io error") {
    check_error([&] { (void)db.prepare("SELEC 1"); }, ErrorKind::io, "syntax error");
  }
  SUBCASE("a statement comes back from the cache reset, without its bindings") {
    const auto statements = [&] {
      int n = 0;
      for (sqlite3_stmt* st = sqlite3_next_stmt(db.handle(), nullptr); st != nullptr;
           st = sqlite3_next_stmt(db.handle(), st))
        ++n;
      return n;
    };
    const int before = statements();  // opening the store prepared some
    for (int i = 1; i <= 100; ++i)
      db.prepare("INSERT INTO t (i, s) VALUES (?, ?)").bind_all(i, "x").run();
    // One prepared statement served all hundred inserts.
    CHECK(statements() == before + 1);
    CHECK(query_int(db, "SELECT sum(i) FROM t") == 5050);
    // Reused, its earlier bindings are gone: an unbound parameter is NULL.
    db.prepare("INSERT INTO t (i, s) VALUES (?, ?)").bind(1, 101).run();
    CHECK(query_int(db, "SELECT count(*) FROM t WHERE i = 101 AND s IS NULL") == 1);
    // Left in the middle of its rows, it starts again from the first.
    {
      auto st = db.prepare("SELECT i FROM t ORDER BY i");
      REQUIRE(st.step());
      REQUIRE(st.step());
      CHECK(st.get_int(0) == 2);
    }
    auto again = db.prepare("SELECT i FROM t ORDER BY i");
    REQUIRE(again.step());
    CHECK(again.get_int(0) == 1);
    // The same SQL twice at once: two statements, each with its own rows.
    auto other = db.prepare("SELECT i FROM t ORDER BY i");
    REQUIRE(other.step());
    REQUIRE(again.step());
    CHECK(again.get_int(0) == 2);
    CHECK(other.get_int(0) == 1);
  }
  SUBCASE("a statement left in the middle of its rows does not hold an old view of the store") {
    db.prepare("INSERT INTO t (i) VALUES (1), (2)").run();
    {
      auto st = db.prepare("SELECT count(*) FROM t, t AS u");
      REQUIRE(st.step());
      CHECK(st.get_int(0) == 4);
    }
    {
      RawDb other(tmp / "csss.db");
      other.exec("INSERT INTO t (i) VALUES (3)");
    }
    auto st = db.prepare("SELECT count(*) FROM t, t AS u");
    REQUIRE(st.step());
    CHECK(st.get_int(0) == 9);
  }
}

namespace {

// A dump of a table's rows as version 4 had them: later migrations add columns to patients.
// Every table of schema version 4, and the ones among them that reference users (id).
const std::vector<std::string> kVersion4Tables = {
    "users",       "login_throttle", "sessions", "otp_challenges",   "audit_log",
    "audit_head",  "patients",       "scans",    "analyses",         "workflow_transitions",
    "scan_events", "signatures",     "reports",  "report_deliveries"};
const std::vector<std::string> kUserReferences = {"sessions",   "otp_challenges",   "patients",
                                                  "scans",      "analyses",         "scan_events",
                                                  "signatures", "report_deliveries"};

// A store at schema version 4, made with the SQL of migrations 1 to 4 as an older csss did, and a
// row in every table (with foreign keys on, so that every reference is valid).
void make_version4_store(const fs::path& path) {
  RawDb raw(path);
  raw.exec("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA application_id = " +
           std::to_string(kApplicationId));
  for (int v = 1; v <= 4; ++v) {
    raw.exec("BEGIN; " + std::string(migration_sql(v)) +
             "; PRAGMA user_version = " + std::to_string(v) + "; COMMIT;");
  }
  raw.exec(R"sql(
INSERT INTO users VALUES
  (1, 'admin@example.org', 'Ada Admin', 'admin', '$argon2id$a', 0, 0, NULL, 10, 10),
  (2, 'Doctor@Example.org', 'Dr Lee', 'doctor', '$argon2id$b', 0, 2, 500, 11, 12),
  (3, 'patient@example.org', 'Zoë Ñúñez', 'patient', '$argon2id$c', 1, 0, NULL, 13, 13),
  (7, 'pharma@example.org', 'Pat Chen', 'pharmacist', '$argon2id$d', 0, 0, NULL, 14, 14);
INSERT INTO login_throttle VALUES ('ghost@example.org', 3, NULL, 20);
INSERT INTO sessions VALUES (1, 2, 'hash1', 'active', 20, 80, 25, NULL),
                            (2, 1, 'hash2', 'awaiting_otp', 21, 30, 21, 22);
INSERT INTO otp_challenges VALUES (1, 2, 1, 'salt', 'codehash', 21, 30, 1, NULL);
INSERT INTO audit_log VALUES (1, 1000, 'system', 'user.add', 'user:admin@example.org', 'success',
  '', '0000000000000000000000000000000000000000000000000000000000000000', 'h1');
INSERT INTO audit_head VALUES (1, 1, 'h1');
INSERT INTO patients VALUES (1, 3, 'Zoë Ñúñez', 'MRN-1', 20, '1980-02-29');
INSERT INTO scans VALUES ('s1', 1, 2, 'sha-1', 100, 'png', 2, 2, 1, 'CR', 'CHEST', '', '', 1,
  'chest.png', 'pending_ai', 30);
INSERT INTO analyses VALUES ('a1', 's1', 'chest-xray', '1', 'w', 'normal', 0.9, 0.75, 0,
  '[["normal",0.9],["pneumonia",0.1]]', 'low', 'heatmaps/a1.png', 2, 31);
UPDATE scans SET status = 'ai_analysed' WHERE id = 's1';
INSERT INTO scan_events VALUES (1, 's1', 'analyse', 'pending_ai', 'ai_analysed', 2, '', 31);
INSERT INTO signatures VALUES ('g1', 's1', 'verification', 'verified', NULL, 2, 'Dr Lee',
  'doctor', 32, '{}', 'c1', 'r1');
INSERT INTO reports VALUES ('r1', 's1', 'g1', 'reports/r1.pdf', 10, 'f1', '{}', 'c2', 'sealed',
  33);
INSERT INTO report_deliveries VALUES (1, 'r1', 1, 'patient@example.org', 'queued', '', 7, 33, 33);
)sql");
}

}  // namespace

TEST_CASE("store migration 5: users rebuilt for the importer role, every row and reference kept") {
  TempDir tmp;
  const fs::path path = tmp / "csss.db";
  make_version4_store(path);
  std::map<std::string, std::string> before;
  std::map<std::string, std::string> columns;  // version 4's, which later migrations keep
  {
    RawDb raw(path);
    for (const std::string& t : kVersion4Tables) {
      columns[t] = raw.dump("SELECT group_concat(name, ', ') FROM pragma_table_info('" + t + "')");
      columns[t].resize(columns[t].size() - 2);  // the dump's "|\n"
      before[t] = raw.dump("SELECT " + columns[t] + " FROM " + t + " ORDER BY 1, 2");
    }
    CHECK(before["users"].find("Zoë") != std::string::npos);
  }

  {
    Database db = Database::open(path, OpenMode::existing);
    CHECK(db.schema_version() == latest_schema_version());
    CHECK(query_int(db, "PRAGMA foreign_keys") == 1);  // back on after the rebuild
  }
  RawDb raw(path);
  SUBCASE("every row of every table is kept, unchanged") {
    for (const std::string& t : kVersion4Tables) {
      CAPTURE(t);
      CHECK(raw.dump("SELECT " + columns[t] + " FROM " + t + " ORDER BY 1, 2") == before[t]);
    }
  }
  SUBCASE("the references still name users, and all of them hold") {
    CHECK(raw.dump("PRAGMA foreign_key_check").empty());
    CHECK(raw.dump("SELECT name FROM sqlite_schema WHERE sql LIKE '%users_new%'").empty());
    for (const std::string& t : kUserReferences) {
      CAPTURE(t);
      CHECK(contains(raw.dump("SELECT \"table\", \"from\" FROM pragma_foreign_key_list('" + t +
                              "') WHERE \"table\" = 'users'"),
                     "users|"));
    }
    CHECK(raw.dump("PRAGMA integrity_check") == "ok|\n");
  }
  Database db = Database::open(path, OpenMode::existing);
  SUBCASE("the new users table: the importer role, the old rules") {
    CHECK(contains(query_text(db, "SELECT sql FROM sqlite_schema WHERE name = 'users'"),
                   "'importer'"));
    CHECK(contains(query_text(db, "SELECT sql FROM sqlite_schema WHERE name = 'users'"), "STRICT"));
    db.exec(
        "INSERT INTO users (email, full_name, role, password_hash, created_at, "
        "password_changed_at) VALUES ('imp@example.org', 'Importer', 'importer', 'x', 0, 0)");
    check_error(
        [&] {
          db.exec(
              "INSERT INTO users (email, full_name, role, password_hash, created_at, "
              "password_changed_at) VALUES ('n@example.org', 'Nurse', 'nurse', 'x', 0, 0)");
        },
        ErrorKind::conflict, "CHECK");
    check_error([&] { insert_user(db, "DOCTOR@example.org"); }, ErrorKind::conflict, "UNIQUE");
  }
  SUBCASE("foreign keys are enforced against the new table") {
    check_error(
        [&] {
          db.exec(
              "INSERT INTO sessions (user_id, token_hash, stage, created_at, expires_at, "
              "last_seen_at) VALUES (999, 'h', 'active', 0, 0, 0)");
        },
        ErrorKind::conflict, "FOREIGN KEY");
    db.exec(
        "INSERT INTO sessions (user_id, token_hash, stage, created_at, expires_at, "
        "last_seen_at) VALUES (7, 'h', 'active', 0, 0, 0)");
  }
  SUBCASE("the tokens table, referencing users") {
    db.exec(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_by, created_at, expires_at) "
        "VALUES (2, 'n', 'th', 1, 0, 1)");
    check_error(
        [&] {
          db.exec(
              "INSERT INTO api_tokens (user_id, name, token_hash, created_by, created_at, "
              "expires_at) VALUES (99, 'n', 'th2', 1, 0, 1)");
        },
        ErrorKind::conflict, "FOREIGN KEY");
    check_error(
        [&] {
          db.exec(
              "INSERT INTO api_tokens (user_id, name, token_hash, created_by, created_at, "
              "expires_at) VALUES (2, 'n', 'th', 1, 0, 1)");
        },
        ErrorKind::conflict, "UNIQUE");
  }
}

TEST_CASE("store migration 5 stops, changing nothing, when a reference does not hold") {
  TempDir tmp;
  const fs::path path = tmp / "csss.db";
  make_version4_store(path);
  std::string users_before;
  {
    RawDb raw(path);
    // Written behind the store's back, with foreign keys off: a session of no account.
    raw.exec("PRAGMA foreign_keys = OFF");
    raw.exec("INSERT INTO sessions VALUES (3, 404, 'hash3', 'active', 20, 80, 25, NULL)");
    users_before = raw.dump("SELECT * FROM users ORDER BY id");
  }
  const std::string msg = check_error([&] { (void)Database::open(path, OpenMode::existing); },
                                      ErrorKind::io, "migration 5 stopped");
  CHECK(contains(msg, "table sessions"));
  CHECK(contains(msg, "users"));
  RawDb raw(path);
  CHECK(raw.dump("PRAGMA user_version") == "4|\n");
  CHECK(raw.dump("SELECT * FROM users ORDER BY id") == users_before);
  CHECK_FALSE(contains(raw.dump("SELECT sql FROM sqlite_schema WHERE name = 'users'"), "importer"));
  CHECK(
      raw.dump("SELECT name FROM sqlite_schema WHERE name IN ('users_new', 'api_tokens')").empty());
}

TEST_CASE("store migrations: a store already migrated by another process is left alone") {
  TempDir tmp;
  const fs::path path = tmp / "csss.db";
  make_version4_store(path);
  Database first = Database::open(path, OpenMode::existing);
  insert_user(first, "new@example.org");
  Database second = Database::open(path, OpenMode::existing);  // nothing left to migrate
  CHECK(second.schema_version() == latest_schema_version());
  CHECK(count_users(second) == 5);
  CHECK(query_int(second, "PRAGMA foreign_keys") == 1);
  CHECK_THROWS_AS((void)migration_sql(latest_schema_version() + 1), csss::Error);
}

TEST_CASE("store migration 6: verified emails, phones, and codes of every purpose in one table") {
  TempDir tmp;
  const fs::path path = tmp / "csss.db";
  make_version4_store(path);
  Database db = Database::open(path, OpenMode::existing);
  CHECK(db.schema_version() >= 6);
  SUBCASE("accounts that existed count as verified when they were created") {
    CHECK(query_int(db, "SELECT count(*) FROM users WHERE email_verified_at IS NOT created_at") ==
          0);
    CHECK(query_int(db, "SELECT count(*) FROM users WHERE phone IS NOT NULL") == 0);
  }
  SUBCASE("an admin login code is kept, as a 'login' code of its account's email") {
    CHECK(query_text(db,
                     "SELECT purpose || ' ' || email || ' ' || session_id || ' ' || user_id || ' ' "
                     "|| code_hash || ' ' || expires_at || ' ' || failed_attempts FROM "
                     "otp_challenges WHERE id = 1") == "login admin@example.org 2 1 codehash 30 1");
  }
  SUBCASE("a login code needs its session and account; an email code has no session") {
    check_error(
        [&] {
          db.exec(
              "INSERT INTO otp_challenges (purpose, email, user_id, salt, code_hash, created_at, "
              "expires_at) VALUES ('login', 'a@example.org', 2, 's', 'h', 0, 1)");
        },
        ErrorKind::conflict, "CHECK");
    check_error(
        [&] {
          db.exec(
              "INSERT INTO otp_challenges (purpose, email, session_id, user_id, salt, code_hash, "
              "created_at, expires_at) VALUES ('reset_password', 'a@example.org', 1, 2, 's', "
              "'h', 0, 1)");
        },
        ErrorKind::conflict, "CHECK");
    check_error(
        [&] {
          db.exec(
              "INSERT INTO otp_challenges (purpose, email, salt, code_hash, created_at, "
              "expires_at) VALUES ('unlock', 'a@example.org', 's', 'h', 0, 1)");
        },
        ErrorKind::conflict, "CHECK");
    // A decoy: an email code of no account.
    db.exec(
        "INSERT INTO otp_challenges (purpose, email, salt, code_hash, created_at, expires_at) "
        "VALUES ('reset_password', 'nobody@example.org', 's', 'h', 0, 1)");
    db.exec(
        "INSERT INTO email_code_requests (email, purpose, created_at) VALUES "
        "('nobody@example.org', 'reset_password', 0)");
  }
  SUBCASE("a phone is + and 7 to 15 digits") {
    db.exec("UPDATE users SET phone = '+441234567' WHERE id = 2");
    for (const std::string bad : {"441234567", "+44 1234567", "+123456", "+1234567890123456"}) {
      CAPTURE(bad);
      check_error([&] { db.exec("UPDATE users SET phone = '" + bad + "' WHERE id = 2"); },
                  ErrorKind::conflict, "CHECK");
    }
  }
}

TEST_CASE("store migration 7: patient records get sex, contact, history and a unique MRN") {
  TempDir tmp;
  const fs::path path = tmp / "csss.db";
  make_version4_store(path);
  {
    // Two records with one external ID (which imports never made, but a store might hold), and
    // one without any.
    RawDb raw(path);
    raw.exec(
        "INSERT INTO patients (id, full_name, external_id, created_at) VALUES "
        "(2, 'Imported Twice', 'MRN-7', 40), (3, 'Imported Again', 'MRN-7', 41), "
        "(4, 'No Number', NULL, 42)");
  }
  Database db = Database::open(path, OpenMode::existing);
  CHECK(db.schema_version() == latest_schema_version());
  RawDb raw(path);
  // Every record kept; the second holder of an external ID gets its record number appended.
  CHECK(raw.dump("SELECT id, full_name, external_id, sex, history, updated_at FROM patients "
                 "ORDER BY id") ==
        "1|Zoë Ñúñez|MRN-1|unknown||20|\n2|Imported Twice|MRN-7|unknown||40|\n"
        "3|Imported Again|MRN-7#3|unknown||41|\n4|No Number|NULL|unknown||42|\n");
  SUBCASE("the MRN is unique; records without one are many") {
    check_error(
        [&] {
          db.exec(
              "INSERT INTO patients (full_name, external_id, created_at) VALUES ('X', 'MRN-1', 1)");
        },
        ErrorKind::conflict, "UNIQUE");
    db.exec("INSERT INTO patients (full_name, created_at) VALUES ('Y', 50)");
    // A new record's updated_at starts as its created_at, whoever inserts it.
    CHECK(query_int(db, "SELECT updated_at FROM patients WHERE full_name = 'Y'") == 50);
  }
  SUBCASE("sex is one of four words") {
    check_error([&] { db.exec("UPDATE patients SET sex = 'f' WHERE id = 1"); }, ErrorKind::conflict,
                "CHECK");
    db.exec("UPDATE patients SET sex = 'female' WHERE id = 1");
  }
  SUBCASE("notes on AI results are append-only and name an AI result") {
    db.exec(
        "INSERT INTO analysis_notes (analysis_id, scan_id, author_id, author_name, author_role, "
        "text, created_at) VALUES ('a1', 's1', 2, 'Dr Lee', 'doctor', 'Check the apex.', 50)");
    check_error([&] { db.exec("UPDATE analysis_notes SET text = 'x'"); }, ErrorKind::conflict,
                "cannot be changed");
    check_error([&] { db.exec("DELETE FROM analysis_notes"); }, ErrorKind::conflict,
                "cannot be deleted");
    check_error(
        [&] {
          db.exec(
              "INSERT INTO analysis_notes (analysis_id, scan_id, author_id, author_name, "
              "author_role, text, created_at) VALUES ('nope', 's1', 2, 'Dr Lee', 'doctor', 'x', "
              "50)");
        },
        ErrorKind::conflict, "FOREIGN KEY");
    check_error(
        [&] {
          db.exec(
              "INSERT INTO analysis_notes (analysis_id, scan_id, author_id, author_name, "
              "author_role, text, created_at) VALUES ('a1', 's1', 2, 'Dr Lee', 'doctor', '', 50)");
        },
        ErrorKind::conflict, "CHECK");
  }
}
