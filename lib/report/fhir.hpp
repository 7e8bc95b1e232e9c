#pragma once

// The report as an HL7 FHIR R4 DiagnosticReport (JSON): the patient reference, the AI result as
// a contained Observation, the doctor's conclusion, the signers as performers, and the PDF as
// presentedForm.

#include <string>
#include <string_view>

#include "report/content.hpp"

namespace csss::report {

// `pdf`: the bytes of the PDF presented with it (base64 in presentedForm.data). The status is
// "final" for an approved report and "preliminary" for a draft. Returns indented JSON.
std::string to_fhir(const ReportContent& content, std::string_view pdf);

}  // namespace csss::report
