#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "util/clock.hpp"

namespace csss::config {
class Config;
}

namespace csss::notify {

// A plain-text message. Subjects carry no patient data (they travel in the clear between relays).
struct MailMessage {
  std::string from;  // "Name <addr>" or "addr"
  std::string to;    // one address
  std::string subject;
  std::string body;  // UTF-8 text
};

// Where mail goes. The one interface between the program and the outside world of email, so that
// tests and offline installations can keep messages as files.
class MailTransport {
 public:
  virtual ~MailTransport() = default;
  // Delivers `message`, or throws Error(io) saying why it could not; returns where it went
  // (a file path, or the server's URL).
  virtual std::string send(const MailMessage& message) = 0;
};

// The message as RFC 5322 text with CRLF line ends: Date, From, To, Subject (RFC 2047 encoded
// when not ASCII), Message-ID, MIME-Version and a UTF-8 text/plain body. Throws
// Error(invalid_input) when an address or the subject holds a line break or is malformed.
std::string format_rfc5322(const MailMessage& message, util::UnixSeconds date);

// The bare address of "Name <addr>" or "addr".
std::string address_of(std::string_view mailbox);

// Writes each message as `<outbox>/<UTC time>-<random>.eml`, mode 0600, atomically. The default
// when no SMTP server is configured.
class OutboxTransport final : public MailTransport {
 public:
  OutboxTransport(std::filesystem::path dir, const util::Clock& clock)
      : dir_(std::move(dir)), clock_(clock) {}
  std::string send(const MailMessage& message) override;

 private:
  std::filesystem::path dir_;
  const util::Clock& clock_;
};

struct SmtpSettings {
  std::string url;  // smtp://host:port (STARTTLS) or smtps://host:port (implicit TLS)
  std::string user;
  std::string password;
  bool require_tls = true;  // false only for a plain-text relay (smtp.tls: none)
  long timeout_seconds = 30;
};

// Sends through an SMTP server with libcurl.
class SmtpTransport final : public MailTransport {
 public:
  SmtpTransport(SmtpSettings settings, const util::Clock& clock)
      : settings_(std::move(settings)), clock_(clock) {}
  std::string send(const MailMessage& message) override;

 private:
  SmtpSettings settings_;
  const util::Clock& clock_;
};

// SMTP when `smtp.url` is set, otherwise the outbox under the data directory.
std::unique_ptr<MailTransport> make_transport(const config::Config& config,
                                              const util::Clock& clock);

}  // namespace csss::notify
