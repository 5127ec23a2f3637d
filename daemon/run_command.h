// `etld run --config FILE`: the daemon in the foreground. Blocks TERM, INT,
// HUP and QUIT before any thread starts and handles them on the calling
// thread: the first TERM/INT stops gracefully (the in-flight transaction
// commits), a second one exits at once without committing anything more.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace etld::daemon {

int run_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace etld::daemon
