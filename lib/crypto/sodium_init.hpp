#pragma once

namespace csss::crypto {

// Initialises libsodium once per process; throws Error(internal) if it cannot.
void ensure_sodium();

}  // namespace csss::crypto
