#include "scans/scans.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "audit/audit_log.hpp"
#include "auth/policy.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "imaging/preprocess.hpp"
#include "inference/backend.hpp"
#include "inference/prepared.hpp"
#include "inference/registry.hpp"
#include "store/database.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace csss::scans {

namespace fs = std::filesystem;

namespace {

constexpr const char* kScanColumns =
    "s.id, s.patient_id, p.full_name, coalesce(u.email, ''), s.uploaded_by, s.sha256, "
    "s.size_bytes, s.format, s.width, s.height, s.channels, s.modality, s.body_part, "
    "s.dicom_patient_id, s.study_uid, s.frames, s.source_name, s.status, s.created_at";
constexpr const char* kScanFrom =
    "FROM scans s JOIN patients p ON p.id = s.patient_id LEFT JOIN users u ON u.id = p.user_id";

imaging::Format parse_format(const std::string& s) {
  if (s == "jpeg")
    return imaging::Format::jpeg;
  if (s == "dicom")
    return imaging::Format::dicom;
  return imaging::Format::png;
}

Scan read_scan(const store::Statement& st) {
  Scan s;
  s.id = st.get_text(0);
  s.patient_id = st.get_int(1);
  s.patient_name = st.get_text(2);
  s.patient_email = st.get_text(3);
  s.uploaded_by = st.get_int(4);
  s.sha256 = st.get_text(5);
  s.size_bytes = st.get_int(6);
  s.format = parse_format(st.get_text(7));
  s.width = static_cast<int>(st.get_int(8));
  s.height = static_cast<int>(st.get_int(9));
  s.channels = static_cast<int>(st.get_int(10));
  s.modality = st.get_text(11);
  s.body_part = st.get_text(12);
  s.dicom_patient_id = st.get_text(13);
  s.study_uid = st.get_text(14);
  s.frames = static_cast<int>(st.get_int(15));
  s.source_name = st.get_text(16);
  s.status = st.get_text(17);
  s.created_at = st.get_int(18);
  return s;
}

// A file name for messages: as given, or with bytes that are not UTF-8 escaped.
std::string display_name(const fs::path& file) {
  const std::string raw = file.string();
  if (util::is_valid_utf8(raw) && !util::has_control_chars(raw))
    return raw;
  std::string out;
  for (unsigned char c : raw) {
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

// Reads a scan file after checking what it is: a regular file, readable, within the size limit.
std::string read_scan_file(const fs::path& file, const std::string& name, std::uint64_t max_bytes) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT)
      throw Error(ErrorKind::not_found, fmt::format("{}: no such file", name));
    if (err == ELOOP)
      throw Error(ErrorKind::invalid_input, fmt::format("{}: symbolic link loop", name));
    throw Error(ErrorKind::io, fmt::format("{}: cannot read: {}", name, std::strerror(err)));
  }
  if (S_ISDIR(st.st_mode)) {
    throw Error(ErrorKind::invalid_input, fmt::format("{}: is a directory, not a scan file", name));
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorKind::invalid_input, fmt::format("{}: is not a regular file", name));
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("{}: the file is {} MiB; the limit is {} MiB (scan.max_file_mb)", name,
                            (st.st_size + (1 << 20) - 1) >> 20, max_bytes >> 20));
  }
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(ErrorKind::io, fmt::format("{}: cannot read: {}", name, std::strerror(errno)));
  }
  std::string bytes;
  bytes.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      const int err = errno;
      ::close(fd);
      throw Error(ErrorKind::io, fmt::format("{}: cannot read: {}", name, std::strerror(err)));
    }
    if (n == 0)
      break;
    bytes.append(buf, static_cast<std::size_t>(n));
    if (bytes.size() > max_bytes) {
      ::close(fd);
      throw Error(ErrorKind::invalid_input,
                  fmt::format("{}: the file grew past the limit while being read", name));
    }
  }
  ::close(fd);
  return bytes;
}

std::span<const std::uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::optional<Scan> Scans::find(const std::string& id) const {
  auto st = db_.prepare(fmt::format("SELECT {} {} WHERE s.id = ?", kScanColumns, kScanFrom));
  st.bind(1, id);
  if (!st.step())
    return std::nullopt;
  return read_scan(st);
}

std::int64_t Scans::patient_for(const auth::Principal& who,
                                const std::optional<std::string>& patient_email, bool create) {
  std::int64_t user_id = who.user_id;
  std::string full_name = who.full_name;
  if (who.role == auth::Role::patient) {
    auth::require(who, auth::Action::upload_scan, "scan", audit_);
    if (patient_email && util::to_lower(util::trim(*patient_email)) != who.email) {
      auth::require(who, auth::Action::upload_for_patient, "scan", audit_);
    }
  } else {
    auth::require(who, auth::Action::upload_for_patient, "scan", audit_);
    if (!patient_email) {
      throw Error(ErrorKind::usage, "staff upload for a patient: name them with --patient EMAIL");
    }
    const std::string email = util::to_lower(util::trim(*patient_email));
    auto st = db_.prepare("SELECT id, full_name, role FROM users WHERE email = ?");
    st.bind(1, email);
    if (!st.step()) {
      throw Error(ErrorKind::not_found, fmt::format("no patient account with email '{}'", email));
    }
    if (st.get_text(2) != "patient") {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("'{}' is a {} account, not a patient", email, st.get_text(2)));
    }
    user_id = st.get_int(0);
    full_name = st.get_text(1);
  }
  // The account's patient record, created on its first scan.
  {
    auto st = db_.prepare("SELECT id FROM patients WHERE user_id = ?");
    st.bind(1, user_id);
    if (st.step())
      return st.get_int(0);
  }
  if (!create)
    return 0;
  db_.prepare("INSERT INTO patients (user_id, full_name, created_at) VALUES (?, ?, ?)")
      .bind_all(user_id, full_name, clock_.now())
      .run();
  return db_.last_insert_rowid();
}

UploadOutcome Scans::upload(const auth::Principal& who, const fs::path& file,
                            const std::optional<std::string>& patient_email,
                            const UploadHints& hints) {
  const std::string name = display_name(file);
  if (!util::is_valid_utf8(file.string())) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("{}: the file name is not valid UTF-8; rename the file", name));
  }
  // Who the scan is for is checked before the file is even read, outside a transaction so that
  // a refusal stays in the audit log; the patient record is created with the scan, not here.
  (void)patient_for(who, patient_email, /*create=*/false);
  const std::string bytes = read_scan_file(file, name, limits_.max_file_bytes);
  const std::string sha = crypto::sha256_hex(bytes);
  {
    auto st = db_.prepare(fmt::format("SELECT {} {} WHERE s.sha256 = ?", kScanColumns, kScanFrom));
    st.bind(1, sha);
    if (st.step()) {
      Scan existing = read_scan(st);
      audit_.append({who.email, "scan.upload", "scan:" + existing.id, audit::Outcome::failure,
                     "duplicate of an existing scan"});
      // Another patient's scan is not named, as get() does not show it.
      if (!auth::is_allowed(who.role, auth::Action::view_any_scan) &&
          existing.patient_email != who.email) {
        throw Error(ErrorKind::conflict,
                    fmt::format("{}: the same file was uploaded already for another patient; "
                                "nothing stored",
                                name));
      }
      return {std::move(existing), true};
    }
  }
  const imaging::Decoded decoded = imaging::decode(as_bytes(bytes), limits_, name);
  Scan s = describe(who, bytes, sha, decoded, hints, file.filename().string(), name);
  store(who, s, bytes, [&] { return patient_for(who, patient_email, /*create=*/true); });
  return {*find(s.id), false};
}

Scan Scans::describe(const auth::Principal& who, const std::string& bytes,
                     const std::string& sha256, const imaging::Decoded& decoded,
                     const UploadHints& hints, const std::string& source_name,
                     std::string_view name) const {
  Scan s;
  s.id = crypto::random_uuid();
  s.uploaded_by = who.user_id;
  s.sha256 = sha256;
  s.size_bytes = static_cast<std::int64_t>(bytes.size());
  s.format = decoded.format;
  s.width = decoded.image.width;
  s.height = decoded.image.height;
  s.channels = decoded.image.channels;
  s.modality = util::trim(hints.modality);
  s.body_part = util::trim(hints.body_part);
  if (decoded.dicom) {
    if (!decoded.dicom->modality.empty())
      s.modality = decoded.dicom->modality;
    if (!decoded.dicom->body_part.empty())
      s.body_part = decoded.dicom->body_part;
    s.dicom_patient_id = decoded.dicom->patient_id;
    s.study_uid = decoded.dicom->study_uid;
    s.frames = decoded.dicom->frames;
  }
  for (auto* text : {&s.modality, &s.body_part}) {
    *text = util::trim(*text);
    if (text->size() > 64 || util::has_control_chars(*text) || !util::is_valid_utf8(*text)) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("{}: modality and body part must be short plain text", name));
    }
    for (char& c : *text)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  s.source_name = source_name;
  s.status = "pending_ai";
  s.created_at = clock_.now();
  return s;
}

void Scans::insert_scan(const auth::Principal& who, const Scan& s) {
  db_.prepare(
         "INSERT INTO scans (id, patient_id, uploaded_by, sha256, size_bytes, format, width, "
         "height, channels, modality, body_part, dicom_patient_id, study_uid, frames, "
         "source_name, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
         "?, ?)")
      .bind_all(s.id, s.patient_id, s.uploaded_by, s.sha256, s.size_bytes,
                std::string(imaging::to_string(s.format)), s.width, s.height, s.channels,
                s.modality, s.body_part, s.dicom_patient_id, s.study_uid, s.frames, s.source_name,
                s.status, s.created_at)
      .run();
  audit_.append({who.email, "scan.upload", "scan:" + s.id, audit::Outcome::success,
                 fmt::format("{} {}x{}", imaging::to_string(s.format), s.width, s.height)});
}

void Scans::store(const auth::Principal& who, Scan& s, const std::string& bytes,
                  const std::function<std::int64_t()>& patient_id) {
  // The file first, then the row: a crash in between leaves an orphan file, never a row
  // without its file.
  util::ensure_private_dir(data_dir_ / "scans");
  const fs::path path = file_of(s);
  util::write_private_file(path, bytes);
  try {
    store::Transaction tx(db_);
    s.patient_id = patient_id();
    insert_scan(who, s);
    tx.commit();
  } catch (...) {
    std::error_code ec;
    fs::remove(path, ec);
    throw;
  }
}

const fs::path& Scans::store_path() const {
  return db_.path();
}

std::optional<Scan> Scans::find_by_sha256(const std::string& sha256) const {
  return scans::find_by_sha256(db_, sha256);
}

std::optional<Scan> find_by_sha256(store::Database& db, const std::string& sha256) {
  auto st = db.prepare(fmt::format("SELECT {} {} WHERE s.sha256 = ?", kScanColumns, kScanFrom));
  st.bind(1, sha256);
  if (!st.step())
    return std::nullopt;
  return read_scan(st);
}

bool has_analysis(store::Database& db, const std::string& scan_id, const std::string& model_name,
                  const std::string& model_version) {
  auto st = db.prepare(
      "SELECT 1 FROM analyses WHERE scan_id = ? AND model_name = ? AND model_version = ?");
  st.bind_all(scan_id, model_name, model_version);
  return st.step();
}

std::int64_t Scans::import_patient(const auth::Principal& who, const ImportPatient& patient) {
  auto st = db_.prepare("SELECT id FROM patients WHERE external_id = ? ORDER BY id LIMIT 1");
  st.bind(1, patient.external_id);
  if (st.step())
    return st.get_int(0);
  const std::string name = patient.name.empty() ? "Patient " + patient.external_id : patient.name;
  db_.prepare(
         "INSERT INTO patients (full_name, external_id, birth_date, created_at) VALUES (?, ?, ?, "
         "?)")
      .bind_all(name, patient.external_id,
                patient.birth_date.empty() ? std::optional<std::string>()
                                           : std::optional(patient.birth_date),
                clock_.now())
      .run();
  const std::int64_t id = db_.last_insert_rowid();
  audit_.append({who.email, "patient.create", fmt::format("patient:{}", id),
                 audit::Outcome::success, "record without account, from a batch import"});
  return id;
}

namespace {

// A savepoint inside the open transaction: what one item of a group writes is undone alone when
// that item fails, and the others are kept.
class Savepoint {
 public:
  // Prepared once per connection (Database::prepare keeps them): one per item of a group.
  explicit Savepoint(store::Database& db) : db_(db) { db_.prepare("SAVEPOINT item").run(); }
  ~Savepoint() {
    if (!done_) {
      try {
        db_.prepare("ROLLBACK TO item").run();
        db_.prepare("RELEASE item").run();
      } catch (...) {  // NOLINT(bugprone-empty-catch): the enclosing transaction rolls back
      }
    }
  }
  Savepoint(const Savepoint&) = delete;
  Savepoint& operator=(const Savepoint&) = delete;
  void release() {
    db_.prepare("RELEASE item").run();
    done_ = true;
  }

 private:
  store::Database& db_;
  bool done_ = false;
};

}  // namespace

std::vector<Scans::ImportResult> Scans::import(const auth::Principal& who,
                                               std::span<const ImportRequest> group) {
  auth::require(who, auth::Action::import_scans, "scan", audit_);
  std::vector<ImportResult> results(group.size());
  std::vector<Scan> fresh(group.size());
  std::vector<bool> written(group.size(), false);
  const auto fail = [&](std::size_t i, const Error& e) {
    results[i].error = e.what();
    results[i].error_kind = e.kind();
  };
  // The files first, made durable together; then every row in one transaction.
  util::ensure_private_dir(data_dir_ / "scans");
  bool any = false;
  for (std::size_t i = 0; i < group.size(); ++i) {
    const ImportedFile& file = group[i].file;
    const ImportPatient& patient = group[i].patient;
    try {
      if (auto existing = find_by_sha256(file.sha256)) {
        results[i].outcome = UploadOutcome{std::move(*existing), true};
        continue;
      }
      if (patient.external_id.empty() || patient.external_id.size() > 64 ||
          util::has_control_chars(patient.external_id) ||
          !util::is_valid_utf8(patient.external_id)) {
        throw Error(ErrorKind::invalid_input,
                    fmt::format("{}: the patient ID must be 1 to 64 characters of plain text",
                                file.source_name));
      }
      fresh[i] = describe(who, file.bytes, file.sha256, file.decoded, {}, file.source_name,
                          file.source_name);
      util::write_new_private_file_unsynced(file_of(fresh[i]), file.bytes);
      written[i] = true;
      any = true;
    } catch (const Error& e) {
      fail(i, e);
    }
  }
  const auto remove_files = [&](bool all) {
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (written[i] && (all || !results[i].outcome || results[i].outcome->duplicate)) {
        std::error_code ec;
        fs::remove(file_of(fresh[i]), ec);
      }
    }
  };
  if (!any)
    return results;
  try {
    util::sync_filesystem(data_dir_ / "scans");
    store::Transaction tx(db_);
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (!written[i])
        continue;
      try {
        Savepoint item(db_);
        // Under the write lock: another process may have stored the same bytes meanwhile.
        if (auto existing = find_by_sha256(group[i].file.sha256)) {
          results[i].outcome = UploadOutcome{std::move(*existing), true};
          item.release();
          continue;
        }
        fresh[i].patient_id = import_patient(who, group[i].patient);
        insert_scan(who, fresh[i]);
        item.release();
        results[i].outcome = UploadOutcome{fresh[i], false};
      } catch (const Error& e) {
        if (db_.in_transaction()) {
          fail(i, e);
        } else {
          throw;  // SQLite ended the transaction: nothing of the group is stored
        }
      }
    }
    tx.commit();
  } catch (...) {
    remove_files(true);
    throw;
  }
  remove_files(false);
  for (ImportResult& r : results) {
    if (r.outcome && !r.outcome->duplicate)
      r.outcome->scan = *find(r.outcome->scan.id);  // with the patient's name
  }
  return results;
}

UploadOutcome Scans::import(const auth::Principal& who, const ImportedFile& file,
                            const ImportPatient& patient) {
  const ImportRequest one{file, patient};
  ImportResult r = std::move(import(who, std::span(&one, 1)).front());
  if (!r.outcome)
    throw Error(r.error_kind, r.error);
  return std::move(*r.outcome);
}

imaging::Image Scans::image_of(const Scan& scan) const {
  const std::string bytes = util::read_file(file_of(scan), limits_.max_file_bytes);
  if (!crypto::constant_time_equal(crypto::sha256_hex(bytes), scan.sha256)) {
    throw Error(ErrorKind::integrity,
                fmt::format("scan {}: the stored file no longer matches the SHA-256 recorded at "
                            "upload; it was changed after upload and is not used",
                            scan.id));
  }
  return imaging::decode(as_bytes(bytes), limits_, "scan " + scan.id).image;
}

Scan Scans::get(const auth::Principal& who, const std::string& id) {
  const auto scan = find(id);
  const bool own = scan && !scan->patient_email.empty() && scan->patient_email == who.email;
  const bool staff = auth::is_allowed(who.role, auth::Action::view_any_scan);
  if (!scan || (!staff && !own)) {
    if (scan) {
      audit_.append({who.email, "access.denied", "scan:" + id, audit::Outcome::denied,
                     "not the patient's own scan"});
    }
    // The same answer whether the scan is another patient's or does not exist.
    throw Error(ErrorKind::not_found, fmt::format("no scan with ID '{}'", id));
  }
  if (!staff)
    auth::require(who, auth::Action::view_own_scans, "scan:" + id, audit_);
  audit_.append({who.email, "scan.read", "scan:" + id, audit::Outcome::success, ""});
  return *scan;
}

std::vector<Scan> Scans::list(const auth::Principal& who) {
  return list(who, ListQuery{});
}

std::vector<Scan> Scans::list(const auth::Principal& who, const ListQuery& query) {
  std::string sql = fmt::format("SELECT {} {} WHERE 1", kScanColumns, kScanFrom);
  const bool staff = auth::is_allowed(who.role, auth::Action::view_any_scan);
  if (!staff) {
    auth::require(who, auth::Action::view_own_scans, "scans", audit_);
    sql += " AND p.user_id = ?";
  }
  if (!query.statuses.empty()) {
    sql += " AND s.status IN (";
    for (std::size_t i = 0; i < query.statuses.size(); ++i)
      sql += i ? ", ?" : "?";
    sql += ")";
  }
  std::optional<std::int64_t> patient_record;
  if (!query.patient.empty()) {
    if (query.patient.find('@') != std::string::npos) {
      sql += " AND u.email = ?";
    } else {
      try {
        std::size_t used = 0;
        patient_record = std::stoll(query.patient, &used);
        if (used != query.patient.size())
          throw std::invalid_argument(query.patient);
      } catch (const std::exception&) {
        throw Error(ErrorKind::invalid_input,
                    fmt::format("--patient '{}' is neither an email nor a patient record number",
                                query.patient));
      }
      sql += " AND s.patient_id = ?";
    }
  }
  if (!query.search.empty()) {
    sql +=
        " AND (p.full_name LIKE ? ESCAPE '\\' OR s.id LIKE ? ESCAPE '\\' OR s.source_name "
        "LIKE ? ESCAPE '\\' OR s.modality LIKE ? ESCAPE '\\' OR s.body_part LIKE ? ESCAPE "
        "'\\')";
  }
  if (query.worklist_order) {
    // High-risk or uncertain latest AI result first, then the oldest.
    sql +=
        " ORDER BY coalesce((SELECT a.risk = 'high' OR a.uncertain = 1 FROM analyses a WHERE "
        "a.scan_id = s.id ORDER BY a.created_at DESC, a.rowid DESC LIMIT 1), 0) DESC, "
        "s.created_at, s.rowid";
  } else {
    sql += " ORDER BY s.created_at DESC, s.id";
  }
  auto st = db_.prepare(sql);
  int index = 0;
  if (!staff)
    st.bind(++index, who.user_id);
  for (const std::string& status : query.statuses)
    st.bind(++index, status);
  if (!query.patient.empty()) {
    if (patient_record)
      st.bind(++index, *patient_record);
    else
      st.bind(++index, util::to_lower(util::trim(query.patient)));
  }
  if (!query.search.empty()) {
    std::string pattern = "%";
    for (const char c : query.search) {
      if (c == '%' || c == '_' || c == '\\')
        pattern += '\\';
      pattern += c;
    }
    pattern += '%';
    for (int i = 0; i < 5; ++i)  // the five LIKEs above
      st.bind(++index, pattern);
  }
  std::vector<Scan> out;
  while (st.step())
    out.push_back(read_scan(st));
  audit_.append({who.email, "scan.list", "scans", audit::Outcome::success,
                 fmt::format("{} scans", out.size())});
  return out;
}

std::vector<Analysis> Scans::analyses(const Scan& scan) const {
  auto st = db_.prepare(
      "SELECT id, scan_id, model_name, model_version, weights_sha256, predicted_class, "
      "confidence, threshold, uncertain, probabilities, risk, heatmap, analysed_by, created_at "
      "FROM analyses WHERE scan_id = ? ORDER BY created_at, rowid");
  st.bind(1, scan.id);
  std::vector<Analysis> out;
  while (st.step()) {
    Analysis a;
    a.id = st.get_text(0);
    a.scan_id = st.get_text(1);
    a.model_name = st.get_text(2);
    a.model_version = st.get_text(3);
    a.weights_sha256 = st.get_text(4);
    a.predicted_class = st.get_text(5);
    a.confidence = st.get_double(6);
    a.threshold = st.get_double(7);
    a.uncertain = st.get_int(8) != 0;
    for (const auto& pair : nlohmann::json::parse(st.get_text(9))) {
      a.probabilities.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<double>());
    }
    a.risk = st.get_text(10);
    a.heatmap = st.get_text(11);
    a.analysed_by = st.get_int(12);
    a.created_at = st.get_int(13);
    out.push_back(std::move(a));
  }
  return out;
}

Analysis Scans::analyze(const auth::Principal& who, const std::string& scan_id,
                        const inference::Registry& registry,
                        const std::optional<std::string>& model_name) {
  auth::require(who, auth::Action::run_analysis, "scan:" + scan_id, audit_);
  const Scan scan = get(who, scan_id);
  const inference::Manifest model = registry.choose(model_name, scan.modality, scan.body_part);
  inference::verify_weights(model);

  const imaging::Image image = image_of(scan);
  const std::vector<float> input = imaging::preprocess(image, model.input);

  auto net = inference::load_model(inference::torch_backend(), model.spec(), model.weights_sha256,
                                   inference::prepared_cache_dir(data_dir_));
  const std::vector<float> probs = net->predict(input, 1).at(0);
  Analysis a = make_analysis(who, scan, model, probs);
  const auto top = static_cast<std::size_t>(
      std::find(model.classes.begin(), model.classes.end(), a.predicted_class) -
      model.classes.begin());
  const inference::HeatMap heat = net->gradcam(input, static_cast<int>(top));
  const imaging::Image overlay =
      imaging::overlay_heatmap(image, heat.values, heat.width, heat.height);
  a.heatmap = (fs::path("heatmaps") / (a.id + ".png")).string();

  util::ensure_private_dir(data_dir_ / "heatmaps");
  imaging::save_png(data_dir_ / a.heatmap, overlay);
  try {
    store::Transaction tx(db_);
    insert_analysis(who, a, model);
    tx.commit();
  } catch (...) {
    std::error_code ec;
    fs::remove(data_dir_ / a.heatmap, ec);
    throw;
  }
  return a;
}

Analysis Scans::make_analysis(const auth::Principal& who, const Scan& scan,
                              const inference::Manifest& model,
                              const std::vector<float>& probs) const {
  if (probs.size() != model.classes.size()) {
    throw Error(ErrorKind::internal, "the model returned the wrong number of probabilities");
  }
  const auto top =
      static_cast<std::size_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
  Analysis a;
  a.id = crypto::random_uuid();
  a.scan_id = scan.id;
  a.model_name = model.name;
  a.model_version = model.version;
  a.weights_sha256 = model.weights_sha256;
  a.predicted_class = model.classes[top];
  a.confidence = probs[top];
  a.threshold = model.threshold;
  a.uncertain = a.confidence < model.threshold;
  for (std::size_t i = 0; i < probs.size(); ++i)
    a.probabilities.emplace_back(model.classes[i], probs[i]);
  a.risk = std::string(inference::to_string(model.risk.at(a.predicted_class)));
  a.analysed_by = who.user_id;
  a.created_at = clock_.now();
  return a;
}

void Scans::insert_analysis(const auth::Principal& who, const Analysis& a,
                            const inference::Manifest& model) {
  nlohmann::json probabilities = nlohmann::json::array();
  for (const auto& [label, p] : a.probabilities)
    probabilities.push_back({label, p});
  db_.prepare(
         "INSERT INTO analyses (id, scan_id, model_name, model_version, weights_sha256, "
         "predicted_class, confidence, threshold, uncertain, probabilities, risk, heatmap, "
         "analysed_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(a.id, a.scan_id, a.model_name, a.model_version, a.weights_sha256, a.predicted_class,
                a.confidence, a.threshold, a.uncertain ? 1 : 0, probabilities.dump(), a.risk,
                a.heatmap, a.analysed_by, a.created_at)
      .run();
  db_.prepare("UPDATE scans SET status = 'ai_analysed' WHERE id = ? AND status = 'pending_ai'")
      .bind(1, a.scan_id)
      .run();
  if (db_.changes() == 1) {
    db_.prepare(
           "INSERT INTO scan_events (scan_id, step, from_status, to_status, actor_id, reason, "
           "created_at) VALUES (?, 'analyse', 'pending_ai', 'ai_analysed', ?, '', ?)")
        .bind_all(a.scan_id, who.user_id, a.created_at)
        .run();
  }
  audit_.append({who.email, "scan.analyze", "scan:" + a.scan_id, audit::Outcome::success,
                 fmt::format("model {} {}: {} {:.3f}{}", model.name, model.version,
                             a.predicted_class, a.confidence, a.uncertain ? " (uncertain)" : "")});
}

std::vector<Scans::RecordResult> Scans::record_analyses(
    const auth::Principal& who, const inference::Manifest& model, std::span<const Scan> scans,
    std::span<const std::vector<float>> probabilities) {
  if (scans.size() != probabilities.size())
    throw Error(ErrorKind::internal, "record_analyses: one result per scan");
  auth::require(who, auth::Action::run_analysis, "scans", audit_);
  std::vector<RecordResult> results(scans.size());
  store::Transaction tx(db_);
  for (std::size_t i = 0; i < scans.size(); ++i) {
    try {
      if (has_analysis(db_, scans[i].id, model.name, model.version))
        continue;
      const Analysis a = make_analysis(who, scans[i], model, probabilities[i]);
      Savepoint item(db_);
      insert_analysis(who, a, model);
      item.release();
      results[i].analysis = a;
    } catch (const Error& e) {
      if (!db_.in_transaction())
        throw;
      results[i].error = e.what();
    }
  }
  tx.commit();
  return results;
}

std::optional<Analysis> Scans::record_analysis(const auth::Principal& who, const Scan& scan,
                                               const inference::Manifest& model,
                                               const std::vector<float>& probabilities) {
  RecordResult r = std::move(
      record_analyses(who, model, std::span(&scan, 1), std::span(&probabilities, 1)).front());
  if (!r.error.empty())
    throw Error(ErrorKind::invalid_input, r.error);
  return r.analysis;
}

}  // namespace csss::scans
