#pragma once

namespace csss::store {

class Database;

// Brings the store's schema (PRAGMA user_version) up to latest_schema_version(), applying each
// pending migration in order inside one transaction. Safe to run on every open.
void migrate(Database& db);

}  // namespace csss::store
