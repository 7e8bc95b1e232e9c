#pragma once

// Every setting's key, as the tests expect them (config::Config::known_keys() and `csss config
// show`): a key added to or dropped from the settings table must be added or dropped here too.

#include <string>
#include <vector>

namespace csss::test {

inline const std::vector<std::string> kSettingKeys{
    "data_dir",
    "session.ttl_minutes",
    "session.idle_minutes",
    "login.max_failures",
    "login.lockout_minutes",
    "password.min_length",
    "otp.ttl_minutes",
    "otp.max_attempts",
    "account.codes_per_hour",
    "scan.max_file_mb",
    "scan.max_megapixels",
    "batch.queue_mb",
    "models.dir",
    "prescription.templates",
    "report.facility_name",
    "report.facility_address",
    "report.font",
    "report.font_bold",
    "mail.from",
    "smtp.url",
    "smtp.user",
    "smtp.password",
    "smtp.tls",
    "smtp.timeout_seconds",
};

}  // namespace csss::test
