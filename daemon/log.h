// Process-wide logging to stderr, one line per message, each prefixed with
// its syslog level as "<N>" so journald stores the level. Thread-safe.
// Never call it per event on the hot path; secrets must never be passed in.
#pragma once

#include <string_view>

namespace etld::daemon {

enum class Level { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

void set_log_level(Level max_level);
bool log_enabled(Level level);
void log(Level level, std::string_view message);

}  // namespace etld::daemon
