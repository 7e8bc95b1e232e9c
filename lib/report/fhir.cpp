#include "report/fhir.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "crypto/base64.hpp"
#include "util/time.hpp"

namespace csss::report {

namespace {

using nlohmann::json;

json practitioner(const SignatureBlock& s) {
  return {{"reference", fmt::format("Practitioner/{}", s.signer_id)},
          {"display", fmt::format("{} ({})", s.name, s.role)}};
}

json ai_observation(const ReportContent& c, const std::string& status) {
  json components = json::array();
  components.push_back({{"code", {{"text", "confidence"}}},
                        {"valueQuantity",
                         {{"value", c.confidence},
                          {"unit", "probability"},
                          {"system", "http://unitsofmeasure.org"},
                          {"code", "1"}}}});
  for (const auto& [label, p] : c.probabilities) {
    components.push_back({{"code", {{"text", fmt::format("probability of {}", label)}}},
                          {"valueQuantity",
                           {{"value", p},
                            {"unit", "probability"},
                            {"system", "http://unitsofmeasure.org"},
                            {"code", "1"}}}});
  }
  json observation = {
      {"resourceType", "Observation"},
      {"id", "ai-result"},
      {"status", status},
      {"category",
       {{{"coding",
          {{{"system", "http://terminology.hl7.org/CodeSystem/observation-category"},
            {"code", "imaging"},
            {"display", "Imaging"}}}}}}},
      {"code",
       {{"text", fmt::format("AI screening result ({} {})", c.model_name, c.model_version)}}},
      {"subject", {{"reference", fmt::format("Patient/{}", c.patient_id)}}},
      {"effectiveDateTime", util::format_utc(c.analysed_at)},
      {"valueCodeableConcept", {{"text", c.uncertain ? "Uncertain" : c.predicted_class}}},
      {"interpretation", {{{"text", fmt::format("{} risk", c.risk)}}}},
      {"note",
       {{{"text", fmt::format("Most likely class {} at {:.1f} % confidence; results below "
                              "{:.0f} % read \"Uncertain\".",
                              c.predicted_class, c.confidence * 100.0, c.threshold * 100.0)}}}},
      {"device",
       {{"display", fmt::format("CSSS model {} {} (MobileNetV2), weights SHA-256 {}", c.model_name,
                                c.model_version, c.weights_sha256)}}},
      {"component", components},
  };
  return observation;
}

}  // namespace

std::string to_fhir(const ReportContent& c, std::string_view pdf) {
  const std::string status = c.draft ? "preliminary" : "final";
  json performers = json::array();
  json interpreters = json::array();
  util::UnixSeconds issued = c.generated_at;
  for (const SignatureBlock& s : c.signatures) {
    performers.push_back(practitioner(s));
    if (s.meaning == "verified")
      interpreters.push_back(practitioner(s));
    if (s.meaning == "approved")
      issued = s.signed_at;
  }
  std::string conclusion;
  if (!c.diagnosis.empty()) {
    conclusion = fmt::format("Diagnosis: {} ({} the AI result). ", c.diagnosis,
                             c.agrees_with_ai ? "agrees with" : "differs from");
  }
  conclusion += c.findings;

  json doc = {
      {"resourceType", "DiagnosticReport"},
      {"id", c.report_id},
      {"identifier",
       {{{"system", "urn:ietf:rfc:3986"}, {"value", fmt::format("urn:uuid:{}", c.report_id)}}}},
      {"status", status},
      {"category",
       {{{"coding",
          {{{"system", "http://terminology.hl7.org/CodeSystem/v2-0074"},
            {"code", "RAD"},
            {"display", "Radiology"}}}}}}},
      {"code",
       {{"coding",
         {{{"system", "http://loinc.org"},
           {"code", "18748-4"},
           {"display", "Diagnostic imaging study"}}}},
        {"text", "AI-assisted screening report"}}},
      {"subject",
       {{"reference", fmt::format("Patient/{}", c.patient_id)}, {"display", c.patient_name}}},
      {"effectiveDateTime", util::format_utc(c.uploaded_at)},
      {"issued", util::format_utc(issued)},
      {"performer", performers},
      {"presentedForm",
       {{{"contentType", "application/pdf"},
         {"language", "en"},
         {"data", crypto::base64_encode(pdf)},
         {"size", pdf.size()},
         {"title", fmt::format("Diagnostic imaging report {}", c.report_id)},
         {"creation", util::format_utc(c.generated_at)}}}},
  };
  if (!interpreters.empty())
    doc["resultsInterpreter"] = interpreters;
  if (c.has_analysis) {
    doc["contained"] = json::array({ai_observation(c, status)});
    doc["result"] = json::array({{{"reference", "#ai-result"}}});
  }
  if (!conclusion.empty())
    doc["conclusion"] = conclusion;
  return doc.dump(2, ' ', false, json::error_handler_t::replace);
}

}  // namespace csss::report
