#define BOOST_TEST_MODULE etld daemon unit tests
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "daemon/cli.h"

namespace {

struct Run {
    int code = 0;
    std::string out;
    std::string err;
};

Run run_etld(const std::vector<std::string>& args) {
    std::ostringstream out;
    std::ostringstream err;
    Run run;
    run.code = etld::daemon::run_cli(args, out, err);
    run.out = out.str();
    run.err = err.str();
    return run;
}

// A configuration file in a fresh temporary directory, removed at scope exit.
struct TempConfig {
    std::filesystem::path path;
    explicit TempConfig(const std::string& text) {
        path = std::filesystem::temp_directory_path() /
               ("etld-cli-test-" + std::to_string(::getpid()) + ".toml");
        std::ofstream(path) << text;
    }
    ~TempConfig() { std::filesystem::remove(path); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(help_lists_the_commands_and_exits_zero) {
    const Run run = run_etld({"--help"});
    BOOST_TEST(run.code == 0);
    BOOST_TEST(run.out.find("validate FILE") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_command_is_a_usage_error) {
    const Run run = run_etld({});
    BOOST_TEST(run.code == etld::daemon::kExitUsage);
    BOOST_TEST(run.err.find("usage: etld") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_command_is_a_usage_error_naming_it) {
    const Run run = run_etld({"frobnicate"});
    BOOST_TEST(run.code == etld::daemon::kExitUsage);
    BOOST_TEST(run.err.find("unknown command 'frobnicate'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(version_prints_the_project_version) {
    const Run a = run_etld({"--version"});
    const Run b = run_etld({"version"});
    BOOST_TEST(a.code == 0);
    BOOST_TEST(a.out == "etld " ETLD_VERSION_FOR_TEST "\n");
    BOOST_TEST(a.out == b.out);
}

BOOST_AUTO_TEST_CASE(validate_accepts_the_reference_config) {
    const Run run = run_etld({"validate", ETLD_SOURCE_DIR "/conf/etld.toml"});
    BOOST_TEST(run.code == 0, run.err);
    BOOST_TEST(run.out.find(": ok (") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(validate_reports_a_syntax_error_with_file_line_and_column_and_exits_78) {
    const TempConfig file("[kafka]\nbootstrap_servers = \"x:1\"\ngroup_id = = 3\n");
    const Run run = run_etld({"validate", file.path.string()});
    BOOST_TEST(run.code == etld::daemon::kExitConfig);
    BOOST_TEST(run.err.find(file.path.string() + ":3:") == 0, run.err);
}

BOOST_AUTO_TEST_CASE(validate_of_a_missing_file_exits_78_naming_the_file) {
    const Run run = run_etld({"validate", "/nonexistent/etld.toml"});
    BOOST_TEST(run.code == etld::daemon::kExitConfig);
    BOOST_TEST(run.err.find("/nonexistent/etld.toml") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
