// etld against the exactly-once limit of librdkafka on the same broker.
//
//   etld_kafka_bench --bootstrap HOST:PORT --etld PATH [--engine-bench PATH]
//                    [--store-bench PATH]
//                    [--events N] [--runs R] [--json FILE] [--quick]
//
// Phases (each prints as it goes; the table and the JSON come at the end):
//   load      pre-loads one topic per key cardinality (1e3, 1e5, 1e6 keys)
//   baseline  (a) read_committed consume only, (b) the EOS pipe: consume ->
//             transactional produce of the same bytes -> offsets in the
//             transaction every commit interval; no parsing, no state
//   etld      the real daemon on the same topics, 1 and 3 pipelines; the
//             run ends when the group's committed offsets reach the end of
//             the input and of every repartition topic. Runs alternate with
//             the baselines, so each ratio compares neighbours in time.
//   latency   a steady load at half of etld's measured saturation; latency
//             is from the moment a result became due (its window end plus
//             out-of-orderness, in produce wall time) to the moment a
//             read_committed consumer of the output topic received it
//   restore   seconds to rebuild 1e5 / 1e6 open windows and 1e6 dedup ids
//             after a restart, and the resident memory they take
//   engine    the engine benchmark's figures (no Kafka)
//
// ETLD_BENCH_EXTRA_TOML, if set, is appended to every etld config the
// benchmark writes (e.g. a [kafka.consumer] table to try a property).
//
// Nothing here asserts a timing; figures are printed. See test/bench/run.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/kafka/client.h"
#include "test/bench/load_generator.h"

namespace etld::bench {
namespace {

namespace kafka = etld::pipeline::kafka;
using Clock = std::chrono::steady_clock;

struct Settings {
    std::string bootstrap;
    std::string etld;
    std::string engine_bench;
    std::string store_bench;
    // Another etld binary (say, before a change) run beside each etld run.
    std::string compare_etld;
    int broker_pid = 0;  // when set, the broker's CPU time is measured too
    std::string json_path;
    std::string work_dir;
    std::uint64_t events = 1'000'000;
    int runs = 3;
    int partitions = 6;
    std::vector<std::uint64_t> key_counts{1'000, 100'000, 1'000'000};
    std::vector<std::uint64_t> restore_sizes{100'000, 1'000'000};
    std::int64_t commit_interval_ms = 100;
    std::int64_t max_batch_events = 10000;  // etld's default
    double latency_seconds = 60;
    double latency_rate = 0;  // 0: half of the measured saturation
    std::string prefix;       // makes every topic and group of this run unique
    std::string phases = "throughput,latency,restore,engine,store";
    std::string configs = "1,3,demo";  // etld pipeline sets of the throughput phase
    bool has(const std::string& phase) const { return phases.find(phase) != std::string::npos; }
};

// An etld run's directory (config, log, SQLite file) is removed after its
// figures are read, unless ETLD_BENCH_KEEP is set.
void remove_unless_kept(const std::string& dir) {
    if (std::getenv("ETLD_BENCH_KEEP") == nullptr) {
        std::filesystem::remove_all(dir);
    }
}

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double process_cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// CPU seconds a process has used so far (0 when unknown).
double cpu_seconds_of(int pid) {
    if (pid <= 0) {
        return 0;
    }
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    if (close == std::string::npos) {
        return 0;
    }
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    double ticks = 0;
    // After "pid (comm) ": state is field 3; utime and stime are 14 and 15.
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i >= 14) {
            ticks += std::strtod(field.c_str(), nullptr);
        }
    }
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double median(std::vector<double> v) {
    if (v.empty()) {
        return NAN;
    }
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) {
        return NAN;
    }
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
    return v[std::min(i, v.size() - 1)];
}

std::string key_label(std::uint64_t k) {
    int e = 0;
    std::uint64_t x = k;
    while (x >= 10 && x % 10 == 0) {
        x /= 10;
        ++e;
    }
    if (x == 1 && e >= 3) {
        return "1e" + std::to_string(e);
    }
    return std::to_string(k);
}

// ---- Kafka helpers -------------------------------------------------------

kafka::Properties base_consumer(const Settings& s, const std::string& group) {
    return {{"bootstrap.servers", s.bootstrap},        {"group.id", group},
            {"isolation.level", "read_committed"},     {"enable.auto.commit", "false"},
            {"enable.auto.offset.store", "false"},     {"auto.offset.reset", "earliest"},
            {"partition.assignment.strategy", "range"}};
}

using Ends = std::map<std::pair<std::string, int>, std::int64_t>;

std::vector<std::string> list_topics(rd_kafka_t* rk) {
    const rd_kafka_metadata_t* md = nullptr;
    std::vector<std::string> out;
    if (rd_kafka_metadata(rk, 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return out;
    }
    for (int i = 0; i < md->topic_cnt; ++i) {
        out.emplace_back(md->topics[i].topic);
    }
    rd_kafka_metadata_destroy(md);
    return out;
}

int partition_count(rd_kafka_t* rk, const std::string& topic) {
    const rd_kafka_metadata_t* md = nullptr;
    kafka::TopicPtr rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
    if (rd_kafka_metadata(rk, 0, rkt.get(), &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return 0;
    }
    const int n = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR
                      ? md->topics[0].partition_cnt
                      : 0;
    rd_kafka_metadata_destroy(md);
    return n;
}

// High watermarks of every partition of `topic`.
Ends high_watermarks(rd_kafka_t* rk, const std::string& topic) {
    Ends out;
    const int n = partition_count(rk, topic);
    for (int p = 0; p < n; ++p) {
        std::int64_t low = 0;
        std::int64_t high = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            out[{topic, p}] = high;
        }
    }
    return out;
}

// The group's committed offsets for the given partitions (-1 when none).
std::optional<Ends> committed(rd_kafka_t* rk, const Ends& partitions) {
    kafka::PartitionListPtr list(
        rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
    for (const auto& [tp, end] : partitions) {
        rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second);
    }
    if (rd_kafka_committed(rk, list.get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return std::nullopt;
    }
    Ends out;
    for (int i = 0; i < list->cnt; ++i) {
        out[{list->elems[i].topic, list->elems[i].partition}] = list->elems[i].offset;
    }
    return out;
}

// ---- figures ---------------------------------------------------------------

struct Figures {
    std::uint64_t events = 0;
    double seconds = 0;
    double cpu_seconds = 0;
    double peak_rss_mb = 0;
    double first_commit_seconds = 0;  // start-up: group join, topics, restore
    double transactions = 0;
    double results = 0;  // window results written to the output topic
    double broker_cpu_seconds = 0;
    double mean_commit_ms = NAN;  // send_offsets + commit_transaction
    double events_per_second() const { return seconds > 0 ? events / seconds : 0; }
    double cpu_per_million() const { return events > 0 ? cpu_seconds * 1e6 / events : 0; }
    double events_per_cpu_second() const { return cpu_seconds > 0 ? events / cpu_seconds : 0; }
    double broker_cpu_per_million() const {
        return events > 0 ? broker_cpu_seconds * 1e6 / events : 0;
    }
};

// ---- baselines -------------------------------------------------------------

// (a) read_committed consume of the whole topic through a subscribed group.
Figures consume_only(const Settings& s, const std::string& topic, const std::string& group) {
    kafka::KafkaPtr consumer = kafka::make_consumer(base_consumer(s, group));
    const Ends ends = high_watermarks(consumer.get(), topic);
    std::uint64_t total = 0;
    for (const auto& [tp, end] : ends) {
        total += static_cast<std::uint64_t>(end);
    }
    const double cpu0 = process_cpu_seconds();
    const auto start = Clock::now();
    rd_kafka_poll_set_consumer(consumer.get());
    kafka::PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer.get(), topics.get());
    std::uint64_t seen = 0;
    std::uint64_t bytes = 0;
    while (seen < total) {
        kafka::MessagePtr msg(rd_kafka_consumer_poll(consumer.get(), 100));
        if (msg && msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ++seen;
            bytes += msg->len;
        }
    }
    Figures f;
    f.seconds = seconds_since(start);
    f.cpu_seconds = process_cpu_seconds() - cpu0;
    f.events = seen;
    rd_kafka_consumer_close(consumer.get());
    return f;
}

// (b) The EOS pipe: the same cycle as etld's runner with nothing in between.
Figures eos_pipe(const Settings& s, const std::string& topic, const std::string& name) {
    const std::string out_topic = name + "-out";
    create_topic(s.bootstrap, out_topic, s.partitions);
    kafka::Properties pp = {{"bootstrap.servers", s.bootstrap},
                            {"transactional.id", name + "-txn"},
                            {"enable.idempotence", "true"},
                            {"acks", "all"},
                            {"transaction.timeout.ms", "10000"},
                            {"linger.ms", "5"},
                            {"batch.num.messages", "10000"},
                            {"compression.codec", "lz4"},
                            {"queue.buffering.max.messages", "1000000"},
                            {"retry.backoff.ms", "10"}};  // etld's producer defaults, all of them
    const double cpu0 = process_cpu_seconds();
    const auto start = Clock::now();
    // Delivery reports wake the flush in each commit, as in etld's producer.
    kafka::KafkaPtr producer = kafka::make_polled_producer(pp);
    kafka::KafkaPtr consumer = kafka::make_consumer(base_consumer(s, name + "-group"));
    const Ends ends = high_watermarks(consumer.get(), topic);
    if (auto e = kafka::KafkaError::from(rd_kafka_init_transactions(producer.get(), 30000))) {
        throw std::runtime_error("eos pipe: init_transactions: " + e->describe());
    }
    rd_kafka_poll_set_consumer(consumer.get());
    kafka::PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer.get(), topics.get());
    kafka::TopicPtr rkt(rd_kafka_topic_new(producer.get(), out_topic.c_str(), nullptr));

    const auto interval = std::chrono::milliseconds(s.commit_interval_ms);
    bool in_txn = false;
    std::uint64_t seen = 0;
    std::int64_t txn_events = 0;
    double first_commit = 0;
    auto last_commit = Clock::now();
    while (true) {
        kafka::MessagePtr msg(rd_kafka_consumer_poll(consumer.get(), 10));
        if (msg && msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (!in_txn) {
                if (auto e = kafka::KafkaError::from(rd_kafka_begin_transaction(producer.get()))) {
                    throw std::runtime_error("eos pipe: begin: " + e->describe());
                }
                in_txn = true;
            }
            ++seen;
            ++txn_events;
            while (true) {
                const auto err = produce_copy(
                    producer.get(), rkt.get(), msg->partition,
                    std::string_view(static_cast<const char*>(msg->key),
                                     msg->key ? msg->key_len : 0),
                    std::string_view(static_cast<const char*>(msg->payload), msg->len));
                if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    break;
                }
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    throw std::runtime_error(std::string("eos pipe: produce: ") +
                                             rd_kafka_err2str(err));
                }
                rd_kafka_poll(producer.get(), 10);
            }
        }
        rd_kafka_poll(producer.get(), 0);
        if (Clock::now() - last_commit < interval && txn_events < s.max_batch_events) {
            continue;
        }
        last_commit = Clock::now();
        if (!in_txn) {
            continue;
        }
        rd_kafka_topic_partition_list_t* raw = nullptr;
        rd_kafka_assignment(consumer.get(), &raw);
        kafka::PartitionListPtr positions(raw);
        rd_kafka_position(consumer.get(), positions.get());
        kafka::GroupMetadataPtr meta(rd_kafka_consumer_group_metadata(consumer.get()));
        if (auto e = kafka::KafkaError::from(rd_kafka_send_offsets_to_transaction(
                producer.get(), positions.get(), meta.get(), 30000))) {
            throw std::runtime_error("eos pipe: send_offsets: " + e->describe());
        }
        if (auto e = kafka::KafkaError::from(rd_kafka_commit_transaction(producer.get(), 30000))) {
            throw std::runtime_error("eos pipe: commit: " + e->describe());
        }
        in_txn = false;
        txn_events = 0;
        if (first_commit == 0) {
            first_commit = seconds_since(start);
        }
        bool done = positions->cnt == static_cast<int>(ends.size());
        for (int i = 0; i < positions->cnt && done; ++i) {
            const auto it = ends.find({positions->elems[i].topic, positions->elems[i].partition});
            done = it != ends.end() && positions->elems[i].offset >= it->second;
        }
        if (done) {
            break;
        }
    }
    Figures f;
    f.seconds = seconds_since(start);
    f.cpu_seconds = process_cpu_seconds() - cpu0;
    f.first_commit_seconds = first_commit;
    f.events = seen;
    rd_kafka_consumer_close(consumer.get());
    return f;
}

// ---- etld as a child process ------------------------------------------------

struct Pipelines {
    std::string label;
    std::string toml;
    bool repartitioned = false;
};

std::string aggregates() {
    return "[[pipeline.aggregate]]\nname = \"events\"\nfn = \"count\"\n"
           "[[pipeline.aggregate]]\nname = \"revenue\"\nfn = \"sum\"\n"
           "expr = \"price * quantity\"\nwhere = \"event_type == 'purchase'\"\n";
}

std::string pipeline(const std::string& name, const std::string& window,
                     const std::string& group_by) {
    return "[[pipeline]]\nname = \"" + name + "\"\nwindow = " + window +
           "\ngroup_by = " + group_by + "\nemit = \"final\"\n" + aggregates();
}

// Window sizes in event time; the preloaded stream has 10,000 events per
// event-time second, so a one-minute window sees 600,000 events.
Pipelines one_pipeline() {
    return {"1 pipeline (tumbling 1m by user)",
            pipeline("tumbling", "{ type = \"tumbling\", size = \"1m\" }", "[\"user_id\"]")};
}

Pipelines three_pipelines(const std::string& unit = "m") {
    return {
        "3 pipelines (tumbling, sliding 4x, session by user)",
        pipeline("tumbling", "{ type = \"tumbling\", size = \"1" + unit + "\" }", "[\"user_id\"]") +
            pipeline("sliding",
                     "{ type = \"sliding\", size = \"4" + unit + "\", slide = \"1" + unit + "\" }",
                     "[\"user_id\"]") +
            pipeline("sessions", "{ type = \"session\", gap = \"1" + unit + "\" }",
                     "[\"user_id\"]")};
}

// The demo's shape: two of the three keyspaces go through repartition topics.
Pipelines demo_pipelines() {
    return {"3 pipelines, demo shape (2 repartitioned)",
            pipeline("by_type", "{ type = \"tumbling\", size = \"1m\" }", "[\"event_type\"]") +
                pipeline("overall", "{ type = \"sliding\", size = \"4m\", slide = \"1m\" }", "[]") +
                pipeline("sessions", "{ type = \"session\", gap = \"1m\" }", "[\"user_id\"]"),
            true};
}

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

// GET http://127.0.0.1:port/path; the body, or nullopt.
std::optional<std::string> http_get(int port, const std::string& path) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return std::nullopt;
    }
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    (void)::write(fd, req.data(), req.size());
    std::string resp;
    std::array<char, 65536> buf{};
    ssize_t n = 0;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) {
        resp.append(buf.data(), static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (resp.rfind("HTTP/1.", 0) != 0 || resp.find(" 200 ") == std::string::npos) {
        return std::nullopt;
    }
    const auto body = resp.find("\r\n\r\n");
    return body == std::string::npos ? std::string() : resp.substr(body + 4);
}

// A sample of a metric without labels (or the sum over all label sets).
std::optional<double> metric(const std::string& text, const std::string& name) {
    std::istringstream in(text);
    std::string line;
    std::optional<double> sum;
    while (std::getline(in, line)) {
        if (line.rfind(name, 0) != 0) {
            continue;
        }
        const char next = line.size() > name.size() ? line[name.size()] : '\0';
        if (next != ' ' && next != '{') {
            continue;
        }
        const auto space = line.rfind(' ');
        sum = sum.value_or(0) + std::strtod(line.c_str() + space + 1, nullptr);
    }
    return sum;
}

struct EtldJob {
    std::string name;  // topics, group and transactional id derive from it
    std::string input_topic;
    Pipelines pipelines;
    std::string dedup_horizon = "1h";
    std::string out_of_orderness = "2s";
    std::string idle_timeout = "1d";
    std::int64_t commit_interval_ms = 100;
    std::int64_t max_batch_events = 10000;
    std::string binary;  // empty: Settings::etld
};

class EtldChild {
  public:
    EtldChild(const Settings& s, const EtldJob& job) : port_(free_port()) {
        dir_ = s.work_dir + "/" + job.name;
        std::filesystem::create_directories(dir_);
        std::ostringstream c;
        c << "[service]\nname = \"bench\"\nstate_dir = \"" << dir_ << "\"\n"
          << "[kafka]\nbootstrap_servers = \"" << s.bootstrap << "\"\ngroup_id = \"" << job.name
          << "-group\"\ntransactional_id = \"" << job.name << "-txn\"\ncommit_interval = \""
          << job.commit_interval_ms << "ms\"\nmax_batch_events = " << job.max_batch_events << "\n"
          << "[input]\ntopics = [\"" << job.input_topic << "\"]\npartitioned_by = \"user_id\"\n"
          << "[schema]\nid_field = \"event_id\"\ntime_field = \"timestamp\"\n"
          << "time_format = \"iso8601\"\n"
          << "[schema.fields]\nuser_id = \"string\"\nevent_type = \"string\"\n"
          << "product = \"string\"\nprice = \"double\"\nquantity = \"int\"\n"
          << "[dedup]\nhorizon = \"" << job.dedup_horizon << "\"\n"
          << "[watermark]\nmax_out_of_orderness = \"" << job.out_of_orderness
          << "\"\nidle_timeout = \"" << job.idle_timeout << "\"\n"
          << "[topics]\noutput = \"" << job.name << "-out\"\nlate = \"" << job.name
          << "-late\"\ndead_letter = \"" << job.name << "-dead\"\ninternal_prefix = \"" << job.name
          << "\"\npartitions = " << s.partitions << "\n"
          << "[storage]\nsqlite_path = \"" << dir_ << "/results.db\"\n"
          << "[http]\nlisten = \"127.0.0.1:" << port_ << "\"\n"
          << job.pipelines.toml;
        if (const char* extra = std::getenv("ETLD_BENCH_EXTRA_TOML")) {
            c << "\n" << extra << "\n";
        }
        config_ = dir_ + "/etld.toml";
        std::ofstream(config_) << c.str();
        start(job.binary.empty() ? s.etld : job.binary);
    }
    ~EtldChild() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            reap();
        }
    }
    EtldChild(const EtldChild&) = delete;
    EtldChild& operator=(const EtldChild&) = delete;

    void start(const std::string& binary) {
        started_ = Clock::now();
        pid_ = ::fork();
        if (pid_ == 0) {
            const std::string log = dir_ + "/etld.log";
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            std::array<const char*, 5> argv{binary.c_str(), "run", "--config", config_.c_str(),
                                            nullptr};
            ::execv(binary.c_str(), const_cast<char* const*>(argv.data()));
            ::_exit(127);
        }
    }

    bool alive() {
        if (pid_ <= 0) {
            return false;
        }
        int status = 0;
        rusage u{};
        if (::wait4(pid_, &status, WNOHANG, &u) == pid_) {
            record(u);
            pid_ = -1;
            return false;
        }
        return true;
    }

    // SIGTERM, then wait; the child's CPU time and peak RSS become known.
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            reap();
        }
    }

    std::optional<std::string> get(const std::string& path) const { return http_get(port_, path); }
    double resident_mb() const { return status_mb("VmRSS:"); }
    // Peak resident size since exec. (getrusage's ru_maxrss is no use: it
    // keeps the benchmark's own size, which the child had until its exec.)
    double high_water_mb() const { return status_mb("VmHWM:"); }
    Clock::time_point started() const { return started_; }
    double cpu_seconds() const { return cpu_seconds_; }
    const std::string& dir() const { return dir_; }

  private:
    double status_mb(const std::string& field) const {
        std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind(field, 0) == 0) {
                return std::strtod(line.c_str() + field.size(), nullptr) / 1024.0;
            }
        }
        return 0;
    }
    void reap() {
        int status = 0;
        rusage u{};
        if (::wait4(pid_, &status, 0, &u) == pid_) {
            record(u);
        }
        pid_ = -1;
    }
    void record(const rusage& u) {
        cpu_seconds_ = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                       static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
    }

    int port_;
    pid_t pid_ = -1;
    std::string dir_;
    std::string config_;
    Clock::time_point started_{};
    double cpu_seconds_ = 0;
};

// Waits until the group of `job` has committed the end of the input and of
// every repartition topic; returns the seconds since the child started.
double wait_until_committed(const Settings& s, const EtldJob& job, EtldChild& child,
                            double timeout_s, double* first_commit = nullptr) {
    kafka::KafkaPtr watcher = kafka::make_consumer(base_consumer(s, job.name + "-group"));
    const Ends input_ends = high_watermarks(watcher.get(), job.input_topic);
    bool input_done = false;
    Ends all_ends;
    while (seconds_since(child.started()) < timeout_s) {
        if (!child.alive()) {
            throw std::runtime_error("etld exited early; see " + child.dir() + "/etld.log");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        if (!input_done) {
            const auto c = committed(watcher.get(), input_ends);
            if (!c) {
                continue;
            }
            input_done = true;
            bool any = false;
            for (const auto& [tp, end] : input_ends) {
                any = any || c->at(tp) > 0;
                input_done = input_done && c->at(tp) >= end;
            }
            if (any && first_commit != nullptr && *first_commit == 0) {
                *first_commit = seconds_since(child.started());
            }
            if (!input_done) {
                continue;
            }
            if (!job.pipelines.repartitioned) {
                return seconds_since(child.started());
            }
            // The repartition topics are complete once the input is committed.
            for (const auto& topic : list_topics(watcher.get())) {
                if (topic.rfind(job.name + "-", 0) == 0 &&
                    topic.find("-repartition-") != std::string::npos) {
                    for (const auto& [tp, end] : high_watermarks(watcher.get(), topic)) {
                        all_ends[tp] = end;
                    }
                }
            }
        }
        const auto c = committed(watcher.get(), all_ends);
        if (!c) {
            continue;
        }
        bool done = true;
        for (const auto& [tp, end] : all_ends) {
            // The last transaction's marker sits at end - 1 and no consumer
            // position needs to pass it.
            done = done && (end == 0 || c->at(tp) >= end - 1);
        }
        if (done) {
            return seconds_since(child.started());
        }
    }
    throw std::runtime_error("etld did not commit the input within the timeout; see " +
                             child.dir() + "/etld.log");
}

Figures etld_throughput(const Settings& s, const EtldJob& job, std::uint64_t events) {
    EtldChild child(s, job);
    Figures f;
    f.seconds = wait_until_committed(s, job, child, 900, &f.first_commit_seconds);
    const auto text = child.get("/metrics");
    f.peak_rss_mb = child.high_water_mb();
    child.stop();
    f.events = events;
    f.cpu_seconds = child.cpu_seconds();
    if (text) {
        f.transactions = metric(*text, "etld_transactions_committed_total").value_or(0);
        f.results = metric(*text, "etld_results_total").value_or(0);
        const double n = metric(*text, "etld_commit_duration_seconds_count").value_or(0);
        f.mean_commit_ms =
            n > 0 ? metric(*text, "etld_commit_duration_seconds_sum").value_or(0) * 1e3 / n : NAN;
        const double consumed = metric(*text, "etld_events_consumed_total").value_or(0);
        const double expected =
            static_cast<double>(events) * (job.pipelines.repartitioned ? 3.0 : 1.0);
        if (consumed < expected) {
            std::fprintf(stderr, "warning: %s consumed %.0f records, expected %.0f\n",
                         job.name.c_str(), consumed, expected);
        }
    }
    remove_unless_kept(child.dir());
    return f;
}

// ---- latency -----------------------------------------------------------------

struct Latency {
    double rate = 0;
    double achieved_rate = 0;
    std::size_t results = 0;
    double p50_ms = NAN;
    double p99_ms = NAN;
    double max_ms = NAN;
};

std::optional<std::int64_t> json_int_field(std::string_view json, std::string_view field) {
    const std::string key = "\"" + std::string(field) + "\":";
    const auto at = json.find(key);
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    return std::strtoll(json.data() + at + key.size(), nullptr, 10);
}

Latency latency_run(const Settings& s, double rate) {
    const std::string name = s.prefix + "-lat";
    const std::string topic = name + "-in";
    constexpr std::int64_t kOutOfOrdernessMs = 100;
    create_topic(s.bootstrap, topic, s.partitions);
    EtldJob job;
    job.name = name;
    job.input_topic = topic;
    job.pipelines = three_pipelines("s");
    job.out_of_orderness = std::to_string(kOutOfOrdernessMs) + "ms";
    job.commit_interval_ms = s.commit_interval_ms;
    job.max_batch_events = s.max_batch_events;
    EtldChild child(s, job);

    // Results are due when the watermark passes window end + lateness (0):
    // at the first event whose time is end + out-of-orderness. Event time is
    // the produce wall clock, so that is also the due wall time.
    // The load starts once etld is ready (assigned and restored); results
    // count from 3 s later, when the steady state has set in.
    const auto ready_deadline = Clock::now() + std::chrono::minutes(2);
    while (!child.get("/readyz") && Clock::now() < ready_deadline) {
        if (!child.alive()) {
            throw std::runtime_error("etld exited early; see " + child.dir() + "/etld.log");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::atomic<bool> stop{false};
    const std::int64_t measure_from = wall_ms() + 3000;
    std::vector<double> samples;
    std::map<std::string, std::vector<double>> by_pipeline;
    std::map<std::int64_t, double> worst_by_due;  // the slowest result of each due time
    std::thread reader([&] {
        kafka::Properties props = base_consumer(s, name + "-reader");
        props.emplace_back("fetch.wait.max.ms", "5");
        kafka::KafkaPtr consumer = kafka::make_consumer(props);
        const std::string out = name + "-out";
        while (partition_count(consumer.get(), out) == 0 && !stop) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        const int n = partition_count(consumer.get(), out);
        kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(n));
        for (int p = 0; p < n; ++p) {
            rd_kafka_topic_partition_list_add(list.get(), out.c_str(), p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        }
        rd_kafka_assign(consumer.get(), list.get());
        while (!stop) {
            kafka::MessagePtr msg(rd_kafka_consumer_poll(consumer.get(), 50));
            if (!msg || msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                continue;
            }
            const std::int64_t now = wall_ms();
            const std::string_view value(static_cast<const char*>(msg->payload), msg->len);
            const auto end = json_int_field(value, "window_end");
            if (!end) {
                continue;
            }
            const std::int64_t due = *end + kOutOfOrdernessMs;
            if (due >= measure_from) {
                samples.push_back(static_cast<double>(now - due));
                auto& worst = worst_by_due[due];
                worst = std::max(worst, static_cast<double>(now - due));
                const auto at = value.find("\"pipeline\":\"");
                if (at != std::string_view::npos) {
                    const auto from = at + 12;
                    by_pipeline[std::string(value.substr(from, value.find('"', from) - from))]
                        .push_back(static_cast<double>(now - due));
                }
            }
        }
    });
    // etld's consumer lag (published once a second): a backlog behind the
    // slow window ends means etld fell behind, not that a commit was slow.
    std::vector<std::pair<double, std::int64_t>> lags;  // (records, wall ms)
    std::thread sampler([&] {
        while (!stop) {
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
            if (const auto text = child.get("/metrics")) {
                lags.emplace_back(metric(*text, "etld_consumer_lag_records").value_or(0),
                                  wall_ms());
            }
        }
    });
    LoadOptions o;
    o.keys = 1000;
    o.partitions = s.partitions;
    o.disorder_ms = 0;
    o.seed = 7;
    LoadReport sent;
    std::thread writer([&] { sent = produce_steady(s.bootstrap, topic, o, rate, stop); });
    const auto until =
        std::chrono::milliseconds(measure_from - wall_ms()) +
        std::chrono::milliseconds(static_cast<std::int64_t>(s.latency_seconds * 1e3));
    std::this_thread::sleep_for(until);
    stop = true;
    writer.join();
    reader.join();
    sampler.join();
    {
        std::vector<double> v;
        std::pair<double, std::int64_t> top{0, measure_from};
        for (const auto& l : lags) {
            if (l.second >= measure_from) {
                v.push_back(l.first);
                top = std::max(top, l);
            }
        }
        std::printf("  etld consumer lag: p50 %.0f records, p99 %.0f, max %.0f at %.1f s\n",
                    percentile(v, 0.5), percentile(v, 0.99), top.first,
                    static_cast<double>(top.second - measure_from) / 1e3);
    }
    if (const auto text = child.get("/metrics")) {
        // Where a slow result may come from: the commits themselves.
        auto bucket = [&](const char* le) {
            const std::string line =
                std::string("etld_commit_duration_seconds_bucket{le=\"") + le + "\"} ";
            const auto at = text->find(line);
            return at == std::string::npos ? NAN
                                           : std::strtod(text->c_str() + at + line.size(), nullptr);
        };
        const double n = metric(*text, "etld_commit_duration_seconds_count").value_or(0);
        const double sum = metric(*text, "etld_commit_duration_seconds_sum").value_or(0);
        std::printf(
            "  commits during the latency run: %.0f, mean %.1f ms, over 50 ms %.0f, over "
            "100 ms %.0f, over 250 ms %.0f\n",
            n, n > 0 ? sum * 1e3 / n : NAN, n - bucket("0.05"), n - bucket("0.1"),
            n - bucket("0.25"));
    }
    child.stop();
    remove_unless_kept(child.dir());
    Latency l;
    l.rate = rate;
    l.achieved_rate = sent.events_per_second();
    l.results = samples.size();
    l.p50_ms = percentile(samples, 0.50);
    l.p99_ms = percentile(samples, 0.99);
    l.max_ms = percentile(samples, 1.0);
    // The slowest window ends, and when they fell: the start of the run, or
    // evenly spread (periodic stalls), tell different stories.
    std::vector<std::pair<double, std::int64_t>> slowest;
    for (const auto& [due, ms] : worst_by_due) {
        slowest.emplace_back(ms, due);
    }
    std::sort(slowest.rbegin(), slowest.rend());
    std::string text;
    for (std::size_t i = 0; i < slowest.size() && i < 5; ++i) {
        text += (i > 0 ? ", " : "") + std::to_string(static_cast<int>(slowest[i].first)) +
                " ms at " +
                std::to_string(static_cast<double>(slowest[i].second - measure_from) / 1e3)
                    .substr(0, 5) +
                " s";
    }
    std::printf("  slowest window ends (latency, time into the run): %s\n", text.c_str());
    for (const auto& [pipeline_name, v] : by_pipeline) {
        std::printf("  latency of %s: p50 %.0f ms, p99 %.0f ms, max %.0f ms (%zu results)\n",
                    pipeline_name.c_str(), percentile(v, 0.5), percentile(v, 0.99),
                    percentile(v, 1.0), v.size());
    }
    return l;
}

// ---- restore -----------------------------------------------------------------

struct Restore {
    std::string what;
    std::uint64_t events = 0;
    std::uint64_t keys = 0;
    double open_windows = 0;
    double restore_seconds = NAN;
    double first_run_seconds = 0;
    double resident_mb = 0;  // after the restore, idle
};

// One tumbling 1h window per key, all events in the same hour: `keys` open
// windows and `events` remembered ids. Runs etld until committed, stops it,
// starts it again and reads how long the restore took.
Restore restore_run(const Settings& s, const std::string& what, std::uint64_t events,
                    std::uint64_t keys) {
    const std::string name = s.prefix + "-restore-" + key_label(events) + "-" + key_label(keys);
    LoadOptions o;
    o.events = events;
    o.keys = keys;
    o.keys_in_order = true;
    o.duplicate_rate = 0;
    o.disorder_ms = 0;
    o.partitions = s.partitions;
    o.events_per_second = 2000;  // 1e6 events span 500 s: one hour window
    o.seed = 11;
    const std::string topic = name + "-in";
    preload(s.bootstrap, topic, o);
    EtldJob job;
    job.name = name;
    job.input_topic = topic;
    job.pipelines = {"1h tumbling by user",
                     pipeline("hourly", "{ type = \"tumbling\", size = \"1h\" }", "[\"user_id\"]")};
    job.dedup_horizon = "2h";
    Restore r;
    r.what = what;
    r.events = events;
    r.keys = keys;
    {
        EtldChild first(s, job);
        r.first_run_seconds = wait_until_committed(s, job, first, 1800);
        first.stop();
    }
    EtldChild second(s, job);
    const auto deadline = Clock::now() + std::chrono::minutes(15);
    while (Clock::now() < deadline && second.alive()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (!second.get("/readyz")) {
            continue;
        }
        const auto text = second.get("/metrics");
        if (!text || metric(*text, "etld_restores_total").value_or(0) < 1) {
            continue;
        }
        r.restore_seconds = metric(*text, "etld_restore_seconds").value_or(NAN);
        r.open_windows = metric(*text, "etld_open_windows").value_or(0);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        r.resident_mb = second.resident_mb();
        break;
    }
    second.stop();
    remove_unless_kept(second.dir());
    return r;
}

// ---- engine bench ---------------------------------------------------------------

struct Engine {
    double events_per_second = NAN;
    double events_per_cpu_second = NAN;
    // The three pipelines of the 3-pipeline rows at 1e6 keys (engine_bench's
    // by-user shape): the state-bound share of those rows.
    double many_keys_per_cpu_second = NAN;
    std::string output;
};

// What `cmd` prints (stdout and stderr).
std::string output_of(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) {
        return out;
    }
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), buf.size(), p) != nullptr) {
        out += buf.data();
    }
    ::pclose(p);
    return out;
}

// The number printed after `marker` in `text`.
double number_after(const std::string& text, const std::string& marker) {
    const auto at = text.find(marker);
    return at == std::string::npos ? NAN : std::strtod(text.c_str() + at + marker.size(), nullptr);
}

Engine engine_bench(const Settings& s) {
    Engine e;
    if (s.engine_bench.empty()) {
        return e;
    }
    e.output = output_of(s.engine_bench + " 1000000 5");
    e.events_per_second = number_after(e.output, "runs: median ");
    e.events_per_cpu_second = number_after(e.output, "per CPU second of this thread: median ");
    const std::string many = output_of(s.engine_bench + " 1000000 3 all 1000000");
    e.many_keys_per_cpu_second = number_after(many, "per CPU second of this thread: median ");
    return e;
}

// ---- store bench ----------------------------------------------------------------

// The materializer's SQLite work alone (etld_store_bench): the results of
// the 3-pipeline run at 1e6 keys applied through ResultStore.
struct Store {
    double results_per_second = NAN;
    double results_per_cpu_second = NAN;
    double bytes_per_result = NAN;
};

Store store_bench(const Settings& s) {
    Store st;
    if (s.store_bench.empty()) {
        return st;
    }
    // "  median R results/s wall (min .., max ..), C per CPU second" and
    // "  database file M MB, B bytes per result".
    const std::string out = output_of(s.store_bench + " 1000000 1000000 3");
    st.results_per_second = number_after(out, "  median ");
    st.results_per_cpu_second = number_after(out, "), ");
    st.bytes_per_result = number_after(out, " MB, ");
    return st;
}

// ---- the whole run -------------------------------------------------------------

struct Row {
    std::string name;
    std::string keys;
    std::vector<Figures> runs;
    std::vector<double> ratios;  // to the EOS pipe of the same round
    double target_ratio = NAN;
};

constexpr int kNameWidth = 58;

void print_header() {
    std::printf("| %-*s | %5s | %9s | %6s | %7s | %7s | %9s | %7s |\n", kNameWidth,
                "run (median of the rounds)", "keys", "events/s", "vs EOS", "CPU-s/M", "broker",
                "ev/CPU-s", "RSS MB");
    std::printf("|%s|-------|-----------|--------|---------|---------|-----------|---------|\n",
                std::string(kNameWidth + 2, '-').c_str());
}

void print_row(const Row& r) {
    std::vector<double> rate;
    std::vector<double> cpu;
    std::vector<double> broker;
    std::vector<double> per_cpu;
    std::vector<double> rss;
    for (const auto& f : r.runs) {
        rate.push_back(f.events_per_second());
        cpu.push_back(f.cpu_per_million());
        broker.push_back(f.broker_cpu_per_million());
        per_cpu.push_back(f.events_per_cpu_second());
        rss.push_back(f.peak_rss_mb);
    }
    const std::string ratio =
        r.ratios.empty() ? ""
                         : std::to_string(static_cast<int>(median(r.ratios) * 100 + 0.5)) + " %";
    const std::string rss_text =
        median(rss) > 0 ? std::to_string(static_cast<int>(median(rss) + 0.5)) : "";
    std::printf("| %-*s | %5s | %9.0f | %6s | %7.1f | %7.1f | %9.0f | %7s |\n", kNameWidth,
                r.name.c_str(), r.keys.c_str(), median(rate), ratio.c_str(), median(cpu),
                median(broker), median(per_cpu), rss_text.c_str());
}

std::string json_number(double v) {
    if (std::isnan(v) || std::isinf(v)) {
        return "null";
    }
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%.6g", v);
    return buf.data();
}

std::string json_row(const Row& r) {
    std::vector<double> rate;
    std::vector<double> cpu;
    std::vector<double> rss;
    std::string runs = "[";
    for (const auto& f : r.runs) {
        rate.push_back(f.events_per_second());
        cpu.push_back(f.cpu_per_million());
        rss.push_back(f.peak_rss_mb);
        runs += std::string(runs.size() > 1 ? "," : "") +
                "{\"events\":" + std::to_string(f.events) +
                ",\"seconds\":" + json_number(f.seconds) +
                ",\"cpu_seconds\":" + json_number(f.cpu_seconds) +
                ",\"peak_rss_mb\":" + json_number(f.peak_rss_mb) +
                ",\"broker_cpu_seconds\":" + json_number(f.broker_cpu_seconds) +
                ",\"first_commit_seconds\":" + json_number(f.first_commit_seconds) +
                ",\"transactions\":" + json_number(f.transactions) +
                ",\"results\":" + json_number(f.results) +
                ",\"mean_commit_ms\":" + json_number(f.mean_commit_ms) + "}";
    }
    runs += "]";
    return "{\"name\":\"" + r.name + "\",\"keys\":\"" + r.keys +
           "\",\"events_per_second\":" + json_number(median(rate)) +
           ",\"cpu_seconds_per_million\":" + json_number(median(cpu)) +
           ",\"peak_rss_mb\":" + json_number(median(rss)) +
           ",\"ratio_to_eos_pipe\":" + json_number(median(r.ratios)) + ",\"runs\":" + runs + "}";
}

int run_all(Settings s) {
    std::printf("etld_kafka_bench: broker %s, %llu events per topic, %d runs, %d partitions\n",
                s.bootstrap.c_str(), static_cast<unsigned long long>(s.events), s.runs,
                s.partitions);
    std::fflush(stdout);
    std::map<std::uint64_t, std::string> topics;
    std::vector<std::pair<std::uint64_t, LoadReport>> loads;
    for (const std::uint64_t k :
         s.has("throughput") ? s.key_counts : std::vector<std::uint64_t>{}) {
        LoadOptions o;
        o.events = s.events;
        o.keys = k;
        o.partitions = s.partitions;
        const std::string topic = s.prefix + "-in-" + key_label(k);
        const LoadReport r = preload(s.bootstrap, topic, o);
        topics[k] = topic;
        loads.emplace_back(k, r);
        std::printf("load: %s keys: %llu records, %.1f MB in %.2f s = %.0f events/s\n",
                    key_label(k).c_str(), static_cast<unsigned long long>(r.records),
                    static_cast<double>(r.bytes) / 1e6, r.seconds, r.events_per_second());
        std::fflush(stdout);
    }

    const std::uint64_t k0 = s.key_counts.front();
    Row consume{"read_committed consume only", key_label(k0), {}, {}};
    Row pipe{"EOS pipe (consume -> txn produce -> offsets)", key_label(k0), {}, {}};
    std::vector<Row> etld_rows;
    struct Config {
        Pipelines pipelines;
        std::uint64_t keys = 0;
        std::string binary;
    };
    std::vector<Config> configs;
    auto add = [&](const Pipelines& p, std::uint64_t k) {
        configs.push_back({p, k, s.etld});
        etld_rows.push_back({"etld, " + p.label, key_label(k), {}, {}});
        if (!s.compare_etld.empty()) {
            configs.push_back({p, k, s.compare_etld});
            etld_rows.push_back({"  the same, " + std::filesystem::path(s.compare_etld)
                                                      .parent_path()
                                                      .parent_path()
                                                      .filename()
                                                      .string(),
                                 key_label(k),
                                 {},
                                 {}});
        }
    };
    for (const std::uint64_t k : s.key_counts) {
        if (s.configs.find('1') != std::string::npos) {
            add(one_pipeline(), k);
        }
        if (s.configs.find('3') != std::string::npos) {
            add(three_pipelines(), k);
        }
    }
    if (s.configs.find("demo") != std::string::npos) {
        add(demo_pipelines(), k0);
    }
    int serial = 0;
    for (int round = 0; s.has("throughput") && round < s.runs; ++round) {
        // The broker's CPU time is read around each run; the broker does
        // nothing else meanwhile (but the machine may).
        auto with_broker = [&](auto&& run) {
            const double before = cpu_seconds_of(s.broker_pid);
            Figures f = run();
            f.broker_cpu_seconds = cpu_seconds_of(s.broker_pid) - before;
            return f;
        };
        const Figures c = with_broker([&] {
            return consume_only(s, topics[k0], s.prefix + "-c" + std::to_string(++serial));
        });
        consume.runs.push_back(c);
        const Figures e = with_broker(
            [&] { return eos_pipe(s, topics[k0], s.prefix + "-p" + std::to_string(++serial)); });
        pipe.runs.push_back(e);
        std::printf(
            "round %d: consume %.0f events/s, EOS pipe %.0f events/s (%.1f CPU-s/M, broker %.1f "
            "CPU-s/M, first commit after %.2f s)\n",
            round + 1, c.events_per_second(), e.events_per_second(), e.cpu_per_million(),
            e.broker_cpu_per_million(), e.first_commit_seconds);
        std::fflush(stdout);
        // With --compare each config runs twice in a row, and the second of
        // two neighbours tended to do better (cause not known): the order
        // alternates from round to round.
        std::vector<std::size_t> order;
        for (std::size_t i = 0; i < configs.size(); ++i) {
            const bool swap = !s.compare_etld.empty() && round % 2 == 1;
            order.push_back(swap ? (i % 2 == 0 ? i + 1 : i - 1) : i);
        }
        for (const std::size_t i : order) {
            EtldJob job;
            job.name = s.prefix + "-e" + std::to_string(++serial);
            job.input_topic = topics[configs[i].keys];
            job.pipelines = configs[i].pipelines;
            job.binary = configs[i].binary;
            job.commit_interval_ms = s.commit_interval_ms;
            job.max_batch_events = s.max_batch_events;
            const Figures f = with_broker([&] { return etld_throughput(s, job, s.events); });
            etld_rows[i].runs.push_back(f);
            etld_rows[i].ratios.push_back(f.events_per_second() / e.events_per_second());
            std::printf(
                "  %s, %s keys: %.0f events/s, %.1f CPU-s/M, broker %.1f CPU-s/M, peak RSS %.0f "
                "MB, first commit after %.2f s, %.0f transactions of %.1f ms, %.2f results per "
                "event\n",
                etld_rows[i].name.c_str(), etld_rows[i].keys.c_str(), f.events_per_second(),
                f.cpu_per_million(), f.broker_cpu_per_million(), f.peak_rss_mb,
                f.first_commit_seconds, f.transactions, f.mean_commit_ms,
                f.results / static_cast<double>(f.events));
            std::fflush(stdout);
        }
    }

    // Half of saturation: the 3-pipeline configuration on the first topic.
    double saturation = 0;
    for (const auto& r : etld_rows) {
        if (r.name.find("3 pipelines (") != std::string::npos && r.keys == key_label(k0)) {
            std::vector<double> v;
            for (const auto& f : r.runs) {
                v.push_back(f.events_per_second());
            }
            saturation = median(v);
        }
    }
    const double rate = s.latency_rate > 0 ? s.latency_rate : saturation / 2;
    Latency lat;
    if (rate > 0 && s.has("latency")) {
        lat = latency_run(s, rate);
        std::printf("latency at %.0f events/s: p50 %.0f ms, p99 %.0f ms over %zu results\n",
                    lat.achieved_rate, lat.p50_ms, lat.p99_ms, lat.results);
        std::fflush(stdout);
    }

    std::vector<Restore> restores;
    for (const std::uint64_t n :
         s.has("restore") ? s.restore_sizes : std::vector<std::uint64_t>{}) {
        if (restores.empty()) {
            restores.push_back(restore_run(s, "baseline: 1e3 windows, 1e3 ids", 1000, 1000));
        }
        restores.push_back(
            restore_run(s, key_label(n) + " open windows (and " + key_label(n) + " ids)", n, n));
        std::printf("restore: %s in %.2f s\n", restores.back().what.c_str(),
                    restores.back().restore_seconds);
        std::fflush(stdout);
    }
    if (!restores.empty()) {
        const std::uint64_t big = s.restore_sizes.back();
        restores.push_back(restore_run(s, key_label(big) + " dedup ids (1e3 windows)", big, 1000));
        std::printf("restore: %s in %.2f s\n", restores.back().what.c_str(),
                    restores.back().restore_seconds);
    }

    const Engine engine = s.has("engine") ? engine_bench(s) : Engine{};
    const Store store = s.has("store") ? store_bench(s) : Store{};

    // ---- the table (the sections of phases that did not run are left out) ----
    if (s.has("throughput")) {
        std::printf("\n");
        print_header();
        for (const auto& [k, r] : loads) {
            std::printf("| %-*s | %5s | %9.0f | %6s | %7s | %7s | %9s | %7s |\n", kNameWidth,
                        "load generator (idempotent, acks=all, lz4)", key_label(k).c_str(),
                        r.events_per_second(), "", "", "", "", "");
        }
        print_row(consume);
        print_row(pipe);
        for (const auto& r : etld_rows) {
            print_row(r);
        }
    }
    if (lat.results > 0) {
        std::printf(
            "\nlatency, 3 pipelines (1s tumbling, 4s/1s sliding, 1s session), 1e3 keys, "
            "commit interval %lld ms, at %.0f events/s (%s): p50 %.0f ms, "
            "p99 %.0f ms, max %.0f ms (%zu results)\n",
            static_cast<long long>(s.commit_interval_ms), lat.achieved_rate,
            s.latency_rate > 0 ? "--latency-rate" : "half of saturation", lat.p50_ms, lat.p99_ms,
            lat.max_ms, lat.results);
    }
    if (!restores.empty()) {
        std::printf("\n| %-40s | %9s | %12s | %10s | %12s |\n", "restore after restart", "events",
                    "open windows", "restore s", "RSS after MB");
        std::printf("|%s|%s|%s|%s|%s|\n", std::string(42, '-').c_str(),
                    std::string(11, '-').c_str(), std::string(14, '-').c_str(),
                    std::string(12, '-').c_str(), std::string(14, '-').c_str());
        for (const auto& r : restores) {
            std::printf("| %-40s | %9llu | %12.0f | %10.2f | %12.1f |\n", r.what.c_str(),
                        static_cast<unsigned long long>(r.events), r.open_windows,
                        r.restore_seconds, r.resident_mb);
        }
    }
    // Memory per item from the resident sizes: ids from the 1e6-ids run
    // against the baseline, windows from the 1e6-windows run against the
    // 1e6-ids run (both hold the same number of ids). Only with the restore
    // phase, which makes all three.
    double per_id = std::numeric_limits<double>::quiet_NaN();
    double per_window = std::numeric_limits<double>::quiet_NaN();
    if (restores.size() >= 3) {
        const Restore& base = restores.front();
        const Restore& ids = restores.back();
        const Restore& wins = restores[restores.size() - 2];
        per_id = (ids.resident_mb - base.resident_mb) * 1048576.0 /
                 static_cast<double>(ids.events - base.events);
        per_window = (wins.resident_mb - ids.resident_mb) * 1048576.0 /
                     (wins.open_windows - ids.open_windows);
        std::printf(
            "\nresident memory: %.0f bytes per dedup id, %.0f bytes per open window "
            "(1h tumbling, count + sum, by user_id)\n",
            per_id, per_window);
    }
    if (s.has("engine")) {
        std::printf(
            "\nengine only (no Kafka; decode + dedup + tumbling + sliding + session): "
            "%.0f events/s wall, %.0f events per CPU-second of one core; the 3-pipeline rows' "
            "pipelines at 1e6 keys: %.0f events per CPU-second\n",
            engine.events_per_second, engine.events_per_cpu_second,
            engine.many_keys_per_cpu_second);
    }
    if (s.has("store")) {
        std::printf(
            "\nSQLite only (the materializer's share; the 3-pipeline results at 1e6 keys, "
            "batches of 50000): %.0f results/s wall, %.0f per CPU-second, %.1f bytes of "
            "database per result\n",
            store.results_per_second, store.results_per_cpu_second, store.bytes_per_result);
    }

    if (!s.json_path.empty()) {
        std::ofstream j(s.json_path);
        j << "{\"broker\":\"" << s.bootstrap << "\",\"events\":" << s.events
          << ",\"runs\":" << s.runs << ",\"partitions\":" << s.partitions
          << ",\"commit_interval_ms\":" << s.commit_interval_ms << ",\"load\":[";
        for (std::size_t i = 0; i < loads.size(); ++i) {
            j << (i ? "," : "") << "{\"keys\":" << loads[i].first
              << ",\"events_per_second\":" << json_number(loads[i].second.events_per_second())
              << "}";
        }
        j << "],\"rows\":[" << json_row(consume) << "," << json_row(pipe);
        for (const auto& r : etld_rows) {
            j << "," << json_row(r);
        }
        j << "],\"latency\":{\"rate\":" << json_number(lat.achieved_rate)
          << ",\"p50_ms\":" << json_number(lat.p50_ms) << ",\"p99_ms\":" << json_number(lat.p99_ms)
          << ",\"max_ms\":" << json_number(lat.max_ms) << ",\"results\":" << lat.results
          << "},\"restore\":[";
        for (std::size_t i = 0; i < restores.size(); ++i) {
            const auto& r = restores[i];
            j << (i ? "," : "") << "{\"what\":\"" << r.what << "\",\"events\":" << r.events
              << ",\"open_windows\":" << json_number(r.open_windows)
              << ",\"restore_seconds\":" << json_number(r.restore_seconds)
              << ",\"resident_mb\":" << json_number(r.resident_mb) << "}";
        }
        j << "],\"bytes_per_dedup_id\":" << json_number(per_id)
          << ",\"bytes_per_open_window\":" << json_number(per_window)
          << ",\"engine\":{\"events_per_second\":" << json_number(engine.events_per_second)
          << ",\"events_per_cpu_second\":" << json_number(engine.events_per_cpu_second)
          << ",\"many_keys_per_cpu_second\":" << json_number(engine.many_keys_per_cpu_second)
          << "},\"store\":{\"results_per_second\":" << json_number(store.results_per_second)
          << ",\"results_per_cpu_second\":" << json_number(store.results_per_cpu_second)
          << ",\"bytes_per_result\":" << json_number(store.bytes_per_result) << "}}\n";
        std::printf("\nJSON: %s\n", s.json_path.c_str());
    }
    return 0;
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: etld_kafka_bench --bootstrap HOST:PORT --etld PATH [--engine-bench PATH]\n"
                 "       [--store-bench PATH]\n"
                 "       [--events N] [--runs R] [--keys K,K,...] [--restore N,N,...]\n"
                 "       [--latency-rate R] [--latency-seconds S] [--json FILE] [--quick]\n"
                 "       [--phases throughput,latency,restore,engine,store] [--configs 1,3,demo]\n"
                 "       [--max-batch N] [--compare OTHER_ETLD]\n");
    std::exit(2);
}

std::vector<std::uint64_t> parse_list(const std::string& text) {
    std::vector<std::uint64_t> out;
    std::istringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        out.push_back(static_cast<std::uint64_t>(std::strtod(item.c_str(), nullptr)));
    }
    return out;
}

}  // namespace
}  // namespace etld::bench

int main(int argc, char** argv) {
    using namespace etld::bench;
    Settings s;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage();
            }
            return argv[++i];
        };
        if (a == "--bootstrap") {
            s.bootstrap = value();
        } else if (a == "--etld") {
            s.etld = value();
        } else if (a == "--engine-bench") {
            s.engine_bench = value();
        } else if (a == "--store-bench") {
            s.store_bench = value();
        } else if (a == "--events") {
            s.events = static_cast<std::uint64_t>(std::strtod(value().c_str(), nullptr));
        } else if (a == "--runs") {
            s.runs = std::atoi(value().c_str());
        } else if (a == "--keys") {
            s.key_counts = parse_list(value());
        } else if (a == "--restore") {
            s.restore_sizes = parse_list(value());
        } else if (a == "--latency-rate") {
            s.latency_rate = std::strtod(value().c_str(), nullptr);
        } else if (a == "--latency-seconds") {
            s.latency_seconds = std::strtod(value().c_str(), nullptr);
        } else if (a == "--max-batch") {
            s.max_batch_events = std::atoll(value().c_str());
        } else if (a == "--compare") {
            s.compare_etld = value();
        } else if (a == "--broker-pid") {
            s.broker_pid = std::atoi(value().c_str());
        } else if (a == "--phases") {
            s.phases = value();
        } else if (a == "--configs") {
            s.configs = value();
        } else if (a == "--json") {
            s.json_path = value();
        } else if (a == "--quick") {
            s.events = 100'000;
            s.runs = 1;
            s.key_counts = {1'000};
            s.restore_sizes = {10'000};
            s.latency_seconds = 5;
        } else {
            usage();
        }
    }
    if (s.bootstrap.empty() || s.etld.empty() || s.key_counts.empty() || s.restore_sizes.empty() ||
        s.runs < 1) {
        usage();
    }
    s.prefix = "bench" + std::to_string(wall_ms() / 1000 % 100000000);
    s.work_dir = (std::filesystem::temp_directory_path() / s.prefix).string();
    std::filesystem::create_directories(s.work_dir);
    signal(SIGPIPE, SIG_IGN);
    try {
        const int rc = run_all(s);
        if (std::getenv("ETLD_BENCH_KEEP") == nullptr) {
            std::filesystem::remove_all(s.work_dir);
        }
        return rc;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "etld_kafka_bench: %s (work dir %s kept)\n", e.what(),
                     s.work_dir.c_str());
        return 1;
    }
}
