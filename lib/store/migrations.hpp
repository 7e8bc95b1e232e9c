#pragma once

#include <string_view>

namespace csss::store {

class Database;

// Brings the store's schema (PRAGMA user_version) up to latest_schema_version(), applying each
// pending migration in order inside one transaction. Safe to run on every open, and by several
// processes at once (the pending ones are read again under the write lock). When a pending
// migration rebuilds a referenced table, foreign keys are off for this connection during the
// transaction and PRAGMA foreign_key_check must be clean before it commits (else Error(io), and
// nothing changes); they are on again afterwards.
void migrate(Database& db);

// The SQL of migration `version` (1 to latest_schema_version()), as migrate() runs it: for tests
// that build a store of an older schema. Throws Error(internal) for an unknown version.
std::string_view migration_sql(int version);

}  // namespace csss::store
