#pragma once

namespace CLI {
class App;
}

namespace csss::cli {

class Context;

// Each registers one top-level command (and its subcommands) on `app`; cmd_<name>.cpp.
void setup_init(CLI::App& app, Context& ctx);
void setup_login(CLI::App& app, Context& ctx);
void setup_logout(CLI::App& app, Context& ctx);
void setup_whoami(CLI::App& app, Context& ctx);
void setup_user(CLI::App& app, Context& ctx);
void setup_token(CLI::App& app, Context& ctx);
void setup_audit(CLI::App& app, Context& ctx);
void setup_config(CLI::App& app, Context& ctx);
void setup_roles(CLI::App& app, Context& ctx);
void setup_upload(CLI::App& app, Context& ctx);
void setup_analyze(CLI::App& app, Context& ctx);
void setup_scans(CLI::App& app, Context& ctx);
void setup_model(CLI::App& app, Context& ctx);
void setup_train_eval(CLI::App& app, Context& ctx);
void setup_verify(CLI::App& app, Context& ctx);
void setup_prescribe(CLI::App& app, Context& ctx);
void setup_approve(CLI::App& app, Context& ctx);  // cmd_approve.cpp, with reject and return
void setup_reject(CLI::App& app, Context& ctx);
void setup_return(CLI::App& app, Context& ctx);
void setup_report(CLI::App& app, Context& ctx);
void setup_batch(CLI::App& app, Context& ctx);
void setup_ask(CLI::App& app, Context& ctx);
void setup_maintenance(CLI::App& app, Context& ctx);
void setup_patient(CLI::App& app, Context& ctx);

}  // namespace csss::cli
