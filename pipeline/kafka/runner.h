// The exactly-once runner: consumes the input (and repartition) topics,
// drives the engine's tasks, and commits everything one commit cycle produced
// — results, late records, dead letters, repartitioned events, changelog
// deltas and the consumer's offsets — in one Kafka transaction.
//
// Lifecycle: construct, then run() on one thread until stop() (graceful:
// the in-flight transaction commits, the group is left cleanly),
// stop_now() (the in-flight transaction is aborted), or a fatal error
// (fenced by another instance with the same transactional.id). The engine's
// tasks live only on the run() thread. stats() may be read from any thread.
//
// Limits: state is held in memory per owned partition; it is rebuilt from
// the changelog topics on assignment and after every aborted transaction.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "etld/pipeline/compile.h"
#include "etld/pipeline/event.h"
#include "pipeline/kafka/client.h"
#include "pipeline/kafka/topology.h"

namespace etld::pipeline::kafka {

enum class LogLevel { debug = 7, info = 6, notice = 5, warning = 4, error = 3 };
using LogFn = std::function<void(LogLevel, std::string_view)>;

struct RunnerConfig {
    // Complete librdkafka properties (bootstrap.servers, secrets, passthrough);
    // the runner adds the settings exactly-once depends on and refuses
    // overrides of them.
    Properties consumer;
    Properties producer;
    std::string group_id;
    std::string transactional_id;

    std::vector<std::string> input_topics;
    std::string partitioned_by;
    std::string output_topic;
    std::string late_topic;
    std::string dead_letter_topic;
    std::string internal_prefix = "etld";

    // Topics the runner creates when missing.
    int partitions = 3;
    int replication_factor = 1;
    std::chrono::milliseconds retention{std::chrono::hours(24 * 7)};

    std::chrono::milliseconds commit_interval{100};
    std::int64_t max_batch_events = 10000;

    std::shared_ptr<const CompiledEngine> engine;
};

// A cumulative histogram of durations, in seconds, for Prometheus.
class DurationHistogram {
  public:
    static constexpr std::array<double, 12> kBounds{0.005, 0.01, 0.025, 0.05, 0.1,  0.25,
                                                    0.5,   1.0,  2.5,   5.0,  10.0, 30.0};

    void observe(std::chrono::microseconds d);
    // Counts per bucket (not cumulative; the last one is +Inf), sum in seconds.
    struct Snapshot {
        std::array<std::uint64_t, kBounds.size() + 1> buckets{};
        std::uint64_t count = 0;
        double sum_seconds = 0;
    };
    Snapshot snapshot() const;

  private:
    std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_us_{0};
};

// Consumer lag of one owned partition: the high watermark (last stable
// offset under read_committed) minus the consumer's position.
struct PartitionLag {
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t lag = 0;
};

// What each pipeline looks like from the tasks this instance owns.
struct PipelineGauge {
    std::string name;
    std::optional<std::int64_t> watermark_ms;  // the slowest owned task's
    std::uint64_t open = 0;                    // open window / session states
};

// Gauges that need more than an atomic; republished by the run thread about
// once a second.
struct RunnerDetail {
    std::vector<PartitionLag> lags;
    std::vector<PipelineGauge> pipelines;
    std::map<std::string, std::uint64_t> results_by_pipeline;  // monotone
};

// Counters for metrics and tests; monotone, relaxed atomics.
struct RunnerStats {
    std::atomic<std::uint64_t> consumed{0};
    std::atomic<std::uint64_t> rejected{0};
    std::array<std::atomic<std::uint64_t>, kRejectReasonCount> rejected_by_reason{};
    std::atomic<std::uint64_t> duplicates{0};
    std::atomic<std::uint64_t> too_late{0};
    std::atomic<std::uint64_t> late_applied{0};
    std::atomic<std::uint64_t> results{0};
    std::atomic<std::uint64_t> repartitioned{0};
    std::atomic<std::uint64_t> transactions_committed{0};
    std::atomic<std::uint64_t> transactions_aborted{0};
    std::atomic<std::uint64_t> restores{0};
    std::atomic<std::int64_t> last_restore_ms{0};
    std::atomic<std::uint64_t> last_restore_records{0};
    std::atomic<std::int64_t> restore_ms_total{0};
    std::atomic<std::uint64_t> open_windows{0};
    std::atomic<std::uint64_t> assigned_partitions{0};
    std::atomic<bool> ready{false};        // assigned and restored
    std::atomic<bool> degraded{false};     // the last transaction failed
    std::atomic<bool> broker_down{false};  // no broker reachable since the last commit
    std::atomic<std::int64_t> last_commit_unix_ms{0};
    DurationHistogram commit_seconds;
    std::atomic<std::uint64_t> reloads_applied{0};

    RunnerDetail detail() const {
        std::lock_guard lock(detail_mutex);
        return detail_;
    }
    void publish(RunnerDetail d) {
        std::lock_guard lock(detail_mutex);
        detail_ = std::move(d);
    }

  private:
    mutable std::mutex detail_mutex;
    RunnerDetail detail_;
};

enum class RunOutcome {
    stopped,  // stop() or stop_now(): exit 0
    fenced,   // another instance took over the transactional.id
    fatal,    // an unrecoverable Kafka error
};

// Settings a running runner can take over (a reload).
struct RunnerUpdate {
    std::chrono::milliseconds commit_interval{100};
    std::int64_t max_batch_events = 10000;
    // A new engine, or null to keep the running one. Its schema must be the
    // running one's; pipelines may differ.
    std::shared_ptr<const CompiledEngine> engine;
};

struct UpdateOutcome {
    enum Status {
        applied,           // at a transaction boundary
        needs_new_runner,  // the pipelines need other topics: stop this runner, start another
        refused,           // the runner stopped before a boundary
        superseded,        // a later update replaced this one before it applied
    };
    Status status = applied;
    std::string message;
};

class Runner {
  public:
    Runner(RunnerConfig config, LogFn log);
    ~Runner();
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;

    // Creates or checks the topics, then runs commit cycles until stopped.
    // Start-up errors (a missing input topic, an internal topic with the
    // wrong partition count or cleanup policy) are thrown.
    RunOutcome run();

    void stop();
    void stop_now();

    // Applies `update` at the next transaction boundary (within about one
    // commit interval): unchanged pipelines keep their state, changed and new
    // ones start empty. Any thread.
    std::future<UpdateOutcome> update(RunnerUpdate update);

    const RunnerStats& stats() const;
    const Topology& topology() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

class RunnerStartError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// No broker answered a metadata request in time; run() retries these itself.
class BrokerUnavailable : public RunnerStartError {
  public:
    using RunnerStartError::RunnerStartError;
};

}  // namespace etld::pipeline::kafka
