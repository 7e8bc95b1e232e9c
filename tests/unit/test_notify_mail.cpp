#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "notify/mail.hpp"
#include "support/check_error.hpp"
#include "support/fakes.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

using namespace csss::notify;
using csss::ErrorKind;
using csss::test::check_error;
using csss::test::contains;
using csss::test::ManualClock;
using csss::test::TempDir;
namespace fs = std::filesystem;

namespace {

// RFC 4648 base64 decoding; throws on a character outside the alphabet.
std::string base64_decode(std::string_view in) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=')
      break;
    const auto pos = alphabet.find(c);
    if (pos == std::string::npos)
      throw std::runtime_error("not base64");
    buffer = (buffer << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

struct Parsed {
  std::vector<std::string> headers;
  std::string body;
};

Parsed parse(const std::string& text) {
  const auto split_at = text.find("\r\n\r\n");
  REQUIRE(split_at != std::string::npos);
  Parsed p;
  const std::string head = text.substr(0, split_at);
  for (std::size_t start = 0;;) {
    const auto end = head.find("\r\n", start);
    p.headers.push_back(head.substr(start, end == std::string::npos ? end : end - start));
    if (end == std::string::npos)
      break;
    start = end + 2;
  }
  p.body = text.substr(split_at + 4);
  return p;
}

// The value of header `name` ("Subject"), or "" when absent.
std::string header(const Parsed& p, const std::string& name) {
  for (const auto& h : p.headers) {
    if (h.starts_with(name + ": "))
      return h.substr(name.size() + 2);
  }
  return "";
}

// True when every LF is preceded by CR and every CR followed by LF.
bool crlf_only(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
      return false;
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n'))
      return false;
  }
  return true;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Every line of `text` (CRLF-separated), without its line end.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t start = 0; start < text.size();) {
    const auto end = text.find("\r\n", start);
    out.push_back(text.substr(start, end == std::string::npos ? end : end - start));
    if (end == std::string::npos)
      break;
    start = end + 2;
  }
  return out;
}

// A PDF-like binary: every byte value 0..255 (NUL included), repeated to `size` bytes.
std::string binary(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<char>(i % 256);
  return out;
}

Attachment pdf(std::string filename, std::size_t size = 3000) {
  return Attachment{std::move(filename), "application/pdf", binary(size)};
}

MailMessage message() {
  MailMessage m;
  m.from = "CSSS <no-reply@csss.local>";
  m.to = "alice@example.org";
  m.subject = "Your CSSS sign-in code";
  m.body = "Your code is 123456\n\nIt is valid for 10 minutes.\n";
  return m;
}

}  // namespace

TEST_CASE("notify::format_rfc5322 headers") {
  const std::string text = format_rfc5322(message(), ManualClock::kStart);
  const Parsed p = parse(text);

  SUBCASE("CRLF line ends throughout") {
    CHECK(crlf_only(text));
    CHECK(text.ends_with("\r\n"));
  }
  SUBCASE("the required headers") {
    CHECK(header(p, "Date") == "Sat, 21 Nov 2026 08:00:00 +0000");
    CHECK(header(p, "From") == "CSSS <no-reply@csss.local>");
    CHECK(header(p, "To") == "alice@example.org");
    CHECK(header(p, "Subject") == "Your CSSS sign-in code");
    CHECK(header(p, "MIME-Version") == "1.0");
    CHECK(header(p, "Content-Type") == "text/plain; charset=utf-8");
    const std::regex id(
        "<[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
        "@csss\\.local>");
    CHECK(std::regex_match(header(p, "Message-ID"), id));
  }
  SUBCASE("every Message-ID is new and uses the sender's domain") {
    MailMessage m = message();
    m.from = "Clinic <noreply@clinic.example>";
    const Parsed a = parse(format_rfc5322(m, ManualClock::kStart));
    const Parsed b = parse(format_rfc5322(m, ManualClock::kStart));
    CHECK(header(a, "Message-ID").ends_with("@clinic.example>"));
    CHECK(header(a, "Message-ID") != header(b, "Message-ID"));
  }
  SUBCASE("an ASCII body is 7bit text with CRLF lines") {
    CHECK(header(p, "Content-Transfer-Encoding") == "7bit");
    CHECK(p.body == "Your code is 123456\r\n\r\nIt is valid for 10 minutes.\r\n");
  }
  SUBCASE("a body without a final newline, or with CRLF already, gets one CRLF per line") {
    MailMessage m = message();
    m.body = "one\r\ntwo";
    CHECK(parse(format_rfc5322(m, 0)).body == "one\r\ntwo\r\n");
  }
}

TEST_CASE("notify::format_rfc5322 non-ASCII") {
  SUBCASE("a UTF-8 body is base64 in lines of at most 76 characters") {
    MailMessage m = message();
    m.body =
        "Gr\xC3\xBC\xC3\x9F"
        "e, Dr. M\xC3\xBCller \xE2\x80\x94 your report is ready.\n"
        "Second line with \xF0\x9F\x98\x80 and a longer text so that the base64 needs more than "
        "one line of output.\n";
    const std::string text = format_rfc5322(m, ManualClock::kStart);
    CHECK(crlf_only(text));
    const Parsed p = parse(text);
    CHECK(header(p, "Content-Transfer-Encoding") == "base64");
    std::string joined;
    int lines = 0;
    for (const std::string& line : csss::util::split(p.body, '\n')) {
      if (line.empty())
        continue;
      REQUIRE(line.back() == '\r');
      CHECK(line.size() - 1 <= 76);
      joined += line.substr(0, line.size() - 1);
      ++lines;
    }
    CHECK(lines > 1);
    CHECK(base64_decode(joined) == m.body);
  }
  SUBCASE("an over-long ASCII line is base64 too") {
    MailMessage m = message();
    m.body = std::string(1000, 'x');
    const Parsed p = parse(format_rfc5322(m, 0));
    CHECK(header(p, "Content-Transfer-Encoding") == "base64");
  }
  SUBCASE("a non-ASCII subject is an RFC 2047 encoded word") {
    MailMessage m = message();
    m.subject = "R\xC3\xA9sultat pr\xC3\xAAt";
    const std::string subject = header(parse(format_rfc5322(m, 0)), "Subject");
    REQUIRE(subject.starts_with("=?UTF-8?B?"));
    REQUIRE(subject.ends_with("?="));
    CHECK(base64_decode(subject.substr(10, subject.size() - 12)) == m.subject);
  }
  SUBCASE("a non-ASCII display name is an encoded word; the address stays as it is") {
    // GMime encodes only the words that need it, in UTF-8 ("Clinique =?UTF-8?b?WsOrbA==?=").
    MailMessage m = message();
    m.from = "Clinique Z\xC3\xABl <no-reply@clinic.example>";
    const std::string text = format_rfc5322(m, 0);
    const std::string from = header(parse(text), "From");
    CHECK(from.starts_with("Clinique =?UTF-8?"));
    CHECK(from.ends_with("?= <no-reply@clinic.example>"));
    const auto start = from.find("=?UTF-8?");
    REQUIRE(start != std::string::npos);
    REQUIRE((from.substr(start + 8, 2) == "b?" || from.substr(start + 8, 2) == "B?"));
    CHECK(base64_decode(from.substr(start + 10, from.find("?= <") - start - 10)) == "Z\xC3\xABl");
    CHECK(parse_rfc5322(text).from == m.from);
  }
}

TEST_CASE("notify::format_rfc5322 refuses header injection") {
  MailMessage m = message();
  SUBCASE("CR or LF in the subject") {
    for (const std::string s :
         {"Hi\r\nBcc: eve@example.org", "Hi\nBcc: eve@example.org", "Hi\rthere"}) {
      CAPTURE(s);
      m.subject = s;
      check_error([&] { (void)format_rfc5322(m, 0); }, ErrorKind::invalid_input, "subject");
    }
  }
  SUBCASE("CR or LF in the recipient") {
    m.to = "alice@example.org\r\nBcc: eve@example.org";
    check_error([&] { (void)format_rfc5322(m, 0); }, ErrorKind::invalid_input, "recipient");
    m.to = "alice@example.org\nCc: eve@example.org";
    check_error([&] { (void)format_rfc5322(m, 0); }, ErrorKind::invalid_input, "recipient");
  }
  SUBCASE("CR or LF in the sender") {
    m.from = "CSSS <a@b.org>\r\nBcc: eve@example.org";
    check_error([&] { (void)format_rfc5322(m, 0); }, ErrorKind::invalid_input, "sender");
  }
  SUBCASE("a recipient that is not an address") {
    m.to = "alice";
    check_error([&] { (void)format_rfc5322(m, 0); }, ErrorKind::invalid_input, "not an address");
  }
  SUBCASE("a sender or recipient that is not exactly one address") {
    m.from = "CSSS";
    check_error([&] { (void)format_rfc5322(m, 0); }, ErrorKind::invalid_input, "sender");
    m = message();
    m.to = "alice@example.org, eve@example.org";
    check_error([&] { (void)format_rfc5322(m, 0); }, ErrorKind::invalid_input, "recipient");
  }
  SUBCASE("CR or LF in an attachment's filename or content type") {
    m.attachments.push_back(pdf("report.pdf\r\nBcc: eve@example.org"));
    check_error([&] { (void)format_rfc5322(m, 0); }, ErrorKind::invalid_input,
                "attachment filename");
    m.attachments[0] = pdf("report.pdf");
    m.attachments[0].content_type = "application/pdf\r\nBcc: eve@example.org";
    check_error([&] { (void)format_rfc5322(m, 0); }, ErrorKind::invalid_input,
                "attachment content type");
  }
  SUBCASE("an attachment without a filename or with a content type that is not type/subtype") {
    m.attachments.push_back(pdf(""));
    check_error([&] { (void)format_rfc5322(m, 0); }, ErrorKind::invalid_input, "no filename");
    for (const std::string type : {"pdf", "application/", "/pdf", "application pdf/x"}) {
      CAPTURE(type);
      m.attachments[0] = pdf("report.pdf");
      m.attachments[0].content_type = type;
      check_error([&] { (void)format_rfc5322(m, 0); }, ErrorKind::invalid_input,
                  "is not a MIME type");
    }
  }
}

TEST_CASE("notify::format_rfc5322 attachments") {
  MailMessage m = message();
  m.to = "Zo\xC3\xAB Patient <zoe@example.org>";
  m.subject = "Your report";
  m.body = "Your report is attached.\n";

  SUBCASE("a binary attachment: multipart/mixed, text first, base64, byte-exact round trip") {
    m.attachments.push_back(pdf("report.pdf", 10000));
    const std::string text = format_rfc5322(m, ManualClock::kStart);
    CHECK(crlf_only(text));
    const Parsed p = parse(text);
    CHECK(header(p, "Content-Type").starts_with("multipart/mixed; boundary="));
    CHECK(header(p, "MIME-Version") == "1.0");
    CHECK(header(p, "Date") == "Sat, 21 Nov 2026 08:00:00 +0000");
    // The text part comes before the attachment, which is base64 with its disposition.
    const auto text_at = text.find("Content-Type: text/plain; charset=utf-8\r\n");
    const auto pdf_at = text.find("Content-Type: application/pdf");
    REQUIRE(text_at != std::string::npos);
    REQUIRE(pdf_at != std::string::npos);
    CHECK(text_at < pdf_at);
    CHECK(contains(text, "Content-Disposition: attachment; filename=report.pdf\r\n"));
    CHECK(contains(text.substr(pdf_at), "Content-Transfer-Encoding: base64\r\n"));
    CHECK_FALSE(contains(text, std::string(1, '\0')));

    const MailMessage back = parse_rfc5322(text);
    CHECK(back.from == m.from);
    CHECK(back.to == m.to);
    CHECK(back.subject == m.subject);
    CHECK(back.body == m.body);
    REQUIRE(back.attachments.size() == 1);
    CHECK(back.attachments[0].filename == "report.pdf");
    CHECK(back.attachments[0].content_type == "application/pdf");
    CHECK(back.attachments[0].data.size() == 10000);
    CHECK(back.attachments[0].data == m.attachments[0].data);
  }
  SUBCASE("two attachments come back in order") {
    m.attachments.push_back(pdf("report.pdf", 700));
    m.attachments.push_back(Attachment{"notes.txt", "text/plain", "line one\nline two\n"});
    const MailMessage back = parse_rfc5322(format_rfc5322(m, 0));
    CHECK(back.body == m.body);
    REQUIRE(back.attachments.size() == 2);
    CHECK(back.attachments[0].filename == "report.pdf");
    CHECK(back.attachments[0].data == m.attachments[0].data);
    CHECK(back.attachments[1].filename == "notes.txt");
    CHECK(back.attachments[1].content_type == "text/plain");
    CHECK(back.attachments[1].data == m.attachments[1].data);
  }
  SUBCASE("a non-ASCII filename is RFC 2231 UTF-8") {
    m.attachments.push_back(pdf("Befund Zo\xC3\xAB.pdf"));
    const std::string text = format_rfc5322(m, 0);
    CHECK(
        contains(text, "Content-Disposition: attachment; filename*=UTF-8''Befund%20Zo%C3%AB.pdf"));
    const MailMessage back = parse_rfc5322(text);
    REQUIRE(back.attachments.size() == 1);
    CHECK(back.attachments[0].filename == "Befund Zo\xC3\xAB.pdf");
    CHECK(back.attachments[0].data == m.attachments[0].data);
  }
  SUBCASE("an empty attachment and an empty content type (application/octet-stream)") {
    m.attachments.push_back(Attachment{"empty.bin", "", ""});
    const MailMessage back = parse_rfc5322(format_rfc5322(m, 0));
    REQUIRE(back.attachments.size() == 1);
    CHECK(back.attachments[0].content_type == "application/octet-stream");
    CHECK(back.attachments[0].data.empty());
  }
  SUBCASE("no line exceeds 998 characters, however long the parts") {
    m.subject = std::string(300, 'a') + " " + std::string(200, 'b') + " R\xC3\xA9sultat " +
                std::string(400, 'c');
    m.body = std::string(5000, 'x') + "\n" + std::string(2000, 'y');
    std::string long_name;
    for (int i = 0; i < 60; ++i)
      long_name += "Befund Zo\xC3\xAB ";
    m.attachments.push_back(pdf(long_name + ".pdf", 50000));
    m.attachments.push_back(pdf(std::string(600, 'n') + ".pdf", 10));
    const std::string text = format_rfc5322(m, 0);
    CHECK(crlf_only(text));
    for (const std::string& line : lines_of(text)) {
      CAPTURE(line);
      CHECK(line.size() <= 998);
    }
    const MailMessage back = parse_rfc5322(text);
    CHECK(back.subject == m.subject);
    CHECK(back.body == m.body);
    REQUIRE(back.attachments.size() == 2);
    CHECK(back.attachments[0].filename == long_name + ".pdf");
    CHECK(back.attachments[0].data == m.attachments[0].data);
    CHECK(back.attachments[1].filename == std::string(600, 'n') + ".pdf");
  }
}

TEST_CASE("notify::parse_rfc5322") {
  SUBCASE("an ASCII message round-trips") {
    const MailMessage back = parse_rfc5322(format_rfc5322(message(), 0));
    CHECK(back.from == "CSSS <no-reply@csss.local>");
    CHECK(back.to == "alice@example.org");
    CHECK(back.subject == "Your CSSS sign-in code");
    CHECK(back.body == message().body);
    CHECK(back.attachments.empty());
  }
  SUBCASE("a non-ASCII subject and body round-trip") {
    MailMessage m = message();
    m.subject =
        "R\xC3\xA9sultat pr\xC3\xAAt \xE2\x80\x94 Gr\xC3\xBC\xC3\x9F"
        "e";
    m.body =
        "Gr\xC3\xBC\xC3\x9F"
        "e, Dr. M\xC3\xBCller \xE2\x80\x94 \xF0\x9F\x98\x80\n"
        "Zweite Zeile.\n";
    const MailMessage back = parse_rfc5322(format_rfc5322(m, 0));
    CHECK(back.subject == m.subject);
    CHECK(back.body == m.body);
  }
  SUBCASE("the body comes back with \"\\n\" line ends") {
    MailMessage m = message();
    m.body = "one\r\ntwo";
    CHECK(parse_rfc5322(format_rfc5322(m, 0)).body == "one\ntwo\n");
    m.body = "one\r\nZo\xC3\xAB\r\n";
    CHECK(parse_rfc5322(format_rfc5322(m, 0)).body == "one\nZo\xC3\xAB\n");
  }
  SUBCASE("a message from another program: quoted-printable Latin-1, RFC 2231 continuations") {
    const std::string text =
        "Return-Path: <lab@example.net>\r\n"
        "From: \"Lab, Central\" <lab@example.net>\r\n"
        "To: Dr =?iso-8859-1?q?M=FCller?= <mueller@example.org>\r\n"
        "Subject: =?iso-8859-1?q?Ergebnis_f=FCr?= Zoe\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
        "\r\n"
        "This is a multi-part message in MIME format.\r\n"
        "--XYZ\r\n"
        "Content-Type: multipart/alternative; boundary=\"ALT\"\r\n"
        "\r\n"
        "--ALT\r\n"
        "Content-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Gr=FC=DFe,=\r\n"
        " das Labor\r\n"
        "--ALT\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "\r\n"
        "<p>Gr&uuml;&szlig;e</p>\r\n"
        "--ALT--\r\n"
        "--XYZ\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment;\r\n"
        " filename*0*=utf-8''Befund%20;\r\n"
        " filename*1*=Zo%C3%AB.bin\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        "AAEC/w==\r\n"
        "--XYZ--\r\n";
    // The line break before a boundary belongs to the boundary: the body has no final "\n".
    const MailMessage back = parse_rfc5322(text);
    CHECK(back.from == "\"Lab, Central\" <lab@example.net>");
    CHECK(back.to == "Dr M\xC3\xBCller <mueller@example.org>");
    CHECK(back.subject == "Ergebnis f\xC3\xBCr Zoe");
    CHECK(back.body ==
          "Gr\xC3\xBC\xC3\x9F"
          "e, das Labor");
    REQUIRE(back.attachments.size() == 1);
    CHECK(back.attachments[0].filename == "Befund Zo\xC3\xAB.bin");
    CHECK(back.attachments[0].content_type == "application/octet-stream");
    CHECK(back.attachments[0].data == std::string("\x00\x01\x02\xFF", 4));
  }
  SUBCASE("text that is not a message is refused") {
    for (const std::string& garbage :
         {std::string(), std::string("this is not a mail\n"), std::string("garbage"),
          std::string("\x00\x01\x02\xFF\xFE", 5), std::string("{\"json\": 1}"),
          std::string("Subject: no sender\r\n\r\nbody\r\n")}) {
      CAPTURE(garbage);
      check_error([&] { (void)parse_rfc5322(garbage); }, ErrorKind::invalid_input,
                  "not a mail message");
    }
  }
}

TEST_CASE("notify::address_of") {
  CHECK(address_of("Name <a@b.c>") == "a@b.c");
  CHECK(address_of("a@b.c") == "a@b.c");
  CHECK(address_of("  a@b.c ") == "a@b.c");
  CHECK(address_of("<a@b.c>") == "a@b.c");
  CHECK(address_of("\"Doe, <J>\" < a@b.c >") == "a@b.c");
  CHECK(address_of("CSSS <no-reply@csss.local>") == "no-reply@csss.local");
}

TEST_CASE("notify::OutboxTransport") {
  TempDir tmp;
  ManualClock clock;
  const fs::path outbox = tmp / "data" / "outbox";
  OutboxTransport transport(outbox, clock);

  SUBCASE("one private .eml file per message in a private directory") {
    const std::string first = transport.send(message());
    MailMessage second_msg = message();
    second_msg.to = "bob@example.org";
    const std::string second = transport.send(second_msg);
    CHECK(first != second);
    CHECK(mode_of(outbox) == 0700u);
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(outbox))
      files.push_back(e.path());
    REQUIRE(files.size() == 2);
    const std::regex name("20261121T080000Z-[0-9a-f]{8}\\.eml");
    for (const fs::path& f : files) {
      CAPTURE(f);
      CHECK(std::regex_match(f.filename().string(), name));
      CHECK(mode_of(f) == 0600u);
      CHECK((f == fs::path(first) || f == fs::path(second)));
    }
    const std::string text = csss::util::read_file(first, 1 << 20);
    CHECK(crlf_only(text));
    CHECK(header(parse(text), "To") == "alice@example.org");
    CHECK(header(parse(text), "Date") == "Sat, 21 Nov 2026 08:00:00 +0000");
    CHECK(header(parse(csss::util::read_file(second, 1 << 20)), "To") == "bob@example.org");
  }
  SUBCASE("a message with an attachment is written as a file that reads back") {
    MailMessage m = message();
    m.attachments.push_back(pdf("Befund Zo\xC3\xAB.pdf", 5000));
    const std::string where = transport.send(m);
    CHECK(mode_of(where) == 0600u);
    const std::string text = csss::util::read_file(where, 1 << 20);
    CHECK(crlf_only(text));
    const MailMessage back = parse_rfc5322(text);
    CHECK(back.to == "alice@example.org");
    CHECK(back.subject == m.subject);
    CHECK(back.body == m.body);
    REQUIRE(back.attachments.size() == 1);
    CHECK(back.attachments[0].filename == "Befund Zo\xC3\xAB.pdf");
    CHECK(back.attachments[0].content_type == "application/pdf");
    CHECK(back.attachments[0].data == m.attachments[0].data);
  }
  SUBCASE("an outbox that others may read is refused") {
    fs::create_directories(outbox);
    fs::permissions(outbox, fs::perms(0755));
    check_error([&] { (void)transport.send(message()); }, ErrorKind::io, "chmod 700");
    CHECK(fs::is_empty(outbox));
  }
  SUBCASE("a message with an injected header is not written") {
    MailMessage m = message();
    m.subject = "x\r\nBcc: eve@example.org";
    check_error([&] { (void)transport.send(m); }, ErrorKind::invalid_input);
    CHECK_FALSE(fs::exists(outbox));
  }
}

TEST_CASE("notify::make_transport") {
  TempDir tmp;
  ManualClock clock;
  std::map<std::string, std::string> vars = {{"HOME", tmp.path().string()}};
  const auto env = [&](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
  csss::config::Flags flags;
  flags.data_dir = (tmp / "data").string();

  SUBCASE("the outbox under the data directory when no SMTP server is set") {
    const auto config = csss::config::Config::load(flags, env);
    const auto transport = make_transport(config, clock);
    const std::string where = transport->send(message());
    CHECK(fs::path(where).parent_path() == tmp / "data" / "outbox");
    CHECK(fs::exists(where));
  }
  SUBCASE("SMTP when smtp.url is set; a URL of another scheme is refused before any network") {
    vars["CSSS_SMTP_URL"] = "http://mail.example.org";
    const auto config = csss::config::Config::load(flags, env);
    const auto transport = make_transport(config, clock);
    check_error([&] { (void)transport->send(message()); }, ErrorKind::invalid_input,
                "must start with smtp:// or smtps://");
    CHECK_FALSE(fs::exists(tmp / "data" / "outbox"));
  }
}

TEST_CASE("test::MemoryMailTransport") {
  csss::test::MemoryMailTransport mail;
  CHECK(mail.send(message()) == "memory:1");
  REQUIRE(mail.sent.size() == 1);
  CHECK(mail.sent[0].to == "alice@example.org");
  mail.fail = true;
  check_error([&] { (void)mail.send(message()); }, ErrorKind::io);
  CHECK(mail.sent.size() == 1);
  CHECK(mail.attempts == 2);
}
