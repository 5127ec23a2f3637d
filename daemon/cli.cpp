#include "daemon/cli.h"

#include <exception>
#include <iostream>

#include "daemon/control.h"
#include "daemon/query_command.h"
#include "daemon/run_command.h"
#include "daemon/simulate_command.h"
#include "daemon/test_command.h"
#include "daemon/validate.h"

#ifndef ETLD_VERSION
#error "ETLD_VERSION must be defined by the build"
#endif

namespace etld::daemon {

namespace {

constexpr const char* kUsage =
    "usage: etld <command> [options]\n"
    "\n"
    "commands:\n"
    "  run --config FILE\n"
    "                   run the daemon in the foreground until SIGTERM/SIGINT\n"
    "  validate FILE    check a configuration file without contacting a broker;\n"
    "                   exit 0 when valid, 78 with every error listed otherwise\n"
    "  reload [--config FILE | --socket PATH] [--timeout SECONDS]\n"
    "                   ask the running daemon to re-read its configuration and\n"
    "                   wait for the outcome (exit 0 applied, 1 rejected)\n"
    "  query --db FILE [--format table|csv|json] \"SQL\"\n"
    "                   run read-only SQL on a result database; statements that\n"
    "                   would write are refused\n"
    "  simulate --bootstrap HOST:PORT --topic NAME --count N|--duration D [options]\n"
    "                   publish simulated e-commerce events (see simulate --help)\n"
    "  test --config FILE [--record] [CASE...]\n"
    "                   run test cases through the engine, without Kafka (see test --help)\n"
    "  version          print the version (also: --version)\n"
    "  help             print this text (also: --help)\n";

}  // namespace

std::string version_string() {
    return std::string("etld ") + ETLD_VERSION;
}

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    if (args.empty()) {
        err << kUsage;
        return kExitUsage;
    }
    const std::string& command = args[0];
    if (command == "help" || command == "--help" || command == "-h") {
        out << kUsage;
        return kExitOk;
    }
    if (command == "version" || command == "--version") {
        out << version_string() << "\n";
        return kExitOk;
    }
    if (command == "validate") {
        if (args.size() != 2) {
            err << "usage: etld validate FILE\n";
            return kExitUsage;
        }
        return validate_command(args[1], out, err);
    }
    if (command == "run") {
        return run_command({args.begin() + 1, args.end()}, out, err);
    }
    if (command == "reload") {
        return reload_command({args.begin() + 1, args.end()}, out, err);
    }
    if (command == "query") {
        return query_command({args.begin() + 1, args.end()}, out, err);
    }
    if (command == "simulate") {
        return simulate_command({args.begin() + 1, args.end()}, out, err);
    }
    if (command == "test") {
        return test_command({args.begin() + 1, args.end()}, out, err);
    }
    err << "etld: unknown command '" << command << "'\n\n" << kUsage;
    return kExitUsage;
}

int run_cli(int argc, char** argv) {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        args.emplace_back(argv[i]);
    }
    try {
        return run_cli(args, std::cout, std::cerr);
    } catch (const std::exception& e) {
        std::cerr << "<2>etld: " << e.what() << "\n";
        return kExitSoftware;
    }
}

}  // namespace etld::daemon
