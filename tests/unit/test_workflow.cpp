// lib/workflow: the state machine, its copy in the store, and prescription templates.
#include <doctest/doctest.h>

#include <fstream>
#include <set>

#include "store/database.hpp"
#include "support/check_error.hpp"
#include "support/temp_dir.hpp"
#include "util/error.hpp"
#include "workflow/state_machine.hpp"
#include "workflow/templates.hpp"

using csss::ErrorKind;
using csss::test::check_error;
using namespace csss::workflow;

TEST_CASE("workflow: the state machine's steps") {
  CHECK(next(Status::pending_ai, Step::analyse) == Status::ai_analysed);
  CHECK(next(Status::ai_analysed, Step::verify) == Status::doctor_verified);
  CHECK(next(Status::doctor_verified, Step::prescribe) == Status::pharmacist_completed);
  CHECK(next(Status::pharmacist_completed, Step::approve) == Status::approved);
  CHECK(next(Status::approved, Step::deliver) == Status::report_delivered);
  CHECK(next(Status::ai_analysed, Step::reject) == Status::rejected);
  CHECK(next(Status::pharmacist_completed, Step::return_to_doctor) == Status::ai_analysed);
  CHECK(next(Status::pharmacist_completed, Step::return_to_pharmacist) == Status::doctor_verified);
  // No skipping and no way out of the end states.
  CHECK_FALSE(next(Status::pending_ai, Step::verify));
  CHECK_FALSE(next(Status::ai_analysed, Step::approve));
  CHECK_FALSE(next(Status::doctor_verified, Step::reject));
  for (const Step step : {Step::analyse, Step::verify, Step::reject, Step::prescribe, Step::approve,
                          Step::return_to_doctor, Step::return_to_pharmacist, Step::deliver}) {
    CHECK_FALSE(next(Status::rejected, step));
    CHECK_FALSE(next(Status::report_delivered, step));
  }
  for (const auto& t : transitions()) {
    CHECK(parse_status(to_string(t.from)) == t.from);
    CHECK(parse_status(to_string(t.to)) == t.to);
  }
  CHECK_FALSE(parse_status("done"));
  CHECK(allowed_from(Step::verify) == "ai_analysed");
}

TEST_CASE("workflow: the store's transition table is the state machine's") {
  csss::test::TempDir tmp;
  auto db = csss::store::Database::open(tmp / "csss.db", csss::store::OpenMode::create);
  std::set<std::pair<std::string, std::string>> in_store, in_code;
  auto st = db.prepare("SELECT from_status, to_status FROM workflow_transitions");
  while (st.step())
    in_store.emplace(st.get_text(0), st.get_text(1));
  for (const auto& t : transitions())
    in_code.emplace(std::string(to_string(t.from)), std::string(to_string(t.to)));
  CHECK(in_store == in_code);
}

TEST_CASE("workflow: prescription templates load, render and refuse mistakes") {
  csss::test::TempDir tmp;
  const auto file = tmp / "t.yaml";
  std::ofstream(file) << "templates:\n"
                         "  a:\n    text: \"Take {drug} {dose}.\"\n"
                         "    diagnosis: [x]\n    fields: {drug: null, dose: daily}\n";
  const auto all = load_templates(file);
  REQUIRE(all.size() == 1);
  const Template& t = find_template(all, "a");
  CHECK(render(t, {{"drug", "water"}}) == "Take water daily.");
  CHECK(render(t, {{"drug", "{dose}"}, {"dose", "twice"}}) == "Take {dose} twice.");
  check_error([&] { render(t, {}); }, ErrorKind::invalid_input, "--set drug=VALUE");
  check_error(
      [&] {
        render(t, {{"drug", "x"}, {"colour", "y"}});
      },
      ErrorKind::invalid_input, "no field 'colour'");
  check_error([&] { find_template(all, "b"); }, ErrorKind::invalid_input, "the templates are: a");
  std::ofstream(file) << "templates:\n  a:\n    text: \"Take {drug}.\"\n";
  check_error([&] { load_templates(file); }, ErrorKind::invalid_input, "{drug}");
  check_error([&] { load_templates(tmp / "none.yaml"); }, ErrorKind::not_found);
  // The shipped examples load.
  CHECK(load_templates(std::filesystem::path(CSSS_SOURCE_DIR) / "examples" /
                       "prescription-templates.yaml")
            .size() >= 3);
}
