// MIME formatting and parsing of mail with GMime 3: the only file that includes GMime or glib.
#include <gmime/gmime.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "crypto/random.hpp"
#include "notify/mail.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

namespace csss::notify {

namespace {

// RFC 5322 allows 998; staying well below keeps relays from folding lines.
constexpr std::size_t kMaxPlainLine = 900;

// Owning pointers for what GMime and glib hand out: every GObject is released with
// g_object_unref, every string with g_free, the boxed option types with their own free.
struct ObjectUnref {
  void operator()(gpointer p) const noexcept {
    if (p != nullptr)
      g_object_unref(p);
  }
};
template <typename T>
using Ref = std::unique_ptr<T, ObjectUnref>;

struct Free {
  void operator()(gpointer p) const noexcept { g_free(p); }
};
using OwnedChars = std::unique_ptr<char, Free>;

struct FormatOptionsFree {
  void operator()(GMimeFormatOptions* p) const noexcept { g_mime_format_options_free(p); }
};
struct DateTimeUnref {
  void operator()(GDateTime* p) const noexcept { g_date_time_unref(p); }
};

// g_mime_init() is not thread-safe and must run once before any other GMime call.
void ensure_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

std::string str(const char* s) {
  return s == nullptr ? std::string() : std::string(s);
}

// A stream holding a copy of `data`.
Ref<GMimeStream> memory_stream(std::string_view data) {
  return Ref<GMimeStream>(g_mime_stream_mem_new_with_buffer(data.data(), data.size()));
}

std::string bytes_of(GMimeStream* memory) {
  const GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(memory));
  return bytes == nullptr ? std::string()
                          : std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string crlf_to_lf(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')
      continue;
    out.push_back(s[i]);
  }
  return out;
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

// Adds `mailbox` ("Name <addr>" or "addr") to `list`; it must be exactly one address with an
// '@', the one address_of() finds (the SMTP envelope uses that). A non-ASCII display name is
// encoded as UTF-8.
void add_mailbox(InternetAddressList* list, const std::string& mailbox, std::string_view role) {
  const auto refuse = [&] {
    return Error(ErrorKind::invalid_input,
                 fmt::format("mail {} '{}' is not an address", role, mailbox));
  };
  Ref<InternetAddressList> parsed(internet_address_list_parse(nullptr, mailbox.c_str()));
  if (!parsed || internet_address_list_length(parsed.get()) != 1)
    throw refuse();
  InternetAddress* address = internet_address_list_get_address(parsed.get(), 0);
  if (!INTERNET_ADDRESS_IS_MAILBOX(address))
    throw refuse();
  const std::string addr =
      str(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address)));
  if (addr.find('@') == std::string::npos || addr != address_of(mailbox))
    throw refuse();
  internet_address_set_charset(address, "UTF-8");
  internet_address_list_append(list, parsed.get());
}

// "application/pdf" (parameters allowed); "" means application/octet-stream.
std::string checked_content_type(const std::string& content_type) {
  if (content_type.empty())
    return "application/octet-stream";
  const std::string type =
      util::trim(std::string_view(content_type)
                     .substr(0, std::min(content_type.find(';'), content_type.size())));
  const auto slash = type.find('/');
  const auto token = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u > 0x20 && u < 0x7F &&
             std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
    });
  };
  if (slash == std::string::npos || !token(std::string_view(type).substr(0, slash)) ||
      !token(std::string_view(type).substr(slash + 1))) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("mail attachment content type '{}' is not a MIME type", content_type));
  }
  return content_type;
}

// The content of `part` is `data` as it is, to be written with `encoding`.
void set_content(GMimePart* part, std::string_view data, GMimeContentEncoding encoding) {
  const Ref<GMimeStream> stream = memory_stream(data);
  const Ref<GMimeDataWrapper> content(
      g_mime_data_wrapper_new_with_stream(stream.get(), GMIME_CONTENT_ENCODING_DEFAULT));
  g_mime_part_set_content(part, content.get());
  g_mime_part_set_content_encoding(part, encoding);
}

// The text/plain UTF-8 body. ASCII text with short lines stays readable (7bit, one CRLF per line,
// a final line break added); anything else is base64 of the body's bytes as they are, which
// keeps any UTF-8 text and any line length intact through every relay.
Ref<GMimeObject> text_part(const std::string& body) {
  std::string text = crlf_to_lf(body);
  if (!text.empty() && text.back() != '\n')
    text.push_back('\n');
  const auto lines = util::split(text, '\n');
  const bool plain = is_ascii(text) && text.find('\r') == std::string::npos &&
                     text.find('\0') == std::string::npos &&
                     std::all_of(lines.begin(), lines.end(),
                                 [](const std::string& l) { return l.size() <= kMaxPlainLine; });
  Ref<GMimeTextPart> part(g_mime_text_part_new_with_subtype("plain"));
  if (plain) {
    // LF here; the DOS newline format of format_rfc5322 writes CRLF.
    set_content(GMIME_PART(part.get()), text, GMIME_CONTENT_ENCODING_7BIT);
  } else {
    set_content(GMIME_PART(part.get()), body, GMIME_CONTENT_ENCODING_BASE64);
  }
  g_mime_text_part_set_charset(part.get(), "utf-8");
  return Ref<GMimeObject>(GMIME_OBJECT(part.release()));
}

// Makes `name` (a parameter that g_mime_part_set_filename set) RFC 2231-encode as UTF-8 rather
// than the smallest charset that holds it (GMime would pick ISO-8859-1 for "Zoë").
void encode_as_utf8(GMimeParamList* params, const char* name) {
  if (GMimeParam* param = g_mime_param_list_get_parameter(params, name))
    g_mime_param_set_charset(param, "UTF-8");
}

Ref<GMimeObject> attachment_part(const Attachment& a) {
  if (a.filename.empty())
    throw Error(ErrorKind::invalid_input, "mail attachment has no filename");
  const std::string content_type = checked_content_type(a.content_type);
  Ref<GMimePart> part(g_mime_part_new());
  GMimeObject* object = GMIME_OBJECT(part.get());
  const Ref<GMimeContentType> type(g_mime_content_type_parse(nullptr, content_type.c_str()));
  g_mime_object_set_content_type(object, type.get());
  g_mime_object_set_disposition(object, GMIME_DISPOSITION_ATTACHMENT);
  g_mime_part_set_filename(part.get(), a.filename.c_str());
  encode_as_utf8(
      g_mime_content_disposition_get_parameters(g_mime_object_get_content_disposition(object)),
      "filename");
  encode_as_utf8(g_mime_content_type_get_parameters(g_mime_object_get_content_type(object)),
                 "name");
  set_content(part.get(), a.data, GMIME_CONTENT_ENCODING_BASE64);
  return Ref<GMimeObject>(GMIME_OBJECT(part.release()));
}

// The decoded content of a leaf part: transfer encoding undone, bytes as they are.
std::string decoded_content(GMimePart* part) {
  GMimeDataWrapper* content = g_mime_part_get_content(part);
  if (content == nullptr)
    return "";
  const Ref<GMimeStream> out(g_mime_stream_mem_new());
  if (g_mime_data_wrapper_write_to_stream(content, out.get()) < 0)
    throw Error(ErrorKind::invalid_input, "a part of the mail message cannot be decoded");
  return bytes_of(out.get());
}

// The text of a text/* part in UTF-8, converted from its declared charset when that is another
// one GMime knows, with CRLF line ends normalised to "\n".
std::string decoded_text(GMimePart* part) {
  std::string bytes = decoded_content(part);
  const char* charset = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
  const char* canonical = charset == nullptr ? nullptr : g_mime_charset_canon_name(charset);
  if (canonical != nullptr && g_ascii_strcasecmp(canonical, "utf-8") != 0 &&
      g_ascii_strcasecmp(canonical, "us-ascii") != 0) {
    if (const Ref<GMimeFilter> filter(g_mime_filter_charset_new(canonical, "UTF-8")); filter) {
      const Ref<GMimeStream> out(g_mime_stream_mem_new());
      const Ref<GMimeStream> filtered(g_mime_stream_filter_new(out.get()));
      g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), filter.get());
      if (g_mime_stream_write(filtered.get(), bytes.data(), bytes.size()) >= 0 &&
          g_mime_stream_flush(filtered.get()) == 0) {
        bytes = bytes_of(out.get());
      }
    }
  }
  return crlf_to_lf(bytes);
}

struct PartWalker {
  MailMessage& out;
  bool have_body = false;

  void visit(GMimeObject* object) {
    if (GMIME_IS_MULTIPART(object)) {
      GMimeMultipart* multipart = GMIME_MULTIPART(object);
      const int count = g_mime_multipart_get_count(multipart);
      for (int i = 0; i < count; ++i)
        visit(g_mime_multipart_get_part(multipart, i));
      return;
    }
    // A message/rfc822 part (a forwarded message) is neither looked into nor returned.
    if (!GMIME_IS_PART(object))
      return;
    GMimePart* part = GMIME_PART(object);
    GMimeContentType* type = g_mime_object_get_content_type(object);
    const bool attachment = g_mime_part_is_attachment(part);
    if (!have_body && !attachment && g_mime_content_type_is_type(type, "text", "plain")) {
      out.body = decoded_text(part);
      have_body = true;
      return;
    }
    const char* filename = g_mime_part_get_filename(part);
    if (!attachment && filename == nullptr)
      return;  // an inline part without a name, e.g. the text/html alternative of the body
    Attachment a;
    a.filename = str(filename);
    const OwnedChars mime_type(g_mime_content_type_get_mime_type(type));
    a.content_type = str(mime_type.get());
    a.data = decoded_content(part);
    out.attachments.push_back(std::move(a));
  }
};

}  // namespace

std::string format_rfc5322(const MailMessage& m, util::UnixSeconds date) {
  check_header("sender", m.from);
  check_header("recipient", m.to);
  check_header("subject", m.subject);
  for (const Attachment& a : m.attachments) {
    check_header("attachment filename", a.filename);
    check_header("attachment content type", a.content_type);
  }
  if (address_of(m.to).find('@') == std::string::npos) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("mail recipient '{}' is not an address", m.to));
  }
  ensure_gmime();

  // Without GMime's "pretty" placeholders the headers come in the order they are set.
  const Ref<GMimeMessage> message(g_mime_message_new(FALSE));
  GMimeObject* object = GMIME_OBJECT(message.get());
  const std::unique_ptr<GDateTime, DateTimeUnref> when(
      g_date_time_new_from_unix_utc(static_cast<gint64>(date)));
  if (!when)
    throw Error(ErrorKind::invalid_input, fmt::format("mail date {} is out of range", date));
  g_mime_message_set_date(message.get(), when.get());
  add_mailbox(g_mime_message_get_from(message.get()), m.from, "sender");
  add_mailbox(g_mime_message_get_to(message.get()), m.to, "recipient");
  g_mime_message_set_subject(message.get(), m.subject.c_str(), "UTF-8");
  const std::string id =
      fmt::format("<{}@{}>", crypto::random_uuid(), domain_of(address_of(m.from)));
  g_mime_object_set_header(object, "Message-ID", id.c_str(), nullptr);

  Ref<GMimeObject> body = text_part(m.body);
  if (m.attachments.empty()) {
    g_mime_message_set_mime_part(message.get(), body.get());
  } else {
    const Ref<GMimeMultipart> mixed(g_mime_multipart_new_with_subtype("mixed"));
    g_mime_multipart_add(mixed.get(), body.get());
    for (const Attachment& a : m.attachments)
      g_mime_multipart_add(mixed.get(), attachment_part(a).get());
    g_mime_message_set_mime_part(message.get(), GMIME_OBJECT(mixed.get()));
  }

  const std::unique_ptr<GMimeFormatOptions, FormatOptionsFree> options(g_mime_format_options_new());
  g_mime_format_options_set_newline_format(options.get(), GMIME_NEWLINE_FORMAT_DOS);
  const Ref<GMimeStream> out(g_mime_stream_mem_new());
  if (g_mime_object_write_to_stream(object, options.get(), out.get()) < 0)
    throw Error(ErrorKind::internal, "GMime could not write the mail message");
  return bytes_of(out.get());
}

MailMessage parse_rfc5322(std::string_view text) {
  ensure_gmime();
  const Ref<GMimeStream> stream = memory_stream(text);
  const Ref<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  const Ref<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), nullptr));
  // GMime reads almost any "word: value" line as a header; RFC 5322 requires a From field.
  if (!message || internet_address_list_length(g_mime_message_get_from(message.get())) == 0) {
    throw Error(ErrorKind::invalid_input, "the text is not a mail message (it has no From header)");
  }
  MailMessage out;
  const OwnedChars from(
      internet_address_list_to_string(g_mime_message_get_from(message.get()), nullptr, FALSE));
  const OwnedChars to(
      internet_address_list_to_string(g_mime_message_get_to(message.get()), nullptr, FALSE));
  out.from = str(from.get());
  out.to = str(to.get());
  out.subject = str(g_mime_message_get_subject(message.get()));
  if (GMimeObject* top = g_mime_message_get_mime_part(message.get()))
    PartWalker{out}.visit(top);
  return out;
}

}  // namespace csss::notify
