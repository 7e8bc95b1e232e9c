#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "auth/accounts.hpp"
#include "auth/login.hpp"
#include "auth/tokens.hpp"
#include "crypto/hash.hpp"
#include "store/database.hpp"
#include "support/check_error.hpp"
#include "support/fakes.hpp"
#include "support/temp_dir.hpp"
#include "util/time.hpp"

using namespace csss::auth;
using csss::ErrorKind;
using csss::audit::AuditLog;
using csss::audit::Filter;
using csss::audit::Outcome;
using csss::audit::Record;
using csss::store::Database;
using csss::store::OpenMode;
using csss::test::check_error;
using csss::test::contains;
using csss::test::ManualClock;
namespace fs = std::filesystem;

namespace {

const std::string kImporterEmail = "pacs-import@example.org";
constexpr std::int64_t kDay = 86400;

Principal principal_of(const User& u) {
  Principal p;
  p.user_id = u.id;
  p.email = u.email;
  p.full_name = u.full_name;
  p.role = u.role;
  p.session_id = 1;
  return p;
}

// A store with an admin, a doctor and an importer account.
struct World {
  csss::test::TempDir dir;
  ManualClock clock;
  Database db = Database::open(dir / "csss.db", OpenMode::create);
  AuditLog audit{db, clock};
  csss::test::MemoryMailTransport mail;
  AuthSettings settings;
  Accounts accounts{db, clock, audit, settings};
  Tokens tokens{db, clock, audit};
  User admin = accounts.create_first_admin(
      {"admin@example.org", "Ada Admin", Role::admin, "admin-password-1"});
  Principal admin_p = principal_of(admin);
  User doctor =
      accounts.add(admin_p, {"doctor@example.org", "Dr Lee", Role::doctor, "doctor-password-1"});
  User importer = accounts.add(admin_p, {kImporterEmail, "PACS import", Role::importer, ""});

  std::vector<Record> rows(const std::string& action) const {
    Filter f;
    f.action = action;
    return audit.list(f);
  }

  std::string write_token_file(const std::string& content, unsigned mode) {
    const fs::path path = dir / "importer.token";
    fs::remove(path);
    std::ofstream(path) << content;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    return path.string();
  }
};

bool well_formed(const std::string& t) {
  return t.size() == 53 && t.starts_with("csss_") &&
         std::all_of(t.begin() + 5, t.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

TEST_CASE("auth::Accounts: importer accounts have no password") {
  World w;
  CHECK(w.importer.role == Role::importer);
  CHECK(w.accounts.find(kImporterEmail)->role == Role::importer);

  SUBCASE("the stored hash is a real Argon2id hash, of a secret nobody knows") {
    auto st = w.db.prepare("SELECT password_hash FROM users WHERE id = ?");
    st.bind(1, w.importer.id);
    REQUIRE(st.step());
    CHECK(st.get_text(0).starts_with("$argon2id$"));
  }
  SUBCASE("adding one with a password is refused") {
    check_error(
        [&] {
          w.accounts.add(w.admin_p,
                         {"imp2@example.org", "Imp", Role::importer, "some-password-123"});
        },
        ErrorKind::invalid_input, "importer accounts have no password");
  }
  SUBCASE("an admin cannot give it one") {
    check_error([&] { w.accounts.set_password(w.admin_p, kImporterEmail, "some-password-123"); },
                ErrorKind::invalid_input, "importer account");
  }
  SUBCASE("nor can it change its own") {
    Principal p = principal_of(w.importer);
    p.session_id = 0;
    check_error([&] { w.accounts.change_own_password(p, "x", "some-password-123"); },
                ErrorKind::permission, "importer accounts have no password");
  }
  SUBCASE("login refuses it whatever the password, audited, without counting a failure") {
    Authenticator authn{w.db, w.clock, w.audit, w.mail, w.settings};
    for (int i = 0; i < 7; ++i) {
      check_error([&] { authn.login(kImporterEmail, "any-password-at-all"); },
                  ErrorKind::authentication,
                  "importer accounts sign in with a token (CSSS_TOKEN_FILE)");
    }
    CHECK(w.accounts.find(kImporterEmail)->failed_logins == 0);
    CHECK_FALSE(w.accounts.find(kImporterEmail)->locked_until.has_value());
    Filter f;
    f.action = "login";
    f.actor = kImporterEmail;
    const auto rows = w.audit.list(f);
    REQUIRE(rows.size() == 7);
    CHECK(rows[0].outcome == Outcome::failure);
    CHECK(rows[0].detail == "importer account");
    auto st = w.db.prepare("SELECT count(*) FROM sessions");
    REQUIRE(st.step());
    CHECK(st.get_int(0) == 0);
  }
}

TEST_CASE("auth::Tokens::create") {
  World w;

  SUBCASE("a token shown once; the store keeps only its SHA-256") {
    const CreatedToken c = w.tokens.create(w.admin_p, "  PACS-Import@example.org ", 30, "nightly");
    CHECK(well_formed(c.secret));
    CHECK(c.token.user_id == w.importer.id);
    CHECK(c.token.user_email == kImporterEmail);
    CHECK(c.token.name == "nightly");
    CHECK(c.token.created_by == "admin@example.org");
    CHECK(c.token.created_at == ManualClock::kStart);
    CHECK(c.token.expires_at == ManualClock::kStart + 30 * kDay);
    CHECK_FALSE(c.token.last_used_at);
    CHECK_FALSE(c.token.revoked_at);
    CHECK(c.token.state(w.clock.now()) == TokenState::active);

    auto st = w.db.prepare("SELECT token_hash FROM api_tokens WHERE id = ?");
    st.bind(1, c.token.id);
    REQUIRE(st.step());
    CHECK(st.get_text(0) == csss::crypto::sha256_hex(c.secret));
    // The token itself is in no column of any row.
    auto any =
        w.db.prepare("SELECT count(*) FROM api_tokens WHERE instr(name || token_hash, ?) > 0");
    any.bind(1, c.secret.substr(5));
    REQUIRE(any.step());
    CHECK(any.get_int(0) == 0);
    for (const Record& r : w.audit.list({}))
      CHECK_FALSE(contains(r.detail, c.secret.substr(5)));

    const auto rows = w.rows("token.create");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].actor == "admin@example.org");
    CHECK(rows[0].object == "token:" + std::to_string(c.token.id));
    CHECK(contains(rows[0].detail, "for user:" + kImporterEmail));
    CHECK(contains(rows[0].detail, "nightly"));
  }
  SUBCASE("two tokens differ") {
    const auto a = w.tokens.create(w.admin_p, kImporterEmail, kDefaultTokenDays, "");
    const auto b = w.tokens.create(w.admin_p, kImporterEmail, kDefaultTokenDays, "");
    CHECK(a.secret != b.secret);
    CHECK(a.token.expires_at == ManualClock::kStart + 365 * kDay);
  }
  SUBCASE("admins only, by the policy, audited") {
    check_error([&] { w.tokens.create(principal_of(w.doctor), kImporterEmail, 30, ""); },
                ErrorKind::permission, "a doctor may not create, list and revoke API tokens");
    check_error([&] { w.tokens.create(principal_of(w.importer), kImporterEmail, 30, ""); },
                ErrorKind::permission, "an importer may not");
    CHECK(w.rows("access.denied").size() == 2);
    CHECK(w.rows("token.create").empty());
  }
  SUBCASE("importer accounts only") {
    check_error([&] { w.tokens.create(w.admin_p, "doctor@example.org", 30, ""); },
                ErrorKind::invalid_input, "is a doctor account");
    check_error([&] { w.tokens.create(w.admin_p, "admin@example.org", 30, ""); },
                ErrorKind::invalid_input, "importer accounts only");
    check_error([&] { w.tokens.create(w.admin_p, "nobody@example.org", 30, ""); },
                ErrorKind::not_found, "no account");
  }
  SUBCASE("1 to 3650 days; a clean name") {
    check_error([&] { w.tokens.create(w.admin_p, kImporterEmail, 0, ""); },
                ErrorKind::invalid_input, "1 to 3650 days");
    check_error([&] { w.tokens.create(w.admin_p, kImporterEmail, 3651, ""); },
                ErrorKind::invalid_input, "1 to 3650 days");
    CHECK(w.tokens.create(w.admin_p, kImporterEmail, 3650, "").token.expires_at ==
          ManualClock::kStart + 3650 * kDay);
    check_error([&] { w.tokens.create(w.admin_p, kImporterEmail, 1, "a\nb"); },
                ErrorKind::invalid_input, "control characters");
    check_error([&] { w.tokens.create(w.admin_p, kImporterEmail, 1, std::string(101, 'x')); },
                ErrorKind::invalid_input, "longer than 100 bytes");
  }
  SUBCASE("not for a disabled account") {
    w.accounts.set_disabled(w.admin_p, kImporterEmail, true);
    check_error([&] { w.tokens.create(w.admin_p, kImporterEmail, 30, ""); }, ErrorKind::conflict,
                "disabled");
  }
}

TEST_CASE("auth::Tokens::authenticate") {
  World w;
  const CreatedToken c = w.tokens.create(w.admin_p, kImporterEmail, 10, "nightly");
  const std::string object = "token:" + std::to_string(c.token.id);

  SUBCASE("the importer, with the token's ID and expiry; the use is recorded") {
    w.clock.advance_minutes(5);
    const Principal p = w.tokens.authenticate(c.secret + "\n");
    CHECK(p.user_id == w.importer.id);
    CHECK(p.email == kImporterEmail);
    CHECK(p.full_name == "PACS import");
    CHECK(p.role == Role::importer);
    CHECK(p.session_id == 0);
    CHECK(p.token_id == c.token.id);
    CHECK(p.session_expires_at == c.token.expires_at);
    CHECK(w.tokens.find(c.token.id)->last_used_at == ManualClock::kStart + 300);
    const auto rows = w.rows("token.use");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].actor == kImporterEmail);
    CHECK(rows[0].object == object);
    CHECK(rows[0].outcome == Outcome::success);
  }
  SUBCASE("refusals: one line each, audited") {
    const auto refused = [&](const std::string& token, const std::string& needle,
                             const std::string& actor, const std::string& detail) {
      const auto before = w.rows("token.use").size();
      check_error([&] { w.tokens.authenticate(token); }, ErrorKind::authentication, needle);
      const auto rows = w.rows("token.use");
      REQUIRE(rows.size() == before + 1);
      CHECK(rows.back().outcome == Outcome::failure);
      CHECK(rows.back().actor == actor);
      CHECK(rows.back().detail == detail);
    };
    SUBCASE("malformed") {
      refused("", "not a CSSS API token", "unknown", "malformed token");
      refused(c.secret.substr(0, 52), "not a CSSS API token", "unknown", "malformed token");
      refused("CSSS_" + c.secret.substr(5), "not a CSSS API token", "unknown", "malformed token");
    }
    SUBCASE("unknown: one hex digit changed") {
      std::string wrong = c.secret;
      wrong.back() = wrong.back() == '0' ? '1' : '0';
      refused(wrong, "unknown API token", "unknown", "unknown token");
    }
    SUBCASE("revoked") {
      w.tokens.revoke(w.admin_p, c.token.id);
      refused(c.secret, "was revoked at", kImporterEmail, "revoked token");
    }
    SUBCASE("expired: at its expiry time exactly") {
      w.clock.set(c.token.expires_at - 1);
      CHECK_NOTHROW(w.tokens.authenticate(c.secret));
      w.clock.set(c.token.expires_at);
      refused(c.secret, "expired at " + csss::util::format_utc(c.token.expires_at), kImporterEmail,
              "expired token");
    }
    SUBCASE("a disabled account, and again once enabled") {
      w.accounts.set_disabled(w.admin_p, kImporterEmail, true);
      refused(c.secret, "this account is disabled", kImporterEmail, "account disabled");
      w.accounts.set_disabled(w.admin_p, kImporterEmail, false);
      CHECK(w.tokens.authenticate(c.secret).role == Role::importer);
    }
    CHECK(w.audit.verify().intact);
  }
}

TEST_CASE("auth::Tokens::authenticate_file") {
  World w;
  const CreatedToken c = w.tokens.create(w.admin_p, kImporterEmail, 10, "");

  SUBCASE("a 0600 file holding the token and a line break") {
    const auto path = w.write_token_file(c.secret + "\n", 0600);
    CHECK(w.tokens.authenticate_file(path).token_id == c.token.id);
  }
  SUBCASE("a file others may read is refused, audited") {
    const auto path = w.write_token_file(c.secret + "\n", 0644);
    check_error([&] { w.tokens.authenticate_file(path); }, ErrorKind::authentication,
                "may be read by other users (mode 0644)");
    const auto rows = w.rows("token.use");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].outcome == Outcome::failure);
    CHECK(rows[0].detail == "token file refused");
    CHECK_FALSE(w.tokens.find(c.token.id)->last_used_at);
  }
  SUBCASE("group-readable too") {
    const auto path = w.write_token_file(c.secret, 0640);
    check_error([&] { w.tokens.authenticate_file(path); }, ErrorKind::authentication, "0640");
  }
  SUBCASE("a missing file") {
    check_error([&] { w.tokens.authenticate_file(w.dir / "nope.token"); },
                ErrorKind::authentication, "does not exist");
    CHECK(w.rows("token.use").back().detail == "token file missing");
  }
  SUBCASE("a directory") {
    fs::create_directory(w.dir / "tokdir");
    check_error([&] { w.tokens.authenticate_file(w.dir / "tokdir"); }, ErrorKind::authentication,
                "not a regular file");
  }
  SUBCASE("a file holding something else") {
    const auto path = w.write_token_file("hunter2\n", 0600);
    check_error([&] { w.tokens.authenticate_file(path); }, ErrorKind::authentication,
                "not a CSSS API token");
  }
}

TEST_CASE("auth::Tokens::list and revoke") {
  World w;
  const CreatedToken a = w.tokens.create(w.admin_p, kImporterEmail, 10, "first");
  w.clock.advance_seconds(1);
  const CreatedToken b = w.tokens.create(w.admin_p, kImporterEmail, 20, "second");
  w.accounts.add(w.admin_p, {"imp2@example.org", "Second importer", Role::importer, ""});
  const CreatedToken other = w.tokens.create(w.admin_p, "imp2@example.org", 1, "");

  SUBCASE("every token, oldest first, or one account's") {
    const auto all = w.tokens.list(w.admin_p, std::nullopt);
    REQUIRE(all.size() == 3);
    CHECK(all[0].id == a.token.id);
    CHECK(all[1].id == b.token.id);
    CHECK(all[2].user_email == "imp2@example.org");
    const auto mine = w.tokens.list(w.admin_p, std::string(kImporterEmail));
    REQUIRE(mine.size() == 2);
    CHECK(mine[1].name == "second");
    CHECK(w.tokens.list(w.admin_p, std::string("doctor@example.org")).empty());
    check_error([&] { w.tokens.list(w.admin_p, std::string("nobody@example.org")); },
                ErrorKind::not_found, "no account");
  }
  SUBCASE("states: active, expired, revoked") {
    w.clock.advance_seconds(kDay + 1);
    w.tokens.revoke(w.admin_p, a.token.id);
    const auto now = w.clock.now();
    const auto all = w.tokens.list(w.admin_p, std::nullopt);
    CHECK(all[0].state(now) == TokenState::revoked);
    CHECK(all[1].state(now) == TokenState::active);
    CHECK(all[2].state(now) == TokenState::expired);
    CHECK(to_string(TokenState::expired) == "expired");
  }
  SUBCASE("revoke: once, audited; unknown IDs are not found") {
    const ApiToken r = w.tokens.revoke(w.admin_p, b.token.id);
    CHECK(r.revoked_at == w.clock.now());
    const auto rows = w.rows("token.revoke");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].object == "token:" + std::to_string(b.token.id));
    CHECK(rows[0].detail == "of user:" + kImporterEmail);
    check_error([&] { w.tokens.revoke(w.admin_p, b.token.id); }, ErrorKind::conflict,
                "revoked already");
    check_error([&] { w.tokens.revoke(w.admin_p, 999); }, ErrorKind::not_found,
                "no API token with ID 999");
    // The other tokens still work.
    CHECK_NOTHROW(w.tokens.authenticate(a.secret));
    CHECK_NOTHROW(w.tokens.authenticate(other.secret));
  }
  SUBCASE("admins only") {
    check_error([&] { w.tokens.list(principal_of(w.doctor), std::nullopt); }, ErrorKind::permission,
                "permission denied");
    check_error([&] { w.tokens.revoke(principal_of(w.doctor), a.token.id); }, ErrorKind::permission,
                "permission denied");
    CHECK_FALSE(w.tokens.find(a.token.id)->revoked_at);
  }
  SUBCASE("tokens are never deleted") {
    check_error([&] { w.db.exec("DELETE FROM api_tokens"); }, ErrorKind::conflict, "never deleted");
  }
}
