#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/clock.hpp"

namespace csss::config {
class Config;
}

namespace csss::notify {

// A file sent along with a message, e.g. a PDF report.
struct Attachment {
  std::string filename;      // UTF-8; a non-ASCII name is encoded per RFC 2231
  std::string content_type;  // e.g. "application/pdf"; "" means application/octet-stream
  std::string data;          // the raw bytes
};

// A plain-text message, optionally with attachments. Subjects carry no patient data (they travel
// in the clear between relays).
struct MailMessage {
  std::string from;  // "Name <addr>" or "addr"
  std::string to;    // one address
  std::string subject;
  std::string body;                     // UTF-8 text
  std::vector<Attachment> attachments;  // none: the message is a single text/plain part
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

// The message as RFC 5322 / MIME text with CRLF line ends, written by GMime (lib/notify/mime.cpp):
// Date, From, To, Subject (RFC 2047 encoded when not ASCII), Message-ID, MIME-Version and a UTF-8
// text/plain body: 7bit when it is ASCII with lines of at most 900 characters (one CRLF per line,
// a final line break added), base64 of its bytes otherwise. With attachments the message is
// multipart/mixed: the text/plain body first, then each attachment base64-encoded with
// "Content-Disposition: attachment; filename=..." (RFC 2231 UTF-8 when not ASCII). Throws
// Error(invalid_input) when an address, the subject or an attachment's filename or content type
// holds a line break or control character, when from or to is not exactly one address, or when an
// attachment has no filename or a content type that is not "type/subtype".
std::string format_rfc5322(const MailMessage& message, util::UnixSeconds date);

// Reads a message back (one written by format_rfc5322, or any RFC 5322 / MIME message): from and
// to as "Name <addr>" (decoded, several addresses separated by ", "), the decoded subject, the
// first text/plain part that is not an attachment as the body (transfer encoding undone, converted
// to UTF-8, and CRLF line ends normalised to "\n"), and every other part that is an attachment or
// has a filename, with its decoded bytes (parts of an attached message/rfc822 are not looked into).
// Throws Error(invalid_input) when the text is not a message: GMime cannot parse it, or it has no
// From header (RFC 5322 requires one). For tests and tools that look inside the outbox.
MailMessage parse_rfc5322(std::string_view text);

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
