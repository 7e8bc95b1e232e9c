#include "report/content.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "crypto/hash.hpp"
#include "util/error.hpp"

namespace csss::report {

std::string canonical_json(const ReportContent& c) {
  nlohmann::json signatures = nlohmann::json::array();
  for (const SignatureBlock& s : c.signatures) {
    signatures.push_back({{"id", s.signature_id},
                          {"meaning", s.meaning},
                          {"name", s.name},
                          {"role", s.role},
                          {"signer_id", s.signer_id},
                          {"signed_at", s.signed_at}});
  }
  nlohmann::json probabilities = nlohmann::json::array();
  for (const auto& [label, p] : c.probabilities) {
    probabilities.push_back({label, p});
  }
  // nlohmann::json keeps object keys sorted: the text is the same for the same content.
  const nlohmann::json doc = {
      {"report_id", c.report_id},
      {"draft", c.draft},
      {"facility", {{"name", c.facility_name}, {"address", c.facility_address}}},
      {"patient",
       {{"id", c.patient_id},
        {"reference", c.patient_reference},
        {"name", c.patient_name},
        {"birth_date", c.patient_birth_date}}},
      {"scan",
       {{"id", c.scan_id},
        {"modality", c.modality},
        {"body_part", c.body_part},
        {"format", c.scan_format},
        {"uploaded_at", c.uploaded_at},
        {"image_sha256", crypto::sha256_hex(c.scan_jpeg)},
        {"overlay_sha256", crypto::sha256_hex(c.overlay_jpeg)}}},
      {"ai", c.has_analysis ? nlohmann::json{{"model", c.model_name},
                                             {"version", c.model_version},
                                             {"weights_sha256", c.weights_sha256},
                                             {"predicted_class", c.predicted_class},
                                             {"confidence", c.confidence},
                                             {"threshold", c.threshold},
                                             {"uncertain", c.uncertain},
                                             {"risk", c.risk},
                                             {"probabilities", probabilities},
                                             {"analysed_at", c.analysed_at}}
                            : nlohmann::json(nullptr)},
      {"diagnosis", c.diagnosis},
      {"agrees_with_ai", c.agrees_with_ai},
      {"findings", c.findings},
      {"prescription", c.prescription},
      {"signatures", signatures},
  };
  // Malformed UTF-8 (never accepted from users, but kept out of the hash either way) becomes
  // U+FFFD, as on the printed report.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ReportContent content_from_json(std::string_view text) {
  try {
    const nlohmann::json doc = nlohmann::json::parse(text);
    ReportContent c;
    c.report_id = doc.at("report_id").get<std::string>();
    c.draft = doc.at("draft").get<bool>();
    c.facility_name = doc.at("facility").at("name").get<std::string>();
    c.facility_address = doc.at("facility").at("address").get<std::string>();
    const auto& p = doc.at("patient");
    c.patient_id = p.at("id").get<std::int64_t>();
    c.patient_reference = p.at("reference").get<std::string>();
    c.patient_name = p.at("name").get<std::string>();
    c.patient_birth_date = p.at("birth_date").get<std::string>();
    const auto& s = doc.at("scan");
    c.scan_id = s.at("id").get<std::string>();
    c.modality = s.at("modality").get<std::string>();
    c.body_part = s.at("body_part").get<std::string>();
    c.scan_format = s.at("format").get<std::string>();
    c.uploaded_at = s.at("uploaded_at").get<util::UnixSeconds>();
    const auto& ai = doc.at("ai");
    if (!ai.is_null()) {
      c.has_analysis = true;
      c.model_name = ai.at("model").get<std::string>();
      c.model_version = ai.at("version").get<std::string>();
      c.weights_sha256 = ai.at("weights_sha256").get<std::string>();
      c.predicted_class = ai.at("predicted_class").get<std::string>();
      c.confidence = ai.at("confidence").get<double>();
      c.threshold = ai.at("threshold").get<double>();
      c.uncertain = ai.at("uncertain").get<bool>();
      c.risk = ai.at("risk").get<std::string>();
      for (const auto& pair : ai.at("probabilities"))
        c.probabilities.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<double>());
      c.analysed_at = ai.at("analysed_at").get<util::UnixSeconds>();
    }
    c.diagnosis = doc.at("diagnosis").get<std::string>();
    c.agrees_with_ai = doc.at("agrees_with_ai").get<bool>();
    c.findings = doc.at("findings").get<std::string>();
    c.prescription = doc.at("prescription").get<std::string>();
    for (const auto& b : doc.at("signatures")) {
      c.signatures.push_back({b.at("name").get<std::string>(), b.at("role").get<std::string>(),
                              b.at("meaning").get<std::string>(), b.at("id").get<std::string>(),
                              b.value("signer_id", std::int64_t{0}),
                              b.at("signed_at").get<util::UnixSeconds>()});
    }
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::integrity,
                fmt::format("a stored report's content is not readable: {}", e.what()));
  }
}

std::string content_sha256(const ReportContent& content) {
  return crypto::sha256_hex(canonical_json(content));
}

std::string ai_result_text(const ReportContent& c) {
  if (!c.has_analysis)
    return "no AI result";
  const std::string percent = fmt::format("{:.1f} %", c.confidence * 100.0);
  if (c.uncertain)
    return fmt::format("Uncertain (most likely {}, {})", c.predicted_class, percent);
  return fmt::format("{} ({})", c.predicted_class, percent);
}

}  // namespace csss::report
