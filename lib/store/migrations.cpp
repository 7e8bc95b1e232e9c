#include "store/migrations.hpp"

#include <algorithm>
#include <array>
#include <optional>

#include <fmt/format.h>

#include "store/database.hpp"
#include "util/error.hpp"

namespace csss::store {

namespace {

struct Migration {
  int version;
  const char* sql;
  // A migration that rebuilds a table other tables reference (SQLite cannot change a column's
  // constraints in place; sqlite.org/lang_altertable.html#otheralter): it runs with foreign keys
  // off, which only takes effect outside a transaction, and PRAGMA foreign_key_check must come
  // back empty before the transaction commits.
  bool foreign_keys_off = false;
};

// Append-only: a released migration is never edited; a change of schema is a new entry.
// Times are Unix seconds (UTC) unless the column name says otherwise.
constexpr std::array kMigrations{
    Migration{1, R"sql(
CREATE TABLE users (
  id                  INTEGER PRIMARY KEY,
  email               TEXT NOT NULL UNIQUE COLLATE NOCASE,
  full_name           TEXT NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
  role                TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'pharmacist', 'admin')),
  password_hash       TEXT NOT NULL,
  disabled            INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  failed_logins       INTEGER NOT NULL DEFAULT 0,
  locked_until        INTEGER,
  created_at          INTEGER NOT NULL,
  password_changed_at INTEGER NOT NULL
) STRICT;

-- Failed-login counts for emails that have no account, kept like users.failed_logins and
-- users.locked_until so that a lockout looks the same whether or not the account exists.
CREATE TABLE login_throttle (
  email        TEXT PRIMARY KEY COLLATE NOCASE,
  failures     INTEGER NOT NULL,
  locked_until INTEGER,
  updated_at   INTEGER NOT NULL
) STRICT;

-- A login session. Only the SHA-256 of the token is kept; the token itself lives in the user's
-- 0600 session file. An admin's session starts 'awaiting_otp' and becomes 'active' once the
-- emailed code is entered.
CREATE TABLE sessions (
  id           INTEGER PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users (id),
  token_hash   TEXT NOT NULL UNIQUE,
  stage        TEXT NOT NULL CHECK (stage IN ('awaiting_otp', 'active')),
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  revoked_at   INTEGER
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);

-- One-time codes for the second factor, bound to the half-open session that asked for them.
CREATE TABLE otp_challenges (
  id              INTEGER PRIMARY KEY,
  session_id      INTEGER NOT NULL REFERENCES sessions (id),
  user_id         INTEGER NOT NULL REFERENCES users (id),
  salt            TEXT NOT NULL,
  code_hash       TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  expires_at      INTEGER NOT NULL,
  failed_attempts INTEGER NOT NULL DEFAULT 0,
  used_at         INTEGER
) STRICT;
CREATE INDEX otp_challenges_user ON otp_challenges (user_id, id);

-- The hash-chained audit log: hash = SHA-256 of the row's content and prev_hash (lib/audit).
CREATE TABLE audit_log (
  seq       INTEGER PRIMARY KEY,
  at_ms     INTEGER NOT NULL,
  actor     TEXT NOT NULL,
  action    TEXT NOT NULL,
  object    TEXT NOT NULL,
  outcome   TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
  detail    TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- The newest row's sequence number and hash, kept apart from the log so that removing rows from
-- the end of the log is detected too.
CREATE TABLE audit_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  INTEGER NOT NULL,
  hash TEXT NOT NULL
) STRICT;
)sql"},
    Migration{2, R"sql(
-- A patient's record, distinct from login accounts: a patient may have a record without an
-- account (batch imports) and an account is linked to at most one record.
CREATE TABLE patients (
  id          INTEGER PRIMARY KEY,
  user_id     INTEGER UNIQUE REFERENCES users (id),
  full_name   TEXT NOT NULL,
  external_id TEXT,  -- e.g. the DICOM PatientID or medical record number
  created_at  INTEGER NOT NULL
) STRICT;

-- An uploaded scan. The file is stored as <data_dir>/scans/<id>: a random UUID, so that no file
-- name carries patient identity; the name it was uploaded under is kept here only.
CREATE TABLE scans (
  id               TEXT PRIMARY KEY,
  patient_id       INTEGER NOT NULL REFERENCES patients (id),
  uploaded_by      INTEGER NOT NULL REFERENCES users (id),
  sha256           TEXT NOT NULL UNIQUE,
  size_bytes       INTEGER NOT NULL,
  format           TEXT NOT NULL CHECK (format IN ('png', 'jpeg', 'dicom')),
  width            INTEGER NOT NULL,
  height           INTEGER NOT NULL,
  channels         INTEGER NOT NULL,
  modality         TEXT NOT NULL,
  body_part        TEXT NOT NULL,
  dicom_patient_id TEXT NOT NULL,
  study_uid        TEXT NOT NULL,
  frames           INTEGER NOT NULL,
  source_name      TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending_ai', 'ai_analysed', 'doctor_verified',
                     'pharmacist_completed', 'approved', 'report_delivered', 'rejected')),
  created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX scans_patient ON scans (patient_id, created_at);
CREATE INDEX scans_status ON scans (status, created_at);

-- One run of a model on a scan. Results are never replaced: analysing again adds a row.
CREATE TABLE analyses (
  id              TEXT PRIMARY KEY,  -- random UUID; also the heat map's file name
  scan_id         TEXT NOT NULL REFERENCES scans (id),
  model_name      TEXT NOT NULL,
  model_version   TEXT NOT NULL,
  weights_sha256  TEXT NOT NULL,
  predicted_class TEXT NOT NULL,
  confidence      REAL NOT NULL,
  threshold       REAL NOT NULL,
  uncertain       INTEGER NOT NULL CHECK (uncertain IN (0, 1)),
  probabilities   TEXT NOT NULL,  -- JSON array of [class, probability] in the model's order
  risk            TEXT NOT NULL CHECK (risk IN ('low', 'medium', 'high')),
  heatmap         TEXT NOT NULL,  -- path relative to the data directory
  analysed_by     INTEGER NOT NULL REFERENCES users (id),
  created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX analyses_scan ON analyses (scan_id, created_at);
)sql"},
    Migration{3, R"sql(
-- The clinical workflow (lib/workflow). Every status change of a scan passes the trigger below,
-- which lets only the transitions of workflow_transitions through: no code path can skip a step.
-- lib/workflow/state_machine.cpp holds the same table; a test keeps the two equal.
CREATE TABLE workflow_transitions (
  from_status TEXT NOT NULL,
  to_status   TEXT NOT NULL,
  PRIMARY KEY (from_status, to_status)
) STRICT, WITHOUT ROWID;
INSERT INTO workflow_transitions (from_status, to_status) VALUES
  ('pending_ai', 'ai_analysed'),
  ('pending_ai', 'rejected'),
  ('ai_analysed', 'rejected'),
  ('ai_analysed', 'doctor_verified'),
  ('doctor_verified', 'pharmacist_completed'),
  ('pharmacist_completed', 'approved'),
  ('pharmacist_completed', 'ai_analysed'),
  ('pharmacist_completed', 'doctor_verified'),
  ('approved', 'report_delivered');
CREATE TRIGGER workflow_transitions_fixed_insert BEFORE INSERT ON workflow_transitions
BEGIN SELECT RAISE(ABORT, 'the workflow transitions cannot be changed'); END;
CREATE TRIGGER workflow_transitions_fixed_update BEFORE UPDATE ON workflow_transitions
BEGIN SELECT RAISE(ABORT, 'the workflow transitions cannot be changed'); END;
CREATE TRIGGER workflow_transitions_fixed_delete BEFORE DELETE ON workflow_transitions
BEGIN SELECT RAISE(ABORT, 'the workflow transitions cannot be changed'); END;
CREATE TRIGGER scans_start_pending BEFORE INSERT ON scans WHEN NEW.status <> 'pending_ai'
BEGIN SELECT RAISE(ABORT, 'a new scan starts as pending_ai'); END;
CREATE TRIGGER scans_status_transition BEFORE UPDATE OF status ON scans
WHEN NEW.status <> OLD.status AND NOT EXISTS (
  SELECT 1 FROM workflow_transitions WHERE from_status = OLD.status AND to_status = NEW.status)
BEGIN SELECT RAISE(ABORT, 'workflow: this status change is not a step of the workflow'); END;

-- The history of each scan: every step, by whom, with the reason given (rejections, returns).
CREATE TABLE scan_events (
  id          INTEGER PRIMARY KEY,
  scan_id     TEXT NOT NULL REFERENCES scans (id),
  step        TEXT NOT NULL,
  from_status TEXT NOT NULL,
  to_status   TEXT NOT NULL,
  actor_id    INTEGER NOT NULL REFERENCES users (id),
  reason      TEXT NOT NULL,
  created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX scan_events_scan ON scan_events (scan_id, id);
CREATE TRIGGER scan_events_append_only_update BEFORE UPDATE ON scan_events
BEGIN SELECT RAISE(ABORT, 'scan history cannot be changed'); END;
CREATE TRIGGER scan_events_append_only_delete BEFORE DELETE ON scan_events
BEGIN SELECT RAISE(ABORT, 'scan history cannot be deleted'); END;

-- Electronic signatures (modelled on 21 CFR Part 11, 11.50/11.70/11.200): the signer's printed
-- name, role, UTC time and the meaning, bound to the SHA-256 of the exact content signed
-- (canonical JSON). Never changed or deleted: a correction is a new, signed addendum that names
-- the record it amends.
CREATE TABLE signatures (
  id             TEXT PRIMARY KEY,  -- random UUID
  scan_id        TEXT NOT NULL REFERENCES scans (id),
  kind           TEXT NOT NULL CHECK (kind IN ('verification', 'prescription', 'approval')),
  meaning        TEXT NOT NULL CHECK (meaning IN ('verified', 'prescribed', 'approved')),
  amends         TEXT REFERENCES signatures (id),
  signer_id      INTEGER NOT NULL REFERENCES users (id),
  signer_name    TEXT NOT NULL,
  signer_role    TEXT NOT NULL,
  signed_at      INTEGER NOT NULL,
  content        TEXT NOT NULL,
  content_sha256 TEXT NOT NULL,
  record_sha256  TEXT NOT NULL  -- over every column above: the manifestation and the content
) STRICT;
CREATE INDEX signatures_scan ON signatures (scan_id, signed_at);
CREATE TRIGGER signatures_immutable_update BEFORE UPDATE ON signatures
BEGIN SELECT RAISE(ABORT, 'signed records cannot be changed; add a signed addendum'); END;
CREATE TRIGGER signatures_immutable_delete BEFORE DELETE ON signatures
BEGIN SELECT RAISE(ABORT, 'signed records cannot be deleted'); END;
)sql"},
    Migration{4, R"sql(
-- Reports and their delivery (lib/report).
ALTER TABLE patients ADD COLUMN birth_date TEXT CHECK (birth_date IS NULL OR
  birth_date GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]');

-- The report of an approved scan: rendered once, encrypted, stored as <data_dir>/<file> and never
-- changed. `content` is the canonical JSON of what it says (content_sha256 is printed on every
-- page); `sha256` is of the stored, encrypted file. The open code is kept sealed under the
-- installation's key (<data_dir>/keys/reports.key), so that delivery can be retried.
CREATE TABLE reports (
  id             TEXT PRIMARY KEY,  -- random UUID, printed on the report
  scan_id        TEXT NOT NULL UNIQUE REFERENCES scans (id),
  approval_id    TEXT NOT NULL REFERENCES signatures (id),
  file           TEXT NOT NULL,     -- path relative to the data directory
  size_bytes     INTEGER NOT NULL,
  sha256         TEXT NOT NULL,
  content        TEXT NOT NULL,
  content_sha256 TEXT NOT NULL,
  sealed_code    TEXT NOT NULL,
  created_at     INTEGER NOT NULL
) STRICT;
CREATE TRIGGER reports_immutable_update BEFORE UPDATE ON reports
BEGIN SELECT RAISE(ABORT, 'a stored report cannot be changed'); END;
CREATE TRIGGER reports_immutable_delete BEFORE DELETE ON reports
BEGIN SELECT RAISE(ABORT, 'a stored report cannot be deleted'); END;

-- Each attempt to email a report: queued, then sent or failed (with the reason). A row leaves
-- 'queued' once and is never changed again.
CREATE TABLE report_deliveries (
  id         INTEGER PRIMARY KEY,
  report_id  TEXT NOT NULL REFERENCES reports (id),
  attempt    INTEGER NOT NULL,
  recipient  TEXT NOT NULL,
  state      TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'failed')),
  detail     TEXT NOT NULL,  -- where it went, or why it failed
  actor_id   INTEGER NOT NULL REFERENCES users (id),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (report_id, attempt)
) STRICT;
CREATE TRIGGER report_deliveries_settle BEFORE UPDATE ON report_deliveries
WHEN OLD.state <> 'queued' OR NEW.state = 'queued' OR NEW.report_id <> OLD.report_id
  OR NEW.attempt <> OLD.attempt OR NEW.recipient <> OLD.recipient
BEGIN SELECT RAISE(ABORT, 'a delivery attempt is settled once'); END;
CREATE TRIGGER report_deliveries_no_delete BEFORE DELETE ON report_deliveries
BEGIN SELECT RAISE(ABORT, 'delivery attempts cannot be deleted'); END;
)sql"},
    Migration{5, R"sql(
-- Importer accounts (role 'importer', issue 7): unattended imports that sign in with an API token.
-- users.role's CHECK is widened by rebuilding the table (SQLite's 12-step procedure; migrate()
-- turns foreign keys off around it and runs PRAGMA foreign_key_check before committing). The
-- tables that reference users(id) name it by name, so they reference the new table.
CREATE TABLE users_new (
  id                  INTEGER PRIMARY KEY,
  email               TEXT NOT NULL UNIQUE COLLATE NOCASE,
  full_name           TEXT NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
  role                TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'pharmacist', 'admin',
                                                   'importer')),
  password_hash       TEXT NOT NULL,
  disabled            INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  failed_logins       INTEGER NOT NULL DEFAULT 0,
  locked_until        INTEGER,
  created_at          INTEGER NOT NULL,
  password_changed_at INTEGER NOT NULL
) STRICT;
INSERT INTO users_new (id, email, full_name, role, password_hash, disabled, failed_logins,
                       locked_until, created_at, password_changed_at)
  SELECT id, email, full_name, role, password_hash, disabled, failed_logins, locked_until,
         created_at, password_changed_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

-- Long-lived API tokens of importer accounts (lib/auth/tokens.cpp). Only the SHA-256 of the token
-- is kept; the token is shown once, when it is created. A token is never deleted: revoking it
-- sets revoked_at.
CREATE TABLE api_tokens (
  id           INTEGER PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users (id),
  name         TEXT NOT NULL,
  token_hash   TEXT NOT NULL UNIQUE,
  created_by   INTEGER NOT NULL REFERENCES users (id),
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at   INTEGER
) STRICT;
CREATE INDEX api_tokens_user ON api_tokens (user_id, id);
CREATE TRIGGER api_tokens_no_delete BEFORE DELETE ON api_tokens
BEGIN SELECT RAISE(ABORT, 'API tokens are revoked, never deleted'); END;
)sql",
              /*foreign_keys_off=*/true},
    Migration{6, R"sql(
-- Self-service accounts (issue 8): registration with an emailed code, password reset, profiles.
-- An account whose email is not yet verified cannot log in. Accounts that existed before, and
-- those an admin adds, count as verified when they were created.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
UPDATE users SET email_verified_at = created_at;
-- The account's phone number, normalised to + and 7 to 15 digits (csss user profile).
ALTER TABLE users ADD COLUMN phone TEXT CHECK (phone IS NULL OR (phone GLOB '+[0-9]*' AND
  length(phone) BETWEEN 8 AND 16 AND substr(phone, 2) NOT GLOB '*[^0-9]*'));

-- Every emailed one-time code, in one table: the admins' login codes ('login', bound to the
-- half-open session that asked for them) and the codes that verify a registration's email
-- ('verify_email') or reset a forgotten password ('reset_password'), which belong to an email
-- address. A row with no user_id is a decoy: a code asked for an address with no account (or a
-- registration of an address that has one), never sent, kept so that every answer looks the same
-- whether or not the address has an account. Rebuilt to widen it (nothing references it).
CREATE TABLE otp_challenges_new (
  id              INTEGER PRIMARY KEY,
  purpose         TEXT NOT NULL DEFAULT 'login'
                    CHECK (purpose IN ('login', 'verify_email', 'reset_password')),
  email           TEXT NOT NULL COLLATE NOCASE,
  session_id      INTEGER REFERENCES sessions (id),
  user_id         INTEGER REFERENCES users (id),
  salt            TEXT NOT NULL,
  code_hash       TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  expires_at      INTEGER NOT NULL,
  failed_attempts INTEGER NOT NULL DEFAULT 0,
  used_at         INTEGER,
  CHECK ((purpose = 'login') = (session_id IS NOT NULL)),
  CHECK (purpose <> 'login' OR user_id IS NOT NULL)
) STRICT;
INSERT INTO otp_challenges_new (id, purpose, email, session_id, user_id, salt, code_hash,
                                created_at, expires_at, failed_attempts, used_at)
  SELECT c.id, 'login', u.email, c.session_id, c.user_id, c.salt, c.code_hash, c.created_at,
         c.expires_at, c.failed_attempts, c.used_at
  FROM otp_challenges c JOIN users u ON u.id = c.user_id;
DROP TABLE otp_challenges;
ALTER TABLE otp_challenges_new RENAME TO otp_challenges;
CREATE INDEX otp_challenges_user ON otp_challenges (user_id, id);
CREATE INDEX otp_challenges_email ON otp_challenges (email, purpose, id);
CREATE INDEX otp_challenges_expiry ON otp_challenges (expires_at);

-- Each code asked for by email (sent, or a decoy), for the hourly limit per address and purpose.
-- Rows older than an hour are purged.
CREATE TABLE email_code_requests (
  id         INTEGER PRIMARY KEY,
  email      TEXT NOT NULL COLLATE NOCASE,
  purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX email_code_requests_email ON email_code_requests (email, purpose, created_at);
)sql"},
    Migration{7, R"sql(
-- Patient records (lib/patients, issue 8; migration 6 was the accounts part). A record is not a login account: batch imports create
-- records without one, and a patient account is linked to at most one record (user_id, UNIQUE
-- since migration 2). external_id is the medical record number (MRN): the DICOM PatientID or the
-- manifest's patient_id of imported scans, by which an import finds the record again; from now on
-- it is unique. Imports already created at most one record per ID (the lookup and the insert share
-- one write transaction); should a store hold two anyway, the later ones get '#<record number>'
-- appended rather than the migration failing.
UPDATE patients SET external_id = external_id || '#' || id
  WHERE external_id IS NOT NULL AND id NOT IN (
    SELECT min(id) FROM patients WHERE external_id IS NOT NULL GROUP BY external_id);
CREATE UNIQUE INDEX patients_mrn ON patients (external_id);
ALTER TABLE patients ADD COLUMN sex TEXT NOT NULL DEFAULT 'unknown'
  CHECK (sex IN ('female', 'male', 'other', 'unknown'));
ALTER TABLE patients ADD COLUMN phone TEXT;
ALTER TABLE patients ADD COLUMN contact_email TEXT;  -- for contact; the login is users.email
ALTER TABLE patients ADD COLUMN address TEXT;
ALTER TABLE patients ADD COLUMN history TEXT NOT NULL DEFAULT '';  -- free-text medical history
ALTER TABLE patients ADD COLUMN updated_at INTEGER;
UPDATE patients SET updated_at = created_at;
-- Every insert path (accounts, uploads, imports, csss patient add) gets updated_at = created_at.
CREATE TRIGGER patients_updated_at_default AFTER INSERT ON patients WHEN NEW.updated_at IS NULL
BEGIN UPDATE patients SET updated_at = NEW.created_at WHERE id = NEW.id; END;

-- Notes on an AI result (a prediction), by clinical staff: kept with the author's printed name and
-- role and the time, never changed or deleted.
CREATE TABLE analysis_notes (
  id          INTEGER PRIMARY KEY,
  analysis_id TEXT NOT NULL REFERENCES analyses (id),
  scan_id     TEXT NOT NULL REFERENCES scans (id),
  author_id   INTEGER NOT NULL REFERENCES users (id),
  author_name TEXT NOT NULL,
  author_role TEXT NOT NULL,
  text        TEXT NOT NULL CHECK (length(text) > 0),
  created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX analysis_notes_scan ON analysis_notes (scan_id, id);
CREATE TRIGGER analysis_notes_no_update BEFORE UPDATE ON analysis_notes
BEGIN SELECT RAISE(ABORT, 'notes on AI results cannot be changed'); END;
CREATE TRIGGER analysis_notes_no_delete BEFORE DELETE ON analysis_notes
BEGIN SELECT RAISE(ABORT, 'notes on AI results cannot be deleted'); END;
)sql"},
};

}  // namespace

int latest_schema_version() {
  return kMigrations.back().version;
}

std::string_view migration_sql(int version) {
  for (const Migration& m : kMigrations) {
    if (m.version == version)
      return m.sql;
  }
  throw Error(ErrorKind::internal, fmt::format("there is no migration {}", version));
}

namespace {

// Turns foreign key enforcement off for this connection, and back to what it was when it goes out
// of scope (after the transaction has ended: the pragma is a no-op inside one).
class ForeignKeysOff {
 public:
  explicit ForeignKeysOff(Database& db) : db_(db), was_on_(pragma_foreign_keys(db) == 1) {
    db_.exec("PRAGMA foreign_keys = OFF");
    if (pragma_foreign_keys(db_) != 0) {
      restore();
      throw Error(ErrorKind::internal, "could not turn foreign keys off for a migration");
    }
  }
  ~ForeignKeysOff() { restore(); }
  ForeignKeysOff(const ForeignKeysOff&) = delete;
  ForeignKeysOff& operator=(const ForeignKeysOff&) = delete;

 private:
  static std::int64_t pragma_foreign_keys(Database& db) {
    auto st = db.prepare("PRAGMA foreign_keys");
    return st.step() ? st.get_int(0) : -1;
  }
  void restore() noexcept {
    try {
      if (was_on_)
        db_.exec("PRAGMA foreign_keys = ON");
    } catch (...) {  // a destructor must not throw; open() checks nothing more
    }
  }
  Database& db_;
  bool was_on_;
};

// Throws Error(io) naming the first row whose foreign key points nowhere.
void require_foreign_keys_valid(Database& db, int version) {
  auto st = db.prepare("PRAGMA foreign_key_check");
  if (st.step()) {
    throw Error(ErrorKind::io,
                fmt::format("migration {} stopped: row {} of table {} refers to a missing row of "
                            "{}; the store was left unchanged",
                            version, st.get_int(1), st.get_text(0), st.get_text(2)));
  }
}

}  // namespace

void migrate(Database& db) {
  const int seen = db.schema_version();
  if (seen >= latest_schema_version())
    return;
  // Foreign keys can only be switched off outside a transaction, so decide before taking the
  // write lock. If another process migrated meanwhile, this is merely unneeded.
  const bool keys_off =
      std::any_of(kMigrations.begin(), kMigrations.end(),
                  [&](const Migration& m) { return m.version > seen && m.foreign_keys_off; });
  std::optional<ForeignKeysOff> off;  // destroyed after tx: foreign keys come back on last
  if (keys_off)
    off.emplace(db);
  Transaction tx(db);
  // Read again under the write lock: another process may have migrated meanwhile.
  const int current = db.schema_version();
  for (const Migration& m : kMigrations) {
    if (m.version <= current)
      continue;
    db.exec(m.sql);
    if (m.foreign_keys_off)
      require_foreign_keys_valid(db, m.version);
    db.exec(fmt::format("PRAGMA user_version = {}", m.version));
  }
  tx.commit();
}

}  // namespace csss::store
