#include "daemon/run_command.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <ostream>
#include <thread>

#include "conf/load.h"
#include "conf/secrets.h"
#include "daemon/cli.h"
#include "daemon/engine_spec.h"
#include "daemon/log.h"
#include "daemon/materialize.h"
#include "pipeline/kafka/runner.h"

namespace etld::daemon {

namespace kafka = pipeline::kafka;

namespace {

sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    return set;
}

Level to_level(conf::LogLevel level) {
    switch (level) {
        case conf::LogLevel::debug:
            return Level::debug;
        case conf::LogLevel::info:
            return Level::info;
        case conf::LogLevel::notice:
            return Level::notice;
        case conf::LogLevel::warning:
            return Level::warning;
        case conf::LogLevel::error:
            return Level::error;
    }
    return Level::info;
}

kafka::RunnerConfig runner_config(const conf::Config& config,
                                  const std::map<std::string, std::string>& secrets,
                                  std::shared_ptr<const pipeline::CompiledEngine> engine) {
    kafka::RunnerConfig rc;
    rc.consumer.emplace_back("bootstrap.servers", config.kafka.bootstrap_servers);
    rc.producer.emplace_back("bootstrap.servers", config.kafka.bootstrap_servers);
    for (const auto& [k, v] : config.kafka.consumer) {
        rc.consumer.emplace_back(k, v);
    }
    for (const auto& [k, v] : config.kafka.producer) {
        rc.producer.emplace_back(k, v);
    }
    for (const auto& [k, v] : secrets) {
        rc.consumer.emplace_back(k, v);
        rc.producer.emplace_back(k, v);
    }
    rc.group_id = config.kafka.group_id;
    rc.transactional_id = config.kafka.transactional_id;
    rc.input_topics = config.input.topics;
    rc.partitioned_by = config.input.partitioned_by;
    rc.output_topic = config.topics.output;
    rc.late_topic = config.topics.late;
    rc.dead_letter_topic = config.topics.dead_letter;
    rc.internal_prefix = config.topics.internal_prefix;
    rc.partitions = config.topics.partitions;
    rc.replication_factor = config.topics.replication_factor;
    rc.retention = config.topics.retention;
    rc.commit_interval = config.kafka.commit_interval;
    rc.max_batch_events = config.kafka.max_batch_events;
    rc.engine = std::move(engine);
    return rc;
}

}  // namespace

int run_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    (void)out;
    std::string path;
    for (size_t i = 0; i < args.size(); ++i) {
        if ((args[i] == "--config" || args[i] == "-c") && i + 1 < args.size()) {
            path = args[++i];
        } else {
            err << "etld run: unexpected argument '" << args[i] << "'\n"
                << "usage: etld run --config FILE\n";
            return kExitUsage;
        }
    }
    if (path.empty()) {
        err << "usage: etld run --config FILE\n";
        return kExitUsage;
    }

    // Before any thread exists, so every thread inherits the mask and only
    // this one ever sees these signals.
    const sigset_t signals = handled_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    const conf::LoadResult loaded = conf::load_config_file(path);
    if (!loaded.ok()) {
        err << conf::format_errors(loaded.errors());
        return kExitConfig;
    }
    const conf::Config& config = loaded.config();
    EngineBuild build = build_engine(config, path);
    if (!build.errors.empty()) {
        err << conf::format_errors(build.errors);
        return kExitConfig;
    }
    set_log_level(to_level(config.service.log_level));
    std::map<std::string, std::string> secrets;
    try {
        secrets = conf::resolve_secrets(config.kafka);
    } catch (const conf::SecretError& e) {
        log(Level::error, e.what());
        return kExitConfig;
    }

    kafka::Runner runner(runner_config(config, secrets, build.engine),
                         [](kafka::LogLevel level, std::string_view message) {
                             log(static_cast<Level>(static_cast<int>(level)), message);
                         });

    MaterializeConfig mc;
    mc.db_path = config.storage.sqlite_path;
    mc.busy_timeout = config.storage.busy_timeout;
    mc.output_topic = config.topics.output;
    mc.consumer.emplace_back("bootstrap.servers", config.kafka.bootstrap_servers);
    for (const auto& [k, v] : secrets) {
        mc.consumer.emplace_back(k, v);
    }
    for (const auto& [k, v] : config.kafka.consumer) {
        if (k.rfind("security.", 0) == 0 || k.rfind("sasl.", 0) == 0 || k.rfind("ssl.", 0) == 0) {
            mc.consumer.emplace_back(k, v);
        }
    }
    mc.spec = to_engine_spec(config);
    if (const auto dir = std::filesystem::path(mc.db_path).parent_path(); !dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
    }
    OutputMaterializer materializer(std::move(mc));

    std::atomic<bool> runner_done{false};
    std::atomic<int> exit_code{kExitOk};
    std::thread runner_thread([&] {
        try {
            const kafka::RunOutcome outcome = runner.run();
            if (outcome != kafka::RunOutcome::stopped) {
                exit_code = 1;
            }
        } catch (const std::exception& e) {
            log(Level::error, std::string("runner: ") + e.what());
            exit_code = 1;
        }
        runner_done = true;
    });
    std::atomic<bool> materializer_done{false};
    std::thread materializer_thread([&] {
        try {
            materializer.run();
        } catch (const std::exception& e) {
            log(Level::error, std::string("materializer: ") + e.what());
            exit_code = 1;
            runner.stop();
        }
        materializer_done = true;
    });

    log(Level::info, "etld " + std::string(ETLD_VERSION_STRING) + " started with " + path);
    int terminations = 0;
    while (!runner_done) {
        timespec timeout{0, 200'000'000};
        siginfo_t info{};
        const int sig = sigtimedwait(&signals, &info, &timeout);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
            ++terminations;
            if (terminations == 1) {
                log(Level::notice, "stopping: finishing the transaction in flight");
                runner.stop();
            } else {
                log(Level::warning, "stopping at once: the transaction in flight is not committed");
                std::_Exit(1);
            }
        } else if (sig == SIGHUP) {
            log(Level::notice,
                "SIGHUP: live reload is not available in this version; restart etld to apply "
                "configuration changes");
        }
        if (materializer_done && !runner_done) {
            runner.stop();
        }
    }
    runner_thread.join();
    // Let the materializer apply what the last transaction committed.
    const auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (materializer.stats().lag > 0 && std::chrono::steady_clock::now() < drain_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    materializer.stop();
    materializer_thread.join();
    log(Level::info, "etld stopped");
    return exit_code;
}

}  // namespace etld::daemon
