#pragma once

// PDF encryption with qpdf (the only file that includes it is encrypt.cpp). libharu itself offers
// only RC4, which is broken; qpdf rewrites libharu's output with AES-256 in memory.

#include <string>
#include <string_view>

namespace csss::report {

// `pdf` encrypted with AES-256 (PDF 2.0 security handler, revision 6): it opens only with
// `open_code` (the user password); `owner_password` (random, never stored) would be needed to
// change the permissions. Allowed: printing in high quality, text extraction and accessibility;
// not allowed: changing the document, annotations, form filling and page assembly. Metadata is
// encrypted too. On the way, libharu's malformed ToUnicode maps are replaced by correct ones, so
// that text extraction and screen readers get the right characters. Throws Error(invalid_input)
// when `pdf` is not a PDF, Error(internal) for any other failure of qpdf. Never prints.
std::string encrypt_pdf(std::string_view pdf, std::string_view open_code,
                        std::string_view owner_password);

}  // namespace csss::report
