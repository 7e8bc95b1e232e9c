# Shared by scripts/demo.sh and scripts/test.sh: the Debian packages CSSS needs, their
# installation (only what is missing, so a second run is fast) and the build.
# shellcheck shell=bash

CSSS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# To build and run csss.
CSSS_BUILD_PACKAGES=(
  g++ cmake ninja-build pkg-config ccache
  libcli11-dev libfmt-dev libyaml-cpp-dev libsqlite3-dev libsodium-dev libssl-dev nlohmann-json3-dev
  libcurl4-openssl-dev libgmime-3.0-dev libopencv-dev libgdcm-dev libtorch-dev
  libhpdf-dev libqpdf-dev fonts-dejavu-core python3-fonttools libedit-dev
  libgoogle-perftools-dev
)
# The demo opens the report it emailed with the PDF tools a reader would use.
CSSS_DEMO_PACKAGES=(poppler-utils qpdf)
# PyTorch, to export TorchScript models (the demo's and the tests') and as the reference that
# csss's results and speed are compared with.
CSSS_PYTORCH_PACKAGES=(python3-torch python3-torchvision)
# To run the test suite as well: the test framework, the sqlite3 shell, the SMTP server the
# mail tests start on 127.0.0.1, and the PDF tools that open the reports (pdftotext, qpdf).
CSSS_TEST_PACKAGES=(doctest-dev sqlite3 python3-aiosmtpd poppler-utils qpdf
  "${CSSS_PYTORCH_PACKAGES[@]}")

# Installs the named Debian packages that are not installed yet (as root, or through sudo).
csss_ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> Installing missing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: run as root or install sudo" >&2; return 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# Configures BUILD_DIR (relative to the repository) with extra CMake options.
csss_configure() {
  local dir=$1
  shift
  cmake -S "$CSSS_ROOT" -B "$CSSS_ROOT/$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
}

# Configures and builds everything into BUILD_DIR, passing extra CMake options.
csss_build() {
  local dir=$1
  shift
  echo "==> Building into $dir"
  csss_configure "$dir" "$@"
  cmake --build "$CSSS_ROOT/$dir" -j "$(nproc)"
}
