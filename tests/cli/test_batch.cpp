// csss batch import: a directory mixing good and bad files, the summary and exit statuses, reruns
// that import nothing twice (also after SIGKILL), two shards at once, and batched analysis.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <set>
#include <thread>

#include "cli_fixture.hpp"
#include "scan_support.hpp"

using namespace csss::test;

namespace {

struct Importing {
  Cli cli;
  Account doctor;
  Session doc = cli.as("doctor");
  fs::path in = cli.root() / "incoming";

  Importing() {
    isolate_models(cli);
    cli.init_with_admin();
    doctor = cli.add_user("doctor", "dr.lee@clinic.example", "Dr Ana Lee");
    doc.login(doctor.email, doctor.password);
    fs::create_directories(in);
  }

  ProcessResult import(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"batch", "import", in.string(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return doc.run(args);
  }
  std::int64_t scans() {
    Store s(cli.db_path());
    return std::stoll(s.query_text("SELECT count(*) FROM scans"));
  }
};

void write_bytes(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::uint32_t crc32(const std::string& data) {
  std::uint32_t c = 0xFFFFFFFFU;
  for (const char ch : data) {
    c ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k)
      c = (c >> 1) ^ (0xEDB88320U & (0U - (c & 1U)));
  }
  return c ^ 0xFFFFFFFFU;
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// A valid PNG header declaring 100000 x 100000 pixels, and nothing else.
std::string huge_png() {
  std::string ihdr = "IHDR" + be32(100000) + be32(100000) + std::string("\x08\x00\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + ihdr + be32(crc32(ihdr)) + be32(0) +
         "IEND" + be32(crc32("IEND"));
}

// A DICOM file cut just before its pixel data element: a complete data set without pixels.
std::string dicom_without_pixels() {
  const std::string bytes = read_bytes(datasets() / "dicom" / "MR_small.dcm");
  const auto at = bytes.rfind(std::string("\xE0\x7F\x10\x00", 4));
  REQUIRE(at != std::string::npos);
  return bytes.substr(0, at);
}

// A gray PNG whose bytes differ for every `n` (write_png's seeds repeat after 256).
void write_numbered_png(const fs::path& path, int size, int n) {
  fs::create_directories(path.parent_path());
  csss::imaging::Image img;
  img.width = size;
  img.height = size;
  img.channels = 1;
  for (int i = 0; i < size * size; ++i)
    img.pixels.push_back(static_cast<std::uint8_t>((i * 5 + n * 37) & 0xFF));
  img.pixels[0] = static_cast<std::uint8_t>(n & 0xFF);
  img.pixels[1] = static_cast<std::uint8_t>((n >> 8) & 0xFF);
  const auto png = csss::imaging::encode_png(img);
  write_text(path, std::string(png.begin(), png.end()));
}

std::map<std::string, std::string> reasons(const nlohmann::json& summary) {
  std::map<std::string, std::string> out;
  for (const auto& r : summary["rejected"])
    out[r["file"].get<std::string>()] = r["reason"].get<std::string>();
  return out;
}

}  // namespace

TEST_CASE("batch import: good files are stored, every bad one is reported with its reason") {
  Importing t;
  // Good: three DICOM CRs of one patient (PatientID in the file), two PNGs in the manifest.
  for (const char* sub : {"dicom", "png", "bad"})
    fs::create_directories(t.in / sub);
  for (int i = 1; i <= 3; ++i)
    copy_to(small_cr(i), t.in / "dicom", "cr" + std::to_string(i) + ".dcm");
  write_png(t.in / "png" / "a.png", 24, 16, 1);
  write_png(t.in / "png" / "b.png", 24, 16, 2);
  write_png(t.in / "png" / "no-patient.png", 24, 16, 3);
  // Bad.
  write_bytes(t.in / "bad" / "empty.png", "");
  write_bytes(t.in / "bad" / "text.png", "this is not an image\n");
  const std::string jpeg = read_bytes(chest_jpeg());
  write_bytes(t.in / "bad" / "truncated.jpg", jpeg.substr(0, jpeg.size() / 2));
  write_bytes(t.in / "bad" / "huge.png", huge_png());
  write_bytes(t.in / "bad" / "no-pixels.dcm", dicom_without_pixels());
  fs::create_symlink("loop-b", t.in / "bad" / "loop-a");
  fs::create_symlink("loop-a", t.in / "bad" / "loop-b");
  write_bytes(t.in / "bad" / std::string("name-\xff.png"),
              read_bytes(t.in / "png" / "a.png") + "x");
  const fs::path manifest = t.cli.root() / "manifest.csv";
  write_text(manifest,
             "file,patient_id,name,email,birth_date\n"
             "png/a.png,MRN-1,\"Ñúñez, Zoë\",zoe@clinic.example,1984-07-12\n"
             "png/b.png,MRN-2,Łukasz Nowak\n"
             "png/missing.png,MRN-3\n"
             "just-one-field\n"
             "png/b.png,MRN-9\n");

  const auto r = t.import({"--manifest", manifest.string(), "--model", "none"});
  CHECK(r.exit_code == 10);
  CHECK(contains(r.err, "rejected"));
  const auto s = json_of(r);
  CHECK(s["imported"] == 5);
  CHECK(s["duplicates"] == 0);
  CHECK(s["analysed"] == 0);
  CHECK(s["found"] == 14);
  auto why = reasons(s);
  CHECK(contains(why["png/no-patient.png"], "no patient"));
  CHECK(contains(why["bad/empty.png"], "empty"));
  CHECK(contains(why["bad/text.png"], "not a PNG, JPEG or DICOM"));
  CHECK(contains(why["bad/truncated.jpg"], "truncated"));
  CHECK(contains(why["bad/huge.png"], "100000"));
  CHECK(contains(why["bad/no-pixels.dcm"], "pixel data"));
  CHECK(contains(why["bad/loop-a"], "loop"));
  CHECK(contains(why["bad/name-\\xff.png"], "not valid UTF-8"));
  CHECK(contains(why["png/missing.png"], "no such file"));
  bool malformed = false;
  bool twice = false;
  for (const auto& item : s["rejected"]) {  // both are the manifest's: listed under its name
    const std::string reason = item["reason"];
    malformed = malformed || contains(reason, "line 5: 1 fields");
    twice = twice || contains(reason, "line 6: 'png/b.png' is named already on line 3");
  }
  CHECK(malformed);
  CHECK(twice);
  CHECK(s["seconds"].is_number());
  CHECK(s["images_per_second"].is_number());

  // Nothing half-stored: rows and files match; patients from the manifest and the DICOM file.
  CHECK(t.scans() == 5);
  CHECK(files_under(t.cli.data_dir() / "scans").size() == 5);
  Store st(t.cli.db_path());
  CHECK(st.query_text("SELECT full_name || '|' || birth_date FROM patients WHERE external_id = "
                      "'MRN-1'") == "Ñúñez, Zoë|1984-07-12");
  CHECK(st.query_text("SELECT count(*) FROM patients WHERE external_id = '77654033'") == "1");
  CHECK(st.query_text("SELECT count(*) FROM patients WHERE user_id IS NULL") == "3");

  // Again: nothing new, every good file a duplicate.
  const auto again = json_of(t.import({"--manifest", manifest.string(), "--model", "none"}));
  CHECK(again["imported"] == 0);
  CHECK(again["duplicates"] == 5);
  CHECK(t.scans() == 5);
}

TEST_CASE("batch import: exit statuses and refusals") {
  Importing t;
  write_png(t.in / "a.png");
  CHECK_ERROR(t.doc.run({"batch", "import", (t.cli.root() / "nope").string()}), 6,
              "not a directory");
  const std::string dir = t.in.string();
  CHECK_ERROR(t.doc.run({"batch", "import", dir, "--shard", "2/2"}), 2, "0 <= K < N");
  CHECK_ERROR(t.doc.run({"batch", "import", dir, "--shard", "x"}), 2, "K/N");
  CHECK_ERROR(t.doc.run({"batch", "import", dir, "--model", "no-such-model"}), 6, "no-such-model");
  CHECK_ERROR(
      t.doc.run({"batch", "import", dir, "--manifest", (t.cli.root() / "none.csv").string()}), 6,
      "no such file");
  const Account patient = t.cli.add_user("patient", "p@clinic.example", "Pat");
  Session pat = t.cli.as("patient");
  pat.login(patient.email, patient.password);
  CHECK_ERROR(pat.run({"batch", "import", t.in.string()}), 4, "permission denied");
  CHECK_ERROR(t.cli.run({"batch", "import", t.in.string()}), 3, "");
  CHECK(t.scans() == 0);

  // All good: exit 0, and the text summary; --dry-run stores nothing.
  const fs::path manifest = t.cli.root() / "m.csv";
  write_text(manifest, "a.png,MRN-7\n");
  const auto dry = t.doc.run({"batch", "import", t.in.string(), "--manifest", manifest.string(),
                              "--model", "none", "--dry-run"});
  REQUIRE_OK(dry);
  CHECK(contains(dry.out, "Dry run"));
  CHECK(t.scans() == 0);
  const auto done = t.doc.run(
      {"batch", "import", t.in.string(), "--manifest", manifest.string(), "--model", "none"});
  REQUIRE_OK(done);
  CHECK(contains(done.out, "1 files found: 1 imported"));
  CHECK(t.scans() == 1);
}

TEST_CASE("batch import: killed with SIGKILL part-way, a rerun imports the rest exactly once") {
  Importing t;
  // Enough files that the run is still going when the first of them are in the store (it stores
  // groups of 16, some 2000 files a second with no model on 2 cores).
  const int n = 1500;
  std::string manifest;
  for (int i = 0; i < n; ++i) {
    const std::string name = "img" + std::to_string(i) + ".png";
    write_numbered_png(t.in / name, 64, i);
    manifest += name + ",MRN-" + std::to_string(i % 7) + "\n";
  }
  write_text(t.cli.root() / "m.csv", manifest);
  std::vector<std::string> argv{csss_binary(), "batch",      "import",
                                t.in.string(), "--manifest", (t.cli.root() / "m.csv").string(),
                                "--model",     "none"};
  const int pid = start_background(argv, (t.cli.root() / "run1.log").string(),
                                   {"", t.cli.base_env("doctor"), ""});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (t.scans() < 5 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  const std::int64_t before = t.scans();
  CHECK(before >= 5);
  CHECK(before < n);

  const auto r = t.doc.run({"batch", "import", t.in.string(), "--manifest",
                            (t.cli.root() / "m.csv").string(), "--model", "none", "--json"});
  REQUIRE_OK(r);
  const auto s = json_of(r);
  CHECK(s["imported"].get<std::int64_t>() == n - before);
  CHECK(s["duplicates"].get<std::int64_t>() == before);
  CHECK(t.scans() == n);
  Store st(t.cli.db_path());
  CHECK(st.query_text("SELECT count(DISTINCT sha256) FROM scans") == std::to_string(n));
  CHECK(st.query_text("SELECT count(*) FROM patients") == "7");
}

TEST_CASE(
    "batch import: SIGINT stops after the queued images with exit 130, a second SIGINT at "
    "once, and reruns finish the rest exactly once") {
  Importing t;
  Session admin = t.cli.as("admin");
  admin.login_admin();
  REQUIRE_OK(admin.run(import_args("cxr")));
  const int n = 600;
  std::string manifest;
  for (int i = 0; i < n; ++i) {
    const std::string name = "img" + std::to_string(i) + ".png";
    write_numbered_png(t.in / name, 64, 3000 + i);
    manifest += name + ",MRN-" + std::to_string(i % 5) + "\n";
  }
  const fs::path m = t.cli.root() / "m.csv";
  write_text(m, manifest);
  const std::vector<std::string> argv{csss_binary(), "batch",    "import",  t.in.string(),
                                      "--manifest",  m.string(), "--model", "cxr"};
  Store st(t.cli.db_path());
  const auto analyses = [&] { return std::stoll(st.query_text("SELECT count(*) FROM analyses")); };
  const auto start = [&](const std::string& log, const std::string& queue_mb) {
    Env env = t.cli.base_env("doctor");
    env["CSSS_BATCH_QUEUE_MB"] = queue_mb;
    return start_background(argv, (t.cli.root() / log).string(), {"", env, ""});
  };
  const auto wait_for_analyses = [&](std::int64_t more_than) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (analyses() <= more_than && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  };

  // One SIGINT once the model runs (1 MiB of queued images, some 20, so the walk is still far
  // from its end): the walk stops, what is queued is finished, exit 130 and how to resume.
  int pid = start("run1.log", "1");
  wait_for_analyses(0);
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(contains(read_bytes(t.cli.root() / "run1.log"), "run the same command again"));
  const std::int64_t stored = t.scans();
  CHECK(stored < n);
  // Every stored scan was analysed: the queued images were not dropped.
  CHECK(analyses() == stored);

  // Two: the second ends the process at once, with 16 MiB of images still queued.
  pid = start("run2.log", "16");
  wait_for_analyses(stored);
  ::kill(pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, SIGINT);
  ::waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGINT));

  // The rest, each file stored once and analysed once.
  const auto r = t.doc.run(
      {"batch", "import", t.in.string(), "--manifest", m.string(), "--model", "cxr", "--json"});
  REQUIRE_OK(r);
  const auto s = json_of(r);
  CHECK(s["imported"].get<std::int64_t>() + s["duplicates"].get<std::int64_t>() == n);
  CHECK(t.scans() == n);
  CHECK(st.query_text("SELECT count(DISTINCT sha256) FROM scans") == std::to_string(n));
  CHECK(analyses() == n);
  CHECK(st.query_text("SELECT count(DISTINCT scan_id) FROM analyses") == std::to_string(n));
}

TEST_CASE("batch import: two shards at once share the work, each file once") {
  Importing t;
  const int n = 40;
  std::string manifest;
  for (int i = 0; i < n; ++i) {
    write_png(t.in / ("s" + std::to_string(i) + ".png"), 64, 64, 500 + i);
    manifest += "s" + std::to_string(i) + ".png,MRN-" + std::to_string(i) + "\n";
  }
  write_text(t.cli.root() / "m.csv", manifest);
  ProcessResult a;
  ProcessResult b;
  std::thread first([&] {
    a = t.doc.run({"batch", "import", t.in.string(), "--manifest",
                   (t.cli.root() / "m.csv").string(), "--model", "none", "--shard", "0/2",
                   "--json"});
  });
  std::thread second([&] {
    b = t.doc.run({"batch", "import", t.in.string(), "--manifest",
                   (t.cli.root() / "m.csv").string(), "--model", "none", "--shard", "1/2",
                   "--json"});
  });
  first.join();
  second.join();
  // Each shard names the other's files as missing from its share: only manifest lines it did
  // not see would be reported, and it sees every file, so both finish cleanly.
  REQUIRE_OK(a);
  REQUIRE_OK(b);
  const auto sa = json_of(a);
  const auto sb = json_of(b);
  CHECK(sa["imported"].get<int>() + sb["imported"].get<int>() == n);
  CHECK(sa["imported"].get<int>() > 0);
  CHECK(sb["imported"].get<int>() > 0);
  CHECK(sa["other_shards"].get<int>() == sb["imported"].get<int>());
  CHECK(t.scans() == n);
}

TEST_CASE("batch import: results in batches with the model, recorded once") {
  Importing t;
  Session admin = t.cli.as("admin");
  admin.login_admin();
  REQUIRE_OK(admin.run(import_args("cxr")));
  for (int i = 1; i <= 3; ++i)
    copy_to(small_cr(i), t.in, "cr" + std::to_string(i) + ".dcm");
  copy_to(chest_cr(), t.in, "chest.dcm");
  const auto r = t.import({"--model", "cxr", "--batch-size", "2"});
  REQUIRE_OK(r);
  const auto s = json_of(r);
  CHECK(s["imported"] == 4);
  CHECK(s["analysed"] == 4);
  Store st(t.cli.db_path());
  CHECK(st.query_text("SELECT count(*) FROM analyses WHERE model_name = 'cxr' AND heatmap = ''") ==
        "4");
  CHECK(st.query_text("SELECT count(*) FROM scans WHERE status = 'ai_analysed'") == "4");
  // Again: the results exist, nothing is recorded twice, and with nothing to analyse the model
  // (and LibTorch, a few hundred MiB) is never loaded.
  const auto rerun = t.import({"--model", "cxr"});
  REQUIRE_OK(rerun);
  const auto again = json_of(rerun);
  CHECK(again["analysed"] == 0);
  CHECK(again["duplicates"] == 4);
  CHECK(st.query_text("SELECT count(*) FROM analyses") == "4");
  CHECK(rerun.peak_rss_kib * 2 < r.peak_rss_kib);
}

TEST_CASE("batch import: each result is its own scan's, the model running on two threads") {
  Importing t;
  // The shipped chest-xray model, which tells these radiographs apart.
  write_text(t.cli.xdg_config_home() / "csss" / "config.yaml",
             "models:\n  dir: " + (fs::path(source_dir()) / "models").string() + "\n");
  std::string manifest;
  int n = 0;
  for (const char* group : {"normal", "bacterial_pneumonia", "viral_pneumonia"}) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(datasets() / "heldout" / "chest-xray" / group))
      files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (std::size_t i = 0; i < 3 && i < files.size(); ++i) {
      const std::string name = "x" + std::to_string(++n) + files[i].extension().string();
      fs::copy_file(files[i], t.in / name);
      manifest += name + ",MRN-" + std::to_string(n % 2) + "\n";
    }
  }
  write_text(t.cli.root() / "m.csv", manifest);
  const auto r = t.import({"--manifest", (t.cli.root() / "m.csv").string(), "--model", "chest-xray",
                           "--batch-size", "2"});
  REQUIRE_OK(r);
  REQUIRE(json_of(r)["analysed"] == n);
  // `csss analyze` on each scan gives the batch's probabilities, and the scans' differ, so a
  // result recorded for the wrong scan would show.
  Store st(t.cli.db_path());
  std::set<std::string> seen;
  for (int i = 1; i <= n; ++i) {
    const std::string id =
        st.query_text("SELECT id FROM scans WHERE source_name LIKE 'x" + std::to_string(i) + ".%'");
    CAPTURE(i);
    REQUIRE_OK(t.doc.run({"--json", "analyze", id, "--model", "chest-xray"}));
    const auto batch = nlohmann::json::parse(st.query_text(
        "SELECT probabilities FROM analyses WHERE scan_id = '" + id + "' AND heatmap = ''"));
    const auto single = nlohmann::json::parse(st.query_text(
        "SELECT probabilities FROM analyses WHERE scan_id = '" + id + "' AND heatmap <> ''"));
    REQUIRE(batch.size() == 3);
    REQUIRE(single.size() == 3);
    for (std::size_t c = 0; c < 3; ++c)
      CHECK(batch[c][1].get<double>() == doctest::Approx(single[c][1].get<double>()).epsilon(1e-4));
    seen.insert(std::to_string(std::lround(batch[0][1].get<double>() * 1e4)));
  }
  CHECK(seen.size() == static_cast<std::size_t>(n));
}

TEST_CASE("batch import: unattended, with an importer's token from CSSS_TOKEN_FILE") {
  Importing t;
  t.cli.add_user("importer", "pacs-import@clinic.example", "PACS import");
  const std::string token = t.cli.create_token("pacs-import@clinic.example");
  const Env env = t.cli.token_env(token);
  for (int i = 1; i <= 3; ++i)
    copy_to(small_cr(i), t.in, "cr" + std::to_string(i) + ".dcm");
  // As cron runs it: no terminal, no session; the summary only (no progress bar).
  const auto r = t.cli.run({"batch", "import", t.in.string(), "--model", "none"}, "", env);
  REQUIRE_OK(r);
  CHECK(contains(r.out, "3 files found: 3 imported"));
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  Store st(t.cli.db_path());
  CHECK(st.query_text("SELECT count(*) FROM scans s JOIN users u ON u.id = s.uploaded_by WHERE "
                      "u.role = 'importer'") == "3");
  // The token imports and nothing else.
  CHECK_ERROR(t.cli.run({"scans"}, "", env), 4, "permission denied");
}

TEST_CASE("batch import: peak memory stays flat at ten times the number of files") {
  Importing t;
  Session admin = t.cli.as("admin");
  admin.login_admin();
  REQUIRE_OK(admin.run(import_args("cxr")));
  // 256 x 256 images (each file, its decoded image and its model input held at once would show):
  // 200 files, then 2000 others, in batches of 4. The queues between the threads are bounded by
  // bytes: up to 8 MiB of files and inputs waiting to be stored (some 70 of these), and here 4
  // MiB of inputs waiting for the model (batch.queue_mb; some 80 inputs: the default, 32 MiB,
  // would take runs of 700 and 7000 files to fill), so the first run fills them all already.
  const auto run = [&](const std::string& dir, int count, int seed) {
    const fs::path in = t.cli.root() / dir;
    for (int i = 0; i < count; ++i)
      write_numbered_png(in / ("f" + std::to_string(i) + ".png"), 256, seed + i);
    std::string manifest;
    for (int i = 0; i < count; ++i)
      manifest += "f" + std::to_string(i) + ".png,MRN-" + std::to_string(i % 13) + "\n";
    write_text(t.cli.root() / (dir + ".csv"), manifest);
    const auto r = t.doc.run(
        {"batch", "import", in.string(), "--manifest", (t.cli.root() / (dir + ".csv")).string(),
         "--model", "cxr", "--batch-size", "4", "--jobs", "2", "--json"},
        "", {{"CSSS_BATCH_QUEUE_MB", "4"}});
    REQUIRE_OK(r);
    const auto s = json_of(r);
    CHECK(s["imported"] == count);
    CHECK(s["analysed"] == count);
    return r.peak_rss_kib;
  };
  const long small = run("small", 200, 10000);
  const long large = run("large", 2000, 20000);
  MESSAGE("peak memory: 200 files " << small / 1024 << " MiB, 2000 files " << large / 1024
                                    << " MiB");
  // Holding the 1800 more files' model inputs would take about 1 GiB, their images 110 MiB.
  CHECK(large < small + 24 * 1024);
}

TEST_CASE("batch import: clinicians use csss while an import runs, no write is lost") {
  Importing t;
  Session admin = t.cli.as("admin");
  admin.login_admin();
  REQUIRE_OK(admin.run(import_args("cxr")));
  const Account patient = t.cli.add_user("patient", "pat@clinic.example", "Pat Doe");
  const int n = 200;
  std::string manifest;
  for (int i = 0; i < n; ++i) {
    write_numbered_png(t.in / ("c" + std::to_string(i) + ".png"), 128, 3000 + i);
    manifest += "c" + std::to_string(i) + ".png,MRN-" + std::to_string(i % 5) + "\n";
  }
  write_text(t.cli.root() / "m.csv", manifest);
  ProcessResult imported;
  std::thread cron([&] {
    imported = t.doc.run({"batch", "import", t.in.string(), "--manifest",
                          (t.cli.root() / "m.csv").string(), "--model", "cxr", "--batch-size", "4",
                          "--json"});
  });
  // Meanwhile a doctor at a terminal uploads, lists and reads the worklist.
  Session desk = t.cli.as("desk");
  desk.login(t.doctor.email, t.doctor.password);
  const int uploads = 12;
  int ok = 0;
  for (int i = 0; i < uploads; ++i) {
    const fs::path f = t.cli.root() / "desk" / ("u" + std::to_string(i) + ".png");
    write_numbered_png(f, 48, 9000 + i);
    const auto u = desk.run({"upload", "--patient", patient.email, f.string()});
    CHECK_MESSAGE(u.exit_code == 0, u.err);
    CHECK_FALSE(contains(u.err, "locked"));
    const auto l = desk.run({"scans"});
    CHECK_MESSAGE(l.exit_code == 0, l.err);
    ok += u.exit_code == 0 && l.exit_code == 0 ? 1 : 0;
  }
  cron.join();
  REQUIRE_OK(imported);
  const auto s = json_of(imported);
  CHECK(s["imported"] == n);
  CHECK(s["analysed"] == n);
  CHECK(ok == uploads);
  CHECK(t.scans() == n + uploads);
  Store st(t.cli.db_path());
  CHECK(st.query_text("SELECT count(*) FROM analyses") == std::to_string(n));
  // The audit chain holds every write of both.
  const auto v = admin.run({"audit", "verify"});
  CHECK_MESSAGE(v.exit_code == 0, v.err);
}
