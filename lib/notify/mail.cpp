#include "notify/mail.hpp"

#include <sodium.h>

#include <fmt/chrono.h>
#include <algorithm>

#include <fmt/format.h>

#include "config/config.hpp"
#include "crypto/random.hpp"
#include "crypto/sodium_init.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace csss::notify {

namespace {

// RFC 5322 allows 998; staying well below keeps relays from folding lines.
constexpr std::size_t kMaxPlainLine = 900;

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string base64(std::string_view data) {
  crypto::ensure_sodium();
  std::string out(sodium_base64_ENCODED_LEN(data.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(data.data()),
                    data.size(), sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();  // the terminating NUL
  return out;
}

// RFC 2047 "encoded-word" for a header value that is not plain ASCII.
std::string encode_header(std::string_view value) {
  if (is_ascii(value))
    return std::string(value);
  return fmt::format("=?UTF-8?B?{}?=", base64(value));
}

// "Zoë <z@x.org>" -> "=?UTF-8?B?...?= <z@x.org>": only the display name may be encoded.
std::string encode_mailbox(std::string_view mailbox) {
  const auto open = mailbox.rfind('<');
  if (open == std::string_view::npos || is_ascii(mailbox))
    return std::string(mailbox);
  const std::string name = util::trim(mailbox.substr(0, open));
  return fmt::format("{} {}", encode_header(name), mailbox.substr(open));
}

void check_header(std::string_view name, std::string_view value) {
  if (util::has_control_chars(value)) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("mail {} holds a line break or control character", name));
  }
}

std::string domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? "csss.local" : std::string(address.substr(at + 1));
}

}  // namespace

std::string address_of(std::string_view mailbox) {
  const auto open = mailbox.rfind('<');
  const auto close = mailbox.rfind('>');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    return util::trim(mailbox.substr(open + 1, close - open - 1));
  }
  return util::trim(mailbox);
}

std::string format_rfc5322(const MailMessage& m, util::UnixSeconds date) {
  check_header("sender", m.from);
  check_header("recipient", m.to);
  check_header("subject", m.subject);
  if (address_of(m.to).find('@') == std::string::npos) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("mail recipient '{}' is not an address", m.to));
  }
  std::time_t tt = static_cast<std::time_t>(date);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::string out;
  out += fmt::format("Date: {:%a, %d %b %Y %H:%M:%S} +0000\r\n", tm);
  out += fmt::format("From: {}\r\n", encode_mailbox(m.from));
  out += fmt::format("To: {}\r\n", encode_mailbox(m.to));
  out += fmt::format("Subject: {}\r\n", encode_header(m.subject));
  out +=
      fmt::format("Message-ID: <{}@{}>\r\n", crypto::random_uuid(), domain_of(address_of(m.from)));
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  const auto lines = util::split(m.body, '\n');
  const bool plain = is_ascii(m.body) && std::all_of(lines.begin(), lines.end(), [](const auto& l) {
                       return l.size() <= kMaxPlainLine;
                     });
  if (plain) {
    // ASCII text stays readable in the outbox; lines end in CRLF as RFC 5322 requires.
    out += "Content-Transfer-Encoding: 7bit\r\n\r\n";
    for (std::size_t i = 0; i < lines.size(); ++i) {
      std::string line = lines[i];
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      if (i + 1 == lines.size() && line.empty())
        break;
      out += line + "\r\n";
    }
    return out;
  }
  // Base64 keeps any UTF-8 text and any line length intact through every relay.
  out += "Content-Transfer-Encoding: base64\r\n\r\n";
  const std::string encoded = base64(m.body);
  for (std::size_t i = 0; i < encoded.size(); i += 76) {
    out += encoded.substr(i, 76);
    out += "\r\n";
  }
  return out;
}

std::string OutboxTransport::send(const MailMessage& message) {
  const util::UnixSeconds now = clock_.now();
  const std::string text = format_rfc5322(message, now);
  util::ensure_private_dir(dir_);
  std::time_t tt = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  const auto path = dir_ / fmt::format("{:%Y%m%dT%H%M%SZ}-{}.eml", tm, crypto::random_hex(4));
  util::write_private_file(path, text);
  return path.string();
}

std::unique_ptr<MailTransport> make_transport(const config::Config& config,
                                              const util::Clock& clock) {
  if (config.get("smtp.url").empty()) {
    return std::make_unique<OutboxTransport>(config.data_dir() / "outbox", clock);
  }
  SmtpSettings s;
  s.url = config.get("smtp.url");
  s.user = config.get("smtp.user");
  s.password = config.get("smtp.password");
  s.require_tls = config.get("smtp.tls") != "none";
  s.timeout_seconds = config.get_int("smtp.timeout_seconds");
  return std::make_unique<SmtpTransport>(std::move(s), clock);
}

}  // namespace csss::notify
