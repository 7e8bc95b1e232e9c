#include "notify/mail.hpp"

#include <ctime>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "config/config.hpp"
#include "crypto/random.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

// format_rfc5322 and parse_rfc5322 are in mime.cpp, the one file that includes GMime.

namespace csss::notify {

std::string address_of(std::string_view mailbox) {
  const auto open = mailbox.rfind('<');
  const auto close = mailbox.rfind('>');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    return util::trim(mailbox.substr(open + 1, close - open - 1));
  }
  return util::trim(mailbox);
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
