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
    std::vector<std::string> header{"ACTION"};
    for (const auth::Role role : auth::kAllRoles) {
      std::string name(auth::to_string(role));
      for (char& c : name)
        c = static_cast<char>(c - 'a' + 'A');  // role names are lower-case ASCII letters
      header.push_back(std::move(name));
    }
    for (const auth::PolicyRule& r : auth::policy_rules()) {
      nlohmann::json row = {{"action", r.name}, {"description", r.description}};
      std::vector<std::string> cells{std::string(r.description)};
      for (const auth::Role role : auth::kAllRoles) {
        row[std::string(auth::to_string(role))] = auth::allows(r, role);
        cells.emplace_back(auth::allows(r, role) ? "yes" : "-");
      }
      doc.push_back(std::move(row));
      rows.push_back(std::move(cells));
    }
    ctx.result(doc, format_table(header, rows));
  });
}

}  // namespace csss::cli
