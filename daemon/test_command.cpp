#include "daemon/test_command.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "conf/load.h"
#include "daemon/cli.h"
#include "daemon/engine_spec.h"
#include "daemon/testcase_compare.h"
#include "daemon/testcase_file.h"
#include "daemon/testcase_run.h"

namespace etld::daemon {

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: etld test --config FILE [--record] [CASE...]\n"
    "\n"
    "Runs test cases (JSON Lines files) through the engine FILE compiles to, without\n"
    "Kafka or SQLite, and compares the results, late records and dead letters with\n"
    "what each case expects. Without CASE, runs every *.jsonl file in the directory\n"
    "<config stem>.tests/ beside FILE (conf/etld.toml -> conf/etld.tests/). A CASE\n"
    "may be a file or a directory of *.jsonl files.\n"
    "\n"
    "  --config FILE   the configuration under test (required)\n"
    "  --record        write each case's actual outputs to <case>.recorded, to be\n"
    "                  checked by a person before it replaces the case\n"
    "\n"
    "exit: 0 all passed, 1 a case failed, 64 usage or no case found, 65 a case file\n"
    "is malformed, 78 the configuration is invalid\n";

std::vector<std::string> jsonl_files(const fs::path& dir) {
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.is_regular_file() && entry.path().extension() == ".jsonl") {
            files.push_back(entry.path().string());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

fs::path default_case_dir(const std::string& config) {
    const fs::path path(config);
    return path.parent_path() / (path.stem().string() + ".tests");
}

}  // namespace

int test_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    std::string config_path;
    bool record = false;
    std::vector<std::string> case_args;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            out << kUsage;
            return kExitOk;
        }
        if (a == "--config") {
            if (i + 1 >= args.size()) {
                err << "etld test: --config needs a file\n\n" << kUsage;
                return kExitUsage;
            }
            config_path = args[++i];
        } else if (a.starts_with("--config=")) {
            config_path = a.substr(9);
        } else if (a == "--record") {
            record = true;
        } else if (a.starts_with("-")) {
            err << "etld test: unknown option '" << a << "'\n\n" << kUsage;
            return kExitUsage;
        } else {
            case_args.push_back(a);
        }
    }
    if (config_path.empty()) {
        err << "etld test: --config FILE is required\n\n" << kUsage;
        return kExitUsage;
    }

    const conf::LoadResult loaded = conf::load_config_file(config_path);
    if (!loaded.ok()) {
        err << conf::format_errors(loaded.errors());
        return kExitConfig;
    }
    const conf::Config& config = loaded.config();
    const EngineBuild build = build_engine(config, config_path);
    if (!build.errors.empty()) {
        err << conf::format_errors(build.errors);
        return kExitConfig;
    }

    std::vector<std::string> cases;
    std::error_code ec;
    if (case_args.empty()) {
        const fs::path dir = default_case_dir(config_path);
        if (!fs::is_directory(dir, ec)) {
            err << "etld test: no test cases for " << config_path << ": the directory "
                << dir.string() << " does not exist (put *.jsonl case files there, or name "
                << "them on the command line)\n";
            return kExitUsage;
        }
        cases = jsonl_files(dir);
        if (cases.empty()) {
            err << "etld test: no *.jsonl case files in " << dir.string() << "\n";
            return kExitUsage;
        }
    }
    for (const auto& a : case_args) {
        if (fs::is_directory(a, ec)) {
            const auto files = jsonl_files(a);
            if (files.empty()) {
                err << "etld test: no *.jsonl case files in " << a << "\n";
                return kExitUsage;
            }
            cases.insert(cases.end(), files.begin(), files.end());
        } else {
            cases.push_back(a);
        }
    }

    testcase::Routing routing;
    routing.input_topics = config.input.topics;
    routing.partitioned_by = config.input.partitioned_by;
    routing.partitions = config.topics.partitions;
    routing.internal_prefix = config.topics.internal_prefix;
    routing.group_id = config.kafka.group_id;

    const pipeline::EngineSpec& spec = build.engine->spec();
    std::size_t passed = 0;
    std::size_t failed = 0;
    std::size_t invalid = 0;
    std::size_t name_width = 4;
    for (const auto& path : cases) {
        name_width = std::max(name_width, fs::path(path).stem().string().size());
    }
    for (const auto& path : cases) {
        const testcase::CaseParse parsed = testcase::load_case(path, spec);
        if (!parsed.file) {
            ++invalid;
            out << "ERROR " << path << "\n";
            for (const auto& e : parsed.errors) {
                out << testcase::format_error(e) << "\n";
            }
            continue;
        }
        const testcase::CaseFile& file = *parsed.file;
        const std::vector<testcase::Record> actual =
            testcase::run_case(file, build.engine, routing);
        const testcase::CaseOutcome outcome = testcase::compare(file, actual);
        std::string name = file.name;
        if (name.size() < name_width) {
            name.resize(name_width, ' ');
        }
        out << (outcome.passed ? "PASS  " : "FAIL  ") << name << "  " << path << "\n";
        if (outcome.passed) {
            ++passed;
        } else {
            ++failed;
            out << outcome.report;
        }
        if (record) {
            const std::string target = path + ".recorded";
            std::ofstream file_out(target, std::ios::binary | std::ios::trunc);
            file_out << testcase::recorded_case(file, actual, spec);
            file_out.close();
            if (!file_out) {
                err << "etld test: cannot write " << target << "\n";
                return kExitSoftware;
            }
            out << "      recorded " << actual.size() << " outputs to " << target << "\n";
        }
    }
    out << "\n" << passed << " passed, " << failed << " failed";
    if (invalid > 0) {
        out << ", " << invalid << (invalid == 1 ? " case file" : " case files") << " with errors";
    }
    out << "\n";
    if (invalid > 0) {
        return kExitDataErr;
    }
    if (record) {
        return kExitOk;
    }
    return failed > 0 ? 1 : kExitOk;
}

}  // namespace etld::daemon
