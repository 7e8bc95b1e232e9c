// csss patient: patient records (add, list, show, update) and a patient's history.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "patients/patients.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"
#include "workflow/workflow.hpp"

namespace csss::cli {

namespace {

struct PatientOptions {
  std::string id;
  patients::PatientFields fields;
  // list
  std::string name_filter;
  std::string mrn_filter;
  // history
  std::string from;
  std::string to;
  std::string status;
  std::string model;
  std::string predicted_class;
};

// Runs `f` with the patients module of this invocation.
template <class F>
auto with_patients(Context& ctx, F&& f) {
  auto scans = ctx.scans();
  workflow::Workflow flow(ctx.db(), ctx.clock(), ctx.audit(), scans);
  patients::Patients records(ctx.db(), ctx.clock(), ctx.audit(), scans, flow);
  return f(records);
}

nlohmann::json or_null(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

nlohmann::json patient_json(const patients::Patient& p) {
  return {{"id", p.id},
          {"number", patients::format_id(p.id)},
          {"full_name", p.full_name},
          {"mrn", or_null(p.mrn)},
          {"birth_date", or_null(p.birth_date)},
          {"sex", std::string(patients::to_string(p.sex))},
          {"phone", or_null(p.phone)},
          {"email", or_null(p.email)},
          {"address", or_null(p.address)},
          {"history", p.history},
          {"account", or_null(p.account_email)},
          {"created_at", json_time(p.created_at)},
          {"updated_at", json_time(p.updated_at)}};
}

std::string dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

// Text of several lines, each indented by `indent`.
std::string indented(const std::string& text, std::string_view indent) {
  std::string out;
  for (const std::string& line : util::split(text, '\n'))
    out += fmt::format("{}{}\n", indent, line);
  return out;
}

std::string patient_text(const patients::Patient& p) {
  std::string text = fmt::format(
      "Patient {}\nName:        {}\nMRN:         {}\nBorn:        {}\nSex:         {}\n"
      "Phone:       {}\nEmail:       {}\nAddress:     {}\nAccount:     {}\nCreated:     {}\n"
      "Updated:     {}\n",
      patients::format_id(p.id), p.full_name, dash(p.mrn), dash(p.birth_date),
      patients::to_string(p.sex), dash(p.phone), dash(p.email),
      p.address.empty() ? "-" : util::join(util::split(p.address, '\n'), ", "),
      dash(p.account_email), format_time(p.created_at), format_time(p.updated_at));
  text += p.history.empty() ? "History:     -\n" : "History:\n" + indented(p.history, "  ");
  return text;
}

std::int64_t record_id(const PatientOptions& opt, const auth::Principal& who,
                       patients::Patients& records) {
  return opt.id.empty() ? records.own_record(who) : patients::parse_id(opt.id);
}

void run_add(const PatientOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const patients::Patient p =
      with_patients(ctx, [&](patients::Patients& records) { return records.add(who, opt.fields); });
  ctx.result(patient_json(p), ctx.options().quiet
                                  ? ""
                                  : fmt::format("Added patient record {} for {}\n",
                                                patients::format_id(p.id), p.full_name));
}

void run_update(const PatientOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const std::int64_t id = patients::parse_id(opt.id);
  const patients::Patient p = with_patients(
      ctx, [&](patients::Patients& records) { return records.update(who, id, opt.fields); });
  ctx.result(patient_json(p), ctx.options().quiet ? ""
                                                  : fmt::format("Updated patient record {}\n",
                                                                patients::format_id(p.id)));
}

void run_list(const PatientOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const auto list = with_patients(ctx, [&](patients::Patients& records) {
    return records.list(who, {opt.name_filter, opt.mrn_filter});
  });
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : list) {
    doc.push_back(patient_json(p));
    rows.push_back({patients::format_id(p.id), p.full_name, dash(p.mrn), dash(p.birth_date),
                    std::string(patients::to_string(p.sex)), dash(p.account_email)});
  }
  ctx.result(doc, list.empty()
                      ? "No patient records.\n"
                      : format_table({"ID", "NAME", "MRN", "BORN", "SEX", "ACCOUNT"}, rows));
}

void run_show(const PatientOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const patients::Patient p = with_patients(ctx, [&](patients::Patients& records) {
    return records.show(who, record_id(opt, who, records));
  });
  ctx.result(patient_json(p), patient_text(p));
}

// --from/--to: a date (the whole day) or a UTC time.
util::UnixSeconds parse_bound(const std::string& text, std::string_view flag, bool end) {
  const auto t = util::parse_utc(util::trim(text));
  if (!t) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("{} '{}' is not a date (YYYY-MM-DD) or UTC time (YYYY-MM-DDTHH:MM:SSZ)",
                            flag, text));
  }
  const bool date_only = util::trim(text).size() == 10;
  return end && date_only ? *t + 86399 : *t;
}

nlohmann::json entry_json(const patients::HistoryEntry& e) {
  using Kind = patients::HistoryEntry::Kind;
  nlohmann::json doc = {{"at", json_time(e.at)},
                        {"kind", std::string(patients::to_string(e.kind))},
                        {"scan",
                         {{"id", e.scan.id},
                          {"status", e.scan.status},
                          {"modality", e.scan.modality},
                          {"body_part", e.scan.body_part},
                          {"source_name", e.scan.source_name},
                          {"uploaded_at", json_time(e.scan.created_at)}}}};
  if (!e.by_name.empty())
    doc["by"] = {{"name", e.by_name}, {"role", e.by_role}};
  if (e.analysis) {
    const scans::Analysis& a = *e.analysis;
    doc["ai"] = {{"analysis_id", a.id},
                 {"model", a.model_name},
                 {"model_version", a.model_version},
                 {"predicted_class", a.predicted_class},
                 {"confidence", a.confidence},
                 {"uncertain", a.uncertain},
                 {"risk", a.risk}};
  }
  switch (e.kind) {
    case Kind::diagnosis:
      doc["diagnosis"] = e.diagnosis;
      doc["agrees_with_ai"] = e.agrees_with_ai;
      doc["notes"] = e.text;
      doc["addendum"] = e.addendum;
      doc["signature_id"] = e.signature_id;
      break;
    case Kind::prescription:
      doc["prescription"] = e.text;
      doc["addendum"] = e.addendum;
      doc["signature_id"] = e.signature_id;
      break;
    case Kind::note:
      doc["note"] = e.text;
      break;
    case Kind::rejection:
    case Kind::returned:
      doc["reason"] = e.text;
      break;
    case Kind::report:
      doc["report"] = {{"id", or_null(e.report_id)},
                       {"sha256", or_null(e.report_sha256)},
                       {"approval_id", e.signature_id},
                       {"delivered", e.delivered}};
      break;
    case Kind::scan:
    case Kind::ai_result:
      break;
  }
  return doc;
}

std::string ai_text(const scans::Analysis& a) {
  const std::string result =
      a.uncertain
          ? fmt::format("Uncertain ({} {:.0f}%)", a.predicted_class, 100 * a.confidence)
          : fmt::format("{} {:.0f}%, {} risk", a.predicted_class, 100 * a.confidence, a.risk);
  return fmt::format("{} (model {} {})", result, a.model_name, a.model_version);
}

std::string entry_text(const patients::HistoryEntry& e) {
  using Kind = patients::HistoryEntry::Kind;
  const std::string by = e.by_name.empty() ? "" : fmt::format("by {} ({})", e.by_name, e.by_role);
  std::string line;
  std::string body;
  switch (e.kind) {
    case Kind::scan:
      line = fmt::format("uploaded {} {} ({}); now {}", dash(e.scan.modality),
                         dash(e.scan.body_part), e.scan.source_name, e.scan.status);
      break;
    case Kind::ai_result:
      line = ai_text(*e.analysis);
      break;
    case Kind::note:
      line = fmt::format("{} on {}", by, ai_text(*e.analysis));
      body = e.text;
      break;
    case Kind::diagnosis:
      line = fmt::format("{}{} {}{}", e.diagnosis,
                         e.agrees_with_ai ? " (agrees with the AI)" : " (differs from the AI)", by,
                         e.addendum ? ", addendum" : "");
      body = e.text;
      break;
    case Kind::prescription:
      line = by + (e.addendum ? ", addendum" : "");
      body = e.text;
      break;
    case Kind::rejection:
    case Kind::returned:
      line = by;
      body = e.text;
      break;
    case Kind::report:
      line = fmt::format("approved {}; {}", by,
                         e.report_id.empty()
                             ? std::string("report not issued yet")
                             : fmt::format("report {}, {}", e.report_id,
                                           e.delivered ? "delivered" : "not delivered yet"));
      break;
  }
  std::string text = fmt::format("{}  {:<12}  scan {}  {}\n", format_time(e.at),
                                 patients::to_string(e.kind), e.scan.id, line);
  if (!body.empty())
    text += indented(body, "    ");
  return text;
}

void run_history(const PatientOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  patients::HistoryQuery query;
  if (!opt.from.empty())
    query.from = parse_bound(opt.from, "--from", false);
  if (!opt.to.empty())
    query.to = parse_bound(opt.to, "--to", true);
  if (query.from && query.to && *query.from > *query.to) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("--from {} is after --to {}", opt.from, opt.to));
  }
  if (!opt.status.empty()) {
    for (const std::string& part : util::split(opt.status, ',')) {
      const auto st = workflow::parse_status(util::trim(part));
      if (!st) {
        throw Error(ErrorKind::usage,
                    fmt::format("--status '{}' is not a status: pending_ai, ai_analysed, "
                                "doctor_verified, pharmacist_completed, approved, "
                                "report_delivered, rejected",
                                part));
      }
      query.statuses.emplace_back(workflow::to_string(*st));
    }
  }
  query.model = util::trim(opt.model);
  query.predicted_class = util::trim(opt.predicted_class);
  const patients::History h = with_patients(ctx, [&](patients::Patients& records) {
    return records.history(who, record_id(opt, who, records), query);
  });
  nlohmann::json doc = {{"patient", patient_json(h.patient)},
                        {"scans", h.scans},
                        {"entries", nlohmann::json::array()}};
  for (const auto& e : h.entries)
    doc["entries"].push_back(entry_json(e));
  std::string text =
      fmt::format("History of patient {} {}{}: {} entries of {} scan{}, newest first\n",
                  patients::format_id(h.patient.id), h.patient.full_name,
                  h.patient.mrn.empty() ? "" : fmt::format(" (MRN {})", h.patient.mrn),
                  h.entries.size(), h.scans, h.scans == 1 ? "" : "s");
  for (const auto& e : h.entries)
    text += entry_text(e);
  ctx.result(doc, text);
}

// The flags of add and update, which set the same fields.
void add_field_options(CLI::App* cmd, patients::PatientFields& f, bool adding) {
  cmd->add_option("--name", f.full_name, "Full name")->required(adding);
  cmd->add_option("--birth-date", f.birth_date, "Date of birth, YYYY-MM-DD");
  cmd->add_option("--sex", f.sex, "female, male, other or unknown (the default)");
  cmd->add_option("--mrn", f.mrn,
                  "Medical record number, unique; a batch import with this DICOM PatientID or "
                  "manifest patient_id files its scans under this record");
  cmd->add_option("--phone", f.phone, "Phone number");
  cmd->add_option("--email", f.email, "Contact email (not the login; see --account)");
  cmd->add_option("--address", f.address, "Postal address");
  cmd->add_option("--history", f.history, "Free-text medical history (replaces the one recorded)");
  cmd->add_option("--account", f.account,
                  "Link this patient account (its email) to the record: one record per account");
}

}  // namespace

void setup_patient(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<PatientOptions>();
  CLI::App* patient =
      app.add_subcommand("patient", "Patient records and a patient's history of scans");
  patient->require_subcommand(1);
  patient->footer(
      "A patient record is not a login account: batch imports create records without one, and\n"
      "a patient account is linked to at most one record. Record numbers read P-000042 (or 42).\n"
      "Doctors, pharmacists and admins read records; doctors and admins add and change them;\n"
      "a patient may show only their own record and history.\n\n"
      "Examples:\n"
      "  csss patient add --name 'Zoë Ñúñez' --birth-date 1980-02-29 --sex female --mrn 77654033\n"
      "  csss patient list --name Zo\n"
      "  csss patient show P-000042\n"
      "  csss patient history P-000042 --from 2026-01-01 --model chest-xray --json");

  CLI::App* add = patient->add_subcommand("add", "Add a patient record (doctors, admins)");
  add_field_options(add, opt->fields, true);
  add->footer(
      "Example:\n"
      "  csss patient add --name 'Zoë Ñúñez' --birth-date 1980-02-29 --sex female \\\n"
      "      --mrn 77654033 --phone '+44 20 7946 0958' --account zoe@clinic.example");
  add->callback([opt, &ctx] { run_add(*opt, ctx); });

  CLI::App* list = patient->add_subcommand("list", "List patient records (staff)");
  list->add_option("--name", opt->name_filter,
                   "Only records whose name holds TEXT (A-Z in any case)");
  list->add_option("--mrn", opt->mrn_filter, "Only the record with this medical record number");
  list->footer(
      "Examples:\n  csss patient list --name 'Ñúñez'\n  csss patient list --mrn 77654033 --json");
  list->callback([opt, &ctx] { run_list(*opt, ctx); });

  CLI::App* show =
      patient->add_subcommand("show", "Show a patient record (staff: any; a patient: their own)");
  show->add_option("id", opt->id, "The record: P-000042 or 42 (a patient: default their own)");
  show->footer("Example:\n  csss patient show P-000042");
  show->callback([opt, &ctx] { run_show(*opt, ctx); });

  CLI::App* update =
      patient->add_subcommand("update", "Change fields of a patient record (doctors, admins)");
  update->add_option("id", opt->id, "The record: P-000042 or 42")->required();
  add_field_options(update, opt->fields, false);
  update->footer(
      "Only the fields given change; an empty value clears one (--phone '').\n\n"
      "Examples:\n"
      "  csss patient update P-000042 --phone '+44 20 7946 0958' --history 'Asthma since 2001.'\n"
      "  csss patient update 42 --account zoe@clinic.example");
  update->callback([opt, &ctx] { run_update(*opt, ctx); });

  CLI::App* history = patient->add_subcommand(
      "history",
      "Every scan, AI result, note, diagnosis, prescription and report of a patient, newest first");
  history->add_option("id", opt->id, "The record: P-000042 or 42 (a patient: default their own)");
  history->add_option("--from", opt->from, "Only entries from this date (YYYY-MM-DD) or UTC time");
  history->add_option("--to", opt->to, "Only entries up to this date (the whole day) or UTC time");
  history->add_option("--status", opt->status, "Only scans in these statuses (comma-separated)");
  history->add_option("--model", opt->model,
                      "Only scans with an AI result of this model (NAME or NAME@VERSION), and only "
                      "those results");
  history->add_option(
      "--class", opt->predicted_class,
      "Only scans with an AI result of this predicted class, and only those results");
  history->footer(
      "Examples:\n"
      "  csss patient history P-000042\n"
      "  csss patient history 42 --from 2026-01-01 --to 2026-06-30 --class pneumonia --json");
  history->callback([opt, &ctx] { run_history(*opt, ctx); });
}

}  // namespace csss::cli
