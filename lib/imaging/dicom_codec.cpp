// Compressed DICOM pixel data through GDCM's codecs (RLE, JPEG 8/12/16-bit, JPEG-LS, JPEG 2000),
// isolated in a child process.
//
// Debian builds GDCM with assertions enabled, and its codecs assert (abort) or even crash on
// corrupt compressed data (found by fuzzing the fixtures). A scan upload must not end the program,
// so the codec runs in a fork()ed child that writes the decoded pixels into shared memory; a child
// that dies is reported as `crashed`. The child also cannot print: its stdout and stderr point to
// /dev/null (the JPEG libraries inside GDCM print warnings with fprintf).

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gdcmDataElement.h>
#include <gdcmFragment.h>
#include <gdcmImage.h>
#include <gdcmPhotometricInterpretation.h>
#include <gdcmPixelFormat.h>
#include <gdcmSequenceOfFragments.h>
#include <gdcmSmartPointer.h>
#include <gdcmTransferSyntax.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <new>

#include "imaging/internal.hpp"

namespace csss::imaging::detail {

namespace {

// A codec caught in a loop is stopped after a minute of CPU time; a child that gets no CPU time
// is not (a batch import's decoding threads run at nice 19 and the child inherits it, so on a busy
// machine it may wait long). The wall-clock limit is for a child that waits for ever instead (it
// was forked from a process with other threads).
constexpr rlim_t kCpuSeconds = 60;
constexpr unsigned kWallSeconds = 900;

// What the child reports at the start of the shared memory, followed by the pixels.
struct Report {
  int ok = 0;
  std::uint64_t length = 0;
  int samples = 0;
  int bits_allocated = 0;
  int bits_stored = 0;
  int high_bit = 0;
  int pixel_representation = 0;
  int planar_configuration = 0;
  char photometric[32] = {};
};

// In the child: decode into `pixels` (room for `capacity` bytes) and fill `report`.
void decode_in_child(const CodecInput& in, Report& report, char* pixels, std::uint64_t capacity) {
  // The data element GDCM's reader would have built, from the fragments the walker found.
  const gdcm::SmartPointer<gdcm::SequenceOfFragments> fragments = new gdcm::SequenceOfFragments;
  for (std::size_t i = 0; i < in.fragments.size(); ++i) {
    const auto [offset, length] = in.fragments[i];
    const char* p = reinterpret_cast<const char*>(in.file.data() + offset);
    if (i == 0) {
      fragments->GetTable().SetByteValue(p, static_cast<std::uint32_t>(length));
    } else {
      gdcm::Fragment fragment;
      fragment.SetByteValue(p, static_cast<std::uint32_t>(length));
      fragments->AddFragment(fragment);
    }
  }
  gdcm::DataElement pixel_data(gdcm::Tag(0x7FE0, 0x0010));
  pixel_data.SetVR(gdcm::VR::OB);
  pixel_data.SetValue(*fragments);

  const PixelLayout& l = in.layout;
  gdcm::Image image;
  image.SetNumberOfDimensions(in.frames > 1 ? 3 : 2);
  const unsigned dims[3] = {static_cast<unsigned>(in.columns), static_cast<unsigned>(in.rows),
                            static_cast<unsigned>(in.frames)};
  image.SetDimensions(dims);
  image.SetPixelFormat(gdcm::PixelFormat(
      static_cast<unsigned short>(l.samples), static_cast<unsigned short>(l.bits_allocated),
      static_cast<unsigned short>(l.bits_stored), static_cast<unsigned short>(l.high_bit),
      static_cast<unsigned short>(l.pixel_representation)));
  image.SetPhotometricInterpretation(gdcm::PhotometricInterpretation(
      gdcm::PhotometricInterpretation::GetPIType(l.photometric.c_str())));
  image.SetTransferSyntax(
      gdcm::TransferSyntax(gdcm::TransferSyntax::GetTSType(in.transfer_syntax.c_str())));
  image.SetPlanarConfiguration(l.planar_configuration == 1 ? 1 : 0);
  image.SetDataElement(pixel_data);

  const unsigned long length = image.GetBufferLength();
  if (length == 0 || length > capacity || !image.GetBuffer(pixels)) {
    return;
  }
  const gdcm::PixelFormat& pf = image.GetPixelFormat();
  report.length = length;
  report.samples = pf.GetSamplesPerPixel();
  report.bits_allocated = pf.GetBitsAllocated();
  report.bits_stored = pf.GetBitsStored();
  report.high_bit = pf.GetHighBit();
  report.pixel_representation = pf.GetPixelRepresentation();
  report.planar_configuration = static_cast<int>(image.GetPlanarConfiguration());
  const char* pi = image.GetPhotometricInterpretation().GetString();
  std::strncpy(report.photometric, pi != nullptr ? pi : "", sizeof report.photometric - 1);
  report.ok = 1;
}

}  // namespace

CodecStatus decode_fragments(const CodecInput& in, CodecOutput& out) {
  // Room for every frame at up to 4 bytes per sample, after the report.
  const std::uint64_t capacity = std::uint64_t(in.rows) * std::uint64_t(in.columns) *
                                 std::uint64_t(in.frames) * std::uint64_t(in.layout.samples) * 4;
  const std::size_t size = sizeof(Report) + static_cast<std::size_t>(capacity);
  void* shared = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (shared == MAP_FAILED) {
    return CodecStatus::failed;
  }
  auto* report = new (shared) Report;
  char* pixels = static_cast<char*>(shared) + sizeof(Report);

  silence_libraries();  // before fork(): the child inherits GDCM's settings
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::munmap(shared, size);
    return CodecStatus::failed;
  }
  if (pid == 0) {
    // The child: quiet, time-limited, and it never returns into the caller's code.
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
    }
    const rlimit cpu{kCpuSeconds, kCpuSeconds + 1};  // SIGXCPU, then SIGKILL
    (void)::setrlimit(RLIMIT_CPU, &cpu);
    ::signal(SIGXCPU, SIG_DFL);
    ::signal(SIGALRM, SIG_DFL);
    ::alarm(kWallSeconds);
    try {
      decode_in_child(in, *report, pixels, capacity);
    } catch (...) {
      report->ok = 0;
    }
    ::_exit(report->ok == 1 ? 0 : 1);
  }

  int status = 0;
  pid_t waited = -1;
  do {
    waited = ::waitpid(pid, &status, 0);
  } while (waited < 0 && errno == EINTR);

  CodecStatus result = CodecStatus::failed;
  if (waited == pid && WIFSIGNALED(status)) {
    result = CodecStatus::crashed;  // an assertion, a crash, or a time limit
  } else if (waited == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 && report->ok == 1 &&
             report->length <= capacity) {
    out.pixels.assign(pixels, pixels + report->length);
    out.layout.samples = report->samples;
    out.layout.bits_allocated = report->bits_allocated;
    out.layout.bits_stored = report->bits_stored;
    out.layout.high_bit = report->high_bit;
    out.layout.pixel_representation = report->pixel_representation;
    out.layout.planar_configuration = report->planar_configuration;
    out.layout.photometric.assign(report->photometric,
                                  strnlen(report->photometric, sizeof report->photometric));
    result = CodecStatus::ok;
  }
  ::munmap(shared, size);
  return result;
}

}  // namespace csss::imaging::detail
