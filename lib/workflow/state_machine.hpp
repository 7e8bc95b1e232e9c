#pragma once

// The one state machine of a scan's way through the clinic. Every status change asks it; the store
// refuses any other change (a trigger over the same table, lib/store/migrations.cpp v3).
//
//   pending_ai -> ai_analysed -> doctor_verified -> pharmacist_completed -> approved
//     -> report_delivered
//   and back: a doctor rejects an unusable scan (pending_ai or ai_analysed -> rejected, with a
//   reason shown to the patient); an admin returns a scan awaiting approval to the doctor
//   (-> ai_analysed) or to the pharmacist (-> doctor_verified), with a reason.

#include <optional>
#include <span>
#include <string_view>

#include "auth/policy.hpp"

namespace csss::workflow {

enum class Status {
  pending_ai,
  ai_analysed,
  doctor_verified,
  pharmacist_completed,
  approved,
  report_delivered,
  rejected,
};

enum class Step {
  analyse,               // a doctor runs the AI model
  verify,                // a doctor signs the findings
  reject,                // a doctor rejects the scan as unusable
  prescribe,             // a pharmacist signs the prescription
  approve,               // an admin signs the approval
  return_to_doctor,      // an admin sends the scan back for a new verification
  return_to_pharmacist,  // an admin sends the scan back for a new prescription
  deliver,               // the report reached the patient
};

struct Transition {
  Status from;
  Step step;
  Status to;
  auth::Action action;  // what the role policy must allow
};

std::string_view to_string(Status status) noexcept;
std::optional<Status> parse_status(std::string_view text);
std::string_view to_string(Step step) noexcept;

// Every allowed transition.
std::span<const Transition> transitions();

// The status after `step` from `from`; nullopt when the step is not allowed there.
std::optional<Status> next(Status from, Step step);

// The statuses from which `step` is allowed ("ai_analysed" for verify), for messages.
std::string allowed_from(Step step);

}  // namespace csss::workflow
