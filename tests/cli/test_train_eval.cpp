// csss train-eval: a tiny training run on synthetic images (the loss falls, checkpoints, --resume
// after SIGKILL, SIGINT), evaluation of the result, and bad input.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "cli_fixture.hpp"
#include "scan_support.hpp"

using namespace csss::test;

namespace {

// A two-class ImageFolder of easy synthetic 40x40 images: "disk" (a bright disk) and "bar" (a
// bright horizontal bar), each on noise, `per_class` images of each.
fs::path synthetic_folder(const fs::path& root, int per_class, int seed = 1) {
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uniform_int_distribution<int> noise(0, 60);
  std::uniform_int_distribution<int> shift(-4, 4);
  for (const std::string label : {"disk", "bar"}) {
    fs::create_directories(root / label);
    for (int n = 0; n < per_class; ++n) {
      csss::imaging::Image img;
      img.width = 40;
      img.height = 40;
      img.channels = 1;
      const int dx = shift(rng), dy = shift(rng);
      for (int y = 0; y < 40; ++y) {
        for (int x = 0; x < 40; ++x) {
          const int cx = x - 20 - dx, cy = y - 20 - dy;
          const bool on = label == "disk" ? cx * cx + cy * cy < 81 : std::abs(cy) < 4;
          img.pixels.push_back(static_cast<std::uint8_t>((on ? 190 : 20) + noise(rng)));
        }
      }
      const auto png = csss::imaging::encode_png(img);
      write_text(root / label / (label + "_" + std::to_string(n) + ".png"),
                 std::string(png.begin(), png.end()));
    }
  }
  return root;
}

void write_config(const fs::path& file, const fs::path& data, int epochs) {
  write_text(file,
             "name: tiny\n"
             "data: " +
                 data.string() +
                 "\n"
                 "risk: {disk: high, bar: low}\n"
                 "input: {size: 32, channels: 1}\n"
                 "architecture: {width: 0.25}\n"
                 "training: {epochs: " +
                 std::to_string(epochs) +
                 ", batch_size: 8, learning_rate: 3.0e-3, early_stopping_patience: 50, "
                 "workers: 1}\n"
                 "augment: {rotate_degrees: 0, scale: 0, translate: 0, brightness: 0, "
                 "contrast: 0}\n");
}

nlohmann::json history_of(const fs::path& model_dir) {
  return nlohmann::json::parse(read_bytes(model_dir / "metrics.json"))["training"]["history"];
}

}  // namespace

TEST_CASE("train-eval train: a tiny run learns, writes the model folder, and evaluate reads it") {
  Cli cli;
  const fs::path data = synthetic_folder(cli.root() / "images", 20);
  const fs::path config = cli.root() / "tiny.yaml";
  write_config(config, data, 6);
  const fs::path out = cli.root() / "out" / "tiny";

  const auto r = cli.run({"train-eval", "train", "--config", config.string(), "--out", out.string(),
                          "--keep-checkpoint", "--json"});
  REQUIRE(r.exit_code == 0);
  INFO(r.err);
  const auto doc = json_of(r);
  CHECK(doc["epochs_run"] == 6);
  // Not a terminal: one line per epoch on stderr, no progress bar.
  CHECK(contains(r.err, "epoch 1/6: loss"));
  CHECK(contains(r.err, "epoch 6/6: loss"));
  CHECK_FALSE(contains(r.err, "\r"));

  // The loss falls.
  const auto history = history_of(out);
  REQUIRE(history.size() == 6);
  CHECK(history.back()["train_loss"].get<double>() < history.front()["train_loss"].get<double>());

  // The model folder: manifest with the weights' hash and temperature, split, metrics, plots.
  for (const char* file :
       {"model.yaml", "model.pt", "metrics.json", "split.csv", "history.csv", "training.yaml",
        "curves_loss.png", "curves_accuracy.png", "confusion_matrix.png"}) {
    CHECK_MESSAGE(fs::exists(out / file), file);
  }
  CHECK(mode_of(out / "model.pt") == 0600);
  CHECK(starts_with_png_signature(read_bytes(out / "confusion_matrix.png")));
  const std::string manifest = read_bytes(out / "model.yaml");
  CHECK(contains(manifest, "temperature:"));
  CHECK(contains(manifest, "sha256:"));
  CHECK(contains(manifest, "classes: [bar, disk]"));
  // 70/15/15 per class of 20: 14, 3, 3.
  const std::string split = read_bytes(out / "split.csv");
  CHECK(count_lines(split) == 41);
  const auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = split.find(needle); at != std::string::npos;
         at = split.find(needle, at + 1))
      ++n;
    return n;
  };
  CHECK(count("\ntrain,") == 28);
  CHECK(count("\nval,") == 6);
  CHECK(count("\ntest,") == 6);
  // The checkpoint was kept on request: its state and the last epoch's files.
  CHECK(fs::exists(out / "checkpoint" / "state.json"));
  CHECK(fs::exists(out / "checkpoint" / "epoch-0006.pt"));
  CHECK(fs::exists(out / "checkpoint" / "epoch-0006.optim.pt"));

  // The same split again with the same seed: training is repeatable where it matters.
  const fs::path again = cli.root() / "out" / "again";
  REQUIRE(cli.run({"train-eval", "train", "--config", config.string(), "--out", again.string(),
                   "--epochs", "1", "-q"})
              .exit_code == 0);
  CHECK(read_bytes(again / "split.csv") == split);

  // evaluate: the folder's test part through the model's split.csv, and all of it.
  const auto e =
      cli.run({"train-eval", "evaluate", "--model", out.string(), "--data", data.string(),
               "--split", "test", "--json", "--out", (cli.root() / "eval").string()});
  REQUIRE(e.exit_code == 0);
  const auto ev = json_of(e);
  CHECK(ev["n"] == 6);
  for (const char* key : {"accuracy", "balanced_accuracy", "auc_macro", "ece"})
    CHECK_MESSAGE(ev[key].is_number(), key);
  CHECK(ev["per_class"]["disk"]["support"] == 3);
  CHECK(ev["per_class"]["bar"].contains("auc"));
  CHECK(ev["confusion_matrix"].size() == 2);
  CHECK(ev["screening"]["positives"] == 3);  // disk is the high-risk class
  for (const char* file : {"confusion_matrix.png", "roc.png", "reliability.png",
                           "misclassified.csv", "evaluation.json"}) {
    CHECK_MESSAGE(fs::exists(cli.root() / "eval" / file), file);
  }
  const auto all = cli.run({"train-eval", "evaluate", "--model", out.string(), "--data",
                            data.string(), "--json", "--bootstrap", "0"});
  REQUIRE(all.exit_code == 0);
  CHECK(json_of(all)["n"] == 40);
  CHECK(json_of(all)["accuracy_ci"].is_null());

  // A finished model is not overwritten by accident.
  CHECK_ERROR(cli.run({"train-eval", "train", "--config", config.string(), "--out", out.string()}),
              7, "already holds a trained model", "--force");
}

TEST_CASE("train-eval train: killed mid-run, --resume finishes from the last checkpoint") {
  Cli cli;
  const fs::path data = synthetic_folder(cli.root() / "images", 20);
  const fs::path config = cli.root() / "tiny.yaml";
  write_config(config, data, 5);
  const fs::path out = cli.root() / "tiny";
  const fs::path state = out / "checkpoint" / "state.json";

  const int pid = start_background(
      {csss_binary(), "train-eval", "train", "--config", config.string(), "--out", out.string()},
      (cli.root() / "log.txt").string(), ProcessOptions{"", cli.base_env(), ""});
  // SIGKILL as soon as the first checkpoint exists: no clean-up can run.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!fs::exists(state) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(fs::exists(state));
  const int done = nlohmann::json::parse(read_bytes(state))["epoch"].get<int>();
  CHECK(done >= 1);
  if (done < 5) {
    CHECK_FALSE(fs::exists(out / "model.yaml"));
    // Starting over by accident is refused; --resume with other options too.
    CHECK_ERROR(
        cli.run({"train-eval", "train", "--config", config.string(), "--out", out.string()}), 7,
        "--resume");
    CHECK_ERROR(
        cli.run({"train-eval", "train", "--out", out.string(), "--resume", "--epochs", "9"}), 2,
        "--resume");
  }

  const auto r = cli.run({"train-eval", "train", "--out", out.string(), "--resume", "--json"});
  REQUIRE(r.exit_code == 0);
  INFO(r.err);
  CHECK(json_of(r)["epochs_run"] == 5);
  if (done < 5)
    CHECK(contains(r.err, "resuming after epoch " + std::to_string(done) + " of 5"));
  const auto history = history_of(out);
  REQUIRE(history.size() == 5);
  for (int i = 0; i < 5; ++i)
    CHECK(history[static_cast<std::size_t>(i)]["epoch"] == i + 1);
  CHECK(fs::exists(out / "model.yaml"));
  CHECK_FALSE(fs::exists(out / "checkpoint"));  // removed once the model is complete

  // Nothing left to resume.
  CHECK_ERROR(cli.run({"train-eval", "train", "--out", out.string(), "--resume"}), 7,
              "nothing to resume");
}

TEST_CASE("train-eval train: SIGINT stops at a checkpoint with exit 130 and says how to resume") {
  Cli cli;
  const fs::path data = synthetic_folder(cli.root() / "images", 20);
  const fs::path config = cli.root() / "tiny.yaml";
  write_config(config, data, 200);
  const fs::path out = cli.root() / "tiny";
  const fs::path log = cli.root() / "log.txt";
  const int pid = start_background(
      {csss_binary(), "train-eval", "train", "--config", config.string(), "--out", out.string()},
      log.string(), ProcessOptions{"", cli.base_env(), ""});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!fs::exists(out / "checkpoint" / "state.json") &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  const std::string err = read_bytes(log);
  CHECK(contains(err, "csss: error: training stopped after epoch"));
  CHECK(contains(err, "--resume"));
  CHECK(fs::exists(out / "checkpoint" / "state.json"));
  CHECK_FALSE(fs::exists(out / "model.yaml"));
}

TEST_CASE("train-eval: bad input gets one line and its exit code") {
  Cli cli;
  const fs::path data = synthetic_folder(cli.root() / "images", 4);
  const fs::path config = cli.root() / "tiny.yaml";
  write_config(config, data, 1);

  CHECK_ERROR(cli.run({"train-eval", "train", "--config", (cli.root() / "none.yaml").string(),
                       "--out", (cli.root() / "o").string()}),
              6, "none.yaml");
  write_text(cli.root() / "typo.yaml", "name: x\ntraining: {epoch: 3}\n");
  CHECK_ERROR(cli.run({"train-eval", "train", "--config", (cli.root() / "typo.yaml").string(),
                       "--data", data.string(), "--out", (cli.root() / "o").string()}),
              5, "training.epoch", "did you mean 'epochs'");
  CHECK_ERROR(cli.run({"train-eval", "train", "--data", (cli.root() / "missing").string(), "--out",
                       (cli.root() / "o").string()}),
              6, "missing");
  // One class folder only.
  fs::create_directories(cli.root() / "one" / "a");
  write_png(cli.root() / "one" / "a" / "x.png");
  CHECK_ERROR(cli.run({"train-eval", "train", "--data", (cli.root() / "one").string(), "--out",
                       (cli.root() / "o").string()}),
              5, "at least 2 classes");
  CHECK_ERROR(cli.run({"train-eval", "train", "--config", config.string(), "--out",
                       (cli.root() / "o").string(), "--size", "8"}),
              2, "--size");

  // evaluate: unknown class folder names are an error, unless skipped.
  const fs::path model = cli.root() / "m";
  REQUIRE(
      cli.run({"train-eval", "train", "--config", config.string(), "--out", model.string(), "-q"})
          .exit_code == 0);
  fs::create_directories(data / "covid");
  write_png(data / "covid" / "c.png");
  CHECK_ERROR(
      cli.run({"train-eval", "evaluate", "--model", model.string(), "--data", data.string()}), 5,
      "covid", "no class of the model", "--skip-class");
  const auto skipped =
      cli.run({"train-eval", "evaluate", "--model", model.string(), "--data", data.string(),
               "--skip-class", "covid", "--json", "--bootstrap", "0"});
  CHECK(skipped.exit_code == 0);
  CHECK(json_of(skipped)["n"] == 8);
  // A file that is not an image is reported and skipped, not fatal.
  write_text(data / "disk" / "notes.txt", "not an image");
  const auto bad_file =
      cli.run({"train-eval", "evaluate", "--model", model.string(), "--data", data.string(),
               "--skip-class", "covid", "--json", "--bootstrap", "0"});
  CHECK(bad_file.exit_code == 0);
  CHECK(json_of(bad_file)["rejected"].size() == 1);
  CHECK(contains(bad_file.err, "notes.txt"));
  // Changed weights never run.
  write_text(model / "model.pt", read_bytes(model / "model.pt") + "x");
  CHECK_ERROR(cli.run({"train-eval", "evaluate", "--model", model.string(), "--data", data.string(),
                       "--skip-class", "covid"}),
              9, "model.pt");
  CHECK_ERROR(
      cli.run({"train-eval", "evaluate", "--model", "no-such-model", "--data", data.string()}), 6,
      "no-such-model");
}
