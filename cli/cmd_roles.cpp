// csss roles: the role policy, as the program applies it.
#include <CLI/CLI.hpp>

#include "auth/policy.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"

namespace csss::cli {

void setup_roles(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("roles", "Show which role may do what");
  cmd->footer("Example:\n  csss roles --json");
  cmd->callback([&ctx] {
    nlohmann::json doc = nlohmann::json::array();
    std::vector<std::vector<std::string>> rows;
    const auto mark = [](bool b) { return std::string(b ? "yes" : "-"); };
    for (const auth::PolicyRule& r : auth::policy_rules()) {
      doc.push_back({{"action", r.name},
                     {"description", r.description},
                     {"patient", r.patient},
                     {"doctor", r.doctor},
                     {"pharmacist", r.pharmacist},
                     {"admin", r.admin}});
      rows.push_back({std::string(r.description), mark(r.patient), mark(r.doctor),
                      mark(r.pharmacist), mark(r.admin)});
    }
    ctx.result(doc, format_table({"ACTION", "PATIENT", "DOCTOR", "PHARMACIST", "ADMIN"}, rows));
  });
}

}  // namespace csss::cli
