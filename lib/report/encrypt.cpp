#include "report/encrypt.hpp"

// qpdf 11: use std::shared_ptr throughout, without the deprecated PointerHolder.
#define POINTERHOLDER_TRANSITION 4

#include <qpdf/Buffer.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFExc.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFWriter.hh>

#include <exception>
#include <memory>

#include <fmt/format.h>

#include "util/error.hpp"

namespace csss::report {

namespace {

// libharu's UTF-8 fonts show each character by its Unicode code point (Identity-H, two bytes),
// but their ToUnicode map uses the begincidrange operator, which a ToUnicode map may not hold
// (PDF 32000-1 9.10.3). The correct map for these fonts is the identity as bfranges, one per
// high byte, leaving out the surrogates.
std::string identity_to_unicode() {
  std::vector<std::string> ranges;
  for (int hi = 0; hi < 0x100; ++hi) {
    if (hi >= 0xD8 && hi <= 0xDF)
      continue;
    ranges.push_back(fmt::format("<{0:02X}00> <{0:02X}FF> <{0:02X}00>", hi));
  }
  std::string out =
      "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
      "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
      "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
      "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n";
  for (std::size_t i = 0; i < ranges.size(); i += 100) {
    const std::size_t n = std::min<std::size_t>(100, ranges.size() - i);
    out += fmt::format("{} beginbfrange\n", n);
    for (std::size_t k = i; k < i + n; ++k) {
      out += ranges[k];
      out += '\n';
    }
    out += "endbfrange\n";
  }
  out += "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n";
  return out;
}

void fix_to_unicode(QPDF& pdf) {
  static const std::string kMap = identity_to_unicode();
  for (QPDFObjectHandle object : pdf.getAllObjects()) {
    if (!object.isDictionary() || !object.getKey("/Type").isNameAndEquals("/Font") ||
        !object.getKey("/Encoding").isNameAndEquals("/Identity-H")) {
      continue;
    }
    QPDFObjectHandle map = object.getKey("/ToUnicode");
    if (map.isStream())
      map.replaceStreamData(kMap, QPDFObjectHandle::newNull(), QPDFObjectHandle::newNull());
  }
}

}  // namespace

std::string encrypt_pdf(std::string_view pdf, std::string_view open_code,
                        std::string_view owner_password) {
  const std::string user(open_code);
  const std::string owner(owner_password);
  try {
    QPDF in;
    in.setSuppressWarnings(true);
    in.processMemoryFile("report", pdf.data(), pdf.size());
    fix_to_unicode(in);
    QPDFWriter out(in);
    out.setOutputMemory();
    // Streams are copied as libharu compressed them (then encrypted), not decoded and compressed
    // again: that would double the work for the same size.
    out.setDecodeLevel(qpdf_dl_none);
    out.setCompressStreams(false);
    out.setR6EncryptionParameters(user.c_str(), owner.c_str(), /*allow_accessibility=*/true,
                                  /*allow_extract=*/true, /*allow_assemble=*/false,
                                  /*allow_annotate_and_form=*/false,
                                  /*allow_form_filling=*/false, /*allow_modify_other=*/false,
                                  qpdf_r3p_full, /*encrypt_metadata_aes=*/true);
    out.write();
    const std::shared_ptr<Buffer> buffer = out.getBufferSharedPointer();
    return {reinterpret_cast<const char*>(buffer->getBuffer()), buffer->getSize()};
  } catch (const QPDFExc& e) {
    throw Error(ErrorKind::invalid_input, fmt::format("not a PDF qpdf can read: {}", e.what()));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorKind::internal, fmt::format("encrypting the PDF failed: {}", e.what()));
  }
}

}  // namespace csss::report
