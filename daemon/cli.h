// The etld command line: one binary, several subcommands.
//
//   etld run --config FILE        run the daemon in the foreground
//   etld validate FILE            check a configuration without a broker
//   etld reload [--config FILE]   ask the running daemon to reload, wait for the outcome
//   etld query --db FILE "SQL"    read-only SQL over the result database
//   etld simulate ...             publish simulated shop events
//   etld test --config FILE       run pipeline test cases without Kafka
//   etld version | --version      print the version
//   etld help | --help            print usage
//
// Exit codes follow sysexits.h: 0 success, 64 usage error, 78 bad config,
// 69 service unavailable, 70 internal error.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace etld::daemon {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitDataErr = 65;
inline constexpr int kExitSoftware = 70;
inline constexpr int kExitConfig = 78;

int run_cli(int argc, char** argv);

// The same, with arguments (without the program name) and streams given, for tests.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

std::string version_string();

}  // namespace etld::daemon
