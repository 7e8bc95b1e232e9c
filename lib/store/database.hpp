#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace csss::store {

class StatementCache;

// One prepared statement. Parameters are bound by 1-based position; values never become SQL text.
// Errors throw csss::Error: constraint violations as `conflict`, everything else as `io`.
// One made by Database::prepare() goes back to its connection's cache when it is destroyed (reset,
// its bindings cleared), so the next prepare() of the same SQL does not parse it again.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql, StatementCache* cache = nullptr);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const std::string& value) {
    return bind(index, std::string_view(value));
  }
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, std::nullopt_t);
  template <class T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, std::nullopt);
  }

  // Binds every argument in order, starting at position 1.
  template <class... Args>
  Statement& bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }

  // Advances to the next row: true while one is available, false when done.
  bool step();
  // Runs a statement that returns no rows (or ignores them).
  void run();
  // Makes the statement ready to run again with new bindings.
  void reset();

  bool is_null(int column) const;
  std::int64_t get_int(int column) const;
  double get_double(int column) const;
  std::string get_text(int column) const;
  std::optional<std::int64_t> get_opt_int(int column) const;
  std::optional<std::string> get_opt_text(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  StatementCache* cache_ = nullptr;
  std::string sql_;  // the cache's key
};

enum class OpenMode { existing, create };

// An open CSSS store: one SQLite file in WAL mode with foreign keys on, a busy timeout, FULL
// synchronous commits, and its schema migrated to the version this binary knows.
class Database {
 public:
  // Opens (or, with OpenMode::create, creates with mode 0600) the store at `path` and runs pending
  // migrations. Throws Error(not_found) when it does not exist and may not be created;
  // Error(io) when it is not an SQLite file, belongs to another program, or was made by a newer
  // csss.
  static Database open(const std::filesystem::path& path, OpenMode mode);

  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&&) = delete;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // A statement for `sql`: from the connection's cache of statements not in use (up to 64
  // different SQL texts), else newly prepared. Preparing parses the SQL against the schema, which
  // costs more than running most of CSSS's queries; the batch import runs a few thousand a minute.
  Statement prepare(std::string_view sql) { return Statement(db_, sql, cache_.get()); }
  // Runs SQL without parameters (schema scripts and pragmas only).
  void exec(std::string_view sql);
  std::int64_t last_insert_rowid() const;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  std::int64_t changes() const;
  // True inside an open transaction.
  bool in_transaction() const;
  int schema_version() const;
  const std::filesystem::path& path() const { return path_; }
  sqlite3* handle() const { return db_; }

 private:
  Database(sqlite3* db, std::filesystem::path path);
  sqlite3* db_;
  std::filesystem::path path_;
  std::unique_ptr<StatementCache> cache_;  // finalised before the connection is closed
};

// A write transaction. It takes the write lock at once (BEGIN IMMEDIATE), so that a
// read-then-write inside it cannot be interleaved with another process; it rolls back unless
// commit() is called.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

// The schema version this binary creates and understands.
int latest_schema_version();

}  // namespace csss::store
