#include "format.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "util/time.hpp"

namespace csss::cli {

namespace {

// Display width of UTF-8 text: one column per code point (enough for names and emails).
std::size_t width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty())
    return "";
  std::vector<std::size_t> widths(header.size());
  for (std::size_t i = 0; i < header.size(); ++i)
    widths[i] = width(header[i]);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], width(row[i]));
    }
  }
  std::string out;
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      l += cells[i];
      if (i + 1 < cells.size())
        l += std::string(widths[i] - width(cells[i]) + 2, ' ');
    }
    out += l + "\n";
  };
  line(header);
  for (const auto& row : rows)
    line(row);
  return out;
}

nlohmann::json json_time(std::optional<util::UnixSeconds> t) {
  return t ? nlohmann::json(util::format_utc(*t)) : nlohmann::json(nullptr);
}

std::string user_status(const auth::User& user, util::UnixSeconds now) {
  if (user.disabled)
    return "disabled";
  if (user.locked_until && *user.locked_until > now) {
    return "locked until " + util::format_utc(*user.locked_until);
  }
  if (!user.email_verified_at)
    return "email not verified";
  return "active";
}

nlohmann::json user_json(const auth::User& user, util::UnixSeconds now) {
  const bool locked = user.locked_until && *user.locked_until > now;
  return {{"id", user.id},
          {"email", user.email},
          {"full_name", user.full_name},
          {"role", std::string(auth::to_string(user.role))},
          {"disabled", user.disabled},
          {"locked_until", json_time(locked ? user.locked_until : std::nullopt)},
          {"created_at", json_time(user.created_at)},
          {"password_changed_at", json_time(user.password_changed_at)},
          {"email_verified_at", json_time(user.email_verified_at)},
          {"phone", user.phone ? nlohmann::json(*user.phone) : nullptr}};
}

std::string format_time(util::UnixSeconds t) {
  return util::format_utc(t);
}

nlohmann::json scan_json(const scans::Scan& s) {
  return {{"id", s.id},
          {"patient", {{"id", s.patient_id}, {"name", s.patient_name}, {"email", s.patient_email}}},
          {"status", s.status},
          {"format", std::string(imaging::to_string(s.format))},
          {"width", s.width},
          {"height", s.height},
          {"channels", s.channels},
          {"modality", s.modality},
          {"body_part", s.body_part},
          {"dicom_patient_id", s.dicom_patient_id},
          {"study_uid", s.study_uid},
          {"frames", s.frames},
          {"size_bytes", s.size_bytes},
          {"sha256", s.sha256},
          {"source_name", s.source_name},
          {"uploaded_at", json_time(s.created_at)}};
}

nlohmann::json analysis_json(const scans::Analysis& a, const std::string& data_dir) {
  nlohmann::json probabilities = nlohmann::json::object();
  for (const auto& [label, p] : a.probabilities)
    probabilities[label] = p;
  return {{"id", a.id},
          {"scan_id", a.scan_id},
          {"result", a.uncertain ? "Uncertain" : a.predicted_class},
          {"predicted_class", a.predicted_class},
          {"confidence", a.confidence},
          {"threshold", a.threshold},
          {"uncertain", a.uncertain},
          {"probabilities", probabilities},
          {"risk", a.risk},
          {"model",
           {{"name", a.model_name},
            {"version", a.model_version},
            {"weights_sha256", a.weights_sha256}}},
          {"heatmap", (std::filesystem::path(data_dir) / a.heatmap).string()},
          {"analysed_at", json_time(a.created_at)}};
}

std::string analysis_text(const scans::Analysis& a, const std::string& data_dir) {
  std::string out;
  if (a.uncertain) {
    out += fmt::format(
        "Result:      Uncertain (top class {} at {:.1f}%, below the model's threshold of "
        "{:.0f}%)\n",
        a.predicted_class, 100 * a.confidence, 100 * a.threshold);
  } else {
    out += fmt::format("Result:      {} ({:.1f}% confidence)\n", a.predicted_class,
                       100 * a.confidence);
  }
  out += fmt::format("Risk level:  {}\n", a.risk);
  out += "Probabilities:\n";
  auto sorted = a.probabilities;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });
  std::size_t width = 0;
  for (const auto& [label, p] : sorted)
    width = std::max(width, label.size());
  for (const auto& [label, p] : sorted) {
    const auto bar = static_cast<std::size_t>(p * 30 + 0.5);
    out += fmt::format("  {:<{}}  {:5.1f}%  {}\n", label, width, 100 * p, std::string(bar, '#'));
  }
  out += fmt::format("Model:       {} {} (weights {})\n", a.model_name, a.model_version,
                     a.weights_sha256.substr(0, 12));
  out += fmt::format("Grad-CAM:    {}\n", (std::filesystem::path(data_dir) / a.heatmap).string());
  out += "AI-assisted screening: to be read by a licensed physician.\n";
  return out;
}

}  // namespace csss::cli
