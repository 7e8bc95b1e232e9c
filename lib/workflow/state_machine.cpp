#include "workflow/state_machine.hpp"

#include <array>
#include <string>

namespace csss::workflow {

namespace {

using auth::Action;

constexpr std::array kTransitions = {
    Transition{Status::pending_ai, Step::analyse, Status::ai_analysed, Action::run_analysis},
    Transition{Status::pending_ai, Step::reject, Status::rejected, Action::add_clinical_notes},
    Transition{Status::ai_analysed, Step::reject, Status::rejected, Action::add_clinical_notes},
    Transition{Status::ai_analysed, Step::verify, Status::doctor_verified,
               Action::add_clinical_notes},
    Transition{Status::doctor_verified, Step::prescribe, Status::pharmacist_completed,
               Action::add_prescription},
    Transition{Status::pharmacist_completed, Step::approve, Status::approved,
               Action::approve_report},
    Transition{Status::pharmacist_completed, Step::return_to_doctor, Status::ai_analysed,
               Action::approve_report},
    Transition{Status::pharmacist_completed, Step::return_to_pharmacist, Status::doctor_verified,
               Action::approve_report},
    Transition{Status::approved, Step::deliver, Status::report_delivered, Action::approve_report},
};

constexpr std::array kStatusNames = {
    std::pair{Status::pending_ai, "pending_ai"},
    std::pair{Status::ai_analysed, "ai_analysed"},
    std::pair{Status::doctor_verified, "doctor_verified"},
    std::pair{Status::pharmacist_completed, "pharmacist_completed"},
    std::pair{Status::approved, "approved"},
    std::pair{Status::report_delivered, "report_delivered"},
    std::pair{Status::rejected, "rejected"},
};

}  // namespace

std::string_view to_string(Status status) noexcept {
  for (const auto& [s, name] : kStatusNames) {
    if (s == status)
      return name;
  }
  return "pending_ai";
}

std::optional<Status> parse_status(std::string_view text) {
  for (const auto& [s, name] : kStatusNames) {
    if (text == name)
      return s;
  }
  return std::nullopt;
}

std::string_view to_string(Step step) noexcept {
  switch (step) {
    case Step::analyse:
      return "analyse";
    case Step::verify:
      return "verify";
    case Step::reject:
      return "reject";
    case Step::prescribe:
      return "prescribe";
    case Step::approve:
      return "approve";
    case Step::return_to_doctor:
      return "return_to_doctor";
    case Step::return_to_pharmacist:
      return "return_to_pharmacist";
    case Step::deliver:
      return "deliver";
  }
  return "analyse";
}

std::span<const Transition> transitions() {
  return kTransitions;
}

std::optional<Status> next(Status from, Step step) {
  for (const Transition& t : kTransitions) {
    if (t.from == from && t.step == step)
      return t.to;
  }
  return std::nullopt;
}

std::string allowed_from(Step step) {
  std::string out;
  for (const Transition& t : kTransitions) {
    if (t.step == step)
      out += (out.empty() ? "" : " or ") + std::string(to_string(t.from));
  }
  return out;
}

}  // namespace csss::workflow
