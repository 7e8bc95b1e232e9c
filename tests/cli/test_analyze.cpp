// csss analyze: a doctor runs an imported model on a scan; results, heat maps, refusals, and a
// model whose weights were changed refusing to run. Each run of a model costs seconds (LibTorch),
// so one test case carries the runs and the cheap refusals have their own.
#include <doctest/doctest.h>

#include <fstream>

#include "cli_fixture.hpp"
#include "crypto/hash.hpp"
#include "imaging/image.hpp"
#include "scan_support.hpp"

using namespace csss::test;

namespace {

std::int64_t count_analyses(const Cli& cli) {
  Store s(cli.db_path());
  return s.query_int("SELECT count(*) FROM analyses");
}

// Checks one analysis document (csss analyze --json, or an entry of scans show --json) of the
// test model with classes normal and pneumonia.
void check_analysis(const nlohmann::json& a, const std::string& scan_id, const std::string& model,
                    double threshold, const std::string& normal_risk, const Cli& cli) {
  INFO(a.dump(2));
  CHECK(a["scan_id"] == scan_id);
  REQUIRE(a["probabilities"].is_object());
  REQUIRE(a["probabilities"].size() == 2);
  const double normal = a["probabilities"]["normal"].get<double>();
  const double pneumonia = a["probabilities"]["pneumonia"].get<double>();
  CHECK(normal >= 0.0);
  CHECK(pneumonia >= 0.0);
  CHECK(normal + pneumonia == doctest::Approx(1.0).epsilon(1e-4));
  const std::string top = normal >= pneumonia ? "normal" : "pneumonia";
  CHECK(a["predicted_class"] == top);
  const double confidence = a["confidence"].get<double>();
  CHECK(confidence == doctest::Approx(std::max(normal, pneumonia)));
  CHECK(confidence >= 0.5);
  CHECK(a["threshold"] == doctest::Approx(threshold));
  const bool uncertain = confidence < threshold;
  CHECK(a["uncertain"] == uncertain);
  CHECK(a["result"] == (uncertain ? "Uncertain" : top));
  CHECK(a["risk"] == (top == "normal" ? normal_risk : "high"));
  CHECK(a["model"]["name"] == model);
  CHECK(a["model"]["version"] == "1.0.0");
  CHECK(a["model"]["weights_sha256"] == csss::crypto::sha256_hex(read_bytes(CSSS_TEST_MODEL)));
  CHECK(a["analysed_at"].is_string());

  // The Grad-CAM overlay: a 0600 PNG of the scan's size, named by the analysis ID.
  const fs::path heatmap = a["heatmap"].get<std::string>();
  CHECK(heatmap == cli.data_dir() / "heatmaps" / (a["id"].get<std::string>() + ".png"));
  REQUIRE(fs::is_regular_file(heatmap));
  CHECK(mode_of(heatmap) == 0600);
  CHECK(mode_of(heatmap.parent_path()) == 0700);
  const std::string png = read_bytes(heatmap);
  CHECK(starts_with_png_signature(png));
  const auto decoded = csss::imaging::decode(
      {reinterpret_cast<const std::uint8_t*>(png.data()), png.size()}, {}, "heat map");
  CHECK(decoded.format == csss::imaging::Format::png);
  CHECK(decoded.image.width == 1024);
  CHECK(decoded.image.height == 1024);
  CHECK(decoded.image.channels == 3);
}

}  // namespace

TEST_CASE("analyze runs the fitting model, results are kept, a changed model refuses to run") {
  Cli cli;
  isolate_models(cli);
  cli.init_with_admin();
  const Account alice = cli.add_user("patient", "alice@clinic.example", "Alice Patient");
  const Account doctor = cli.add_user("doctor");
  Session admin = cli.as("admin");
  admin.login_admin();
  Session dr = cli.as("doctor");
  dr.login(doctor.email, doctor.password);
  Session pat = cli.as("alice");
  pat.login(alice.email, alice.password);

  // A chest radiograph (CR, CHEST) and the test model for CR/DX chest images.
  const std::string scan = upload(pat, copy_to(chest_cr(), cli.root() / "in", "chest.dcm"));
  REQUIRE_OK(admin.run(import_args("cxr-test")));

  // The one model that fits is chosen.
  const auto first = dr.run({"--json", "analyze", scan});
  REQUIRE_OK(first);
  const auto a1 = json_of(first);
  check_analysis(a1, scan, "cxr-test", 0.75, "low", cli);
  {
    Store s(cli.db_path());
    CHECK(s.query_text("SELECT status FROM scans WHERE id = '" + scan + "'") == "ai_analysed");
    CHECK(s.query_int("SELECT count(*) FROM analyses") == 1);
    CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'scan.analyze' AND actor = '" +
                      doctor.email + "' AND object = 'scan:" + scan + "'") == 1);
  }

  // A second model for the same modality: without --model the choice is ambiguous.
  REQUIRE_OK(admin.run({"model", "import", CSSS_TEST_MODEL, "--name", "cxr-second", "--classes",
                        "normal,pneumonia", "--risk", "normal=medium,pneumonia=high", "--modality",
                        "CR", "--threshold", "1"}));
  CHECK_ERROR(dr.run({"analyze", scan}), 7, "several models fit", "cxr-test", "cxr-second",
              "--model");
  CHECK(count_analyses(cli) == 1);

  // --model picks one; with a threshold of 1 its result always reads "Uncertain".
  const auto second = dr.run({"analyze", scan, "--model", "cxr-second"});
  REQUIRE_OK(second);
  CHECK(second.out.starts_with("Scan " + scan + "\n"));
  CHECK(contains(second.out, "Result:      Uncertain (top class "));
  CHECK(contains(second.out, "below the model's threshold of 100%"));
  CHECK(contains(second.out, "Model:       cxr-second 1.0.0"));
  CHECK(contains(second.out, "Grad-CAM:    " + (cli.data_dir() / "heatmaps").string()));
  CHECK(contains(second.out, "licensed physician"));

  // Both results are kept, oldest first, and the patient sees them too.
  const auto show = dr.run({"--json", "scans", "show", scan});
  REQUIRE_OK(show);
  const auto doc = json_of(show);
  CHECK(doc["status"] == "ai_analysed");
  REQUIRE(doc["analyses"].size() == 2);
  CHECK(doc["analyses"][0] == a1);
  check_analysis(doc["analyses"][1], scan, "cxr-second", 1.0, "medium", cli);
  CHECK(doc["analyses"][1]["result"] == "Uncertain");
  CHECK(doc["analyses"][0]["id"] != doc["analyses"][1]["id"]);
  const auto own = pat.run({"--json", "scans", "show", scan});
  REQUIRE_OK(own);
  CHECK(json_of(own)["analyses"].size() == 2);
  CHECK(files_under(cli.data_dir() / "heatmaps").size() == 2);

  // Both models have the same weights, classes and input: one prepared model (kept by the first
  // import) serves both. Deleted, the next analysis runs all the same and keeps it again.
  const fs::path cache = cli.data_dir() / "model-cache";
  const auto prepared = files_under(cache);
  REQUIRE(prepared.size() == 1);
  fs::remove_all(cache);
  REQUIRE_OK(dr.run({"analyze", scan, "--model", "cxr-test"}));
  CHECK(files_under(cache) == prepared);
  CHECK(count_analyses(cli) == 3);

  // One byte appended to cxr-test's weights: it refuses to run, and nothing is recorded.
  {
    std::ofstream out(cli.data_dir() / "models" / "cxr-test" / "model.pt",
                      std::ios::binary | std::ios::app);
    out << '\0';
  }
  CHECK_ERROR(dr.run({"analyze", scan, "--model", "cxr-test"}), 9, "cxr-test", "does not match");
  CHECK_ERROR(dr.run({"model", "verify"}), 9, "cxr-test");
  CHECK(count_analyses(cli) == 3);
  CHECK(files_under(cli.data_dir() / "heatmaps").size() == 3);
  {
    Store s(cli.db_path());
    CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'scan.analyze'") == 3);
  }
}

TEST_CASE("analyze refusals: role, unknown scan, no fitting model") {
  Cli cli;
  isolate_models(cli);
  cli.init_with_admin();
  const Account alice = cli.add_user("patient", "alice@clinic.example", "Alice Patient");
  const Account doctor = cli.add_user("doctor");
  const Account pharmacist = cli.add_user("pharmacist");
  Session pat = cli.as("alice");
  pat.login(alice.email, alice.password);
  const std::string scan = upload(pat, copy_to(small_cr(1), cli.root() / "in", "a.dcm"));

  CHECK_ERROR(pat.run({"analyze", scan}), 4, "permission denied", "patient", "run the AI analysis");
  Session ph = cli.as("pharmacist");
  ph.login(pharmacist.email, pharmacist.password);
  CHECK_ERROR(ph.run({"analyze", scan}), 4, "permission denied", "pharmacist");
  Session admin = cli.as("admin");
  admin.login_admin();
  CHECK_ERROR(admin.run({"analyze", scan}), 4, "permission denied", "admin");
  CHECK_ERROR(cli.as("nobody").run({"analyze", scan}), 3);

  Session dr = cli.as("doctor");
  dr.login(doctor.email, doctor.password);
  CHECK_ERROR(dr.run({"analyze", "3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17"}), 6,
              "no scan with ID '3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17'");
  // No model at all: nothing fits this CR spine image.
  CHECK_ERROR(dr.run({"analyze", scan}), 6, "no model fits this scan", "CR", "CSPINE");
  CHECK_ERROR(dr.run({"analyze", scan, "--model", "knee"}), 6, "no model named 'knee'");
  const auto json = dr.run({"--json", "analyze", scan});
  CHECK(error_problem(json, 6, {"no model fits"}, true) == "");
  CHECK(json_of(json)["error"]["exit_code"] == 6);
  CHECK_ERROR(dr.run({"analyze"}), 2);

  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM analyses") == 0);
  CHECK(s.query_text("SELECT status FROM scans WHERE id = '" + scan + "'") == "pending_ai");
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND object = "
                    "'scan:" +
                    scan + "'") == 3);
}
