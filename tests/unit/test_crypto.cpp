#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include "crypto/base64.hpp"
#include "crypto/hash.hpp"
#include "crypto/password.hpp"
#include "crypto/random.hpp"
#include "crypto/secretbox.hpp"
#include "support/check_error.hpp"
#include "support/temp_dir.hpp"

using namespace csss::crypto;

namespace {

bool is_lower_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

TEST_CASE("crypto::sha256_hex") {
  SUBCASE("FIPS 180-2 test vectors") {
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  }
  SUBCASE("64 lower-case hex characters") {
    const std::string h = sha256_hex("CSSS");
    CHECK(h.size() == 64);
    CHECK(is_lower_hex(h));
  }
  SUBCASE("hashes every byte, including NUL") {
    CHECK(sha256_hex(std::string("a\0b", 3)) != sha256_hex(std::string("a\0c", 3)));
    CHECK(sha256_hex(std::string("a\0", 2)) != sha256_hex("a"));
  }
}

TEST_CASE("crypto::constant_time_equal") {
  CHECK(constant_time_equal("", ""));
  CHECK(constant_time_equal("123456", "123456"));
  CHECK_FALSE(constant_time_equal("123456", "023456"));  // differs in the first byte
  CHECK_FALSE(constant_time_equal("123456", "123457"));  // differs in the last byte
  CHECK_FALSE(constant_time_equal("12345", "123456"));   // a prefix is not equal
  CHECK_FALSE(constant_time_equal("123456", "12345"));
  CHECK_FALSE(constant_time_equal("", "a"));
  CHECK_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
  CHECK(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
}

TEST_CASE("crypto::hash_password") {
  const std::string password = "correct horse battery staple";
  const std::string hash = hash_password(password);  // Argon2id: one hash for all subcases

  SUBCASE("an Argon2id string with its parameters") {
    CHECK(hash.starts_with("$argon2id$v=19$"));
    CHECK(hash.find(password) == std::string::npos);
    CHECK_FALSE(password_needs_rehash(hash));
  }
  SUBCASE("verifies the password") {
    CHECK(verify_password(password, hash));
  }
  SUBCASE("rejects other passwords") {
    CHECK_FALSE(verify_password("correct horse battery stapl", hash));
    CHECK_FALSE(verify_password("Correct horse battery staple", hash));
    CHECK_FALSE(verify_password(password + " ", hash));
    CHECK_FALSE(verify_password("", hash));
  }
  SUBCASE("malformed hashes never match") {
    CHECK_FALSE(verify_password(password, ""));
    CHECK_FALSE(verify_password(password, password));  // a plain-text "hash"
    CHECK_FALSE(verify_password(password, "$argon2id$garbage"));
    CHECK_FALSE(verify_password(password, hash.substr(0, hash.size() - 1)));
    CHECK_FALSE(verify_password(password, hash + std::string(200, 'A')));  // over-long
    std::string flipped = hash;
    flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
    CHECK_FALSE(verify_password(password, flipped));
  }
  SUBCASE("each hash has its own salt") {
    const std::string again = hash_password(password);
    CHECK(again != hash);
    CHECK(verify_password(password, again));
  }
  SUBCASE("non-ASCII passwords") {
    const std::string unicode = "p\xC3\xA4ssw\xC3\xB6rd-\xC3\xBCnicode";
    const std::string h = hash_password(unicode);
    CHECK(verify_password(unicode, h));
    CHECK_FALSE(verify_password("passwort-unicode", h));
  }
  SUBCASE("a hash made with weaker parameters still verifies but needs a rehash") {
    // libsodium's crypto_pwhash_str_alg() of `password` with opslimit 1 and memlimit 8 KiB.
    const std::string weak =
        "$argon2id$v=19$m=8,t=1,p=1$fG8hpOuuT7NZDqlAmdfgXA$"
        "89HHGlmzQHA2vrf+m2xKccR3q52G6ypkopUe/VGg/PU";
    CHECK(verify_password(password, weak));
    CHECK(password_needs_rehash(weak));
  }
  SUBCASE("the decoy verification completes without error") {
    CHECK_NOTHROW(verify_password_decoy(password));
  }
}

TEST_CASE("crypto::random_digits") {
  CHECK(random_digits(0).empty());
  const std::string code = random_digits(6);
  CHECK(code.size() == 6);
  CHECK(std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }));
  SUBCASE("every digit occurs") {
    // The chance that one of ten digits is missing from 2000 uniform digits is below 1e-90.
    const std::string many = random_digits(2000);
    CHECK(many.size() == 2000);
    for (char d = '0'; d <= '9'; ++d) {
      CAPTURE(d);
      CHECK(many.find(d) != std::string::npos);
    }
    CHECK(std::all_of(many.begin(), many.end(), [](char c) { return c >= '0' && c <= '9'; }));
  }
}

TEST_CASE("crypto::random_hex") {
  CHECK(random_hex(0).empty());
  const std::string h = random_hex(32);
  CHECK(h.size() == 64);
  CHECK(is_lower_hex(h));
  CHECK(random_hex(1).size() == 2);
  CHECK(random_hex(16) != random_hex(16));
}

TEST_CASE("crypto::random_uuid") {
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string u = random_uuid();
    CAPTURE(u);
    CHECK(u.size() == 36);
    CHECK(std::regex_match(u, v4));
    seen.insert(u);
  }
  CHECK(seen.size() == 200);
}

TEST_CASE("crypto::random_code") {
  const std::string code = csss::crypto::random_code(3, 4);
  CHECK(std::regex_match(code,
                         std::regex("[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}")));
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i)
    seen.insert(csss::crypto::random_code(3, 4));
  CHECK(seen.size() == 200);
  CHECK(csss::crypto::random_code(1, 6).size() == 6);
}

TEST_CASE("crypto::base64") {
  using csss::crypto::base64_decode;
  using csss::crypto::base64_encode;
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  std::string all;
  for (int i = 0; i < 256; ++i)
    all.push_back(static_cast<char>(i));
  CHECK(base64_decode(base64_encode(all)) == all);
  CHECK(base64_decode("Zm9v YmFy") == std::nullopt);
  CHECK(base64_decode("Zg=") == std::nullopt);
  CHECK(base64_decode("!!!!") == std::nullopt);
}

TEST_CASE("crypto::SecretKey seals and opens, and another key or a changed box does not open") {
  csss::test::TempDir dir;
  const auto path = dir / "keys" / "k.key";
  const auto key = csss::crypto::SecretKey::load_or_create(path);
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::group_all) ==
        std::filesystem::perms::none);
  const std::string sealed = key.seal("K7QM-4XZP-9TWA");
  CHECK(sealed.find("K7QM") == std::string::npos);
  CHECK(key.seal("K7QM-4XZP-9TWA") != sealed);  // a fresh nonce each time
  CHECK(key.open(sealed) == "K7QM-4XZP-9TWA");
  // The same file gives the same key.
  CHECK(csss::crypto::SecretKey::load_or_create(path).open(sealed) == "K7QM-4XZP-9TWA");
  const auto other = csss::crypto::SecretKey::load_or_create(dir / "keys" / "other.key");
  csss::test::check_error([&] { (void)other.open(sealed); }, csss::ErrorKind::integrity,
                          "another key");
  std::string changed = sealed;
  changed[10] = changed[10] == 'A' ? 'B' : 'A';
  csss::test::check_error([&] { (void)key.open(changed); }, csss::ErrorKind::integrity, "");
  csss::test::check_error([&] { (void)key.open("not base64!"); }, csss::ErrorKind::integrity,
                          "malformed");
  // A key file others may read is refused.
  std::filesystem::permissions(path, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  csss::test::check_error([&] { (void)csss::crypto::SecretKey::load_or_create(path); },
                          csss::ErrorKind::io, "");
}
