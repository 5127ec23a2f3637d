#include "pipeline/kafka/runner.h"

#include <malloc.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "etld/pipeline/result.h"
#include "etld/pipeline/task.h"
#include "pipeline/kafka/admin.h"

namespace etld::pipeline::kafka {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kKafkaTimeoutMs = 30000;

// A task's changelog mark (see Runner::Impl::expected_marks): a key no task
// state uses, and the committed offset metadata that names the mark,
// "etld-mark:<token>:<changelog topic>,<changelog topic>".
constexpr std::string_view kMarkKey = "c";
constexpr std::string_view kMarkMetadata = "etld-mark:";

struct CommittedMark {
    std::string token;
    std::vector<std::string> changelogs;
};

std::optional<CommittedMark> parse_mark_metadata(const rd_kafka_topic_partition_t& p) {
    if (p.metadata == nullptr || p.metadata_size <= kMarkMetadata.size()) {
        return std::nullopt;
    }
    const std::string_view text(static_cast<const char*>(p.metadata), p.metadata_size);
    if (!text.starts_with(kMarkMetadata)) {
        return std::nullopt;
    }
    const std::string_view rest = text.substr(kMarkMetadata.size());
    const auto colon = rest.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return std::nullopt;
    }
    CommittedMark mark{std::string(rest.substr(0, colon)), {}};
    std::string_view names = rest.substr(colon + 1);
    while (!names.empty()) {
        const auto comma = names.find(',');
        if (comma != 0) {
            mark.changelogs.emplace_back(names.substr(0, comma));
        }
        if (comma == std::string_view::npos) {
            break;
        }
        names.remove_prefix(comma + 1);
    }
    return mark;
}

// librdkafka frees a partition's metadata with free().
void set_metadata(rd_kafka_topic_partition_t& p, const std::string& text) {
    void* copy = std::malloc(text.size());
    if (copy == nullptr) {
        return;  // the commit goes without: the restore falls back to the stable offset
    }
    std::memcpy(copy, text.data(), text.size());
    p.metadata = copy;
    p.metadata_size = text.size();
}

ProcessingTimeMs wall_now() {
    return ProcessingTimeMs{std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()};
}

bool is_fencing(const KafkaError& e) {
    return e.code == RD_KAFKA_RESP_ERR__FENCED || e.code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           e.code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
           e.code == RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
}

// Properties the runner owns; a passthrough value for them would silently
// break exactly-once, so it is refused.
void set_owned(Properties& props, const std::string& name, const std::string& value) {
    for (const auto& [key, v] : props) {
        if (key == name && v != value) {
            throw RunnerStartError("Kafka property '" + name + "' is set by etld (to '" + value +
                                   "') and cannot be overridden");
        }
    }
    props.emplace_back(name, value);
}

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Same keyspaces, fed by the same topics: tasks can be rebuilt in place.
bool same_shape(const Topology& a, const Topology& b) {
    if (a.keyspaces.size() != b.keyspaces.size()) {
        return false;
    }
    for (std::size_t k = 0; k < a.keyspaces.size(); ++k) {
        const Keyspace& x = a.keyspaces[k];
        const Keyspace& y = b.keyspaces[k];
        if (x.id != y.id || x.direct != y.direct || x.repartition_topic != y.repartition_topic ||
            x.changelog_topic != y.changelog_topic) {
            return false;
        }
    }
    return true;
}

struct TaskId {
    std::size_t keyspace = 0;
    std::int32_t partition = 0;
    auto operator<=>(const TaskId&) const = default;
};

// Where a consumed record comes from.
struct Source {
    bool input = false;
    std::size_t keyspace = 0;  // for a repartition topic
};

// The last value of a header, valid while the message lives.
std::string_view header_view(rd_kafka_headers_t* headers, const char* name) {
    const void* value = nullptr;
    size_t size = 0;
    if (headers != nullptr &&
        rd_kafka_header_get_last(headers, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        value != nullptr) {
        return {static_cast<const char*>(value), size};
    }
    return {};
}

void add_header(rd_kafka_headers_t* headers, const char* name, std::string_view value) {
    rd_kafka_header_add(headers, name, -1, value.data(), static_cast<ssize_t>(value.size()));
}

// One thread that runs one call at a time for its owner, who goes on with
// other work and later waits for the call to end.
class BackgroundCall {
  public:
    explicit BackgroundCall(const char* name)
        : thread_([this, name] {
              ::pthread_setname_np(::pthread_self(), name);
              loop();
          }) {}
    ~BackgroundCall() {
        {
            std::lock_guard lock(mutex_);
            quit_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }
    BackgroundCall(const BackgroundCall&) = delete;
    BackgroundCall& operator=(const BackgroundCall&) = delete;

    // Only while idle().
    void start(std::function<void()> call) {
        {
            std::lock_guard lock(mutex_);
            call_ = std::move(call);
            busy_.store(true, std::memory_order_release);
        }
        wake_.notify_all();
    }
    // One atomic load: cheap enough to ask once per record.
    bool idle() const { return !busy_.load(std::memory_order_acquire); }
    void wait() {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return !busy_.load(std::memory_order_relaxed); });
    }

  private:
    void loop() {
        std::unique_lock lock(mutex_);
        while (true) {
            wake_.wait(lock, [this] { return quit_ || call_; });
            if (!call_) {
                return;
            }
            auto call = std::move(call_);
            call_ = nullptr;
            lock.unlock();
            call();
            lock.lock();
            busy_.store(false, std::memory_order_release);
            wake_.notify_all();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::function<void()> call_;
    std::atomic<bool> busy_{false};
    bool quit_ = false;
    std::thread thread_;  // last: starts once the members above exist
};

}  // namespace

struct Runner::Impl {
    RunnerConfig config;
    LogFn log;
    RunnerStats stats;
    Topology topology;
    const EngineSpec* spec = nullptr;

    KafkaPtr producer;
    KafkaPtr consumer;
    KafkaPtr restorer;
    std::map<std::string, TopicPtr> topic_handles;
    std::map<std::string, Source, std::less<>> sources;  // by name, looked up per record

    Decoder decoder;
    Event event;
    Output output;
    std::vector<StateDelta> deltas;
    std::string source_value;  // kSourceHeader of the record being repartitioned
    // A result's key and value while it is produced (librdkafka copies them).
    std::string result_key_buf;
    std::string result_value_buf;

    std::map<TaskId, Task> tasks;
    std::map<TaskId, TaskCounters> seen_counters;
    std::set<std::pair<std::string, std::int32_t>> at_end;  // source partitions fully read
    // The offset each owned partition was assigned (or rewound) at: what a
    // transaction commits for a partition it has consumed nothing from yet.
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> resume_offsets;

    bool in_transaction = false;
    std::int64_t cycle_events = 0;          // consumed since the last cut
    std::optional<KafkaError> cycle_error;  // a produce failed: the cycle must abort
    std::optional<RunOutcome> fatal;

    // The overlapped commit: while the committer thread sends the offsets
    // and commits the transaction cut at the interval, the run thread goes
    // on consuming and processing, and holds every record it would produce
    // until the commit is settled; then they open the next transaction (or
    // are dropped with it when the commit failed: the abort rewinds).
    struct HeldRecord {
        rd_kafka_topic_t* rkt = nullptr;
        std::int32_t partition = 0;
        std::size_t key_at = 0, key_len = 0;
        std::size_t value_at = 0, value_len = 0;
        bool has_value = false;
        rd_kafka_headers_t* headers = nullptr;  // owned until produced or dropped
        std::size_t source_at = 0, source_len = 0;
    };
    bool committing = false;
    bool consumed_while_committing = false;    // offsets to commit even with no record held
    std::optional<KafkaError> commit_outcome;  // written by the committer thread
    std::vector<HeldRecord> held;
    std::string held_bytes;  // keys, values and source headers of `held`

    // The consumer's assignment and group metadata since the last rebalance
    // callback (eager assignment: every generation passes through on_assign).
    PartitionListPtr assigned{rd_kafka_topic_partition_list_new(0)};
    std::shared_ptr<const rd_kafka_consumer_group_metadata_t> group_metadata;

    // Restore completeness. A read_committed reader sees a partition only up
    // to its last stable offset, and an open transaction of an owner that
    // died holds that back until the transaction times out: whatever the
    // next owner commits to the partition meanwhile stays out of sight. So
    // every transaction ends each task's changelog writes with a mark (key
    // kMarkKey, the transaction's token as value) and commits each source
    // partition's offset with metadata naming that token and the changelogs
    // that carry it; a restore is complete only once it has read the mark of
    // the commit it resumes from.
    std::string mark_prefix;  // random per process: tokens never repeat
    std::uint64_t marks_cut = 0;
    std::string cut_mark;  // the token of the transaction cut last
    std::vector<std::pair<std::string, std::int32_t>> cut_marked;  // its changelog partitions
    // Changelog partition -> the token of the last commit covering it.
    std::map<std::pair<std::string, std::int32_t>, std::string> expected_marks;

    // Results per pipeline since the last publish, by pipeline index.
    std::vector<std::uint64_t> pipeline_results;
    std::map<std::string, std::uint64_t> results_total;
    Clock::time_point last_publish{};
    Clock::time_point last_broker_probe{};

    std::mutex update_mutex;
    std::optional<std::pair<RunnerUpdate, std::promise<UpdateOutcome>>> pending_update;

    bool consumer_closed = false;
    std::atomic<bool> stop_requested{false};
    std::atomic<bool> stop_now_requested{false};
    std::atomic<bool> update_waiting{false};  // pending_update is set

    // Destroyed first, before the clients it calls.
    BackgroundCall committer{"etld:commit"};

    Impl(RunnerConfig c, LogFn l)
        : config(std::move(c)), log(std::move(l)), decoder(config.engine->spec().schema) {
        use_engine();
        std::random_device entropy;
        const std::uint64_t nonce = (std::uint64_t{entropy()} << 32) ^ entropy();
        std::array<char, 17> hex{};
        const auto end = std::to_chars(hex.data(), hex.data() + hex.size(), nonce, 16).ptr;
        mark_prefix.assign(hex.data(), end);
    }

    // Derives the topology and the sources from config.engine.
    void use_engine() {
        spec = &config.engine->spec();
        pipeline_results.assign(spec->pipelines.size(), 0);
        topology = plan_topology(*spec, config.input_topics, config.partitioned_by,
                                 config.internal_prefix, config.group_id);
        sources.clear();
        for (const auto& topic : config.input_topics) {
            sources[topic] = Source{true, 0};
        }
        for (std::size_t k = 0; k < topology.keyspaces.size(); ++k) {
            if (!topology.keyspaces[k].direct) {
                sources[topology.keyspaces[k].repartition_topic] = Source{false, k};
            }
        }
    }

    // The consumer's close runs the rebalance callback, which uses the
    // members below it: close it while they all still exist.
    ~Impl() { close_consumer(); }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    void close_consumer() {
        if (consumer && !consumer_closed) {
            consumer_closed = true;
            rd_kafka_consumer_close(consumer.get());
        }
    }

    void logf(LogLevel level, const std::string& text) const {
        if (log) {
            log(level, text);
        }
    }

    // ---- start-up -------------------------------------------------------

    void ensure_topics() {
        Properties admin_props;
        for (const auto& [k, v] : config.consumer) {
            if (k == "bootstrap.servers" || k.rfind("security.", 0) == 0 ||
                k.rfind("sasl.", 0) == 0 || k.rfind("ssl.", 0) == 0) {
                admin_props.emplace_back(k, v);
            }
        }
        KafkaPtr admin = make_admin(admin_props);
        const auto timeout = std::chrono::milliseconds(kKafkaTimeoutMs);

        std::optional<int> input_partitions;
        for (const auto& topic : config.input_topics) {
            PartitionCount count = wait_for_metadata(admin.get(), topic, timeout, false);
            if (!count.partitions) {
                throw RunnerStartError("input topic '" + topic + "' does not exist");
            }
            input_partitions = *count.partitions;
        }

        const std::string retention = std::to_string(config.retention.count());
        struct Wanted {
            TopicSpec spec;
            bool check_partitions = false;
            bool must_compact = false;
        };
        std::vector<Wanted> wanted;
        const std::map<std::string, std::string> deleting = {{"cleanup.policy", "delete"},
                                                             {"retention.ms", retention}};
        wanted.push_back(
            {{config.output_topic, config.partitions, config.replication_factor, deleting},
             false,
             false});
        wanted.push_back(
            {{config.late_topic, config.partitions, config.replication_factor, deleting},
             false,
             false});
        wanted.push_back(
            {{config.dead_letter_topic, config.partitions, config.replication_factor, deleting},
             false,
             false});
        for (const auto& ks : topology.keyspaces) {
            const int task_partitions =
                ks.direct ? input_partitions.value_or(config.partitions) : config.partitions;
            if (!ks.direct) {
                wanted.push_back(
                    {{ks.repartition_topic, config.partitions, config.replication_factor, deleting},
                     true,
                     false});
            }
            wanted.push_back({{ks.changelog_topic,
                               task_partitions,
                               config.replication_factor,
                               {{"cleanup.policy", "compact"}}},
                              true,
                              true});
        }

        std::vector<TopicSpec> specs;
        for (const auto& w : wanted) {
            specs.push_back(w.spec);
        }
        for (const auto& created : create_topics(admin.get(), specs, timeout)) {
            if (created.error) {
                throw RunnerStartError("cannot create topic '" + created.name +
                                       "': " + created.error->describe());
            }
            if (created.created) {
                logf(LogLevel::info, "created topic " + created.name);
            }
        }
        for (const auto& w : wanted) {
            PartitionCount count = wait_for_metadata(admin.get(), w.spec.name, timeout, true);
            if (!count.partitions) {
                throw RunnerStartError("topic '" + w.spec.name + "' is missing after creation");
            }
            if (w.check_partitions && *count.partitions != w.spec.partitions) {
                throw RunnerStartError(
                    "topic '" + w.spec.name + "' has " + std::to_string(*count.partitions) +
                    " partitions but etld needs " + std::to_string(w.spec.partitions) +
                    " (one per task); delete it or fix topics.partitions / the input topic");
            }
            if (w.must_compact) {
                TopicConfigs configs = describe_topic_configs(admin.get(), w.spec.name, timeout);
                if (configs.error) {
                    throw RunnerStartError("cannot read the configuration of '" + w.spec.name +
                                           "': " + configs.error->describe());
                }
                const std::string policy = configs.values["cleanup.policy"];
                if (policy.find("compact") == std::string::npos) {
                    throw RunnerStartError("changelog topic '" + w.spec.name +
                                           "' has cleanup.policy=" + policy +
                                           "; it must be compact");
                }
            }
        }
    }

    // The topic's partition count. With `until_exists`, waits for a topic
    // that was just created to appear in the metadata.
    PartitionCount wait_for_metadata(rd_kafka_t* admin, const std::string& topic,
                                     std::chrono::milliseconds timeout, bool until_exists) {
        const auto deadline = Clock::now() + timeout;
        PartitionCount count;
        while (true) {
            count = topic_partition_count(admin, topic, std::chrono::seconds(5));
            if (count.error) {
                stats.broker_down = true;  // health says so while this retries
            }
            if (count.partitions || (!count.error && !until_exists) || Clock::now() > deadline) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        if (count.error) {
            throw BrokerUnavailable("cannot read metadata of '" + topic +
                                    "': " + count.error->describe());
        }
        return count;
    }

    void create_clients() {
        Properties producer_props = config.producer;
        set_owned(producer_props, "transactional.id", config.transactional_id);
        set_owned(producer_props, "enable.idempotence", "true");
        set_owned(producer_props, "acks", "all");
        set_default(producer_props, "transaction.timeout.ms", "10000");
        set_default(producer_props, "linger.ms", "5");
        set_default(producer_props, "batch.num.messages", "10000");
        set_default(producer_props, "compression.codec", "lz4");
        set_default(producer_props, "queue.buffering.max.messages", "1000000");
        // A transaction that begins while the coordinator still writes the
        // markers of the one before gets CONCURRENT_TRANSACTIONS for
        // AddOffsetsToTxn, and librdkafka retries after retry.backoff.ms
        // (100 ms by default): with short cycles that was a 100 ms wait in
        // about a third of the commits (1 pipeline, 1e3 keys: 153 k against
        // 297 k events/s with 10 ms).
        set_default(producer_props, "retry.backoff.ms", "10");
        ConfPtr pconf = make_conf(producer_props);
        // Served by the run loop's rd_kafka_poll() and by the flush inside
        // each commit.
        wake_flush_on_delivery(pconf.get());
        producer = new_client(RD_KAFKA_PRODUCER, std::move(pconf), "producer");

        Properties consumer_props = config.consumer;
        set_owned(consumer_props, "group.id", config.group_id);
        set_owned(consumer_props, "enable.auto.commit", "false");
        set_owned(consumer_props, "enable.auto.offset.store", "false");
        set_owned(consumer_props, "isolation.level", "read_committed");
        // End-of-partition events tell an idle task that its input is caught up.
        set_owned(consumer_props, "enable.partition.eof", "true");
        set_default(consumer_props, "auto.offset.reset", "earliest");
        // Eager assignment: cooperative-sticky has rebalance bugs in 2.0.2.
        set_default(consumer_props, "partition.assignment.strategy", "range");
        add_consumer_defaults(consumer_props);
        ConfPtr conf = make_conf(consumer_props);
        rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::rebalance_trampoline);
        consumer = new_client(RD_KAFKA_CONSUMER, std::move(conf), "consumer");
        rd_kafka_poll_set_consumer(consumer.get());

        Properties restore_props;
        for (const auto& [k, v] : config.consumer) {
            if (k != "group.id" && k != "partition.assignment.strategy" &&
                k != "auto.offset.reset" && k != "enable.auto.commit" && k != "group.instance.id" &&
                k != "session.timeout.ms") {
                restore_props.emplace_back(k, v);
            }
        }
        set_owned(restore_props, "isolation.level", "read_committed");
        set_owned(restore_props, "enable.partition.eof", "true");
        set_owned(restore_props, "enable.auto.commit", "false");
        set_owned(restore_props, "auto.offset.reset", "earliest");
        set_default(restore_props, "group.id", config.group_id + ".restore");
        // A restore ends at an end-of-partition event, which comes with the
        // first empty fetch response: one the broker holds for
        // fetch.wait.max.ms (500 ms by default) when nothing arrives.
        set_default(restore_props, "fetch.wait.max.ms", "10");
        restorer = make_consumer(restore_props);
    }

    // A client whose errors reach on_client_error (on the thread that polls it).
    KafkaPtr new_client(rd_kafka_type_t type, ConfPtr conf, const char* what) {
        rd_kafka_conf_set_error_cb(conf.get(), &Impl::error_trampoline);
        rd_kafka_conf_set_opaque(conf.get(), this);
        std::array<char, 512> error{};
        rd_kafka_t* rk = rd_kafka_new(type, conf.get(), error.data(), error.size());
        if (rk == nullptr) {
            throw RunnerStartError(std::string("cannot create the ") + what + ": " + error.data());
        }
        (void)conf.release();
        return KafkaPtr(rk);
    }

    static void error_trampoline(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
        static_cast<Impl*>(opaque)->on_client_error(static_cast<rd_kafka_resp_err_t>(err), reason);
    }

    // Client-level errors are informational: librdkafka keeps reconnecting,
    // and the transaction calls report what matters. "All brokers down" is
    // remembered for health until a broker answers again.
    void on_client_error(rd_kafka_resp_err_t err, const char* reason) {
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
            if (!stats.broker_down.exchange(true)) {
                logf(LogLevel::warning, std::string("no Kafka broker reachable: ") + reason);
            }
        } else if (err != RD_KAFKA_RESP_ERR__TRANSPORT) {
            logf(LogLevel::debug, std::string("Kafka client: ") + reason);
        }
    }

    // While no broker is reachable, asks for metadata once a second; an
    // answer ends the outage.
    void probe_brokers() {
        if (!stats.broker_down || Clock::now() - last_broker_probe < std::chrono::seconds(1)) {
            return;
        }
        last_broker_probe = Clock::now();
        const struct rd_kafka_metadata* md = nullptr;
        if (rd_kafka_metadata(restorer.get(), 0, nullptr, &md, 1000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_metadata_destroy(md);
            broker_reachable();
        }
    }

    void broker_reachable() {
        if (stats.broker_down.exchange(false)) {
            logf(LogLevel::notice, "a Kafka broker is reachable again");
        }
    }

    // Retries retriable errors with backoff; false when stopped or fatal.
    bool init_transactions() {
        auto backoff = std::chrono::milliseconds(200);
        while (!stop_now_requested) {
            auto error =
                KafkaError::from(rd_kafka_init_transactions(producer.get(), kKafkaTimeoutMs));
            if (!error) {
                stats.degraded = false;
                return true;
            }
            if (error->fatal || is_fencing(*error)) {
                stop_fatally(*error);
                return false;
            }
            stats.degraded = true;
            logf(LogLevel::warning, "init_transactions failed, retrying: " + error->describe());
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        }
        return false;
    }

    void subscribe() {
        PartitionListPtr topics(
            rd_kafka_topic_partition_list_new(static_cast<int>(sources.size())));
        for (const auto& [name, source] : sources) {
            rd_kafka_topic_partition_list_add(topics.get(), name.c_str(), RD_KAFKA_PARTITION_UA);
        }
        const auto err = rd_kafka_subscribe(consumer.get(), topics.get());
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            throw RunnerStartError(std::string("cannot subscribe: ") + rd_kafka_err2str(err));
        }
    }

    // ---- state: tasks and restore -----------------------------------------

    std::vector<TaskId> tasks_for(const std::string& topic, std::int32_t partition) const {
        std::vector<TaskId> out;
        auto it = sources.find(topic);
        if (it == sources.end()) {
            return out;
        }
        if (it->second.input) {
            for (std::size_t k = 0; k < topology.keyspaces.size(); ++k) {
                if (topology.keyspaces[k].direct) {
                    out.push_back({k, partition});
                }
            }
        } else {
            out.push_back({it->second.keyspace, partition});
        }
        return out;
    }

    // One changelog partition being restored.
    struct Restoring {
        TaskId id;
        std::int64_t end = 0;               // the stable offset when the restore began
        const std::string* mark = nullptr;  // the mark to read first, if known
        bool mark_read = false;
        bool waited = false;  // reached the end without the mark: only the EOF ends it
        bool done = false;
    };

    // Rebuilds tasks from their changelog partitions, read_committed up to
    // each partition's end, reading all of them through one assignment. A
    // partition whose committed mark is known is complete only once the
    // mark was read: when it lies behind an open transaction, the restore
    // waits for that transaction to end (see expected_marks).
    void restore_tasks(const std::vector<TaskId>& ids) {
        const auto start = Clock::now();
        std::uint64_t records = 0;
        std::map<std::pair<std::string, std::int32_t>, Restoring> restoring;
        PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(ids.size())));
        for (const auto& id : ids) {
            const Keyspace& ks = topology.keyspaces[id.keyspace];
            seen_counters.erase(id);
            tasks.erase(id);
            tasks.emplace(id, Task(config.engine, ks.pipelines));
            std::int64_t low = 0;
            std::int64_t high = 0;
            // A changelog topic created a moment ago has no leader yet for a
            // few milliseconds: retry soon, and say so only when it lasts.
            auto backoff = std::chrono::milliseconds(10);
            const auto asked = Clock::now();
            while (!stop_now_requested) {
                const auto err =
                    rd_kafka_query_watermark_offsets(restorer.get(), ks.changelog_topic.c_str(),
                                                     id.partition, &low, &high, kKafkaTimeoutMs);
                if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    break;
                }
                logf(Clock::now() - asked > std::chrono::seconds(1) ? LogLevel::warning
                                                                    : LogLevel::debug,
                     "restore: cannot read the end of " + ks.changelog_topic + ": " +
                         rd_kafka_err2str(err) + "; retrying");
                std::this_thread::sleep_for(backoff);
                backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
            }
            const std::pair<std::string, std::int32_t> tp{ks.changelog_topic, id.partition};
            auto expected = expected_marks.find(tp);
            const std::string* mark =
                expected == expected_marks.end() ? nullptr : &expected->second;
            if (high > low || mark != nullptr) {
                // From the start offset just read: a logical BEGINNING has the
                // restorer look the offset up first, and when the partition
                // moves to its leader while that lookup waits (as one new to
                // the client does), librdkafka retries it only 500 ms later
                // (restores took 0.02 or 0.52 s for the same state). Should
                // the log start have moved on since, auto.offset.reset takes
                // the new one.
                rd_kafka_topic_partition_list_add(list.get(), ks.changelog_topic.c_str(),
                                                  id.partition)
                    ->offset = low;
                restoring[tp] = Restoring{id, high, mark};
            }
        }
        if (list->cnt > 0) {
            rd_kafka_assign(restorer.get(), list.get());
            std::size_t remaining = restoring.size();
            auto last_progress = Clock::now();
            const auto complete = [&](Restoring& r) {
                if (!r.done) {
                    r.done = true;
                    --remaining;
                }
            };
            // At the end of what is readable, without the mark: say so once.
            const auto wait_for_mark = [&](Restoring& r,
                                           const std::pair<std::string, std::int32_t>& tp) {
                if (!r.waited) {
                    r.waited = true;
                    logf(LogLevel::warning,
                         "restore of " + tp.first + "[" + std::to_string(tp.second) +
                             "] waits: the state its committed offsets name lies behind an "
                             "open transaction (of an owner that stopped without ending it), "
                             "readable once the broker aborts it at its timeout");
                }
            };
            while (remaining > 0 && !stop_now_requested) {
                if (Clock::now() - last_progress > std::chrono::seconds(10)) {
                    last_progress = Clock::now();
                    logf(LogLevel::info, "restoring: " + std::to_string(remaining) + " of " +
                                             std::to_string(restoring.size()) +
                                             " changelog partitions to go, " +
                                             std::to_string(records) + " records read");
                }
                MessagePtr msg(rd_kafka_consumer_poll(restorer.get(), 500));
                if (!msg) {
                    continue;
                }
                const std::pair<std::string, std::int32_t> tp{rd_kafka_topic_name(msg->rkt),
                                                              msg->partition};
                auto it = restoring.find(tp);
                if (it == restoring.end() || it->second.done) {
                    continue;
                }
                Restoring& r = it->second;
                if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    if (r.mark == nullptr || r.mark_read) {
                        complete(r);
                    } else {
                        wait_for_mark(r, tp);
                    }
                    continue;
                }
                if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                    logf(LogLevel::warning, "restore of " + tp.first + "[" +
                                                std::to_string(tp.second) +
                                                "]: " + rd_kafka_message_errstr(msg.get()));
                    continue;
                }
                std::string_view key(static_cast<const char*>(msg->key),
                                     msg->key ? msg->key_len : 0);
                std::optional<std::string_view> value;
                if (msg->payload != nullptr) {
                    value = std::string_view(static_cast<const char*>(msg->payload), msg->len);
                }
                ++records;
                if (key == kMarkKey) {
                    if (r.mark != nullptr && value == std::string_view(*r.mark)) {
                        r.mark_read = true;
                    }
                } else if (auto error = tasks.at(r.id).apply_changelog(key, value)) {
                    logf(LogLevel::warning, "skipped a corrupt changelog record in " + tp.first +
                                                "[" + std::to_string(tp.second) + "] at offset " +
                                                std::to_string(msg->offset) + ": " + *error);
                }
                if (msg->offset + 1 >= r.end && !r.waited && (r.mark == nullptr || r.mark_read)) {
                    complete(r);
                } else if (msg->offset + 1 >= r.end && !r.mark_read) {
                    wait_for_mark(r, tp);
                }
            }
            rd_kafka_assign(restorer.get(), nullptr);
        }
        // A restore allocates and frees far more than the state it leaves
        // (fetch buffers, records, tables outgrown while they filled), and
        // glibc keeps freed memory mapped: give it back, once per restore.
        malloc_trim(0);
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
        stats.restores++;
        stats.restore_ms_total += ms;
        stats.last_restore_ms = ms;
        stats.last_restore_records = records;
        logf(LogLevel::info, "restored " + std::to_string(ids.size()) + " tasks from " +
                                 std::to_string(records) + " changelog records in " +
                                 std::to_string(ms) + " ms");
    }

    // ---- rebalance ------------------------------------------------------------

    static void rebalance_trampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                     rd_kafka_topic_partition_list_t* partitions, void* opaque) {
        auto* self = static_cast<Impl*>(opaque);
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
            self->on_assign(rk, partitions);
        } else {
            self->on_revoke(rk, partitions);
        }
    }

    void on_assign(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions) {
        // (Eager assignment revokes, and so settles any commit, first.)
        settle_commit();
        // Reading the committed offsets first waits for any transaction that
        // still holds offsets for these partitions (a previous owner's), so
        // the changelog read next is complete for the offsets we resume from.
        PartitionListPtr committed(rd_kafka_topic_partition_list_copy(partitions));
        while (!stop_now_requested) {
            const auto err = rd_kafka_committed(rk, committed.get(), kKafkaTimeoutMs);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                break;
            }
            logf(LogLevel::warning, std::string("reading committed offsets failed, retrying: ") +
                                        rd_kafka_err2str(err));
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        std::vector<TaskId> ids;
        for (int i = 0; i < partitions->cnt; ++i) {
            for (const auto& id :
                 tasks_for(partitions->elems[i].topic, partitions->elems[i].partition)) {
                ids.push_back(id);
            }
        }
        learn_marks(committed.get());
        restore_tasks(ids);
        at_end.clear();
        remember_resume_offsets(committed.get());
        rd_kafka_assign(rk, committed.get());
        assigned.reset(rd_kafka_topic_partition_list_copy(partitions));
        group_metadata.reset(rd_kafka_consumer_group_metadata(rk),
                             rd_kafka_consumer_group_metadata_destroy);
        stats.assigned_partitions = static_cast<std::uint64_t>(partitions->cnt);
        stats.ready = true;
        publish_detail(true);
        logf(LogLevel::info, "assigned " + std::to_string(partitions->cnt) + " partitions, " +
                                 std::to_string(ids.size()) + " tasks");
    }

    // The marks the committed offsets name (none for offsets committed
    // without: then a restore ends at the stable offset, as it must without).
    void learn_marks(const rd_kafka_topic_partition_list_t* committed) {
        for (int i = 0; i < committed->cnt; ++i) {
            const rd_kafka_topic_partition_t& p = committed->elems[i];
            for (const auto& id : tasks_for(p.topic, p.partition)) {
                expected_marks.erase(
                    {topology.keyspaces[id.keyspace].changelog_topic, p.partition});
            }
            if (auto mark = parse_mark_metadata(p)) {
                for (auto& changelog : mark->changelogs) {
                    expected_marks[{std::move(changelog), p.partition}] = mark->token;
                }
            }
        }
    }

    void remember_resume_offsets(const rd_kafka_topic_partition_list_t* list) {
        resume_offsets.clear();
        for (int i = 0; i < list->cnt; ++i) {
            if (list->elems[i].offset >= 0) {
                resume_offsets[{list->elems[i].topic, list->elems[i].partition}] =
                    list->elems[i].offset;
            }
        }
    }

    void on_revoke(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions) {
        stats.ready = false;
        if ((in_transaction || committing) && !fatal) {
            if (rd_kafka_assignment_lost(rk) != 0) {
                // The session expired (a long pause): the group has given
                // these partitions to another member already, so nothing of
                // this transaction may commit, and the tasks are dropped
                // below, so there is nothing to rewind either. A commit
                // already under way ends as the coordinator decides; what
                // was held for the next one is dropped.
                logf(LogLevel::warning,
                     "partitions lost (session expired); aborting the transaction in flight");
                settle_commit(false);
                if (in_transaction && !fatal) {
                    abort_only();
                }
            } else if (!commit_cycle()) {
                logf(LogLevel::warning, "the transaction in flight at revocation was aborted");
            }
        }
        resume_offsets.clear();
        if (partitions != nullptr) {
            for (int i = 0; i < partitions->cnt; ++i) {
                for (const auto& id :
                     tasks_for(partitions->elems[i].topic, partitions->elems[i].partition)) {
                    tasks.erase(id);
                    seen_counters.erase(id);
                }
            }
        }
        rd_kafka_assign(rk, nullptr);
        assigned.reset(rd_kafka_topic_partition_list_new(0));
        at_end.clear();
        stats.assigned_partitions = 0;
    }

    // ---- producing ---------------------------------------------------------

    rd_kafka_topic_t* topic_handle(const std::string& name) {
        auto it = topic_handles.find(name);
        if (it == topic_handles.end()) {
            it = topic_handles
                     .emplace(name,
                              TopicPtr(rd_kafka_topic_new(producer.get(), name.c_str(), nullptr)))
                     .first;
        }
        return it->second.get();
    }

    // Opens a transaction unless one is open. While the previous one
    // commits, only notes that there are offsets for the next one.
    void ensure_transaction() {
        if (committing) {
            consumed_while_committing = true;
            return;
        }
        if (in_transaction || fatal) {
            return;  // (after a fatal error every record is dropped)
        }
        if (auto error = KafkaError::from(rd_kafka_begin_transaction(producer.get()))) {
            // begin_transaction only fails on misuse or a fatal producer.
            cycle_error = *error;
            if (error->fatal || is_fencing(*error)) {
                stop_fatally(*error);
            }
            return;
        }
        in_transaction = true;
    }

    // Produces one record in the current transaction (or holds it while the
    // previous one commits). Ownership of `headers` (may be null) passes to
    // this call; a non-empty `source` becomes the record's one kSourceHeader
    // instead. A failure marks the cycle for abort.
    void send(const std::string& topic, std::int32_t partition, std::string_view key,
              std::optional<std::string_view> value, rd_kafka_headers_t* headers,
              std::string_view source = {}) {
        if (committing) {
            hold(topic_handle(topic), partition, key, value, headers, source);
            return;
        }
        ensure_transaction();
        produce(topic_handle(topic), partition, key, value, headers, source);
    }

    void hold(rd_kafka_topic_t* rkt, std::int32_t partition, std::string_view key,
              std::optional<std::string_view> value, rd_kafka_headers_t* headers,
              std::string_view source) {
        HeldRecord& r = held.emplace_back();
        r.rkt = rkt;
        r.partition = partition;
        r.headers = headers;
        r.key_at = held_bytes.size();
        r.key_len = key.size();
        held_bytes.append(key);
        if (value) {
            r.has_value = true;
            r.value_at = held_bytes.size();
            r.value_len = value->size();
            held_bytes.append(*value);
        }
        r.source_at = held_bytes.size();
        r.source_len = source.size();
        held_bytes.append(source);
    }

    // Produces the held records into the transaction just begun.
    void release_held() {
        if (held.empty() && !consumed_while_committing) {
            return;
        }
        consumed_while_committing = false;
        ensure_transaction();
        const std::string_view bytes(held_bytes);
        for (HeldRecord& r : held) {
            std::optional<std::string_view> value;
            if (r.has_value) {
                value = bytes.substr(r.value_at, r.value_len);
            }
            produce(r.rkt, r.partition, bytes.substr(r.key_at, r.key_len), value,
                    std::exchange(r.headers, nullptr), bytes.substr(r.source_at, r.source_len));
        }
        held.clear();
        held_bytes.clear();
    }

    // The held records belong to a cycle that is being rewound.
    void drop_held() {
        for (HeldRecord& r : held) {
            if (r.headers != nullptr) {
                rd_kafka_headers_destroy(r.headers);
            }
        }
        held.clear();
        held_bytes.clear();
        consumed_while_committing = false;
    }

    void produce(rd_kafka_topic_t* rkt, std::int32_t partition, std::string_view key,
                 std::optional<std::string_view> value, rd_kafka_headers_t* headers,
                 std::string_view source) {
        if (cycle_error || !in_transaction) {
            if (headers != nullptr) {
                rd_kafka_headers_destroy(headers);
            }
            return;
        }
        while (true) {
            std::array<rd_kafka_vu_t, 7> vus{};
            size_t n = 0;
            vus[n].vtype = RD_KAFKA_VTYPE_RKT;
            vus[n++].u.rkt = rkt;
            vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
            vus[n++].u.i32 = partition;
            vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
            vus[n++].u.i32 = RD_KAFKA_MSG_F_COPY;
            if (!key.empty()) {
                vus[n].vtype = RD_KAFKA_VTYPE_KEY;
                vus[n].u.mem.ptr = const_cast<char*>(key.data());
                vus[n++].u.mem.size = key.size();
            }
            if (value) {
                vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
                vus[n].u.mem.ptr = const_cast<char*>(value->data());
                vus[n++].u.mem.size = value->size();
            }
            if (headers != nullptr) {
                vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
                vus[n++].u.headers = headers;
            } else if (!source.empty()) {
                vus[n].vtype = RD_KAFKA_VTYPE_HEADER;
                vus[n].u.header.name = kSourceHeader;
                vus[n].u.header.val = source.data();
                vus[n++].u.header.size = static_cast<ssize_t>(source.size());
            }
            auto error = KafkaError::from(rd_kafka_produceva(producer.get(), vus.data(), n));
            if (!error) {
                return;  // librdkafka owns the headers now
            }
            if (error->code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(producer.get(), 10);
                continue;
            }
            if (headers != nullptr) {
                rd_kafka_headers_destroy(headers);
            }
            cycle_error = *error;
            return;
        }
    }

    // The three documented source headers of a late record or dead letter.
    // A record read from a repartition topic has them in its one
    // kSourceHeader (or, written by an etld before that header, as the three
    // headers themselves); any other record is its own source.
    rd_kafka_headers_t* source_headers(const rd_kafka_message_t* msg) {
        rd_kafka_headers_t* headers = rd_kafka_headers_new(8);
        rd_kafka_headers_t* incoming = nullptr;
        if (rd_kafka_message_headers(msg, &incoming) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (auto c = parse_source(header_view(incoming, kSourceHeader))) {
                add_header(headers, "etld.source.topic", c->topic);
                add_header(headers, "etld.source.partition", c->partition);
                add_header(headers, "etld.source.offset", c->offset);
                return headers;
            }
            if (!header_view(incoming, "etld.source.topic").empty()) {
                add_header(headers, "etld.source.topic",
                           header_view(incoming, "etld.source.topic"));
                add_header(headers, "etld.source.partition",
                           header_view(incoming, "etld.source.partition"));
                add_header(headers, "etld.source.offset",
                           header_view(incoming, "etld.source.offset"));
                return headers;
            }
        }
        std::array<char, 24> digits{};
        add_header(headers, "etld.source.topic", rd_kafka_topic_name(msg->rkt));
        auto end = std::to_chars(digits.data(), digits.data() + digits.size(), msg->partition).ptr;
        add_header(headers, "etld.source.partition",
                   std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data())));
        end = std::to_chars(digits.data(), digits.data() + digits.size(), msg->offset).ptr;
        add_header(headers, "etld.source.offset",
                   std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data())));
        return headers;
    }

    void dead_letter(const rd_kafka_message_t* msg, const Rejection& rejection) {
        stats.rejected++;
        stats.rejected_by_reason[static_cast<std::size_t>(rejection.reason)]++;
        rd_kafka_headers_t* headers = source_headers(msg);
        add_header(headers, "etld.reason", name_of(rejection.reason));
        add_header(headers, "etld.detail", rejection.detail);
        const std::string_view key(static_cast<const char*>(msg->key), msg->key ? msg->key_len : 0);
        const std::string_view value(static_cast<const char*>(msg->payload),
                                     msg->payload ? msg->len : 0);
        send(config.dead_letter_topic, RD_KAFKA_PARTITION_UA, key, value, headers);
    }

    void drain_output(const rd_kafka_message_t* msg) {
        for (const Result& result : output.results) {
            write_result_key(result_key_buf, result);
            write_result_json(result_value_buf, *config.engine, result);
            stats.results++;
            pipeline_results[result.pipeline]++;
            send(config.output_topic, RD_KAFKA_PARTITION_UA, result_key_buf, result_value_buf,
                 nullptr);
        }
        for (const LateRecord& late : output.late) {
            const PipelineSpec& pipeline = spec->pipelines[late.pipeline];
            if (pipeline.late_policy == LatePolicy::drop) {
                continue;
            }
            rd_kafka_headers_t* headers =
                msg != nullptr ? source_headers(msg) : rd_kafka_headers_new(4);
            add_header(headers, "etld.reason", "too_late");
            add_header(headers, "etld.detail", late.reason);
            add_header(headers, "etld.pipeline", pipeline.name);
            add_header(headers, "etld.event_time", std::to_string(late.event_time.value));
            add_header(headers, "etld.watermark", std::to_string(late.watermark.value));
            send(config.late_topic, RD_KAFKA_PARTITION_UA, pipeline.name, late.raw, headers);
        }
        output.clear();
    }

    // The repartition key and partition, shared with `etld test` (topology.h).
    std::string group_key(const Keyspace& ks) const {
        return repartition_key(spec->schema, ks, event);
    }
    std::int32_t repartition_partition(std::string_view key) const {
        return kafka::repartition_partition(key, config.partitions);
    }

    // ---- processing --------------------------------------------------------

    // The decoder's processing time (for max_future_skew) is set by the caller.
    void process(const rd_kafka_message_t* msg) {
        auto source = sources.find(std::string_view(rd_kafka_topic_name(msg->rkt)));
        if (source == sources.end()) {
            return;
        }
        ensure_transaction();
        ++cycle_events;
        stats.consumed++;
        const std::string_view raw(static_cast<const char*>(msg->payload),
                                   msg->payload ? msg->len : 0);
        if (auto rejection = decoder.decode(raw, event)) {
            dead_letter(msg, *rejection);
            return;
        }
        if (source->second.input) {
            // The source coordinates are the same for every repartition
            // topic: formatted once.
            source_value.clear();
            for (std::size_t k = 0; k < topology.keyspaces.size(); ++k) {
                const Keyspace& ks = topology.keyspaces[k];
                if (ks.direct) {
                    run_task({k, msg->partition}, raw, msg);
                } else {
                    if (source_value.empty()) {
                        format_source(source_value, rd_kafka_topic_name(msg->rkt), msg->partition,
                                      msg->offset);
                    }
                    stats.repartitioned++;
                    const std::string key = group_key(ks);
                    send(ks.repartition_topic, repartition_partition(key), key, raw, nullptr,
                         source_value);
                }
            }
        } else {
            run_task({source->second.keyspace, msg->partition}, raw, msg);
        }
    }

    void run_task(const TaskId& id, std::string_view raw, const rd_kafka_message_t* msg) {
        auto it = tasks.find(id);
        if (it == tasks.end()) {
            // Not assigned any more (a revocation is under way): the record
            // will be processed by the partition's next owner.
            return;
        }
        it->second.process(event, raw, output);
        drain_output(msg);
    }

    // Caught up = the consumer reported the end of the task's source
    // partition (the last stable offset, read_committed) and nothing arrived
    // from it since.
    bool caught_up(const TaskId& id) const {
        const Keyspace& ks = topology.keyspaces[id.keyspace];
        const std::string& topic = ks.direct ? config.input_topics[0] : ks.repartition_topic;
        return at_end.count({topic, id.partition}) != 0;
    }

    void advance_idle_tasks() {
        const ProcessingTimeMs now = wall_now();
        for (auto& [id, task] : tasks) {
            task.advance_processing_time(now, caught_up(id), output);
            if (!output.results.empty() || !output.late.empty()) {
                drain_output(nullptr);
            }
        }
    }

    void sync_counters() {
        std::uint64_t open = 0;
        for (auto& [id, task] : tasks) {
            const TaskCounters now = task.counters();
            TaskCounters& before = seen_counters[id];
            stats.duplicates += now.duplicates - before.duplicates;
            stats.too_late += now.too_late - before.too_late;
            stats.late_applied += now.late_applied - before.late_applied;
            before = now;
            open += now.open_windows + now.open_sessions;
        }
        stats.open_windows = open;
    }

    // Republishes the gauges that need a lock: lag per owned partition,
    // watermark and open states per pipeline, results per pipeline.
    void publish_detail(bool force) {
        if (!force && Clock::now() - last_publish < std::chrono::seconds(1)) {
            return;
        }
        last_publish = Clock::now();
        RunnerDetail d;
        for (std::size_t i = 0; i < pipeline_results.size(); ++i) {
            results_total[spec->pipelines[i].name] += pipeline_results[i];
            pipeline_results[i] = 0;
        }
        d.results_by_pipeline = results_total;
        for (const auto& p : spec->pipelines) {
            d.pipelines.push_back(PipelineGauge{p.name, std::nullopt, 0});
        }
        for (const auto& [id, task] : tasks) {
            const TaskCounters c = task.counters();
            for (const auto& [index, open] : c.open_by_pipeline) {
                PipelineGauge& g = d.pipelines[index];
                g.open += open;
                if (c.watermark && (!g.watermark_ms || c.watermark->value < *g.watermark_ms)) {
                    g.watermark_ms = c.watermark->value;
                }
            }
        }
        if (consumer && !consumer_closed) {
            rd_kafka_topic_partition_list_t* raw = nullptr;
            if (rd_kafka_assignment(consumer.get(), &raw) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                PartitionListPtr assignment(raw);
                rd_kafka_position(consumer.get(), assignment.get());
                for (int i = 0; i < assignment->cnt; ++i) {
                    const auto& tp = assignment->elems[i];
                    std::int64_t low = 0;
                    std::int64_t high = 0;
                    if (rd_kafka_get_watermark_offsets(consumer.get(), tp.topic, tp.partition, &low,
                                                       &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
                        high < 0) {
                        continue;
                    }
                    if (tp.offset < 0) {
                        continue;  // nothing consumed yet: the position is unknown
                    }
                    d.lags.push_back(PartitionLag{tp.topic, tp.partition,
                                                  std::max<std::int64_t>(0, high - tp.offset)});
                }
            }
        }
        stats.publish(std::move(d));
    }

    // ---- reload ------------------------------------------------------------------

    std::future<UpdateOutcome> request_update(RunnerUpdate update) {
        std::promise<UpdateOutcome> promise;
        auto future = promise.get_future();
        std::lock_guard lock(update_mutex);
        if (pending_update) {
            pending_update->second.set_value(
                UpdateOutcome{UpdateOutcome::superseded, "a newer reload replaced this one"});
        }
        pending_update.emplace(std::move(update), std::move(promise));
        update_waiting = true;
        return future;
    }

    // Called at a transaction boundary (nothing produced since the last
    // commit, consumer positions equal to the committed offsets).
    void apply_pending_update() {
        std::optional<std::pair<RunnerUpdate, std::promise<UpdateOutcome>>> taken;
        {
            std::lock_guard lock(update_mutex);
            taken.swap(pending_update);
            update_waiting = false;
        }
        if (!taken) {
            return;
        }
        RunnerUpdate& u = taken->first;
        config.commit_interval = u.commit_interval;
        config.max_batch_events = u.max_batch_events;
        if (!u.engine || u.engine == config.engine) {
            stats.reloads_applied++;
            taken->second.set_value(UpdateOutcome{UpdateOutcome::applied, "settings applied"});
            return;
        }
        const Topology next =
            plan_topology(u.engine->spec(), config.input_topics, config.partitioned_by,
                          config.internal_prefix, config.group_id);
        if (!same_shape(topology, next)) {
            taken->second.set_value(UpdateOutcome{
                UpdateOutcome::needs_new_runner,
                "the pipelines' keyspaces changed: the runner must rejoin the group"});
            return;
        }
        publish_detail(true);  // results so far, under the old pipeline indices
        config.engine = std::move(u.engine);
        use_engine();
        std::vector<TaskId> ids;
        for (const auto& [id, task] : tasks) {
            ids.push_back(id);
        }
        // Unchanged pipelines find their state in the changelog; changed ones
        // (another fingerprint) start empty.
        restore_tasks(ids);
        sync_counters();
        publish_detail(true);
        stats.reloads_applied++;
        taken->second.set_value(UpdateOutcome{UpdateOutcome::applied,
                                              "pipelines switched; " + std::to_string(ids.size()) +
                                                  " tasks rebuilt from their changelogs"});
    }

    void refuse_pending_update(const std::string& why) {
        std::lock_guard lock(update_mutex);
        if (pending_update) {
            pending_update->second.set_value(UpdateOutcome{UpdateOutcome::refused, why});
            pending_update.reset();
            update_waiting = false;
        }
    }

    // ---- the commit cycle ----------------------------------------------------

    // What the committer needs to finish a cut transaction.
    struct CommitJob {
        PartitionListPtr offsets;
        std::shared_ptr<const rd_kafka_consumer_group_metadata_t> group;
    };

    // Ends the cycle on the run thread: produces the changelog deltas and
    // takes the consumer's positions. Nothing to commit (no transaction, or
    // it was aborted here) gives no job; `ok` says which.
    std::optional<CommitJob> cut(bool& ok) {
        ok = true;
        for (auto& [id, task] : tasks) {
            deltas.clear();
            task.take_changelog(deltas);
            const std::string& topic = topology.keyspaces[id.keyspace].changelog_topic;
            for (const auto& delta : deltas) {
                std::optional<std::string_view> value;
                if (delta.value) {
                    value = std::string_view(*delta.value);
                }
                send(topic, id.partition, delta.key, value, nullptr);
            }
        }
        if (!in_transaction) {
            return std::nullopt;
        }
        // Each task's mark comes after its deltas: reading it means having
        // read everything this transaction wrote for the task.
        cut_mark = mark_prefix + "." + std::to_string(++marks_cut);
        cut_marked.clear();
        for (const auto& [id, task] : tasks) {
            const std::string& topic = topology.keyspaces[id.keyspace].changelog_topic;
            send(topic, id.partition, kMarkKey, cut_mark, nullptr);
            cut_marked.emplace_back(topic, id.partition);
        }
        if (cycle_error) {
            ok = abort_cycle(*cycle_error);
            return std::nullopt;
        }
        // The assignment and group metadata as of the last rebalance (asking
        // librdkafka for them waits for its consumer thread each time, a few
        // milliseconds per commit on a busy machine); positions are local.
        PartitionListPtr assignment(rd_kafka_topic_partition_list_copy(assigned.get()));
        rd_kafka_position(consumer.get(), assignment.get());
        CommitJob job{PartitionListPtr(rd_kafka_topic_partition_list_new(assignment->cnt)),
                      group_metadata};
        for (int i = 0; i < assignment->cnt; ++i) {
            // A partition nothing was consumed from since its assignment (or
            // the last rewind) has no position; its resume offset stands in,
            // so that every transaction sends offsets: only then does the
            // group coordinator check the generation and refuse a zombie.
            // A transaction without offsets (say, idle windows closing on
            // partitions with no new records) would commit unchecked.
            std::int64_t offset = assignment->elems[i].offset;
            if (offset < 0) {
                auto it = resume_offsets.find(
                    {assignment->elems[i].topic, assignment->elems[i].partition});
                if (it != resume_offsets.end()) {
                    offset = it->second;
                }
            }
            if (offset >= 0) {
                rd_kafka_topic_partition_t* added = rd_kafka_topic_partition_list_add(
                    job.offsets.get(), assignment->elems[i].topic, assignment->elems[i].partition);
                added->offset = offset;
                std::string changelogs;
                for (const auto& id :
                     tasks_for(assignment->elems[i].topic, assignment->elems[i].partition)) {
                    changelogs += (changelogs.empty() ? "" : ",") +
                                  topology.keyspaces[id.keyspace].changelog_topic;
                }
                if (!changelogs.empty()) {
                    set_metadata(*added, std::string(kMarkMetadata) + cut_mark + ":" + changelogs);
                }
            }
        }
        if (job.offsets->cnt == 0 && assignment->cnt == 0) {
            // No partition owned any more: this transaction belongs to no
            // generation and must not commit.
            ok = abort_cycle(
                KafkaError::from_code(RD_KAFKA_RESP_ERR__STATE, "no partitions assigned"));
            return std::nullopt;
        }
        cycle_events = 0;
        return job;
    }

    // Sends the offsets and commits, retrying what is retriable; the error
    // that ends the attempt, if any. Runs on the committer thread or the run
    // thread, and touches only the producer, atomics and the log.
    std::optional<KafkaError> send_and_commit(const CommitJob& job) {
        const auto commit_start = Clock::now();
        if (job.offsets->cnt > 0) {
            while (true) {
                auto error = KafkaError::from(rd_kafka_send_offsets_to_transaction(
                    producer.get(), job.offsets.get(), job.group.get(), kKafkaTimeoutMs));
                if (!error) {
                    break;
                }
                if (error->retriable && !stop_now_requested) {
                    stats.degraded = true;
                    logf(LogLevel::warning,
                         "send_offsets_to_transaction: " + error->describe() + "; retrying");
                    std::this_thread::sleep_for(std::chrono::milliseconds(200));
                    continue;
                }
                return error;
            }
        }
        while (true) {
            auto error =
                KafkaError::from(rd_kafka_commit_transaction(producer.get(), kKafkaTimeoutMs));
            if (!error) {
                break;
            }
            if (error->retriable && !stop_now_requested) {
                // The outcome is unknown: only the same call may follow.
                stats.degraded = true;
                logf(LogLevel::warning, "commit_transaction: " + error->describe() + "; retrying");
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
                continue;
            }
            return error;
        }
        stats.commit_seconds.observe(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - commit_start));
        return std::nullopt;
    }

    // The run thread takes the outcome of a commit: on success the counters,
    // on failure the abort and the rewind (held records dropped).
    bool finish_commit(const std::optional<KafkaError>& error) {
        if (error) {
            return abort_cycle(*error);
        }
        in_transaction = false;
        for (const auto& partition : cut_marked) {
            expected_marks[partition] = cut_mark;
        }
        cut_marked.clear();
        stats.last_commit_unix_ms = unix_ms();
        stats.transactions_committed++;
        stats.degraded = false;
        broker_reachable();
        sync_counters();
        return true;
    }

    // Waits for the commit in flight, if any, and takes its outcome; after a
    // success the held records open the next transaction (with `release`)
    // or are dropped. False when the commit failed.
    bool settle_commit(bool release = true) {
        if (!committing) {
            return true;
        }
        committer.wait();
        committing = false;
        if (!finish_commit(std::exchange(commit_outcome, std::nullopt))) {
            drop_held();  // (a fatal error skips the abort, which drops them too)
            return false;
        }
        if (release && !fatal) {
            release_held();
        } else {
            drop_held();
        }
        return true;
    }

    // Cuts the cycle and hands the commit to the committer thread; the run
    // thread goes on, holding what it produces until settle_commit().
    void start_commit() {
        if (!settle_commit()) {
            return;
        }
        bool ok = true;
        auto job = cut(ok);
        if (!job) {
            return;
        }
        committing = true;
        committer.start([this, j = std::make_shared<CommitJob>(std::move(*job))] {
            commit_outcome = send_and_commit(*j);
        });
    }

    // Commits the cycle and waits for it: the commit in flight first, then
    // everything since. Returns false when a transaction had to be aborted
    // (state and positions are then rewound to the last commit) or a fatal
    // error stopped the runner.
    bool commit_cycle() {
        if (!settle_commit()) {
            return false;
        }
        bool ok = true;
        auto job = cut(ok);
        if (!job) {
            return ok;
        }
        return finish_commit(send_and_commit(*job));
    }

    // A fatal producer error hides its reason behind _FATAL; fencing shows
    // up there as PRODUCER_FENCED or INVALID_PRODUCER_EPOCH.
    KafkaError underlying(const KafkaError& error) const {
        if (error.code != RD_KAFKA_RESP_ERR__FATAL) {
            return error;
        }
        std::array<char, 512> text{};
        const rd_kafka_resp_err_t code =
            rd_kafka_fatal_error(producer.get(), text.data(), text.size());
        if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return error;
        }
        KafkaError out = KafkaError::from_code(code, text.data());
        out.fatal = true;
        return out;
    }

    // Stops the runner for good after a fatal error, saying why.
    void stop_fatally(const KafkaError& raw) {
        const KafkaError cause = underlying(raw);
        fatal = is_fencing(cause) ? RunOutcome::fenced : RunOutcome::fatal;
        in_transaction = false;
        if (is_fencing(cause)) {
            logf(LogLevel::error, "fenced: another instance uses transactional.id '" +
                                      config.transactional_id +
                                      "'; stopping without committing: " + cause.describe());
        } else {
            logf(LogLevel::error, "fatal Kafka error; stopping: " + cause.describe());
        }
    }

    bool abort_cycle(const KafkaError& error) {
        const KafkaError cause = error;  // `error` may be the cycle_error reset here
        cycle_error.reset();
        if (cause.fatal || is_fencing(cause)) {
            stop_fatally(cause);
            return false;
        }
        stats.degraded = true;
        logf(LogLevel::warning, "aborting the transaction: " + cause.describe());
        // With the assignment lost the revocation that follows drops every
        // task: rewinding them first would only re-read changelogs that
        // another member now writes.
        if (abort_only() && rd_kafka_assignment_lost(consumer.get()) == 0 && !stop_now_requested) {
            rewind();
        }
        return false;
    }

    // Aborts the transaction in flight without touching state or positions;
    // false when that failed fatally (the runner then stops).
    bool abort_only() {
        cycle_error.reset();
        drop_held();
        cycle_events = 0;
        while (true) {
            auto error =
                KafkaError::from(rd_kafka_abort_transaction(producer.get(), kKafkaTimeoutMs));
            if (!error) {
                break;
            }
            if (error->retriable && !stop_now_requested) {
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
                continue;
            }
            stop_fatally(*error);
            return false;
        }
        in_transaction = false;
        stats.transactions_aborted++;
        return true;
    }

    // After an abort: back to the last committed offsets and the state that
    // matches them.
    void rewind() {
        rd_kafka_topic_partition_list_t* raw = nullptr;
        rd_kafka_assignment(consumer.get(), &raw);
        PartitionListPtr assignment(raw);
        if (assignment->cnt == 0) {
            return;
        }
        while (!stop_now_requested) {
            const auto err = rd_kafka_committed(consumer.get(), assignment.get(), kKafkaTimeoutMs);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                break;
            }
            logf(LogLevel::warning, std::string("reading committed offsets failed, retrying: ") +
                                        rd_kafka_err2str(err));
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        remember_resume_offsets(assignment.get());
        learn_marks(assignment.get());
        for (int i = 0; i < assignment->cnt; ++i) {
            if (assignment->elems[i].offset < 0) {
                assignment->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
            }
        }
        if (auto error = KafkaError::from(
                rd_kafka_seek_partitions(consumer.get(), assignment.get(), kKafkaTimeoutMs))) {
            logf(LogLevel::warning, "seek after abort: " + error->describe());
        }
        at_end.clear();
        std::vector<TaskId> ids;
        for (const auto& [id, task] : tasks) {
            ids.push_back(id);
        }
        restore_tasks(ids);
    }

    // ---- main loop ---------------------------------------------------------------

    // Checks and creates the topics; while no broker answers, retries with
    // backoff (health says "broker unreachable"). False when stopped first.
    bool ensure_topics_patiently() {
        auto backoff = std::chrono::milliseconds(500);
        while (!stop_requested && !stop_now_requested) {
            try {
                ensure_topics();
                broker_reachable();
                return true;
            } catch (const BrokerUnavailable& e) {
                stats.broker_down = true;
                logf(LogLevel::warning, std::string(e.what()) + "; retrying in " +
                                            std::to_string(backoff.count()) + " ms");
            }
            const auto until = Clock::now() + backoff;
            while (Clock::now() < until && !stop_requested && !stop_now_requested) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
        }
        return false;
    }

    RunOutcome run() {
        if (!ensure_topics_patiently()) {
            logf(LogLevel::info, "stopped before the broker answered");
            return RunOutcome::stopped;
        }
        create_clients();
        if (!init_transactions()) {
            return fatal.value_or(RunOutcome::stopped);
        }
        subscribe();
        logf(LogLevel::info, "running: " + std::to_string(topology.keyspaces.size()) +
                                 " keyspaces, commit interval " +
                                 std::to_string(config.commit_interval.count()) + " ms");
        auto last_tick = Clock::now();
        // One clock read per record: the wall clock is derived from the
        // steady one between ticks (clock reads showed up in profiles).
        ProcessingTimeMs wall_at_tick = wall_now();
        std::uint32_t since_producer_poll = 0;
        auto now = last_tick;
        while (!stop_requested && !stop_now_requested && !fatal) {
            const auto until_tick = config.commit_interval - (now - last_tick);
            const int timeout_ms = static_cast<int>(std::clamp<std::int64_t>(
                std::chrono::duration_cast<std::chrono::milliseconds>(until_tick).count(), 0, 100));
            MessagePtr msg(poll_ready_first(consumer.get(), timeout_ms));
            now = Clock::now();
            if (fatal) {
                break;
            }
            if (msg) {
                if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    if (!at_end.empty()) {
                        at_end.erase({rd_kafka_topic_name(msg->rkt), msg->partition});
                    }
                    decoder.set_processing_time(ProcessingTimeMs{
                        wall_at_tick.value +
                        std::chrono::duration_cast<std::chrono::milliseconds>(now - last_tick)
                            .count()});
                    process(msg.get());
                } else if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    at_end.insert({rd_kafka_topic_name(msg->rkt), msg->partition});
                } else {
                    logf(LogLevel::warning,
                         std::string("consumer: ") + rd_kafka_message_errstr(msg.get()));
                }
            }
            // Serves the producer's callbacks; every record would cost more
            // locking than the records themselves.
            if (!msg || ++since_producer_poll >= 256) {
                since_producer_poll = 0;
                rd_kafka_poll(producer.get(), 0);
            }
            if (committing && committer.idle()) {
                settle_commit();
            }
            const bool batch_full = cycle_events >= config.max_batch_events;
            if (now - last_tick >= config.commit_interval || batch_full) {
                last_tick = Clock::now();
                wall_at_tick = wall_now();
                // At most one commit in flight: what is held stays within
                // one interval (or max_batch_events).
                settle_commit();
                if (fatal) {
                    break;
                }
                advance_idle_tasks();
                if (update_waiting) {
                    // A reload applies between transactions, with nothing
                    // consumed past the committed offsets.
                    commit_cycle();
                    if (!in_transaction && !fatal) {
                        apply_pending_update();
                    }
                } else {
                    start_commit();
                }
                probe_brokers();
                publish_detail(false);
                now = Clock::now();
            }
        }
        refuse_pending_update("etld is stopping");
        if (fatal) {
            if (committing) {
                committer.wait();
                committing = false;
            }
            drop_held();
            return *fatal;
        }
        if (stop_now_requested) {
            if (committing) {
                // Whatever the commit in flight does, nothing after it does.
                committer.wait();
                committing = false;
                if (!commit_outcome) {
                    finish_commit(std::nullopt);
                }
                commit_outcome.reset();
                drop_held();
            }
            if (in_transaction) {
                (void)rd_kafka_abort_transaction(producer.get(), 5000);
                in_transaction = false;
            }
        } else if (in_transaction || committing) {
            commit_cycle();
        }
        close_consumer();
        if (fatal) {
            return *fatal;
        }
        logf(LogLevel::info, "stopped");
        return RunOutcome::stopped;
    }
};

void DurationHistogram::observe(std::chrono::microseconds d) {
    const double seconds = static_cast<double>(d.count()) / 1e6;
    std::size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) {
        ++i;
    }
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count())),
                      std::memory_order_relaxed);
}

DurationHistogram::Snapshot DurationHistogram::snapshot() const {
    Snapshot s;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    }
    s.count = count_.load(std::memory_order_relaxed);
    s.sum_seconds = static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6;
    return s;
}

std::future<UpdateOutcome> Runner::update(RunnerUpdate update) {
    return impl_->request_update(std::move(update));
}

Runner::Runner(RunnerConfig config, LogFn log)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(log))) {}

Runner::~Runner() = default;

RunOutcome Runner::run() {
    return impl_->run();
}

void Runner::stop() {
    impl_->stop_requested = true;
}

void Runner::stop_now() {
    impl_->stop_now_requested = true;
}

const RunnerStats& Runner::stats() const {
    return impl_->stats;
}

const Topology& Runner::topology() const {
    return impl_->topology;
}

}  // namespace etld::pipeline::kafka
