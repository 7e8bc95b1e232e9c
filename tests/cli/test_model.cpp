// csss model: import of a TorchScript file (admins), list, show and verify.
#include <doctest/doctest.h>

#include <fstream>

#include "cli_fixture.hpp"
#include "crypto/hash.hpp"
#include "scan_support.hpp"

using namespace csss::test;

namespace {

std::string test_model_sha256() {
  return csss::crypto::sha256_hex(read_bytes(CSSS_TEST_MODEL));
}

}  // namespace

TEST_CASE("model import by an admin, then model list, show and verify, tampering is found") {
  Cli cli;
  isolate_models(cli);
  cli.init_with_admin();
  const Account doctor = cli.add_user("doctor");
  Session admin = cli.as("admin");
  admin.login_admin();

  const auto r = admin.run(import_args("cxr-test"));
  REQUIRE_OK(r);
  const fs::path dir = cli.data_dir() / "models" / "cxr-test";
  CHECK(r.out == "Imported model cxr-test 1.0.0 into " + dir.string() + "\n");

  // The folder: the weights as given and the manifest recording their hash; nothing else.
  CHECK(files_under(cli.data_dir() / "models") ==
        std::vector<std::string>{"cxr-test/model.pt", "cxr-test/model.yaml"});
  CHECK(read_bytes(dir / "model.pt") == read_bytes(CSSS_TEST_MODEL));
  CHECK(mode_of(dir / "model.pt") == 0600);
  CHECK(mode_of(dir / "model.yaml") == 0600);
  CHECK(mode_of(dir) == 0700);
  CHECK(mode_of(cli.data_dir() / "models") == 0700);
  CHECK(contains(read_bytes(dir / "model.yaml"), test_model_sha256()));
  // The import's check load kept the frozen model for the first analysis (inference/prepared.hpp).
  const auto prepared = files_under(cli.data_dir() / "model-cache");
  REQUIRE(prepared.size() == 1);
  CHECK(prepared[0].starts_with(test_model_sha256() + "-"));
  CHECK(prepared[0].ends_with(".pt"));
  CHECK(mode_of(cli.data_dir() / "model-cache") == 0700);
  CHECK(mode_of(cli.data_dir() / "model-cache" / prepared[0]) == 0600);
  {
    Store s(cli.db_path());
    CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'model.import' AND actor = '" +
                      std::string(kAdminEmail) +
                      "' AND object = 'model:cxr-test' AND detail = "
                      "'sha256 " +
                      test_model_sha256() + "'") == 1);
  }

  // Anyone may look at the models; list, show and verify in text and JSON.
  Session dr = cli.as("doctor");
  dr.login(doctor.email, doctor.password);
  const auto list = dr.run({"model", "list"});
  REQUIRE_OK(list);
  CHECK(lines_of(list.out).size() == 2);
  CHECK(contains(list.out, "NAME"));
  CHECK(contains(list.out, "cxr-test"));
  CHECK(contains(list.out, "CR,DX"));
  CHECK(contains(list.out, "CHEST"));
  CHECK(contains(list.out, "normal, pneumonia"));

  const auto list_json = dr.run({"--json", "model", "list"});
  REQUIRE_OK(list_json);
  const auto ldoc = json_of(list_json);
  REQUIRE(ldoc["models"].size() == 1);
  CHECK(ldoc["problems"] == nlohmann::json::array());
  const auto& m = ldoc["models"][0];
  CHECK(m["name"] == "cxr-test");
  CHECK(m["version"] == "1.0.0");
  CHECK(m["classes"] == nlohmann::json::array({"normal", "pneumonia"}));
  CHECK(m["modality"] == nlohmann::json::array({"CR", "DX"}));
  CHECK(m["body_part"] == "CHEST");
  CHECK(m["risk"] == nlohmann::json({{"normal", "low"}, {"pneumonia", "high"}}));
  CHECK(m["architecture"] == "torchscript");
  CHECK(m["threshold"] == 0.75);
  CHECK(m["temperature"] == 1.0);
  CHECK(m["input"]["size"] == 224);
  CHECK(m["input"]["channels"] == 3);
  CHECK(m["input"]["mean"].size() == 3);
  CHECK(m["input"]["std"].size() == 3);
  CHECK(m["weights"]["sha256"] == test_model_sha256());
  CHECK(m["weights"]["file"] == (dir / "model.pt").string());
  CHECK(m["metrics"].is_null());
  CHECK(m["dir"] == dir.string());

  const auto show = dr.run({"model", "show", "cxr-test"});
  REQUIRE_OK(show);
  CHECK(show.out.starts_with("cxr-test 1.0.0\n"));
  CHECK(contains(show.out, "Modality:     CR, DX\n"));
  CHECK(contains(show.out, "Body part:    CHEST\n"));
  CHECK(contains(show.out, "Classes:      normal, pneumonia\n"));
  CHECK(contains(show.out, "Input:        224x224, 3 channel(s)\n"));
  CHECK(contains(show.out, "Threshold:    0.75\n"));
  CHECK(contains(show.out, "Risk:         normal=low, pneumonia=high\n"));
  CHECK(contains(show.out, "Architecture: TorchScript\n"));
  CHECK(contains(show.out, "SHA-256:      " + test_model_sha256() + "\n"));
  const auto show_json = dr.run({"--json", "model", "show", "cxr-test"});
  REQUIRE_OK(show_json);
  CHECK(json_of(show_json) == m);
  CHECK_ERROR(dr.run({"model", "show", "knee"}), 6, "no model named 'knee'", "cxr-test");

  const auto verify = dr.run({"model", "verify"});
  REQUIRE_OK(verify);
  CHECK(verify.out == "cxr-test: weights match their SHA-256\n");
  const auto verify_json = dr.run({"--json", "model", "verify", "cxr-test"});
  REQUIRE_OK(verify_json);
  CHECK(json_of(verify_json) == nlohmann::json::parse(R"([{"name": "cxr-test", "ok": true}])"));
  CHECK_ERROR(dr.run({"model", "verify", "knee"}), 6, "knee");

  // The same name again: a conflict, and the first import is untouched.
  const auto again = admin.run(import_args("cxr-test"));
  CHECK_ERROR(again, 7, "cxr-test", "exists already");
  CHECK(read_bytes(dir / "model.pt") == read_bytes(CSSS_TEST_MODEL));

  // One byte appended to the weights: verify names the model and exits 9.
  {
    std::ofstream out(dir / "model.pt", std::ios::binary | std::ios::app);
    out << 'x';
  }
  CHECK_ERROR(dr.run({"model", "verify"}), 9, "cxr-test", "does not match");
  CHECK_ERROR(dr.run({"model", "verify", "cxr-test"}), 9, "cxr-test", "does not match");
  const auto tampered_json = dr.run({"--json", "model", "verify", "cxr-test"});
  CHECK(error_problem(tampered_json, 9, {"does not match"}, true) == "");
  CHECK(json_of(tampered_json)["error"]["kind"] == "integrity");
  // The weights gone: also an integrity failure.
  fs::remove(dir / "model.pt");
  CHECK_ERROR(dr.run({"model", "verify", "cxr-test"}), 9, "cxr-test", "missing");
}

TEST_CASE("model import refusals: role, missing risk, bad names, a file that is not a model") {
  Cli cli;
  isolate_models(cli);
  cli.init_with_admin();
  const Account doctor = cli.add_user("doctor");
  const Account pharmacist = cli.add_user("pharmacist");
  const Account patient = cli.add_user("patient");
  const fs::path models = cli.data_dir() / "models";

  for (const Account* a : {&doctor, &pharmacist, &patient}) {
    INFO(a->role);
    Session s = cli.as(a->role);
    s.login(a->email, a->password);
    CHECK_ERROR(s.run(import_args("cxr-test")), 4, "permission denied", a->role, "import models");
  }
  CHECK_ERROR(cli.as("nobody").run(import_args("cxr-test")), 3);
  {
    Store s(cli.db_path());
    CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND object = "
                      "'model:cxr-test'") == 3);
  }

  Session admin = cli.as("admin");
  admin.login_admin();
  CHECK_ERROR(admin.run({"model", "import", CSSS_TEST_MODEL, "--name", "cxr", "--classes",
                         "normal,pneumonia", "--risk", "normal=low"}),
              5, "no level for class 'pneumonia'");
  CHECK_ERROR(admin.run({"model", "import", CSSS_TEST_MODEL, "--name", "cxr", "--classes",
                         "normal,pneumonia", "--risk", "normal=low,pneumonia=severe"}),
              5, "--risk");
  CHECK_ERROR(admin.run({"model", "import", CSSS_TEST_MODEL, "--name", "cxr", "--classes",
                         "normal,pneumonia", "--risk", "normal=low,pneumonia=high,other=low"}),
              5, "--risk names a class");
  CHECK_ERROR(admin.run({"model", "import", CSSS_TEST_MODEL, "--name", "cxr", "--classes", "normal",
                         "--risk", "normal=low"}),
              5, "at least two classes");
  CHECK_ERROR(admin.run({"model", "import", CSSS_TEST_MODEL, "--name", "cxr", "--classes",
                         "normal,pneumonia"}),
              2, "--risk");
  CHECK_ERROR(admin.run(import_args("CXR Test")), 5, "invalid model name 'CXR Test'");
  CHECK_ERROR(admin.run(import_args("../escape")), 5, "invalid model name");
  CHECK_ERROR(admin.run(import_args("cxr", {"--mean", "0.5,0.5"})), 5, "one value per channel");
  CHECK_ERROR(admin.run(import_args("cxr", {"--threshold", "1.5"})), 2, "--threshold");
  CHECK(files_under(models).empty());

  // A text file is not TorchScript: refused after LibTorch looked at it, and nothing is left.
  write_text(cli.root() / "notes.pt", "I am not a model.\n");
  std::vector<std::string> args = import_args("notes");
  args[2] = (cli.root() / "notes.pt").string();
  CHECK_ERROR(admin.run(args), 5, "is not a TorchScript model");
  CHECK(tree(models).empty());
  const auto list = admin.run({"--json", "model", "list"});
  REQUIRE_OK(list);
  CHECK(json_of(list)["models"] == nlohmann::json::array());
  CHECK(json_of(list)["problems"] == nlohmann::json::array());
  {
    Store s(cli.db_path());
    CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'model.import'") == 0);
  }
}

TEST_CASE("model list with no models, and with an unreadable manifest") {
  Cli cli;
  isolate_models(cli);
  cli.init_with_admin();
  const auto empty = cli.run({"model", "list"});
  REQUIRE_OK(empty);
  CHECK(empty.out == "No models.\n");
  const auto empty_json = cli.run({"--json", "model", "list"});
  REQUIRE_OK(empty_json);
  CHECK(json_of(empty_json) == nlohmann::json::parse(R"({"models": [], "problems": []})"));
  CHECK_ERROR(cli.run({"model", "show", "cxr"}), 6, "no model named 'cxr'", "models: none");
  const auto verify = cli.run({"model", "verify"});
  REQUIRE_OK(verify);
  CHECK(verify.out == "No models.\n");

  // A shipped model folder with a broken manifest is reported, not fatal.
  const fs::path broken = cli.root() / "shipped-models" / "broken";
  fs::create_directories(broken);
  write_text(broken / "model.yaml", "name: broken\nversion: 1\nclasses: [a, {b: 1}]\n");
  const fs::path bad = cli.root() / "shipped-models" / "bad";
  fs::create_directories(bad);
  write_text(bad / "model.yaml", "name: bad\nversion: [1\n");
  const auto r = cli.run({"model", "list"});
  REQUIRE_OK(r);
  CHECK(contains(r.out, "No models.\n"));
  CHECK(contains(r.out, "unreadable: "));
  CHECK(contains(r.out, (bad / "model.yaml").string()));
  CHECK(contains(r.out, (broken / "model.yaml").string()));
  const auto j = cli.run({"--json", "model", "list"});
  REQUIRE_OK(j);
  const auto doc = json_of(j);
  CHECK(doc["models"] == nlohmann::json::array());
  REQUIRE(doc["problems"].size() == 2);
  CHECK(doc["problems"][0]["dir"] == bad.string());
  CHECK(doc["problems"][1]["dir"] == broken.string());
  CHECK(contains(doc["problems"][1]["message"].get<std::string>(), "'classes'"));
  CHECK_ERROR(cli.run({"model"}), 2);
}
