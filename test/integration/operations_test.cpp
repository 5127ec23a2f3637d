// etld as systemd and an operator see it, against the real broker: the
// sd_notify sequence on a real NOTIFY_SOCKET (start, reload, stop), the
// status endpoint over HTTP with its metrics read by a real Prometheus parser,
// an invalid reload (SIGHUP) and a valid one (`etld reload`) while events
// flow, and SIGTERM in the middle of the stream followed by a restart — after
// which every window equals an independent count of the events produced.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "broker.h"
#include "etld_process.h"
#include "pipeline/kafka/client.h"
#include "pipeline/kafka/handles.h"
#include "storage/sqlite.h"

namespace {

using namespace etld;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kT0 = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr int kPartitions = 3;
const std::vector<std::string> kTypes = {"view", "add_to_cart", "purchase", "remove_from_cart"};

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

// The datagram socket systemd would own; abstract, named after this process.
class NotifySocket {
  public:
    NotifySocket() : name_("@etld-ops-" + std::to_string(::getpid())) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path + 1, name_.data() + 1, name_.size() - 1);
        const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
        BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0);
        ::setenv("NOTIFY_SOCKET", name_.c_str(), 1);
    }
    ~NotifySocket() {
        ::unsetenv("NOTIFY_SOCKET");
        ::close(fd_);
    }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    // Collects datagrams until one contains `needle`; all of them are kept.
    bool wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 200) != 1) {
                continue;
            }
            std::array<char, 4096> buffer{};
            const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
            if (n > 0) {
                seen.emplace_back(buffer.data(), static_cast<std::size_t>(n));
                if (seen.back().find(needle) != std::string::npos) {
                    return true;
                }
            }
        }
        return false;
    }
    std::string all() const {
        std::string out;
        for (const auto& s : seen) {
            out += "[" + s + "] ";
        }
        return out;
    }

    std::vector<std::string> seen;

  private:
    std::string name_;
    int fd_ = -1;
};

struct HttpResult {
    int status = 0;
    std::string body;
};

HttpResult http_get(std::uint16_t port, const std::string& path) {
    try {
        Poco::Net::HTTPClientSession session("127.0.0.1", port);
        session.setTimeout(Poco::Timespan(5, 0));
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path);
        session.sendRequest(request);
        Poco::Net::HTTPResponse response;
        std::istream& in = session.receiveResponse(response);
        std::ostringstream body;
        body << in.rdbuf();
        return HttpResult{static_cast<int>(response.getStatus()), body.str()};
    } catch (const std::exception& e) {
        return HttpResult{0, e.what()};
    }
}

// Samples of a Prometheus text, parsed by Debian's python3-prometheus-client:
// "name{k=v,...}" -> value. Fails the test when the text does not parse.
std::map<std::string, double> parse_metrics(const std::string& text, const std::string& dir) {
    std::ofstream(dir + "/metrics.txt") << text;
    std::ofstream(dir + "/parse.py") << R"PY(
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}}\t{s.value!r}")
)PY";
    FILE* pipe = ::popen(
        ("/usr/bin/python3 " + dir + "/parse.py " + dir + "/metrics.txt 2>&1").c_str(), "r");
    BOOST_REQUIRE(pipe != nullptr);
    std::string out;
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) {
        out += buffer.data();
    }
    BOOST_REQUIRE_MESSAGE(::pclose(pipe) == 0, "prometheus_client rejected /metrics:\n" + out);
    std::map<std::string, double> samples;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        const auto tab = line.find('\t');
        samples[line.substr(0, tab)] = std::stod(line.substr(tab + 1));
    }
    return samples;
}

int run_etld_reload(const std::string& config, std::string& output) {
    const std::string command = test::etld_binary() + " reload --config " + config + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) {
        output += buffer.data();
    }
    const int status = ::pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct Event {
    std::string id;
    std::int64_t time = 0;
    std::string user;
    std::string type;
    int partition = 0;
};

std::string iso(std::int64_t ms) {
    const std::time_t s = ms / 1000;
    std::tm tm{};
    gmtime_r(&s, &tm);
    std::array<char, 32> buffer{};
    std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    return std::string(buffer.data()) + "." + std::to_string(1000 + ms % 1000).substr(1) + "Z";
}

test::ProducedRecord record(const Event& e) {
    return test::ProducedRecord{e.partition, e.user,
                                R"({"event_id":")" + e.id + R"(","timestamp":")" + iso(e.time) +
                                    R"(","user_id":")" + e.user + R"(","event_type":")" + e.type +
                                    R"(","product":"mouse","price":10.0,"quantity":1})"};
}

// Events `first`..`last`-1, one per 400 ms of event time, users keyed to
// partitions (user_i lives on partition i % 3).
std::vector<Event> make_events(int first, int last) {
    std::vector<Event> out;
    for (int i = first; i < last; ++i) {
        const int user = (i * 7) % 12;
        out.push_back(Event{
            "e" + std::to_string(i), kT0 + std::int64_t{i} * 400, "user_" + std::to_string(user),
            kTypes[static_cast<std::size_t>((i * 5 + i / 3) % 4)], user % kPartitions});
    }
    return out;
}

std::int64_t window_start(std::int64_t t, std::int64_t size) {
    return t - t % size;
}

std::string write_config(const std::string& dir, const std::string& bootstrap,
                         const std::string& name, std::uint16_t port, bool with_extra_pipeline,
                         const std::string& junk = "") {
    std::ostringstream c;
    c << "[service]\nstate_dir = \"" << dir << "\"\nshutdown_timeout = \"20s\"\n"
      << "[kafka]\nbootstrap_servers = \"" << bootstrap << "\"\ngroup_id = \"" << name
      << "-group\"\ntransactional_id = \"" << name << "-txn\"\ncommit_interval = \""
      << (with_extra_pipeline ? "50ms" : "100ms") << "\"\nmax_batch_events = 200\n"
      << "[kafka.consumer]\n\"session.timeout.ms\" = \"6000\"\n"
      // Not partitioned by a group-by field: copies of an event may arrive on
      // any partition, so every pipeline goes through a repartition topic.
      << "[input]\ntopics = [\"" << name << "-in\"]\n"
      << "[schema]\nid_field = \"event_id\"\ntime_field = \"timestamp\"\n"
      << "[schema.fields]\nuser_id = \"string\"\nevent_type = \"string\"\n"
      << "product = \"string\"\nprice = \"double\"\nquantity = \"int\"\n"
      // The consumer reads partitions unevenly (a fetch of one partition can be
      // minutes of event time ahead of another): only the flush closes windows.
      << "[watermark]\nmax_out_of_orderness = \"1h\"\nidle_timeout = \"1d\"\n"
      << "[topics]\noutput = \"" << name << "-out\"\nlate = \"" << name
      << "-late\"\ndead_letter = \"" << name << "-dead\"\ninternal_prefix = \"" << name
      << "\"\npartitions = 3\n"
      << "[storage]\nsqlite_path = \"" << dir << "/results.db\"\n"
      << "[http]\nlisten = \"127.0.0.1:" << port << "\"\n"
      << "[[pipeline]]\nname = \"per_user\"\nwindow = { type = \"tumbling\", size = \"1m\" }\n"
      << "group_by = [\"user_id\"]\naggregate = [ { name = \"n\", fn = \"count\" } ]\n"
      << "[[pipeline]]\nname = \"per_type\"\nwindow = { type = \"tumbling\", size = \"1m\" }\n"
      << "group_by = [\"event_type\"]\naggregate = [ { name = \"n\", fn = \"count\" } ]\n";
    if (with_extra_pipeline) {
        c << "[[pipeline]]\nname = \"per_type_30s\"\n"
          << "window = { type = \"tumbling\", size = \"30s\" }\n"
          << "group_by = [\"event_type\"]\naggregate = [ { name = \"n\", fn = \"count\" } ]\n";
    }
    c << junk;
    const std::string path = dir + "/etld.toml";
    std::ofstream(path) << c.str();
    return path;
}

using Counts = std::map<std::tuple<std::int64_t, std::string>, std::int64_t>;

Counts sqlite_counts(const std::string& db_path, const std::string& table,
                     const std::string& group) {
    Counts out;
    try {
        storage::Database db(db_path, storage::Database::Mode::read_only);
        auto prepared =
            db.prepare("SELECT window_start, \"" + group + "\", n FROM \"" + table + "\"");
        if (prepared.error) {
            return out;
        }
        while (true) {
            const auto r = prepared.statement.step();
            if (r.error || r.step != storage::Statement::Step::row) {
                break;
            }
            out[{prepared.statement.column_int64(0), prepared.statement.column_text(1)}] =
                prepared.statement.column_int64(2);
        }
    } catch (const std::exception&) {
        // Not created yet.
    }
    return out;
}

// The events first..last-1 as records; every 10th is sent twice, the copy on
// another partition.
std::vector<test::ProducedRecord> records_of(const std::vector<Event>& events, int first,
                                             int last) {
    std::vector<test::ProducedRecord> out;
    for (int i = first; i < last; ++i) {
        out.push_back(record(events[static_cast<std::size_t>(i)]));
        if (i % 10 == 0) {
            Event copy = events[static_cast<std::size_t>(i)];
            copy.partition = (copy.partition + 1) % kPartitions;
            out.push_back(record(copy));
        }
    }
    return out;
}

// A day later: every user with every type, so that every task of both
// keyspaces sees it and closes its windows.
std::vector<test::ProducedRecord> flush_records() {
    std::vector<test::ProducedRecord> flush;
    for (int user = 0; user < 12; ++user) {
        for (const auto& type : kTypes) {
            flush.push_back(
                record(Event{"flush-" + std::to_string(user) + type, kT0 + 86'400'000,
                             "user_" + std::to_string(user), type, user % kPartitions}));
        }
    }
    return flush;
}

// True once the group has committed every record of `topic`. The test's own
// input topic has no transaction markers (committed == end); etld's
// repartition topics end with one after every committed transaction.
bool drained(const std::string& group, const std::string& topic, bool transactional) {
    auto consumer = pipeline::kafka::make_consumer(
        {{"bootstrap.servers", test::bootstrap_servers()}, {"group.id", group}});
    pipeline::kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(kPartitions));
    for (int p = 0; p < kPartitions; ++p) {
        rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    }
    if (rd_kafka_committed(consumer.get(), list.get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return false;
    }
    for (int p = 0; p < kPartitions; ++p) {
        std::int64_t low = 0;
        std::int64_t high = 0;
        if (rd_kafka_query_watermark_offsets(consumer.get(), topic.c_str(), p, &low, &high,
                                             10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return false;
        }
        const std::int64_t committed = std::max<std::int64_t>(list->elems[p].offset, low);
        if (committed < (transactional && high > low ? high - 1 : high)) {
            return false;
        }
    }
    return true;
}

// Waits until etld has consumed and committed all input, then every
// repartition topic, so a flush sent next cannot overtake the stream.
void wait_drained(const std::string& name) {
    const std::string group = name + "-group";
    const std::string base = name + "-" + group;
    BOOST_REQUIRE(test::wait_until([&] { return drained(group, name + "-in", false); },
                                   std::chrono::seconds(180)));
    for (const char* keyspace : {"user_id", "event_type"}) {
        const std::string topic = base + "-repartition-" + keyspace;
        BOOST_REQUIRE_MESSAGE(test::wait_until([&] { return drained(group, topic, true); },
                                               std::chrono::seconds(180)),
                              topic + " was not drained");
    }
}

Counts count_windows(const std::vector<Event>& events, std::int64_t size, bool by_user,
                     std::int64_t from_time = 0) {
    Counts out;
    for (const auto& e : events) {
        if (e.time >= from_time) {
            out[{window_start(e.time, size), by_user ? e.user : e.type}]++;
        }
    }
    return out;
}

std::string log_tail(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    const std::string all = text.str();
    return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
}

std::string describe(const Counts& expected, const Counts& actual) {
    std::ostringstream out;
    for (const auto& [key, n] : expected) {
        auto it = actual.find(key);
        if (it == actual.end() || it->second != n) {
            out << "window " << std::get<0>(key) << " " << std::get<1>(key) << ": expected " << n
                << ", got "
                << (it == actual.end() ? std::string("nothing") : std::to_string(it->second))
                << "\n";
        }
    }
    for (const auto& [key, n] : actual) {
        if (expected.count(key) == 0) {
            out << "window " << std::get<0>(key) << " " << std::get<1>(key) << ": unexpected " << n
                << "\n";
        }
    }
    return out.str();
}

// The reference: each event once, counted in its 1-minute window, per user
// and per type; SQLite must hold exactly that.
void expect_exact_windows(const std::string& db, const std::vector<Event>& events,
                          const std::string& log) {
    const Counts per_user = count_windows(events, 60'000, true);
    const Counts per_type = count_windows(events, 60'000, false);
    test::wait_until(
        [&] {
            return sqlite_counts(db, "per_user", "user_id").size() >= per_user.size() &&
                   sqlite_counts(db, "per_type", "event_type").size() >= per_type.size();
        },
        std::chrono::seconds(120));
    const Counts got_user = sqlite_counts(db, "per_user", "user_id");
    const Counts got_type = sqlite_counts(db, "per_type", "event_type");
    BOOST_TEST(got_user == per_user, describe(per_user, got_user) << log_tail(log));
    BOOST_TEST(got_type == per_type, describe(per_type, got_type));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(operations)

BOOST_AUTO_TEST_CASE(notify_reload_metrics_and_sigterm_mid_stream_keep_results_exact) {
    test::TempDir dir;
    const std::string name = test::unique_name("ops");
    const std::string bootstrap = test::bootstrap_servers();
    test::create_topic(name + "-in", kPartitions);
    const std::uint16_t port = free_port();
    std::string config = write_config(dir.path, bootstrap, name, port, false);
    const std::string log = dir.path + "/etld.log";
    NotifySocket notify;

    // Events 0..599 before the reloads, 600..1199 after, 1200..1799 across a
    // SIGTERM. Every 10th event is sent twice, the copy on another partition.
    const std::vector<Event> events = make_events(0, 1800);
    auto batch = [&](int first, int last) { return records_of(events, first, last); };

    auto etld = std::make_unique<test::EtldProcess>(config, log);
    BOOST_REQUIRE_MESSAGE(notify.wait_for("READY=1", std::chrono::seconds(90)),
                          "no READY=1; got " + notify.all());
    BOOST_TEST(http_get(port, "/readyz").status == 200);
    BOOST_TEST(http_get(port, "/healthz").body == "ok\n");
    BOOST_TEST(http_get(port, "/nothing").status == 404);

    test::produce_records(name + "-in", batch(0, 300));

    // An invalid file on SIGHUP: rejected, the old configuration keeps running.
    write_config(dir.path, bootstrap, name, port, true, "[bogus]\nkey = 1\n");
    etld->signal(SIGHUP);
    BOOST_REQUIRE_MESSAGE(notify.wait_for("RELOADING=1", std::chrono::seconds(20)), notify.all());
    BOOST_REQUIRE_MESSAGE(notify.wait_for("READY=1", std::chrono::seconds(20)), notify.all());
    BOOST_TEST(notify.seen.back().find("reload rejected") != std::string::npos);
    auto metrics = parse_metrics(http_get(port, "/metrics").body, dir.path);
    BOOST_TEST(metrics["etld_config_last_reload_successful{}"] == 0.0);
    BOOST_TEST(metrics["etld_config_reloads_total{result=failure}"] == 1.0);

    test::produce_records(name + "-in", batch(300, 600));

    // A valid file through `etld reload`: a pipeline added, the commit interval changed.
    config = write_config(dir.path, bootstrap, name, port, true);
    std::string reload_output;
    BOOST_TEST(run_etld_reload(config, reload_output) == 0, reload_output);
    BOOST_TEST(reload_output.find("added per_type_30s") != std::string::npos, reload_output);
    metrics = parse_metrics(http_get(port, "/metrics").body, dir.path);
    BOOST_TEST(metrics["etld_config_last_reload_successful{}"] == 1.0);

    test::produce_records(name + "-in", batch(600, 1200));

    // SIGTERM while the third part streams in: the transaction in flight
    // commits, etld exits 0 and says STOPPING=1; a restart finishes the job.
    std::thread producer([&] { test::produce_records(name + "-in", batch(1200, 1800)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    etld->signal(SIGTERM);
    BOOST_TEST(etld->wait(std::chrono::seconds(40)) == 0);
    producer.join();
    BOOST_TEST(notify.wait_for("STOPPING=1", std::chrono::seconds(5)), notify.all());
    etld = std::make_unique<test::EtldProcess>(config, log);

    wait_drained(name);
    test::produce_records(name + "-in", flush_records());

    const std::string db = dir.path + "/results.db";
    expect_exact_windows(db, events, log);

    // The pipeline added by the reload counts what arrived after it: its
    // windows from the second part on are complete.
    const Counts per_type_30s = count_windows(events, 30'000, false, kT0 + 600 * 400 + 30'000);
    const Counts got_30s = sqlite_counts(db, "per_type_30s", "event_type");
    for (const auto& [key, n] : per_type_30s) {
        auto it = got_30s.find(key);
        BOOST_TEST((it != got_30s.end() && it->second == n),
                   "per_type_30s window " << std::get<0>(key) << " " << std::get<1>(key)
                                          << ": expected " << n);
    }

    metrics = parse_metrics(http_get(port, "/metrics").body, dir.path);
    BOOST_TEST(metrics["etld_duplicates_dropped_total{}"] > 0.0);
    BOOST_TEST(metrics["etld_ready{}"] == 1.0);
    BOOST_TEST(metrics.count("etld_commit_duration_seconds_count{}") == 1U);
    etld->signal(SIGTERM);
    BOOST_TEST(etld->wait(std::chrono::seconds(40)) == 0);
}

BOOST_AUTO_TEST_CASE(a_locked_database_delays_sqlite_but_loses_nothing) {
    test::TempDir dir;
    const std::string name = test::unique_name("lock");
    test::create_topic(name + "-in", kPartitions);
    const std::uint16_t port = free_port();
    const std::string config = write_config(dir.path, test::bootstrap_servers(), name, port, false);
    const std::string log = dir.path + "/etld.log";
    const std::string db = dir.path + "/results.db";
    const std::vector<Event> events = make_events(0, 900);

    test::EtldProcess etld(config, log);
    BOOST_REQUIRE(test::wait_until([&] { return http_get(port, "/readyz").status == 200; },
                                   std::chrono::seconds(90)));
    test::produce_records(name + "-in", records_of(events, 0, 900));
    wait_drained(name);

    // Another writer holds the database while the results are produced.
    storage::Database locker(db, storage::Database::Mode::read_write_create);
    locker.set_busy_timeout(std::chrono::seconds(10));
    BOOST_REQUIRE(!locker.exec("BEGIN IMMEDIATE"));
    test::produce_records(name + "-in", flush_records());
    HttpResult health;
    BOOST_TEST(test::wait_until(
                   [&] {
                       health = http_get(port, "/healthz");
                       return health.body.find("materializer failing") != std::string::npos;
                   },
                   std::chrono::seconds(60)),
               "healthz: " << health.body << log_tail(log));
    // Processing goes on: the transactions keep committing.
    const double committed_before = parse_metrics(http_get(port, "/metrics").body,
                                                  dir.path)["etld_transactions_committed_total{}"];
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto metrics = parse_metrics(http_get(port, "/metrics").body, dir.path);
    BOOST_TEST(metrics["etld_transactions_committed_total{}"] > committed_before);
    BOOST_TEST(metrics["etld_sqlite_apply_retries_total{}"] > 0.0);
    BOOST_REQUIRE(!locker.exec("ROLLBACK"));

    expect_exact_windows(db, events, log);
    BOOST_TEST(test::wait_until([&] { return http_get(port, "/healthz").body == "ok\n"; },
                                std::chrono::seconds(30)));
    etld.signal(SIGTERM);
    BOOST_TEST(etld.wait(std::chrono::seconds(40)) == 0);
}

BOOST_AUTO_TEST_CASE(broker_unreachable_at_start_degrades_health_then_recovers) {
    test::TempDir dir;
    test::TempDir broker_dir;
    const std::uint16_t kafka_port = free_port();
    const std::uint16_t port = free_port();
    const std::string bootstrap = "127.0.0.1:" + std::to_string(kafka_port);
    const std::string name = test::unique_name("down");
    const std::string config = write_config(dir.path, bootstrap, name, port, false);
    const std::string log = dir.path + "/etld.log";

    test::EtldProcess etld(config, log);
    HttpResult health;
    BOOST_TEST(test::wait_until(
                   [&] {
                       health = http_get(port, "/healthz");
                       return health.status == 503;
                   },
                   std::chrono::seconds(60)),
               "healthz: " << health.status << " " << health.body << log_tail(log));
    BOOST_TEST(health.body.find("broker unreachable") != std::string::npos, health.body);
    BOOST_TEST(http_get(port, "/readyz").status == 503);
    BOOST_TEST(etld.running());

    // The broker comes up on the address etld was given, with the input topic
    // (etld is paused meanwhile: a missing input topic would stop it).
    etld.signal(SIGSTOP);
    const std::string start = std::string(ETLD_SOURCE_DIR) + "/test/kafka/start " +
                              broker_dir.path + " --port " + std::to_string(kafka_port) +
                              " > /dev/null";
    BOOST_REQUIRE_EQUAL(std::system(start.c_str()), 0);
    std::string previous;
    if (const char* b = std::getenv("ETLD_TEST_BOOTSTRAP")) {
        previous = b;
    }
    ::setenv("ETLD_TEST_BOOTSTRAP", bootstrap.c_str(), 1);
    test::create_topic(name + "-in", kPartitions);
    etld.signal(SIGCONT);
    const bool ready = test::wait_until([&] { return http_get(port, "/readyz").status == 200; },
                                        std::chrono::seconds(120));
    BOOST_TEST(ready, log_tail(log));
    BOOST_TEST(http_get(port, "/healthz").body == "ok\n");
    etld.signal(SIGTERM);
    BOOST_TEST(etld.wait(std::chrono::seconds(40)) == 0);

    const std::string stop = std::string(ETLD_SOURCE_DIR) + "/test/kafka/stop " + broker_dir.path +
                             " --kill > /dev/null";
    (void)std::system(stop.c_str());
    if (previous.empty()) {
        ::unsetenv("ETLD_TEST_BOOTSTRAP");
    } else {
        ::setenv("ETLD_TEST_BOOTSTRAP", previous.c_str(), 1);
    }
}

BOOST_AUTO_TEST_SUITE_END()
