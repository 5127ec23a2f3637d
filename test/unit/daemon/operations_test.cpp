// The daemon's operations plumbing without a broker: sd_notify datagrams on a
// real NOTIFY_SOCKET (path and abstract), the Prometheus text checked by a
// real parser (Debian's python3-prometheus-client, run by /usr/bin/python3 since
// another python3 may come first on PATH), health rules, the control socket.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "daemon/control.h"
#include "daemon/metrics.h"
#include "daemon/notify.h"

namespace fs = std::filesystem;
using namespace etld::daemon;

namespace {

fs::path scratch_dir(const std::string& name) {
    fs::path dir =
        fs::temp_directory_path() / ("etld-ops-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// A datagram socket standing in for systemd's notification socket.
class NotifySocket {
  public:
    // `name` starting with '@' is an abstract socket.
    explicit NotifySocket(const std::string& name) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, name.data(), name.size());
        socklen_t len = sizeof(addr);
        if (name[0] == '@') {
            addr.sun_path[0] = '\0';
            len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
        }
        BOOST_REQUIRE_MESSAGE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0,
                              std::strerror(errno));
        ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
    }
    ~NotifySocket() {
        ::close(fd_);
        ::unsetenv("NOTIFY_SOCKET");
    }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    std::string receive() {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 2000) != 1) {
            return "<nothing within 2 s>";
        }
        std::array<char, 4096> buffer{};
        const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
        return n < 0 ? "<recv failed>" : std::string(buffer.data(), static_cast<std::size_t>(n));
    }

  private:
    int fd_ = -1;
};

std::uint64_t monotonic_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec) / 1000ULL;
}

std::string run_capture(const std::string& command, int& status) {
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    BOOST_REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) {
        out += buffer.data();
    }
    status = ::pclose(pipe);
    return out;
}

// Parses Prometheus text with prometheus_client and prints one line per
// sample: "name{k=v,...} value" with labels sorted; exits non-zero when the
// text does not parse.
const char* kParser = R"PY(
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
for family in text_string_to_metric_families(text):
    print("family", family.name, family.type)
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value!r}")
)PY";

std::map<std::string, std::string> parse_prometheus(const std::string& text) {
    const fs::path dir = scratch_dir("prom");
    std::ofstream(dir / "metrics.txt") << text;
    std::ofstream(dir / "parse.py") << kParser;
    int status = 0;
    const std::string out = run_capture("/usr/bin/python3 " + (dir / "parse.py").string() + " " +
                                            (dir / "metrics.txt").string() + " 2>&1",
                                        status);
    BOOST_REQUIRE_MESSAGE(status == 0, "prometheus_client rejected the text:\n" + out);
    std::map<std::string, std::string> samples;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        const auto space = line.rfind(' ');
        samples[line.substr(0, space)] = line.substr(space + 1);
    }
    fs::remove_all(dir);
    return samples;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(notify)

BOOST_AUTO_TEST_CASE(datagrams_reach_a_path_socket_in_order) {
    const fs::path dir = scratch_dir("notify");
    NotifySocket socket((dir / "notify.sock").string());
    Notifier n;
    BOOST_TEST(n.enabled());
    n.ready("running: 0 events");
    BOOST_TEST(socket.receive() == "READY=1\nSTATUS=running: 0 events");
    const std::uint64_t before = monotonic_usec();
    n.reloading();
    const std::string reloading = socket.receive();
    const std::uint64_t after = monotonic_usec();
    BOOST_TEST(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0) == 0);
    const std::uint64_t stamp =
        std::stoull(reloading.substr(std::strlen("RELOADING=1\nMONOTONIC_USEC=")));
    BOOST_TEST(stamp >= before);
    BOOST_TEST(stamp <= after);
    n.stopping("stopping:\nnow");
    BOOST_TEST(socket.receive() == "STOPPING=1\nSTATUS=stopping: now");
    n.extend_timeout(std::chrono::seconds(40));
    BOOST_TEST(socket.receive() == "EXTEND_TIMEOUT_USEC=40000000");
    n.watchdog();
    BOOST_TEST(socket.receive() == "WATCHDOG=1");
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(datagrams_reach_an_abstract_socket) {
    NotifySocket socket("@etld-notify-test-" + std::to_string(::getpid()));
    Notifier n;
    n.status("hello");
    BOOST_TEST(socket.receive() == "STATUS=hello");
}

BOOST_AUTO_TEST_CASE(watchdog_interval_is_half_the_timeout) {
    NotifySocket socket("@etld-watchdog-test-" + std::to_string(::getpid()));
    ::setenv("WATCHDOG_USEC", "3000000", 1);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    Notifier n;
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    BOOST_REQUIRE(n.watchdog_interval().has_value());
    BOOST_TEST(n.watchdog_interval()->count() == 1'500'000);
}

BOOST_AUTO_TEST_CASE(without_notify_socket_nothing_is_sent) {
    ::unsetenv("NOTIFY_SOCKET");
    Notifier n;
    BOOST_TEST(!n.enabled());
    BOOST_TEST(!n.send("READY=1"));
    BOOST_TEST(!n.watchdog_interval().has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(prometheus_text_parses_and_carries_the_counters) {
    etld::pipeline::kafka::RunnerStats runner;
    runner.consumed = 1234;
    runner.duplicates = 17;
    runner.rejected_by_reason[static_cast<std::size_t>(etld::pipeline::RejectReason::not_json)] = 3;
    runner.transactions_committed = 40;
    runner.transactions_aborted = 2;
    runner.ready = true;
    runner.commit_seconds.observe(std::chrono::milliseconds(3));
    runner.commit_seconds.observe(std::chrono::milliseconds(30));
    runner.commit_seconds.observe(std::chrono::seconds(100));
    etld::pipeline::kafka::RunnerDetail detail;
    detail.results_by_pipeline["revenue \"EU\" \\ all"] = 9;
    detail.pipelines.push_back({"revenue", 1767225600000, 12});
    detail.lags.push_back({"shop.events", 2, 77});
    runner.publish(detail);
    MaterializeStats sqlite;
    sqlite.lag = 5;
    sqlite.applied = 99;

    StatusInput in;
    in.runner = &runner;
    in.materializer = &sqlite;
    in.version = "1.2.3";
    in.reload.last_successful = false;
    in.reload.failed = 1;
    const auto s = parse_prometheus(render_metrics(in));

    BOOST_TEST(s.at("family etld_events_consumed") == "counter");
    BOOST_TEST(s.at("etld_events_consumed_total{}") == "1234.0");
    BOOST_TEST(s.at("etld_duplicates_dropped_total{}") == "17.0");
    BOOST_TEST(s.at("etld_rejected_total{reason=not_json}") == "3.0");
    BOOST_TEST(s.at("etld_rejected_total{reason=bad_timestamp}") == "0.0");
    BOOST_TEST(s.at("etld_transactions_aborted_total{}") == "2.0");
    BOOST_TEST(s.at("family etld_commit_duration_seconds") == "histogram");
    BOOST_TEST(s.at("etld_commit_duration_seconds_bucket{le=0.005}") == "1.0");
    BOOST_TEST(s.at("etld_commit_duration_seconds_bucket{le=0.05}") == "2.0");
    BOOST_TEST(s.at("etld_commit_duration_seconds_bucket{le=30}") == "2.0");
    BOOST_TEST(s.at("etld_commit_duration_seconds_bucket{le=+Inf}") == "3.0");
    BOOST_TEST(s.at("etld_commit_duration_seconds_count{}") == "3.0");
    BOOST_TEST(s.at("etld_commit_duration_seconds_sum{}") == "100.033");
    BOOST_TEST(s.at("etld_results_total{pipeline=revenue \"EU\" \\ all}") == "9.0");
    BOOST_TEST(s.at("etld_watermark_seconds{pipeline=revenue}") == "1767225600.0");
    BOOST_TEST(s.at("etld_open_windows{pipeline=revenue}") == "12.0");
    BOOST_TEST(s.at("etld_consumer_lag_records{partition=2,topic=shop.events}") == "77.0");
    BOOST_TEST(s.at("etld_sqlite_apply_lag_records{}") == "5.0");
    BOOST_TEST(s.at("etld_config_last_reload_successful{}") == "0.0");
    BOOST_TEST(s.at("etld_build_info{version=1.2.3}") == "1.0");
    BOOST_TEST(s.at("etld_ready{}") == "1.0");
}

BOOST_AUTO_TEST_CASE(health_names_each_reason) {
    etld::pipeline::kafka::RunnerStats runner;
    MaterializeStats sqlite;
    StatusInput in;
    in.runner = &runner;
    in.materializer = &sqlite;
    in.now_unix_ms = 1'000'000;
    sqlite.last_caught_up_unix_ms = 999'000;
    BOOST_TEST(evaluate_health(in).ok);

    runner.broker_down = true;
    runner.degraded = true;
    sqlite.lag = 40'000;
    sqlite.last_caught_up_unix_ms = 1'000'000 - 45'000;
    sqlite.healthy = false;
    const Health h = evaluate_health(in);
    BOOST_TEST(!h.ok);
    BOOST_REQUIRE(h.reasons.size() == 4U);
    BOOST_TEST(h.reasons[0] == "broker unreachable");
    BOOST_TEST(h.reasons[1] == "transactions failing");
    BOOST_TEST(h.reasons[2] == "materializer failing to write SQLite");
    BOOST_TEST(h.reasons[3] == "materializer lagging: 40000 records behind for 45 s");

    // Behind, but caught up recently: not lagging.
    runner.broker_down = false;
    runner.degraded = false;
    sqlite.healthy = true;
    sqlite.last_caught_up_unix_ms = 1'000'000 - 5'000;
    BOOST_TEST(evaluate_health(in).ok);
}

BOOST_AUTO_TEST_CASE(not_ready_without_a_runner_or_before_restore) {
    StatusInput in;
    BOOST_TEST(!evaluate_ready(in));
    etld::pipeline::kafka::RunnerStats runner;
    in.runner = &runner;
    BOOST_TEST(!evaluate_ready(in));
    runner.ready = true;
    BOOST_TEST(evaluate_ready(in));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(control)

BOOST_AUTO_TEST_CASE(a_request_gets_the_handlers_reply) {
    const fs::path dir = scratch_dir("control");
    const std::string path = control_socket_path(dir.string() + "/");
    BOOST_TEST(path == (dir / "control.sock").string());
    std::ofstream(path) << "stale";  // a leftover file is replaced
    std::string seen;
    {
        ControlServer server(path, [&](const std::string& command) {
            seen = command;
            return ControlReply{command == "reload", "applied: log level debug\n"};
        });
        BOOST_CHECK_THROW(ControlServer(path, [](const std::string&) { return ControlReply{}; }),
                          ControlError);
        const ControlReply reply = send_control(path, "reload", 5);
        BOOST_TEST(seen == "reload");
        BOOST_TEST(reply.ok);
        BOOST_TEST(reply.detail == "applied: log level debug\n");
        const ControlReply refused = send_control(path, "explode", 5);
        BOOST_TEST(!refused.ok);
    }
    BOOST_TEST(!fs::exists(path));
    BOOST_CHECK_THROW(send_control(path, "reload", 1), ControlError);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
