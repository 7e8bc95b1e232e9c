#include "auth/tokens.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "audit/audit_log.hpp"
#include "auth/policy.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "store/database.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

namespace csss::auth {

namespace {

constexpr std::size_t kTokenRandomBytes = 24;  // 192 bits: 48 hex digits
constexpr std::size_t kTokenHexDigits = kTokenRandomBytes * 2;
constexpr std::size_t kMaxTokenFileBytes = 4096;
constexpr util::UnixSeconds kDay = 86400;
constexpr const char* kAskForOne = "ask an admin for a new one (csss token create)";

constexpr const char* kTokenColumns =
    "t.id, t.user_id, u.email, t.name, c.email, t.created_at, t.expires_at, t.last_used_at, "
    "t.revoked_at";
constexpr const char* kTokenFrom =
    "FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN users c ON c.id = t.created_by";

ApiToken read_token(const store::Statement& st) {
  ApiToken t;
  t.id = st.get_int(0);
  t.user_id = st.get_int(1);
  t.user_email = st.get_text(2);
  t.name = st.get_text(3);
  t.created_by = st.get_text(4);
  t.created_at = st.get_int(5);
  t.expires_at = st.get_int(6);
  t.last_used_at = st.get_opt_int(7);
  t.revoked_at = st.get_opt_int(8);
  return t;
}

bool well_formed(std::string_view token) {
  if (!token.starts_with(kTokenPrefix) || token.size() != kTokenPrefix.size() + kTokenHexDigits)
    return false;
  const std::string_view hex = token.substr(kTokenPrefix.size());
  return std::all_of(hex.begin(), hex.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string token_object(std::int64_t id) {
  return fmt::format("token:{}", id);
}

}  // namespace

std::string_view to_string(TokenState state) noexcept {
  switch (state) {
    case TokenState::active:
      return "active";
    case TokenState::expired:
      return "expired";
    case TokenState::revoked:
      return "revoked";
  }
  return "revoked";
}

TokenState ApiToken::state(util::UnixSeconds now) const {
  if (revoked_at)
    return TokenState::revoked;
  if (now >= expires_at)
    return TokenState::expired;
  return TokenState::active;
}

std::optional<ApiToken> Tokens::find(std::int64_t id) const {
  auto st = db_.prepare(fmt::format("SELECT {} {} WHERE t.id = ?", kTokenColumns, kTokenFrom));
  st.bind(1, id);
  if (!st.step())
    return std::nullopt;
  return read_token(st);
}

CreatedToken Tokens::create(const Principal& actor, std::string_view user_email, int days,
                            std::string_view name_in) {
  const std::string email = util::to_lower(util::trim(user_email));
  require(actor, Action::manage_tokens, "user:" + email, audit_);
  if (days < 1 || days > kMaxTokenDays) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("a token is valid for 1 to {} days, not {}", kMaxTokenDays, days));
  }
  const std::string name = util::trim(name_in);
  if (name.size() > kMaxTokenNameBytes) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("the token's name is longer than {} bytes", kMaxTokenNameBytes));
  }
  if (!util::is_valid_utf8(name) || util::has_control_chars(name)) {
    throw Error(ErrorKind::invalid_input,
                "the token's name holds control characters or is not valid UTF-8");
  }

  store::Transaction tx(db_);
  std::int64_t user_id = 0;
  {
    auto st = db_.prepare("SELECT id, role, disabled FROM users WHERE email = ?");
    st.bind(1, email);
    if (!st.step())
      throw Error(ErrorKind::not_found, fmt::format("no account with email '{}'", email));
    const std::string role = st.get_text(1);
    if (role != to_string(Role::importer)) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("'{}' is {} {} account; API tokens are for importer accounts only "
                              "(csss user add --role importer)",
                              email, role.starts_with('a') ? "an" : "a", role));
    }
    if (st.get_int(2) != 0) {
      throw Error(ErrorKind::conflict,
                  fmt::format("the account '{}' is disabled; enable it first (csss user enable {})",
                              email, email));
    }
    user_id = st.get_int(0);
  }
  const util::UnixSeconds now = clock_.now();
  const util::UnixSeconds expires_at = now + days * kDay;
  const std::string secret = std::string(kTokenPrefix) + crypto::random_hex(kTokenRandomBytes);
  db_.prepare(
         "INSERT INTO api_tokens (user_id, name, token_hash, created_by, created_at, expires_at) "
         "VALUES (?, ?, ?, ?, ?, ?)")
      .bind_all(user_id, name, crypto::sha256_hex(secret), actor.user_id, now, expires_at)
      .run();
  const std::int64_t id = db_.last_insert_rowid();
  audit_.append({actor.email, "token.create", token_object(id), audit::Outcome::success,
                 fmt::format("for user:{}; expires {}{}", email, util::format_utc(expires_at),
                             name.empty() ? "" : fmt::format("; name '{}'", name))});
  tx.commit();
  return {*find(id), secret};
}

std::vector<ApiToken> Tokens::list(const Principal& actor,
                                   const std::optional<std::string>& user_email) const {
  require(actor, Action::manage_tokens, "tokens", audit_);
  std::string sql = fmt::format("SELECT {} {}", kTokenColumns, kTokenFrom);
  std::string email;
  if (user_email) {
    email = util::to_lower(util::trim(*user_email));
    auto st = db_.prepare("SELECT 1 FROM users WHERE email = ?");
    st.bind(1, email);
    if (!st.step())
      throw Error(ErrorKind::not_found, fmt::format("no account with email '{}'", email));
    sql += " WHERE u.email = ?";
  }
  sql += " ORDER BY t.id";
  auto st = db_.prepare(sql);
  if (user_email)
    st.bind(1, email);
  std::vector<ApiToken> out;
  while (st.step())
    out.push_back(read_token(st));
  return out;
}

ApiToken Tokens::revoke(const Principal& actor, std::int64_t id) {
  require(actor, Action::manage_tokens, token_object(id), audit_);
  store::Transaction tx(db_);
  const auto token = find(id);
  if (!token)
    throw Error(ErrorKind::not_found, fmt::format("no API token with ID {}", id));
  if (token->revoked_at) {
    throw Error(ErrorKind::conflict, fmt::format("API token {} was revoked already, at {}", id,
                                                 util::format_utc(*token->revoked_at)));
  }
  db_.prepare("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
      .bind_all(clock_.now(), id)
      .run();
  audit_.append({actor.email, "token.revoke", token_object(id), audit::Outcome::success,
                 fmt::format("of user:{}", token->user_email)});
  tx.commit();
  return *find(id);
}

void Tokens::refuse(std::string actor, std::string object, std::string detail,
                    std::string message) {
  audit_.append({std::move(actor), "token.use", std::move(object), audit::Outcome::failure,
                 std::move(detail)});
  throw Error(ErrorKind::authentication, std::move(message));
}

Principal Tokens::authenticate(std::string_view token_in) {
  const std::string token = util::trim(token_in);
  if (!well_formed(token)) {
    refuse("unknown", "token", "malformed token",
           fmt::format("that is not a CSSS API token ({} and {} hex digits); {}", kTokenPrefix,
                       kTokenHexDigits, kAskForOne));
  }
  const std::string hash = crypto::sha256_hex(token);
  std::optional<ApiToken> row;
  {
    auto st = db_.prepare(fmt::format("SELECT {}, t.token_hash {} WHERE t.token_hash = ?",
                                      kTokenColumns, kTokenFrom));
    st.bind(1, hash);
    if (st.step() && crypto::constant_time_equal(st.get_text(9), hash))
      row = read_token(st);
  }
  if (!row) {
    refuse("unknown", "token", "unknown token",
           fmt::format("unknown API token (mistyped, or made for another store); {}", kAskForOne));
  }
  const util::UnixSeconds now = clock_.now();
  const std::string object = token_object(row->id);
  switch (row->state(now)) {
    case TokenState::revoked:
      refuse(row->user_email, object, "revoked token",
             fmt::format("API token {} was revoked at {}; {}", row->id,
                         util::format_utc(*row->revoked_at), kAskForOne));
    case TokenState::expired:
      refuse(row->user_email, object, "expired token",
             fmt::format("API token {} expired at {}; {}", row->id,
                         util::format_utc(row->expires_at), kAskForOne));
    case TokenState::active:
      break;
  }
  Principal p;
  bool disabled = true;
  {
    auto st = db_.prepare("SELECT email, full_name, role, disabled FROM users WHERE id = ?");
    st.bind(1, row->user_id);
    if (st.step()) {
      p.email = st.get_text(0);
      p.full_name = st.get_text(1);
      p.role = parse_role(st.get_text(2)).value_or(Role::patient);
      disabled = st.get_int(3) != 0;
    }
  }
  if (disabled) {
    refuse(row->user_email, object, "account disabled",
           "this account is disabled; ask an administrator");
  }
  if (p.role != Role::importer) {
    refuse(row->user_email, object, "not an importer account",
           "API tokens are for importer accounts only");
  }
  store::Transaction tx(db_);
  db_.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").bind_all(now, row->id).run();
  audit_.append({p.email, "token.use", object, audit::Outcome::success, ""});
  tx.commit();
  p.user_id = row->user_id;
  p.session_id = 0;
  p.session_expires_at = row->expires_at;
  p.token_id = row->id;
  return p;
}

Principal Tokens::authenticate_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
    refuse("unknown", "token", "token file missing",
           fmt::format("the token file {} (CSSS_TOKEN_FILE) does not exist", path.string()));
  }
  std::string text;
  try {
    util::require_private_file(path, "token file (CSSS_TOKEN_FILE)");
    text = util::read_file(path, kMaxTokenFileBytes);
  } catch (const Error& e) {
    refuse("unknown", "token", "token file refused", e.what());
  }
  return authenticate(text);
}

}  // namespace csss::auth
