// csss init: the data directory, the store and the first admin.
#include <doctest/doctest.h>

#include "cli_fixture.hpp"

using namespace csss::test;

namespace {

std::int64_t count_users(const Cli& cli) {
  Store s(cli.db_path());
  return s.query_int("SELECT count(*) FROM users");
}

}  // namespace

TEST_CASE("init creates a private data directory and store with the first admin") {
  Cli cli;
  const auto r = cli.run({"init", "--admin-email", "Admin@Clinic.Example", "--admin-name",
                          "Ada Admin", "--password-stdin"},
                         std::string(kAdminPassword) + "\n");
  REQUIRE_OK(r);
  CHECK(contains(r.out, "Created a new store in " + cli.data_dir().string()));
  CHECK(contains(r.out, "Created admin account admin@clinic.example"));
  CHECK(fs::is_directory(cli.data_dir()));
  CHECK(mode_of(cli.data_dir()) == 0700);
  REQUIRE(fs::is_regular_file(cli.db_path()));
  CHECK(mode_of(cli.db_path()) == 0600);

  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM users") == 1);
  CHECK(s.query_text("SELECT email FROM users") == "admin@clinic.example");
  CHECK(s.query_text("SELECT role FROM users") == "admin");
  CHECK(s.query_text("SELECT full_name FROM users") == "Ada Admin");
  CHECK(s.query_int("PRAGMA user_version") >= 1);
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'store.init'") == 1);
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'user.add' AND actor = 'system' "
                    "AND object = 'user:admin@clinic.example'") == 1);
}

TEST_CASE("init --json reports what it did") {
  Cli cli;
  const auto r = cli.run({"--json", "init", "--admin-email", kAdminEmail, "--password-stdin"},
                         std::string(kAdminPassword) + "\n");
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  CHECK(doc["data_dir"] == cli.data_dir().string());
  CHECK(doc["store"] == cli.db_path().string());
  CHECK(doc["store_created"] == true);
  CHECK(doc["admin"] == kAdminEmail);
  CHECK(doc["admin_state"] == "created");
  CHECK(doc["schema_version"].get<int>() >= 1);
}

TEST_CASE("init without an admin email creates only the store and says an admin is missing") {
  Cli cli;
  const auto r = cli.run({"init"});
  REQUIRE_OK(r);
  CHECK(contains(r.out, "No admin account yet"));
  CHECK(mode_of(cli.db_path()) == 0600);
  CHECK(count_users(cli) == 0);

  // The admin can be added by a later run.
  const auto admin = cli.run({"--json", "init", "--admin-email", kAdminEmail, "--password-stdin"},
                             std::string(kAdminPassword) + "\n");
  REQUIRE_OK(admin);
  const auto doc = json_of(admin);
  CHECK(doc["store_created"] == false);
  CHECK(doc["admin_state"] == "created");
  CHECK(count_users(cli) == 1);
}

TEST_CASE("init run again is idempotent: same admin, no second admin, store kept") {
  Cli cli;
  cli.init_with_admin();
  std::string hash_before, created_before;
  std::int64_t audit_rows_before = 0;
  {
    Store s(cli.db_path());
    hash_before = s.query_text("SELECT password_hash FROM users");
    created_before = s.query_text("SELECT created_at FROM users");
    audit_rows_before = s.query_int("SELECT count(*) FROM audit_log");
  }

  // The same email (in another case) needs no password and changes nothing.
  const auto again = cli.run({"init", "--admin-email", "ADMIN@clinic.example"});
  REQUIRE_OK(again);
  CHECK(contains(again.out, "Using the existing store"));
  CHECK(contains(again.out, "Admin account admin@clinic.example exists already"));

  const auto json = cli.run({"--json", "init", "--admin-email", kAdminEmail});
  REQUIRE_OK(json);
  const auto doc = json_of(json);
  CHECK(doc["store_created"] == false);
  CHECK(doc["admin_state"] == "exists");

  const auto bare = cli.run({"init"});
  REQUIRE_OK(bare);
  CHECK(contains(bare.out, "Using the existing store"));
  CHECK_FALSE(contains(bare.out, "No admin account yet"));

  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM users") == 1);
  CHECK(s.query_int("SELECT count(*) FROM users WHERE role = 'admin'") == 1);
  CHECK(s.query_text("SELECT password_hash FROM users") == hash_before);
  CHECK(s.query_text("SELECT created_at FROM users") == created_before);
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'store.init'") == 1);
  CHECK(s.query_int("SELECT count(*) FROM audit_log") == audit_rows_before);
  CHECK(mode_of(cli.data_dir()) == 0700);
  CHECK(mode_of(cli.db_path()) == 0600);
  // The admin can still log in with the original password.
  cli.login_admin();
}

TEST_CASE("init with another admin email when an admin exists is a conflict") {
  Cli cli;
  cli.init_with_admin();
  const auto r =
      cli.run({"init", "--admin-email", "second.admin@clinic.example", "--password-stdin"},
              "another-password-123\n");
  CHECK_ERROR(r, 7, "an admin account exists already", "csss user add");
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM users") == 1);
  CHECK(s.query_int("SELECT count(*) FROM users WHERE email = 'second.admin@clinic.example'") == 0);
}

TEST_CASE("init refuses a data directory that is a regular file") {
  Cli cli;
  write_text(cli.data_dir(), "not a directory\n");
  const auto r = cli.run({"init", "--admin-email", kAdminEmail, "--password-stdin"},
                         std::string(kAdminPassword) + "\n");
  CHECK_ERROR(r, 8, cli.data_dir().string(), "not a directory");
  CHECK(fs::is_regular_file(cli.data_dir()));
  CHECK(read_bytes(cli.data_dir()) == "not a directory\n");
}

TEST_CASE("init refuses a data directory that other users may read") {
  Cli cli;
  fs::create_directory(cli.data_dir());
  fs::permissions(cli.data_dir(), fs::perms(0755));
  const auto r = cli.run({"init", "--admin-email", kAdminEmail, "--password-stdin"},
                         std::string(kAdminPassword) + "\n");
  CHECK_ERROR(r, 8, cli.data_dir().string(), "0755", "chmod 700");
  CHECK(tree(cli.data_dir()).empty());
  CHECK(mode_of(cli.data_dir()) == 0755);
}

TEST_CASE("init refuses a store that is not an SQLite file and leaves it untouched") {
  Cli cli;
  fs::create_directory(cli.data_dir());
  fs::permissions(cli.data_dir(), fs::perms(0700));
  const std::string junk = "This is a text file, not a database.\n" + std::string(2000, 'x') + "\n";
  write_text(cli.db_path(), junk);
  fs::permissions(cli.db_path(), fs::perms(0600));

  const auto r = cli.run({"init", "--admin-email", kAdminEmail, "--password-stdin"},
                         std::string(kAdminPassword) + "\n");
  CHECK_ERROR(r, 8, cli.db_path().string(), "not a CSSS store");
  CHECK(read_bytes(cli.db_path()) == junk);
  CHECK(tree(cli.data_dir()) == std::vector<std::string>{"csss.db"});

  // Every command that opens the store says the same.
  const auto login = cli.run({"login", "--email", kAdminEmail, "--password-stdin"},
                             std::string(kAdminPassword) + "\n");
  CHECK_ERROR(login, 8, "not a CSSS store");
  CHECK(read_bytes(cli.db_path()) == junk);
}

TEST_CASE("init refuses a store written by a newer csss") {
  Cli cli;
  cli.init_with_admin();
  {
    Store s(cli.db_path());
    REQUIRE(s.exec("PRAGMA user_version = 99") == "");
  }
  const auto r = cli.run({"init"});
  CHECK_ERROR(r, 8, "newer", "99");
  const auto login = cli.run({"login", "--email", kAdminEmail, "--password-stdin"},
                             std::string(kAdminPassword) + "\n");
  CHECK_ERROR(login, 8, "newer");
  Store s(cli.db_path());
  CHECK(s.query_int("PRAGMA user_version") == 99);
  CHECK(s.query_int("SELECT count(*) FROM users") == 1);
}

TEST_CASE("commands other than init need a store and point to csss init") {
  Cli cli;
  const auto login = cli.run({"login", "--email", "someone@clinic.example", "--password-stdin"},
                             "some-password-123\n");
  CHECK_ERROR(login, 6, "no CSSS store", "csss init");
  CHECK_FALSE(fs::exists(cli.data_dir()));

  // Commands that need a login report the missing store first, with or without a session file.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"whoami"}, {"user", "list"}, {"audit", "verify"}}) {
    INFO("csss ", args[0], " ", args.size() > 1 ? args[1] : "", " (no session file)");
    CHECK_ERROR(cli.run(args), 6, "csss init");
  }
  fs::create_directories(cli.session_file().parent_path());
  write_text(cli.session_file(), std::string(64, 'a') + "\n");
  fs::permissions(cli.session_file(), fs::perms(0600));
  for (const std::vector<std::string>& args : {std::vector<std::string>{"whoami"},
                                               {"user", "list"},
                                               {"audit", "verify"},
                                               {"user", "show", "x@clinic.example"}}) {
    INFO("csss ", args[0], " ", args.size() > 1 ? args[1] : "");
    CHECK_ERROR(cli.run(args), 6, "csss init");
  }
  CHECK_FALSE(fs::exists(cli.data_dir()));

  // An existing but empty data directory is no store either.
  fs::create_directory(cli.data_dir());
  fs::permissions(cli.data_dir(), fs::perms(0700));
  CHECK_ERROR(cli.run({"whoami"}), 6, "csss init");
  CHECK(tree(cli.data_dir()).empty());
}

TEST_CASE("init with a malformed admin email fails before creating anything") {
  Cli cli;
  for (const std::string email : {"not-an-email", "two@@clinic.example", "a@localhost",
                                  "space in@clinic.example", "@clinic.example"}) {
    INFO("email: ", email);
    const auto r = cli.run({"init", "--admin-email", email, "--password-stdin"},
                           std::string(kAdminPassword) + "\n");
    CHECK_ERROR(r, 5, "invalid email");
    CHECK_FALSE(fs::exists(cli.data_dir()));
  }
}

TEST_CASE("init with a short or empty admin password creates no admin") {
  Cli cli;
  const auto shorter =
      cli.run({"init", "--admin-email", kAdminEmail, "--password-stdin"}, "short-pw\n");
  CHECK_ERROR(shorter, 5, "too short", "12");
  const auto empty = cli.run({"init", "--admin-email", kAdminEmail, "--password-stdin"}, "\n");
  CHECK_ERROR(empty, 5, "password is empty");
  const auto none = cli.run({"init", "--admin-email", kAdminEmail, "--password-stdin"});
  CHECK_ERROR(none, 5, "standard input");
  const auto same = cli.run({"init", "--admin-email", kAdminEmail, "--password-stdin"},
                            std::string(kAdminEmail) + "\n");
  CHECK_ERROR(same, 5, "must not be the account's email");
  // The password is checked before anything is written: no store is left behind.
  CHECK_FALSE(fs::exists(cli.db_path()));

  // A later init with a good password still works.
  cli.init_with_admin();
  CHECK(count_users(cli) == 1);
}

TEST_CASE("init without a terminal and without --password-stdin is a usage error") {
  Cli cli;
  const auto r = cli.run({"init", "--admin-email", kAdminEmail});
  CHECK_ERROR(r, 2, "--password-stdin");
  // The password is checked before anything is written: no store is left behind.
  CHECK_FALSE(fs::exists(cli.db_path()));
}

TEST_CASE("init --quiet prints nothing") {
  Cli cli;
  const auto r = cli.run({"--quiet", "init", "--admin-email", kAdminEmail, "--password-stdin"},
                         std::string(kAdminPassword) + "\n");
  REQUIRE_OK(r);
  CHECK(r.out.empty());
  CHECK(count_users(cli) == 1);
}
