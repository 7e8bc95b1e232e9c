#pragma once

// A clinic for the workflow and report tests: an admin (logged in with the emailed code), a doctor,
// a pharmacist and two patients, each at their own terminal, and helpers for each signed step.
// AI results are written to the store directly, to keep LibTorch out of the loop.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cli_fixture.hpp"
#include "scan_support.hpp"

namespace csss::test {

struct Clinic {
  Cli cli;
  Account doctor, pharmacist, patient, other_patient;
  Session admin = cli.as("admin");
  Session doc = cli.as("doctor");
  Session pharm = cli.as("pharmacist");
  Session pat = cli.as("patient");
  Session other = cli.as("other");

  Clinic() {
    isolate_models(cli);
    cli.init_with_admin();
    doctor = cli.add_user("doctor", "dr.lee@clinic.example", "Dr Ana Lee");
    pharmacist = cli.add_user("pharmacist", "ph.kim@clinic.example", "Jo Kim");
    patient = cli.add_user("patient", "zoe@clinic.example", "Zoë Ñúñez");
    other_patient = cli.add_user("patient", "lukasz@clinic.example", "Łukasz Nowak");
    admin.login_admin();
    doc.login(doctor.email, doctor.password);
    pharm.login(pharmacist.email, pharmacist.password);
    pat.login(patient.email, patient.password);
    other.login(other_patient.email, other_patient.password);
  }

  // A scan of the patient with an AI result (written to the store), status ai_analysed.
  std::string analysed_scan(int seed = 0, const std::string& risk = "high",
                            bool uncertain = false) {
    const std::string id =
        upload(pat, write_png(cli.root() / ("scan" + std::to_string(seed) + ".png"), 24, 16, seed),
               {"--modality", "CR", "--body-part", "CHEST"});
    Store s(cli.db_path());
    const std::string analysis = "analysis-" + std::to_string(seed);
    // The Grad-CAM overlay the report shows.
    fs::create_directories(cli.data_dir() / "heatmaps");
    write_png(cli.data_dir() / "heatmaps" / (analysis + ".png"), 24, 16, seed + 1);
    REQUIRE(s.exec("INSERT INTO analyses (id, scan_id, model_name, model_version, weights_sha256, "
                   "predicted_class, confidence, threshold, uncertain, probabilities, risk, "
                   "heatmap, analysed_by, created_at) VALUES ('" +
                   analysis + "', '" + id + "', 'cxr', '1.0.0', '" + std::string(64, 'a') +
                   "', 'pneumonia', 0.9, 0.75, " + (uncertain ? "1" : "0") +
                   ", '[[\"normal\",0.1],[\"pneumonia\",0.9]]', '" + risk + "', 'heatmaps/" +
                   analysis + ".png', 2, 100)") == "");
    REQUIRE(s.exec("UPDATE scans SET status = 'ai_analysed' WHERE id = '" + id + "'") == "");
    return id;
  }

  std::string status(const std::string& id) {
    Store s(cli.db_path());
    return s.query_text("SELECT status FROM scans WHERE id = '" + id + "'");
  }

  ProcessResult verify(const std::string& id, std::vector<std::string> extra = {"--agree"},
                       const std::string& notes = "Consolidation right lower lobe.") {
    std::vector<std::string> args{"verify", id, "--notes", notes, "--password-stdin"};
    args.insert(args.end(), extra.begin(), extra.end());
    return doc.run(args, doctor.password + "\n");
  }
  ProcessResult prescribe(const std::string& id,
                          std::vector<std::string> how = {"--text", "Rest and fluids."}) {
    std::vector<std::string> args{"prescribe", id, "--password-stdin"};
    args.insert(args.end(), how.begin(), how.end());
    return pharm.run(args, pharmacist.password + "\n");
  }
  ProcessResult approve(const std::string& id) {
    return admin.run({"approve", id, "--password-stdin"}, std::string(kAdminPassword) + "\n");
  }
};

}  // namespace csss::test
