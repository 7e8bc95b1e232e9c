// csss user: add, list, show, disable, enable, unlock and passwd.
#include <doctest/doctest.h>

#include "cli_fixture.hpp"

using namespace csss::test;

namespace {

std::int64_t count_users(const Cli& cli) {
  Store s(cli.db_path());
  return s.query_int("SELECT count(*) FROM users");
}

std::vector<std::string> add_args(const std::string& email, const std::string& role,
                                  const std::string& name = "Some Body") {
  return {"user", "add", "--email", email, "--name", name, "--role", role, "--password-stdin"};
}

// An admin, logged in on a terminal of its own.
Session admin_session(Cli& cli) {
  Session admin = cli.as("admin");
  admin.login_admin();
  return admin;
}

}  // namespace

TEST_CASE("user add creates an account of each role") {
  Cli cli;
  cli.init_with_admin();
  Session admin = admin_session(cli);
  const std::vector<std::string> roles{"patient", "doctor", "pharmacist", "admin"};
  for (const auto& role : roles) {
    const std::string email = "new." + role + "@clinic.example";
    const auto r = admin.run({"--json", "user", "add", "--email", email, "--name", "New " + role,
                              "--role", role, "--password-stdin"},
                             role + "-secret-password\n");
    INFO("role ", role);
    REQUIRE_OK(r);
    const auto doc = json_of(r);
    CHECK(doc["email"] == email);
    CHECK(doc["role"] == role);
    CHECK(doc["full_name"] == "New " + role);
    CHECK(doc["disabled"] == false);
    CHECK(doc["locked_until"].is_null());
  }
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM users") == 5);
  for (const auto& role : roles) {
    CHECK(s.query_text("SELECT role FROM users WHERE email = 'new." + role + "@clinic.example'") ==
          role);
  }
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'user.add' AND actor = '" +
                    std::string(kAdminEmail) + "'") == 4);
  // Every new account can log in with its password (the new admin with the emailed code).
  cli.as("p").login("new.patient@clinic.example", "patient-secret-password");
  cli.as("d").login("new.doctor@clinic.example", "doctor-secret-password");
  cli.as("ph").login("new.pharmacist@clinic.example", "pharmacist-secret-password");
  cli.as("a").login_admin("new.admin@clinic.example", "admin-secret-password");
}

TEST_CASE("user add with an unknown role is invalid input") {
  Cli cli;
  cli.init_with_admin();
  Session admin = admin_session(cli);
  const auto r = admin.run(add_args("nurse@clinic.example", "nurse"), "nurse-password-123\n");
  CHECK_ERROR(r, 5, "unknown role 'nurse'", "patient, doctor, pharmacist, admin");
  const auto upper = admin.run(add_args("doc@clinic.example", "Doctor"), "doctor-password-123\n");
  CHECK_ERROR(upper, 5, "unknown role 'Doctor'");
  CHECK(count_users(cli) == 1);
}

TEST_CASE("user add with an email that exists in another case is a conflict") {
  Cli cli;
  cli.init_with_admin();
  const Account d = cli.add_user("doctor", "dr.lee@clinic.example");
  Session admin = admin_session(cli);
  const auto r = admin.run(add_args("DR.Lee@Clinic.EXAMPLE", "patient"), "other-password-123\n");
  CHECK_ERROR(r, 7, "dr.lee@clinic.example", "exists already");
  CHECK(count_users(cli) == 2);
  Store s(cli.db_path());
  CHECK(s.query_text("SELECT role FROM users WHERE email = 'dr.lee@clinic.example'") == "doctor");
}

TEST_CASE("user add with a malformed email is invalid input") {
  Cli cli;
  cli.init_with_admin();
  Session admin = admin_session(cli);
  for (const std::string email : {"no-at-sign", "a@b", "x@@clinic.example", ".dot@clinic.example",
                                  "line\nbreak@clinic.example", ""}) {
    INFO("email: ", email);
    CHECK_ERROR(admin.run(add_args(email, "patient"), "patient-password-1\n"), 5, "invalid email");
  }
  CHECK(count_users(cli) == 1);
}

TEST_CASE("user add with an empty or short password is invalid input") {
  Cli cli;
  cli.init_with_admin();
  Session admin = admin_session(cli);
  CHECK_ERROR(admin.run(add_args("p@clinic.example", "patient"), "\n"), 5, "password is empty");
  CHECK_ERROR(admin.run(add_args("p@clinic.example", "patient"), "elevenchars\n"), 5, "too short",
              "at least 12");
  CHECK_ERROR(admin.run(add_args("p@clinic.example", "patient")), 5, "standard input");
  CHECK_ERROR(admin.run(add_args("p@clinic.example", "patient"), "p@clinic.example\n"), 5,
              "must not be the account's email");
  CHECK_ERROR(admin.run(add_args("p@clinic.example", "patient", "   "), "patient-password-1\n"), 5,
              "full name is empty");
  CHECK(count_users(cli) == 1);
}

TEST_CASE("user add by a doctor is denied and audited") {
  Cli cli;
  cli.init_with_admin();
  const Account d = cli.add_user("doctor");
  cli.login(d.email, d.password);
  const auto r = cli.run(add_args("sneaky@clinic.example", "admin"), "sneaky-password-123\n");
  CHECK_ERROR(r, 4, "permission denied", "doctor", "allowed: admin");
  CHECK(count_users(cli) == 2);
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND actor = '" +
                    d.email +
                    "' AND object = 'user:sneaky@clinic.example' AND outcome = 'denied' AND "
                    "detail = 'manage_users'") == 1);
}

TEST_CASE("user list shows every account and filters by role") {
  Cli cli;
  cli.init_with_admin();
  const Account d = cli.add_user("doctor", "doc@clinic.example", "Dr Ana Lee");
  const Account p = cli.add_user("patient", "pat@clinic.example", "Pat Ient");
  Session admin = admin_session(cli);

  const auto text = admin.run({"user", "list"});
  REQUIRE_OK(text);
  CHECK(text.out.starts_with("EMAIL"));
  CHECK(contains(text.out, "ROLE"));
  CHECK(contains(text.out, "STATUS"));
  CHECK(contains(text.out, "doc@clinic.example"));
  CHECK(contains(text.out, "Dr Ana Lee"));
  CHECK(contains(text.out, "pat@clinic.example"));
  CHECK(contains(text.out, kAdminEmail));
  CHECK(count_lines(text.out) == 4);

  const auto json = admin.run({"--json", "user", "list"});
  REQUIRE_OK(json);
  const auto doc = json_of(json);
  REQUIRE(doc.is_array());
  CHECK(doc.size() == 3);

  const auto doctors = admin.run({"--json", "user", "list", "--role", "doctor"});
  REQUIRE_OK(doctors);
  const auto ddoc = json_of(doctors);
  REQUIRE(ddoc.size() == 1);
  CHECK(ddoc[0]["email"] == "doc@clinic.example");
  CHECK(ddoc[0]["role"] == "doctor");

  const auto none = admin.run({"user", "list", "--role", "pharmacist"});
  REQUIRE_OK(none);
  CHECK(none.out == "No accounts.\n");
  CHECK_ERROR(admin.run({"user", "list", "--role", "nurse"}), 5, "unknown role 'nurse'");

  cli.login(d.email, d.password);
  CHECK_ERROR(cli.run({"user", "list"}), 4, "permission denied");
}

TEST_CASE("user show: admins see any account, others only their own") {
  Cli cli;
  cli.init_with_admin();
  const Account d = cli.add_user("doctor", "doc@clinic.example", "Dr Ana Lee");
  const Account p = cli.add_user("patient", "pat@clinic.example", "Pat Ient");
  Session admin = admin_session(cli);

  const auto text = admin.run({"user", "show", "DOC@clinic.example"});
  REQUIRE_OK(text);
  CHECK(contains(text.out, "email:      doc@clinic.example\n"));
  CHECK(contains(text.out, "name:       Dr Ana Lee\n"));
  CHECK(contains(text.out, "role:       doctor\n"));
  CHECK(contains(text.out, "status:     active\n"));
  const auto json = admin.run({"--json", "user", "show", d.email});
  REQUIRE_OK(json);
  const auto doc = json_of(json);
  CHECK(doc["email"] == d.email);
  CHECK(doc["role"] == "doctor");
  CHECK(doc.contains("created_at"));
  CHECK(doc.contains("password_changed_at"));
  CHECK_FALSE(doc.contains("password_hash"));

  CHECK_ERROR(admin.run({"user", "show", "ghost@clinic.example"}), 6, "no account",
              "ghost@clinic.example");

  Session patient = cli.as("patient");
  patient.login(p.email, p.password);
  const auto own = patient.run({"user", "show", p.email});
  REQUIRE_OK(own);
  CHECK(contains(own.out, "Pat Ient"));
  CHECK_ERROR(patient.run({"user", "show", d.email}), 4, "permission denied", "patient");
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND actor = '" +
                    p.email + "' AND object = 'user:" + d.email + "'") == 1);
}

TEST_CASE("a disabled account cannot log in and its sessions end, until it is enabled") {
  Cli cli;
  cli.init_with_admin();
  const Account d = cli.add_user("doctor");
  Session doctor = cli.as("doctor");
  doctor.login(d.email, d.password);
  REQUIRE_OK(doctor.run({"whoami"}));

  Session admin = admin_session(cli);
  const auto off = admin.run({"user", "disable", d.email});
  REQUIRE_OK(off);
  CHECK(contains(off.out, "Disabled " + d.email));
  const auto show = admin.run({"--json", "user", "show", d.email});
  CHECK(json_of(show)["disabled"] == true);
  const auto list = admin.run({"user", "list"});
  CHECK(contains(list.out, "disabled"));

  CHECK_ERROR(doctor.run({"whoami"}), 3, "session has ended");
  const auto login =
      cli.as("doctor-2").run({"login", "--email", d.email, "--password-stdin"}, d.password + "\n");
  CHECK_ERROR(login, 3, "disabled");
  CHECK_FALSE(fs::exists(cli.session_file("doctor-2")));

  const auto on = admin.run({"user", "enable", d.email});
  REQUIRE_OK(on);
  CHECK(contains(on.out, "Enabled " + d.email));
  cli.as("doctor-2").login(d.email, d.password);

  CHECK_ERROR(admin.run({"user", "disable", "ghost@clinic.example"}), 6, "no account");
  CHECK_ERROR(admin.run({"user", "disable", kAdminEmail}), 7, "your own account");
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action IN ('user.disable', "
                    "'user.enable') AND object = 'user:" +
                    d.email + "'") == 2);
}

TEST_CASE("only admins disable, enable and unlock accounts") {
  Cli cli;
  cli.init_with_admin();
  const Account d = cli.add_user("doctor");
  const Account p = cli.add_user("patient");
  cli.login(d.email, d.password);
  for (const std::string verb : {"disable", "enable", "unlock"}) {
    INFO("user ", verb);
    CHECK_ERROR(cli.run({"user", verb, p.email}), 4, "permission denied");
  }
  CHECK_ERROR(
      cli.run({"user", "passwd", "--email", p.email, "--password-stdin"}, "forced-password-123\n"),
      4, "permission denied");
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT disabled FROM users WHERE email = '" + p.email + "'") == 0);
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND actor = '" +
                    d.email + "'") == 4);
}

TEST_CASE("user passwd changes one's own password and ends the other sessions") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  Session here = cli.as("here");
  Session there = cli.as("there");
  here.login(p.email, p.password);
  there.login(p.email, p.password);
  const std::string new_password = "brand-new-password-99";

  const auto r =
      here.run({"user", "passwd", "--password-stdin"}, p.password + "\n" + new_password + "\n");
  REQUIRE_OK(r);
  CHECK(contains(r.out, "Password of " + p.email + " changed"));
  CHECK_OK(here.run({"whoami"}));
  CHECK_ERROR(there.run({"whoami"}), 3, "session has ended");

  const auto old = cli.run({"login", "--email", p.email, "--password-stdin"}, p.password + "\n");
  CHECK_ERROR(old, 3, "wrong email or password");
  cli.login(p.email, new_password);
}

TEST_CASE("user passwd refuses a wrong current password and a bad new one") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  cli.login(p.email, p.password);
  std::string hash_before;
  {
    Store s(cli.db_path());
    hash_before = s.query_text("SELECT password_hash FROM users WHERE email = '" + p.email + "'");
  }
  CHECK_ERROR(cli.run({"user", "passwd", "--password-stdin"},
                      "wrong-current-password\nbrand-new-password-99\n"),
              3, "current password is wrong");
  CHECK_ERROR(cli.run({"user", "passwd", "--password-stdin"}, p.password + "\nshort\n"), 5,
              "too short");
  CHECK_ERROR(cli.run({"user", "passwd", "--password-stdin"}, p.password + "\n"), 5, "second line");
  CHECK_ERROR(
      cli.run({"user", "passwd", "--password-stdin"}, p.password + "\n" + p.password + "\n"), 5,
      "same as the current");
  CHECK_ERROR(cli.run({"user", "passwd"}), 2, "--password-stdin");
  Store s(cli.db_path());
  CHECK(s.query_text("SELECT password_hash FROM users WHERE email = '" + p.email + "'") ==
        hash_before);
  CHECK_OK(cli.run({"whoami"}));
}

TEST_CASE("an admin sets another account's password with passwd --email") {
  Cli cli;
  cli.init_with_admin();
  const Account d = cli.add_user("doctor");
  Session doctor = cli.as("doctor");
  doctor.login(d.email, d.password);
  Session admin = admin_session(cli);
  const std::string new_password = "set-by-the-admin-123";
  const auto r = admin.run({"--json", "user", "passwd", "--email", d.email, "--password-stdin"},
                           new_password + "\n");
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  CHECK(doc["email"] == d.email);
  CHECK(doc["password_changed"] == true);
  CHECK_OK(admin.run({"whoami"}));
  CHECK_ERROR(doctor.run({"whoami"}), 3, "session has ended");
  CHECK_ERROR(cli.run({"login", "--email", d.email, "--password-stdin"}, d.password + "\n"), 3,
              "wrong email or password");
  cli.login(d.email, new_password);

  CHECK_ERROR(admin.run({"user", "passwd", "--email", "ghost@clinic.example", "--password-stdin"},
                        "whatever-password-1\n"),
              6, "no account");
  CHECK_ERROR(admin.run({"user", "passwd", "--email", d.email, "--password-stdin"}, "short\n"), 5,
              "too short");
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'user.passwd' AND "
                    "detail = 'set by admin' AND object = 'user:" +
                    d.email + "'") == 1);
}

TEST_CASE("user commands need a login") {
  Cli cli;
  cli.init_with_admin();
  for (const std::vector<std::string>& args : {std::vector<std::string>{"user", "list"},
                                               {"user", "show", kAdminEmail},
                                               {"user", "disable", kAdminEmail},
                                               {"user", "enable", kAdminEmail},
                                               {"user", "unlock", kAdminEmail}}) {
    INFO("csss user ", args[1]);
    CHECK_ERROR(cli.run(args), 3, "not logged in");
  }
  CHECK_ERROR(cli.run(add_args("x@clinic.example", "patient"), "patient-password-1\n"), 3,
              "not logged in");
  CHECK(count_users(cli) == 1);
}
