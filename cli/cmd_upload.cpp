// csss upload: store scans (PNG, JPEG, DICOM) for a patient.
#include <CLI/CLI.hpp>

#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "scans/scans.hpp"
#include "util/error.hpp"

namespace csss::cli {

namespace {

struct UploadOptions {
  std::vector<std::string> files;
  std::string patient;
  std::string modality;
  std::string body_part;
};

void run_upload(const UploadOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  auto scans = ctx.scans();
  const std::optional<std::string> patient =
      opt.patient.empty() ? std::nullopt : std::optional(opt.patient);
  nlohmann::json results = nlohmann::json::array();
  std::string text;
  std::optional<Error> first_error;
  int stored = 0, duplicates = 0, failed = 0;
  // Each file on its own: a bad file is reported and the others still go in.
  for (const std::string& file : opt.files) {
    try {
      const scans::UploadOutcome out =
          scans.upload(who, file, patient, {opt.modality, opt.body_part});
      nlohmann::json doc = scan_json(out.scan);
      doc["file"] = file;
      doc["duplicate"] = out.duplicate;
      results.push_back(doc);
      if (out.duplicate) {
        ++duplicates;
        text += fmt::format("{}: duplicates scan {} of {} (uploaded {}); nothing stored\n", file,
                            out.scan.id, out.scan.patient_name, format_time(out.scan.created_at));
      } else {
        ++stored;
        text +=
            fmt::format("{}: stored as scan {} ({} {}x{}{}), pending AI analysis\n", file,
                        out.scan.id, imaging::to_string(out.scan.format), out.scan.width,
                        out.scan.height, out.scan.modality.empty() ? "" : ", " + out.scan.modality);
      }
    } catch (const Error& e) {
      ++failed;
      results.push_back({{"file", file},
                         {"error", {{"kind", csss::to_string(e.kind())}, {"message", e.what()}}}});
      if (!first_error)
        first_error = e;
      // With one file, its error is the command's error (one line, from main).
      if (opt.files.size() > 1)
        std::fprintf(stderr, "csss: error: %s\n", e.what());
    }
  }
  const nlohmann::json doc = {
      {"stored", stored}, {"duplicates", duplicates}, {"failed", failed}, {"files", results}};
  if (!first_error) {
    ctx.result(doc, text);
    return;
  }
  const Error error =
      opt.files.size() == 1
          ? *first_error
          : Error(first_error->kind(),
                  fmt::format("{} of {} files could not be uploaded", failed, opt.files.size()));
  // --json: one document, the per-file results with the error added.
  if (ctx.options().json)
    throw ErrorWithResult(error, doc);
  ctx.result(doc, text);
  throw error;
}

}  // namespace

void setup_upload(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<UploadOptions>();
  CLI::App* cmd = app.add_subcommand("upload", "Upload scans (PNG, JPEG or DICOM)");
  cmd->add_option("files", opt->files, "Scan files; the format is recognised by content")
      ->required();
  cmd->add_option("--patient", opt->patient,
                  "Staff: the patient account's email the scans belong to");
  cmd->add_option("--modality", opt->modality,
                  "For PNG/JPEG: the DICOM modality they are (CR, DX, MR, ...); DICOM files say "
                  "it themselves");
  cmd->add_option("--body-part", opt->body_part, "For PNG/JPEG: the body part (CHEST, BRAIN, ...)");
  cmd->footer(
      "Patients upload their own scans; doctors, pharmacists and admins upload for a patient\n"
      "with --patient. Each file is checked (size, declared pixel count, full decode) before it\n"
      "is stored under a random ID; the same bytes uploaded twice are stored once. With several\n"
      "files, a bad one is reported and the others still go in.\n\n"
      "Examples:\n"
      "  csss upload chest.dcm\n"
      "  csss upload --patient pat@clinic.example --modality CR --body-part CHEST xray.png");
  cmd->callback([opt, &ctx] { run_upload(*opt, ctx); });
}

}  // namespace csss::cli
