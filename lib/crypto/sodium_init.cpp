#include "crypto/sodium_init.hpp"

#include <sodium.h>

#include "util/error.hpp"

namespace csss::crypto {

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok)
    throw Error(ErrorKind::internal, "libsodium could not be initialised");
}

}  // namespace csss::crypto
