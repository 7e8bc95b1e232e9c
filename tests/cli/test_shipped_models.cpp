// The models shipped in models/: each loads, its weights match the manifest's SHA-256, and it
// classifies held-out images of its own data set: the samples in datasets/heldout/ (taken from
// the validation or test part of the model's own split, never from its training part), or, for
// covid-cxr, whose images may not be copied into the repository, the test part of its split in
// ../shared/datasets when that folder is there.
#include <doctest/doctest.h>

#include "cli_fixture.hpp"
#include "scan_support.hpp"

using namespace csss::test;

namespace {

fs::path models_dir() {
  return fs::path(source_dir()) / "models";
}

struct Shipped {
  const char* name;
  std::vector<std::string> classes;
  double min_accuracy;  // on the few held-out samples
};

const Shipped kShipped[] = {
    {"pneumoniamnist", {"normal", "pneumonia"}, 0.8},
    {"chest-xray", {"normal", "bacterial_pneumonia", "viral_pneumonia"}, 0.6},
    {"covid-cxr", {"covid19", "normal"}, 0.9},
    {"brain-mri", {"glioma", "meningioma", "notumor", "pituitary"}, 0.8},
};

}  // namespace

TEST_CASE(
    "shipped models: each loads, its hash matches, it is small, and it classifies held-out "
    "images") {
  Cli cli;
  for (const Shipped& m : kShipped) {
    CAPTURE(m.name);
    const fs::path dir = models_dir() / m.name;
    REQUIRE(fs::exists(dir / "model.yaml"));
    CHECK(fs::file_size(dir / "model.pt") < 10u * 1024 * 1024);
    for (const char* file : {"metrics.json", "split.csv", "confusion_matrix.png", "curves_loss.png",
                             "curves_accuracy.png", "training.yaml"})
      CHECK_MESSAGE(fs::exists(dir / file), file);

    const auto shown = cli.run({"model", "show", m.name, "--json"});
    REQUIRE(shown.exit_code == 0);
    const auto manifest = json_of(shown);
    CHECK(manifest["classes"] == m.classes);
    CHECK(manifest["architecture"] == "mobilenet_v2");
    CHECK(manifest["temperature"].get<double>() > 0.0);
    CHECK(cli.run({"model", "verify", m.name}).exit_code == 0);

    std::vector<std::string> args = {"train-eval", "evaluate",    "--model", m.name,
                                     "--json",     "--bootstrap", "0"};
    const fs::path samples = datasets() / "heldout" / m.name;
    const fs::path shared = fs::path(source_dir()).parent_path() / "shared" / "datasets" / m.name;
    if (fs::exists(samples)) {
      args.insert(args.end(), {"--data", samples.string()});
    } else if (fs::exists(shared)) {
      args.insert(args.end(), {"--data", shared.string(), "--split", "test"});
    } else {
      MESSAGE(m.name << ": no held-out images here (the data set may not be copied); loaded and "
                        "hash-checked only");
      continue;
    }
    const auto r = cli.run(args);
    REQUIRE(r.exit_code == 0);
    const auto doc = json_of(r);
    CHECK(doc["n"].get<int>() >= 4);
    CHECK(doc["rejected"].empty());
    CHECK(doc["accuracy"].get<double>() >= m.min_accuracy);
  }
}
