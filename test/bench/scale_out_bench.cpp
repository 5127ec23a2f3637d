// End-to-end throughput of etld with 1, 2, 3… instances in one consumer
// group, against a real broker. Build in Release and run:
//   ETLD_TEST_BOOTSTRAP=host:port etld_scale_out_bench [events=100000] [max_instances=3]
//       [broker_pid_file]
// For each instance count it creates a fresh 6-partition input topic, starts
// the instances (the integration tests' three-pipeline configuration: three
// keyspaces, so every event is repartitioned three times), waits until the
// group has settled, freezes the instances (SIGSTOP), publishes the events,
// thaws them and times how long the group takes until the input and every
// repartition topic are consumed and committed. It prints events/s and the
// CPU seconds the etld processes (and the broker, given its pid file) used,
// which says what limits the figure on a small machine.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "broker.h"
#include "etld_process.h"
#include "scenario.h"

namespace test = etld::test;
namespace kafka = etld::pipeline::kafka;

namespace {

constexpr int kPartitions = 6;
constexpr int kSubscribed = 4 * kPartitions;  // input + three repartition topics

// utime + stime of a process in seconds; 0 when it is gone.
double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    std::getline(in, text);
    const auto close = text.rfind(')');
    if (close == std::string::npos) {
        return 0;
    }
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; fields >> field; ++i) {
        if (i == 14 || i == 15) {
            ticks += std::stod(field);
        }
        if (i == 15) {
            break;
        }
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Sum over the partitions of what the group has not committed yet. A
// partition written by transactions ends with a commit marker, which no
// consumer position ever passes: one record of slack there.
std::int64_t backlog(const std::string& group, const std::string& topic, bool transactional) {
    kafka::KafkaPtr consumer = kafka::make_consumer(
        {{"bootstrap.servers", test::bootstrap_servers()}, {"group.id", group}});
    const auto done = test::committed(group, topic, kPartitions);
    std::int64_t behind = 0;
    for (int p = 0; p < kPartitions; ++p) {
        std::int64_t low = 0;
        std::int64_t high = 0;
        if (rd_kafka_query_watermark_offsets(consumer.get(), topic.c_str(), p, &low, &high,
                                             10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return -1;
        }
        const std::int64_t at = std::max<std::int64_t>(done[static_cast<size_t>(p)], low);
        const std::int64_t end = transactional && high > low ? high - 1 : high;
        behind += std::max<std::int64_t>(0, end - at);
    }
    return behind;
}

struct Figures {
    double seconds = 0;
    double etld_cpu = 0;
    double broker_cpu = 0;
};

Figures run(int instances, const test::Stream& stream, pid_t broker) {
    test::Scenario s("bench", kPartitions);
    test::create_topic(s.input, kPartitions);
    std::vector<std::unique_ptr<test::EtldProcess>> processes;
    std::vector<std::string> logs;
    for (int i = 0; i < instances; ++i) {
        test::InstanceSettings settings;
        const std::string id = std::to_string(i);
        settings.transactional_id = s.name + "-txn-" + id;
        settings.state_dir = s.dir.path + "/" + id;
        settings.sqlite_path = settings.state_dir + "/results.db";
        settings.max_batch_events = 10000;
        // The instances are frozen while the input is published.
        settings.session_timeout_ms = 45000;
        std::filesystem::create_directories(settings.state_dir);
        const std::string config = s.dir.path + "/" + id + ".toml";
        test::write_config(s, config, settings);
        logs.push_back(s.dir.path + "/" + id + ".log");
        processes.push_back(std::make_unique<test::EtldProcess>(config, logs.back()));
    }
    const bool settled = test::wait_until(
        [&] {
            int total = 0;
            for (const auto& log : logs) {
                const int n = test::last_assignment(log);
                if (n <= 0) {
                    return false;
                }
                total += n;
            }
            return total == kSubscribed;
        },
        std::chrono::minutes(2));
    if (!settled) {
        std::fprintf(stderr, "the group of %d did not settle; see %s\n", instances,
                     logs[0].c_str());
        std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));  // restore done, fetchers idle

    for (auto& p : processes) {
        p->signal(SIGSTOP);
    }
    test::produce_records(s.input, stream.main);
    double etld_before = 0;
    for (auto& p : processes) {
        etld_before += cpu_seconds(p->pid());
    }
    const double broker_before = broker > 0 ? cpu_seconds(broker) : 0;
    const auto start = std::chrono::steady_clock::now();
    for (auto& p : processes) {
        p->signal(SIGCONT);
    }
    const auto topics = s.stages();
    while (true) {
        std::int64_t behind = 0;
        for (size_t t = 0; t < topics.size(); ++t) {
            const std::int64_t b = backlog(s.group, topics[t], t > 0);
            behind += b < 0 ? 1 : b;
        }
        if (behind == 0) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    Figures f;
    f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (auto& p : processes) {
        f.etld_cpu += cpu_seconds(p->pid());
    }
    f.etld_cpu -= etld_before;
    f.broker_cpu = broker > 0 ? cpu_seconds(broker) - broker_before : 0;
    for (auto& p : processes) {
        p->signal(SIGTERM);
    }
    for (auto& p : processes) {
        p->wait(std::chrono::seconds(60));
    }
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    const int events = argc > 1 ? std::atoi(argv[1]) : 100000;
    const int max_instances = argc > 2 ? std::atoi(argv[2]) : 3;
    pid_t broker = 0;
    if (argc > 3) {
        std::ifstream in(argv[3]);
        in >> broker;
    }
    const test::Stream stream = test::make_stream(7, events, 1000, kPartitions);
    std::printf(
        "etld scale-out: %zu input records (%d events, ~5%% duplicates, ~1%% malformed), "
        "%d partitions, 3 pipelines in 3 keyspaces; %u CPUs online\n",
        stream.main.size(), events, kPartitions,
        static_cast<unsigned>(std::thread::hardware_concurrency()));
    std::printf("%-10s %10s %12s %16s %16s\n", "instances", "seconds", "events/s", "etld CPU s",
                "broker CPU s");
    for (int n = 1; n <= max_instances; ++n) {
        const Figures f = run(n, stream, broker);
        std::printf("%-10d %10.2f %12.0f %16.2f %16s\n", n, f.seconds,
                    static_cast<double>(stream.main.size()) / f.seconds, f.etld_cpu,
                    broker > 0 ? std::to_string(f.broker_cpu).substr(0, 6).c_str() : "-");
        std::fflush(stdout);
    }
    return 0;
}
