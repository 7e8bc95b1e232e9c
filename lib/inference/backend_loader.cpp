// torch_backend(): the LibTorch backend is a plugin (lib/inference/torch, libcsss_torch.so) that is
// loaded with dlopen on first use, so that csss commands that run no model never load LibTorch.
// Nothing here includes LibTorch.
#include "inference/backend.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <system_error>

#include "util/error.hpp"

namespace csss::inference {

namespace {

constexpr const char* kFactorySymbol = "csss_create_torch_backend";

std::string dl_error() {
  const char* why = ::dlerror();
  return why != nullptr ? why : "unknown dynamic loader error";
}

}  // namespace

std::filesystem::path torch_backend_path() {
  if (const char* path = std::getenv("CSSS_TORCH_BACKEND"); path != nullptr && path[0] != '\0')
    return path;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    throw Error(ErrorKind::io,
                "cannot load the LibTorch backend: cannot resolve /proc/self/exe: " + ec.message());
  }
  return exe.parent_path().parent_path() / "lib" / "libcsss_torch.so";
}

std::unique_ptr<Backend> load_torch_backend(const std::filesystem::path& library) {
  const std::string what = "cannot load the LibTorch backend " + library.string() + ": ";
  // The handle is never closed: the backend's code lives in the library.
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    throw Error(ErrorKind::io, what + dl_error());
  ::dlerror();  // clear any earlier error before dlsym
  void* symbol = ::dlsym(handle, kFactorySymbol);
  if (symbol == nullptr) {
    const std::string why = dl_error();
    ::dlclose(handle);
    throw Error(ErrorKind::io, what + why);
  }
  using Factory = Backend* (*)();
  const auto create = reinterpret_cast<Factory>(symbol);
  std::unique_ptr<Backend> backend(create());
  if (backend == nullptr)
    throw Error(ErrorKind::io, what + std::string(kFactorySymbol) + " returned no backend");
  return backend;
}

Backend& torch_backend() {
  // One backend for the whole process, made on first use and never destroyed: LibTorch's own
  // static objects may be gone by the time static destructors would run.
  static std::mutex mutex;
  static Backend* instance = nullptr;
  const std::lock_guard lock(mutex);
  if (instance == nullptr)
    instance = load_torch_backend(torch_backend_path()).release();
  return *instance;
}

}  // namespace csss::inference
