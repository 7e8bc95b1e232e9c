// The SMTP transport: the only file that includes libcurl.
#include <curl/curl.h>

#include <cstring>

#include <fmt/format.h>

#include "notify/mail.hpp"
#include "util/error.hpp"

namespace csss::notify {

namespace {

struct Upload {
  std::string_view data;
  std::size_t offset = 0;
};

std::size_t read_chunk(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* up = static_cast<Upload*>(user);
  const std::size_t n = std::min(size * count, up->data.size() - up->offset);
  std::memcpy(buffer, up->data.data() + up->offset, n);
  up->offset += n;
  return n;
}

// libcurl's process-wide initialisation, done once before the first handle.
void ensure_curl() {
  static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!ok)
    throw Error(ErrorKind::internal, "libcurl could not be initialised");
}

}  // namespace

std::string SmtpTransport::send(const MailMessage& message) {
  if (!settings_.url.starts_with("smtp://") && !settings_.url.starts_with("smtps://")) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("smtp.url '{}' must start with smtp:// or smtps://", settings_.url));
  }
  const std::string text = format_rfc5322(message, clock_.now());
  ensure_curl();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl)
    throw Error(ErrorKind::internal, "libcurl could not create a handle");

  const std::string from = fmt::format("<{}>", address_of(message.from));
  const std::string to = fmt::format("<{}>", address_of(message.to));
  curl_slist* rcpt = curl_slist_append(nullptr, to.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> rcpt_guard(rcpt,
                                                                         &curl_slist_free_all);
  Upload upload{text};
  char error_buffer[CURL_ERROR_SIZE] = {0};

  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, settings_.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(h, CURLOPT_USE_SSL, settings_.require_tls ? CURLUSESSL_ALL : CURLUSESSL_NONE);
  if (!settings_.user.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, settings_.user.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, settings_.password.c_str());
  }
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, &read_chunk);
  curl_easy_setopt(h, CURLOPT_READDATA, &upload);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, settings_.timeout_seconds);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, std::min(settings_.timeout_seconds, 10L));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);

  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    throw Error(ErrorKind::io,
                fmt::format("could not send mail through {}: {}", settings_.url,
                            error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc)));
  }
  return settings_.url;
}

}  // namespace csss::notify
