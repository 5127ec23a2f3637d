// `etld test --config FILE [--record] [CASE...]`: runs case files through the
// engine the configuration compiles to, with no Kafka and no SQLite, and
// compares the outputs with what the cases expect.
//
// Without CASE arguments it runs every `*.jsonl` file in the directory
// `<config stem>.tests/` next to the configuration (conf/etld.toml ->
// conf/etld.tests/). A CASE may also be a directory of `*.jsonl` files.
//
// Exit codes: 0 every case passed; 1 a case failed; 64 usage (also: no case
// found); 65 a case file is malformed (the others still run); 78 the
// configuration is invalid (nothing runs). With --record, each case's actual
// outputs are written to `<case>.recorded` for a person to check, and the exit
// code is 0 once they are written (65/78 as above).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace etld::daemon {

int test_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace etld::daemon
