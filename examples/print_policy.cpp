// Prints the role policy of libcsss as a Markdown table, the one in README.md.
//   print_policy              print the table
//   print_policy --check FILE exit 1 unless FILE contains the table exactly (a CTest test keeps
//                             the README true to the code)
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "auth/policy.hpp"

namespace {

std::string policy_table() {
  std::string out = "| action |";
  std::string rule_line = "|---|";
  for (const csss::auth::Role role : csss::auth::kAllRoles) {
    out += " " + std::string(csss::auth::to_string(role)) + " |";
    rule_line += "---|";
  }
  out += "\n" + rule_line + "\n";
  for (const csss::auth::PolicyRule& rule : csss::auth::policy_rules()) {
    out += "| " + std::string(rule.description) + " (`" + std::string(rule.name) + "`) |";
    for (const csss::auth::Role role : csss::auth::kAllRoles)
      out += csss::auth::allows(rule, role) ? " yes |" : " - |";
    out += "\n";
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string table = policy_table();
  if (argc == 3 && std::string(argv[1]) == "--check") {
    std::ifstream in(argv[2]);
    std::stringstream text;
    text << in.rdbuf();
    if (text.str().find(table) == std::string::npos) {
      std::fprintf(stderr, "%s does not hold the current role policy table:\n%s", argv[2],
                   table.c_str());
      return 1;
    }
    return 0;
  }
  std::fputs(table.c_str(), stdout);
  return 0;
}
