#include "crypto/secretbox.hpp"

#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "crypto/base64.hpp"
#include "crypto/random.hpp"
#include "crypto/sodium_init.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace csss::crypto {

namespace fs = std::filesystem;

namespace {

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string read_key(const fs::path& path) {
  util::require_private_file(path, "key file");
  std::string key = util::read_file(path, 1024);
  if (key.size() != crypto_secretbox_KEYBYTES) {
    throw Error(ErrorKind::io, fmt::format("{}: not a key file ({} bytes, expected {})",
                                           path.string(), key.size(), crypto_secretbox_KEYBYTES));
  }
  return key;
}

}  // namespace

SecretKey SecretKey::load_or_create(const fs::path& path) {
  ensure_sodium();
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    std::string key(crypto_secretbox_KEYBYTES, '\0');
    randombytes_buf(key.data(), key.size());
    util::ensure_private_dir(path.parent_path());
    // Written aside, then linked into place: link(2) never replaces an existing file, so of two
    // processes creating the key at once, both end up with the one that was linked first.
    const fs::path tmp =
        path.parent_path() / fmt::format(".{}.{}.new", path.filename().string(), random_hex(8));
    util::write_private_file(tmp, key);
    const int linked = ::link(tmp.c_str(), path.c_str());
    const int saved = errno;
    fs::remove(tmp, ec);
    if (linked != 0 && saved != EEXIST) {
      throw Error(ErrorKind::io,
                  fmt::format("cannot create {}: {}", path.string(), std::strerror(saved)));
    }
  }
  return SecretKey(read_key(path));
}

std::string SecretKey::seal(std::string_view plaintext) const {
  std::string box(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(box.data());
  randombytes_buf(out, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, bytes(plaintext), plaintext.size(), out,
                        bytes(key_));
  return base64_encode(box);
}

std::string SecretKey::open(std::string_view sealed) const {
  const std::optional<std::string> decoded = base64_decode(sealed);
  if (!decoded || decoded->size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
    throw Error(ErrorKind::integrity, "a sealed secret is malformed");
  const auto* box = reinterpret_cast<const unsigned char*>(decoded->data());
  const std::size_t length = decoded->size();
  std::string plain(length - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                 box + crypto_secretbox_NONCEBYTES,
                                 length - crypto_secretbox_NONCEBYTES, box, bytes(key_)) != 0) {
    throw Error(ErrorKind::integrity,
                "a sealed secret does not open with this installation's key (altered, or sealed "
                "under another key)");
  }
  return plain;
}

}  // namespace csss::crypto
