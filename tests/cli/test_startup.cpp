// Start-up cost: LibTorch lives in the plugin libcsss_torch.so, loaded on first use, so commands
// that run no model never load it (ARCHITECTURE.md, lib/inference/backend.hpp).
#include <doctest/doctest.h>

#include "cli_fixture.hpp"

using namespace csss::test;

namespace {

bool mentions_torch(const std::string& text) {
  return contains(text, "libtorch") || contains(text, "libc10") || contains(text, "csss_torch");
}

}  // namespace

TEST_CASE("commands that run no model do not load LibTorch") {
  Cli cli;
  const std::vector<std::vector<std::string>> commands = {
      {"--version"}, {"roles"}, {"config", "show"}, {"ask", "how do I upload a DICOM?"}};
  for (const auto& args : commands) {
    INFO("csss ", args.front(), args.size() > 1 ? " " + args[1] : "");
    // The dynamic loader lists every library it loads on stderr.
    const auto r = cli.run(args, "", {{"LD_DEBUG", "libs"}});
    CHECK(r.exit_code == 0);
    CHECK(contains(r.err, "libc.so.6"));  // LD_DEBUG did report
    CHECK_FALSE(mentions_torch(r.err));
  }
}

TEST_CASE("the csss binary is not linked with LibTorch") {
  const auto r = run_process({"/usr/bin/ldd", csss_binary()});
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "libc.so.6"));
  INFO(r.out);
  CHECK_FALSE(mentions_torch(r.out));
}
