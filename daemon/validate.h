// `etld validate FILE`: every check a configuration must pass before it can
// run, done without a broker. Errors are printed as file:line:column.
#pragma once

#include <iosfwd>
#include <string>

namespace etld::daemon {

// Prints "FILE: ok" to `out` and returns 0, or prints every error to `err`
// and returns 78 (EX_CONFIG).
int validate_command(const std::string& path, std::ostream& out, std::ostream& err);

}  // namespace etld::daemon
