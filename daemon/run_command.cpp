#include "daemon/run_command.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <exception>
#include <filesystem>
#include <future>
#include <mutex>
#include <ostream>
#include <thread>

#include "conf/load.h"
#include "conf/reload.h"
#include "conf/secrets.h"
#include "daemon/cli.h"
#include "daemon/control.h"
#include "daemon/engine_spec.h"
#include "daemon/http_server.h"
#include "daemon/log.h"
#include "daemon/materialize.h"
#include "daemon/metrics.h"
#include "daemon/notify.h"
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

const char* signal_name(int sig) {
    switch (sig) {
        case SIGTERM:
            return "SIGTERM";
        case SIGINT:
            return "SIGINT";
        case SIGQUIT:
            return "SIGQUIT";
        case SIGHUP:
            return "SIGHUP";
        default:
            return "a signal";
    }
}

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        out += (out.empty() ? "" : ", ") + item;
    }
    return out;
}

MaterializeConfig materialize_config(const conf::Config& config,
                                     const std::map<std::string, std::string>& secrets) {
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
    return mc;
}

// The running daemon: the runner (replaceable on reload), the materializer,
// the status endpoint and the control socket, driven by the signal thread.
class Service {
  public:
    Service(std::string path, conf::Config config,
            std::shared_ptr<const pipeline::CompiledEngine> engine,
            std::map<std::string, std::string> secrets, sigset_t signals)
        : path_(std::move(path)),
          config_(std::move(config)),
          engine_(std::move(engine)),
          secrets_(std::move(secrets)),
          signals_(signals),
          materializer_(materialize_config(config_, secrets_)) {
        reload_.last_success_unix_ms = unix_ms();
    }

    int run() {
        if (const auto dir = std::filesystem::path(config_.storage.sqlite_path).parent_path();
            !dir.empty()) {
            std::error_code ec;
            std::filesystem::create_directories(dir, ec);
        }
        std::error_code ec;
        std::filesystem::create_directories(config_.service.state_dir, ec);
        try {
            control_ = std::make_unique<ControlServer>(
                control_socket_path(config_.service.state_dir),
                [this](const std::string& command) { return on_control(command); });
        } catch (const ControlError& e) {
            log(Level::error, e.what());
            return kExitConfig;
        }
        if (config_.http.enabled && !start_http()) {
            return kExitConfig;
        }
        start_materializer();
        start_runner();
        log(Level::info, "etld " + std::string(ETLD_VERSION_STRING) + " started with " + path_);
        notifier_.status("starting: joining the consumer group and restoring state");
        main_loop();
        return shutdown();
    }

  private:
    // ---- parts ---------------------------------------------------------------

    bool start_http() {
        try {
            http_ = std::make_unique<StatusServer>(
                config_.http.host, config_.http.port,
                [this](const std::string& route) { return on_http(route); });
            log(Level::info, "status endpoint on http://" + config_.http.host + ":" +
                                 std::to_string(http_->port()) + " (/healthz /readyz /metrics)");
            return true;
        } catch (const StatusServerError& e) {
            log(Level::error, e.what());
            return false;
        }
    }

    void start_materializer() {
        materializer_thread_ = std::thread([this] {
            ::pthread_setname_np(::pthread_self(), "etld:sqlite");
            try {
                materializer_.run();
            } catch (const std::exception& e) {
                log(Level::error, std::string("materializer: ") + e.what());
                exit_code_ = 1;
            }
            materializer_done_ = true;
        });
    }

    void start_runner() {
        auto runner = std::make_shared<kafka::Runner>(
            runner_config(config_, secrets_, engine_),
            [](kafka::LogLevel level, std::string_view message) {
                log(static_cast<Level>(static_cast<int>(level)), message);
            });
        {
            std::lock_guard lock(runner_mutex_);
            runner_ = runner;
        }
        runner_done_ = false;
        ready_sent_ = false;
        runner_thread_ = std::thread([this, runner] {
            ::pthread_setname_np(::pthread_self(), "etld:runner");
            try {
                const kafka::RunOutcome outcome = runner->run();
                if (outcome != kafka::RunOutcome::stopped) {
                    exit_code_ = 1;
                }
            } catch (const std::exception& e) {
                log(Level::error, std::string("runner: ") + e.what());
                exit_code_ = 1;
            }
            runner_done_ = true;
        });
    }

    // Graceful: the in-flight transaction commits, the group is left.
    void stop_runner() {
        current_runner()->stop();
        runner_thread_.join();
    }

    std::shared_ptr<kafka::Runner> current_runner() const {
        std::lock_guard lock(runner_mutex_);
        return runner_;
    }

    StatusInput status_input() const {
        StatusInput in;
        auto runner = current_runner();
        in.runner = runner ? &runner->stats() : nullptr;
        in.materializer = &materializer_.stats();
        {
            std::lock_guard lock(reload_mutex_);
            in.reload = reload_;
        }
        in.version = ETLD_VERSION_STRING;
        in.now_unix_ms = unix_ms();
        return in;
    }

    // Runs on the status server's threads.
    HttpReply on_http(const std::string& route) const {
        // Holds the runner while its stats are read, even if a reload replaces it.
        const auto runner = current_runner();
        StatusInput in = status_input();
        in.runner = runner ? &runner->stats() : nullptr;
        if (route == "/metrics") {
            return HttpReply{200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(in)};
        }
        if (route == "/healthz") {
            const Health h = evaluate_health(in);
            if (h.ok) {
                return HttpReply{200, "text/plain; charset=utf-8", "ok\n"};
            }
            std::string body = "degraded";
            for (const auto& reason : h.reasons) {
                body += "\n" + reason;
            }
            return HttpReply{503, "text/plain; charset=utf-8", body + "\n"};
        }
        if (route == "/readyz") {
            return evaluate_ready(in) ? HttpReply{200, "text/plain; charset=utf-8", "ready\n"}
                                      : HttpReply{503, "text/plain; charset=utf-8",
                                                  "not ready: partitions not assigned or state "
                                                  "not restored\n"};
        }
        return HttpReply{404, "text/plain; charset=utf-8",
                         "not found; try /healthz, /readyz or /metrics\n"};
    }

    // Runs on the control thread: hands the request to the signal thread and
    // waits for its outcome.
    ControlReply on_control(const std::string& command) {
        if (command != "reload") {
            return ControlReply{false, "unknown command '" + command + "'; try reload"};
        }
        std::promise<ControlReply> promise;
        auto future = promise.get_future();
        {
            std::lock_guard lock(requests_mutex_);
            requests_.push_back(std::move(promise));
        }
        return future.get();
    }

    // ---- the signal thread -------------------------------------------------------

    void main_loop() {
        auto last_watchdog = std::chrono::steady_clock::now();
        auto last_status = std::chrono::steady_clock::now();
        while (true) {
            timespec timeout{0, 200'000'000};
            siginfo_t info{};
            const int sig = sigtimedwait(&signals_, &info, &timeout);
            if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
                log(Level::notice, std::string("stopping on ") + signal_name(sig) +
                                       ": finishing the transaction in flight");
                return;
            }
            if (sig == SIGHUP) {
                (void)reload("SIGHUP");
            }
            serve_control_requests();
            if (!ready_sent_ && current_runner()->stats().ready) {
                ready_sent_ = true;
                notifier_.ready(status_line());
                log(Level::info, "ready: partitions assigned and state restored");
            }
            const auto now = std::chrono::steady_clock::now();
            if (const auto interval = notifier_.watchdog_interval();
                interval && now - last_watchdog >= *interval) {
                last_watchdog = now;
                notifier_.watchdog();
            }
            if (now - last_status >= std::chrono::seconds(5)) {
                last_status = now;
                notifier_.status(status_line());
            }
            if (runner_done_) {
                return;  // fenced or fatal; the runner said why
            }
            if (materializer_done_) {
                log(Level::error, "the materializer stopped; stopping");
                exit_code_ = 1;
                return;
            }
        }
    }

    std::string status_line() const {
        const StatusInput in = status_input();
        std::string line;
        if (in.runner != nullptr) {
            line = std::string(in.runner->ready ? "running" : "restoring") + ": " +
                   std::to_string(in.runner->consumed.load()) + " events, " +
                   std::to_string(in.runner->transactions_committed.load()) + " transactions, " +
                   std::to_string(in.runner->assigned_partitions.load()) + " partitions";
        }
        line += "; SQLite " + std::to_string(in.materializer->lag.load()) + " records behind";
        const Health h = evaluate_health(in);
        if (!h.ok) {
            line += "; degraded: " + join(h.reasons);
        }
        return line;
    }

    void serve_control_requests() {
        while (true) {
            std::promise<ControlReply> request;
            {
                std::lock_guard lock(requests_mutex_);
                if (requests_.empty()) {
                    return;
                }
                request = std::move(requests_.front());
                requests_.pop_front();
            }
            request.set_value(reload("etld reload"));
        }
    }

    void reload_failed(const std::string& why) {
        {
            std::lock_guard lock(reload_mutex_);
            reload_.last_successful = false;
            reload_.failed++;
        }
        log(Level::error, "reload rejected; the running configuration stays: " + why);
        notifier_.ready("reload rejected: " + one_line(why) + " | " + status_line());
    }

    void reload_succeeded(const std::string& what) {
        {
            std::lock_guard lock(reload_mutex_);
            reload_.last_successful = true;
            reload_.last_success_unix_ms = unix_ms();
            reload_.succeeded++;
        }
        log(Level::notice, "reloaded " + path_ + ": " + what);
        notifier_.ready("reloaded | " + status_line());
    }

    // Re-reads the file; applies it, or keeps the running configuration and
    // says why.
    ControlReply reload(const std::string& trigger) {
        notifier_.reloading();
        log(Level::info, trigger + ": reloading " + path_);
        const conf::LoadResult loaded = conf::load_config_file(path_);
        if (!loaded.ok()) {
            const std::string errors = conf::format_errors(loaded.errors());
            for (const auto& e : loaded.errors()) {
                log(Level::error, conf::format_error(e));
            }
            reload_failed(std::to_string(loaded.errors().size()) + " error(s) in " + path_);
            return ControlReply{false,
                                errors + "reload rejected; the running configuration stays\n"};
        }
        const conf::Config& next = loaded.config();
        EngineBuild build = build_engine(next, path_);
        if (!build.errors.empty()) {
            const std::string errors = conf::format_errors(build.errors);
            for (const auto& e : build.errors) {
                log(Level::error, conf::format_error(e));
            }
            reload_failed(std::to_string(build.errors.size()) + " error(s) in " + path_);
            return ControlReply{false,
                                errors + "reload rejected; the running configuration stays\n"};
        }
        const conf::ReloadPlan plan = conf::plan_reload(config_, next);
        if (plan.needs_restart()) {
            const std::string why =
                "these settings only change with a restart (systemctl "
                "restart etld): " +
                join(plan.restart_required);
            reload_failed(why);
            return ControlReply{false,
                                why + "\nreload rejected; the running configuration stays\n"};
        }
        if (plan.empty()) {
            reload_succeeded("no changes");
            return ControlReply{true, "no changes\n"};
        }

        std::vector<std::string> done;
        if (next.http.enabled != config_.http.enabled) {
            if (next.http.enabled) {
                if (!start_http()) {
                    reload_failed("the status endpoint cannot start");
                    return ControlReply{false, "the status endpoint cannot start (see the log)\n"};
                }
            } else {
                http_.reset();
            }
            done.push_back(std::string("status endpoint ") + (next.http.enabled ? "on" : "off"));
        }
        if (next.service.log_level != config_.service.log_level) {
            set_log_level(to_level(next.service.log_level));
            done.push_back("log level " + std::string(conf::to_string(next.service.log_level)));
        }
        const bool pipelines_changed =
            !plan.added_pipelines.empty() || !plan.removed_pipelines.empty() ||
            !plan.changed_pipelines.empty() || !(next.pipelines == config_.pipelines);
        if (pipelines_changed) {
            // Tables first, so no result of a new definition finds SQLite unprepared.
            auto spec_done = materializer_.update_spec(to_engine_spec(next));
            if (spec_done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
                reload_failed("the materializer did not take the new tables within 60 s");
                return ControlReply{false, "the materializer did not take the new tables\n"};
            }
            if (const auto error = spec_done.get()) {
                reload_failed("SQLite: " + *error);
                return ControlReply{false, "SQLite: " + *error + "\n"};
            }
        }
        kafka::RunnerUpdate update;
        update.commit_interval = next.kafka.commit_interval;
        update.max_batch_events = next.kafka.max_batch_events;
        if (pipelines_changed) {
            update.engine = build.engine;
        }
        auto runner = current_runner();
        auto outcome_future = runner->update(update);
        const auto limit = std::max<std::chrono::milliseconds>(config_.service.shutdown_timeout,
                                                               std::chrono::seconds(60));
        if (outcome_future.wait_for(limit) != std::future_status::ready) {
            reload_failed("the runner did not reach a transaction boundary in time");
            return ControlReply{false, "the runner did not reach a transaction boundary in time\n"};
        }
        const kafka::UpdateOutcome outcome = outcome_future.get();
        config_ = next;
        if (pipelines_changed) {
            engine_ = build.engine;
        }
        if (outcome.status == kafka::UpdateOutcome::needs_new_runner) {
            log(Level::notice, "reload: " + outcome.message + "; restarting the runner");
            stop_runner();
            if (runner_done_ && exit_code_ != kExitOk) {
                reload_failed("the runner failed while stopping");
                return ControlReply{false, "the runner failed while stopping\n"};
            }
            start_runner();
            done.push_back("runner restarted with the new pipelines");
        } else if (outcome.status != kafka::UpdateOutcome::applied) {
            reload_failed(outcome.message);
            return ControlReply{false, outcome.message + "\n"};
        } else if (pipelines_changed || !plan.live.empty()) {
            done.push_back(outcome.message);
        }
        if (!plan.added_pipelines.empty()) {
            done.push_back("added " + join(plan.added_pipelines));
        }
        if (!plan.removed_pipelines.empty()) {
            done.push_back("removed " + join(plan.removed_pipelines));
        }
        if (!plan.changed_pipelines.empty()) {
            done.push_back("fresh state for " + join(plan.changed_pipelines));
        }
        const std::string summary = join(done);
        reload_succeeded(summary);
        return ControlReply{true, summary + "\n"};
    }

    int shutdown() {
        notifier_.stopping("stopping: finishing the transaction in flight");
        auto runner = current_runner();
        runner->stop();
        const auto timeout = config_.service.shutdown_timeout;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        auto last_extend = std::chrono::steady_clock::time_point{};
        bool aborted = false;
        while (!runner_done_) {
            const auto now = std::chrono::steady_clock::now();
            if (now - last_extend >= std::chrono::seconds(1)) {
                last_extend = now;
                // Tell systemd the stop is progressing (the remaining time, plus margin).
                const auto left = std::max(deadline - now, std::chrono::steady_clock::duration{});
                notifier_.extend_timeout(
                    std::chrono::duration_cast<std::chrono::microseconds>(left) +
                    std::chrono::seconds(10));
            }
            if (!aborted && now >= deadline) {
                aborted = true;
                log(Level::warning, "shutdown_timeout reached: aborting the transaction in flight");
                runner->stop_now();
            }
            timespec wait{0, 200'000'000};
            siginfo_t info{};
            const int sig = sigtimedwait(&signals_, &info, &wait);
            if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
                log(Level::warning, "stopping at once: the transaction in flight is not committed");
                std::_Exit(1);
            }
        }
        runner_thread_.join();
        // Let the materializer apply what the last transaction committed.
        const auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (materializer_.stats().lag > 0 && !materializer_done_ &&
               std::chrono::steady_clock::now() < drain_deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        materializer_.stop();
        materializer_thread_.join();
        {
            // Pending `etld reload` calls get an answer.
            std::lock_guard lock(requests_mutex_);
            for (auto& request : requests_) {
                request.set_value(ControlReply{false, "etld is stopping"});
            }
            requests_.clear();
        }
        control_.reset();
        http_.reset();
        log(Level::info, "etld stopped");
        return exit_code_;
    }

    std::string path_;
    conf::Config config_;
    std::shared_ptr<const pipeline::CompiledEngine> engine_;
    std::map<std::string, std::string> secrets_;
    sigset_t signals_;
    Notifier notifier_;

    OutputMaterializer materializer_;
    std::thread materializer_thread_;
    std::atomic<bool> materializer_done_{false};

    mutable std::mutex runner_mutex_;
    std::shared_ptr<kafka::Runner> runner_;
    std::thread runner_thread_;
    std::atomic<bool> runner_done_{false};
    bool ready_sent_ = false;

    std::atomic<int> exit_code_{kExitOk};

    mutable std::mutex reload_mutex_;
    ReloadStatus reload_;

    std::mutex requests_mutex_;
    std::deque<std::promise<ControlReply>> requests_;

    std::unique_ptr<StatusServer> http_;
    std::unique_ptr<ControlServer> control_;
};

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
    // the signal thread ever sees these signals.
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
    Service service(path, config, build.engine, std::move(secrets), signals);
    return service.run();
}

}  // namespace etld::daemon
