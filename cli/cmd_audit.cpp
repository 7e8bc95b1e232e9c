// csss audit: list and verify the hash-chained audit log (admins).
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "audit/audit_log.hpp"
#include "auth/policy.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

namespace csss::cli {

namespace {

struct AuditOptions {
  std::string actor;
  std::string action;
  std::string since;
  std::string until;
  std::size_t limit = 0;
};

std::int64_t parse_time_ms(const std::string& text, std::string_view option) {
  const auto t = util::parse_utc(text);
  if (!t) {
    throw Error(
        ErrorKind::invalid_input,
        fmt::format("{} '{}' is not a UTC date like 2026-11-21 or 2026-11-21T08:30", option, text));
  }
  return *t * 1000;
}

void run_list(const AuditOptions& opt, Context& ctx) {
  audit::Filter filter;
  if (!opt.actor.empty())
    filter.actor = opt.actor;
  if (!opt.action.empty())
    filter.action = opt.action;
  if (!opt.since.empty())
    filter.since_ms = parse_time_ms(opt.since, "--since");
  if (!opt.until.empty())
    filter.until_ms = parse_time_ms(opt.until, "--until");
  filter.limit = opt.limit;
  const auth::Principal who = ctx.require_login();
  auth::require(who, auth::Action::read_audit, "audit", ctx.audit());
  const auto records = ctx.audit().list(filter);
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : records) {
    doc.push_back({{"seq", r.seq},
                   {"at", util::format_utc_ms(r.at_ms)},
                   {"actor", r.actor},
                   {"action", r.action},
                   {"object", r.object},
                   {"outcome", std::string(audit::to_string(r.outcome))},
                   {"detail", r.detail},
                   {"hash", r.hash}});
    rows.push_back({std::to_string(r.seq), util::format_utc_ms(r.at_ms), r.actor, r.action,
                    r.object, std::string(audit::to_string(r.outcome)), r.detail});
  }
  ctx.result(doc, records.empty() ? "No audit records match.\n"
                                  : format_table({"SEQ", "TIME (UTC)", "ACTOR", "ACTION", "OBJECT",
                                                  "OUTCOME", "DETAIL"},
                                                 rows));
}

void run_verify(Context& ctx) {
  const auth::Principal who = ctx.require_login();
  auth::require(who, auth::Action::read_audit, "audit", ctx.audit());
  const audit::VerifyResult v = ctx.audit().verify();
  if (!v.intact) {
    throw Error(ErrorKind::integrity,
                fmt::format("audit log broken at row {}: {}", *v.broken_seq, v.problem));
  }
  ctx.result({{"intact", true}, {"rows", v.rows}, {"head_hash", v.head_hash}},
             fmt::format("audit log intact: {} rows, head {}\n", v.rows, v.head_hash));
}

}  // namespace

void setup_audit(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<AuditOptions>();
  CLI::App* audit = app.add_subcommand("audit", "Read and verify the audit log (admins only)");
  audit->require_subcommand(1);
  audit->footer(
      "Examples:\n  csss audit verify\n  csss audit list --action 'login*' --since 2026-11-01");

  CLI::App* list = audit->add_subcommand("list", "List audit records, oldest first");
  list->add_option("--actor", opt->actor, "Only records of this actor (an email, or 'system')");
  list->add_option("--action", opt->action,
                   "Only this action (login, user.add, ...); a trailing '*' matches a prefix");
  list->add_option("--since", opt->since, "From this UTC time on (2026-11-21 or 2026-11-21T08:30)");
  list->add_option("--until", opt->until, "Before this UTC time");
  list->add_option("--limit", opt->limit, "Only the newest N matching records")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  list->footer("Example:\n  csss audit list --actor doctor@clinic.example --limit 20");
  list->callback([opt, &ctx] { run_list(*opt, ctx); });

  CLI::App* verify = audit->add_subcommand(
      "verify", "Recompute the hash chain: 'intact', or the first row that was changed or removed");
  verify->footer(
      "Exit status 0 when intact, 9 when a row was changed, removed or reordered.\n\n"
      "Example:\n  csss audit verify");
  verify->callback([&ctx] { run_verify(ctx); });
}

}  // namespace csss::cli
