#include "daemon/materialize.h"

#include <map>
#include <span>
#include <thread>

#include "daemon/log.h"
#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/client.h"
#include "storage/result_store.h"

namespace etld::daemon {

namespace kafka = pipeline::kafka;

namespace {

constexpr std::int64_t kCaughtUpRecords = 5000;

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

OutputMaterializer::OutputMaterializer(MaterializeConfig config) : config_(std::move(config)) {}

std::future<std::optional<std::string>> OutputMaterializer::update_spec(pipeline::EngineSpec spec) {
    std::promise<std::optional<std::string>> promise;
    auto future = promise.get_future();
    std::lock_guard lock(spec_mutex_);
    if (pending_spec_) {
        pending_spec_->second.set_value("replaced by a newer reload");
    }
    pending_spec_.emplace(std::move(spec), std::move(promise));
    return future;
}

void OutputMaterializer::apply_pending_spec(std::unique_ptr<storage::ResultStore>& store) {
    std::optional<std::pair<pipeline::EngineSpec, std::promise<std::optional<std::string>>>> taken;
    {
        std::lock_guard lock(spec_mutex_);
        taken.swap(pending_spec_);
    }
    if (!taken) {
        return;
    }
    pipeline::EngineSpec merged = std::move(taken->first);
    // Results of removed pipelines may still be on their way: keep their tables known.
    for (const auto& old : config_.spec.pipelines) {
        bool kept = false;
        for (const auto& p : merged.pipelines) {
            kept = kept || p.name == old.name;
        }
        if (!kept) {
            merged.pipelines.push_back(old);
        }
    }
    try {
        auto next =
            std::make_unique<storage::ResultStore>(config_.db_path, config_.busy_timeout, merged);
        store = std::move(next);
        config_.spec = std::move(merged);
        taken->second.set_value(std::nullopt);
    } catch (const std::exception& e) {
        taken->second.set_value(std::string(e.what()));
    }
}

void OutputMaterializer::refuse_pending() {
    std::lock_guard lock(spec_mutex_);
    if (pending_spec_) {
        pending_spec_->second.set_value("the materializer stopped");
        pending_spec_.reset();
    }
}

void OutputMaterializer::run() {
    auto store =
        std::make_unique<storage::ResultStore>(config_.db_path, config_.busy_timeout, config_.spec);
    kafka::Properties props = config_.consumer;
    props.emplace_back("isolation.level", "read_committed");
    props.emplace_back("enable.auto.commit", "false");
    // End-of-partition events give the end offset, past transaction markers.
    props.emplace_back("enable.partition.eof", "true");
    props.emplace_back("group.id", "etld-materializer");  // required by librdkafka; never joined
    // Small fetches per partition, so that a batch holds a short run of
    // every partition rather than a long run of one or two (see below).
    kafka::set_default(props, "max.partition.fetch.bytes", "65536");
    kafka::KafkaPtr consumer = kafka::make_consumer(props);

    // The output topic may not exist until the runner has created it.
    int partitions = 0;
    while (!stop_ && partitions == 0) {
        apply_pending_spec(store);
        auto count = kafka::topic_partition_count(consumer.get(), config_.output_topic,
                                                  std::chrono::seconds(5));
        if (count.partitions) {
            partitions = *count.partitions;
        } else {
            // The runner creates it at start-up, a few tens of ms from now.
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    if (stop_) {
        refuse_pending();
        return;
    }
    const auto stored = store->next_offsets();
    kafka::PartitionListPtr assignment(rd_kafka_topic_partition_list_new(partitions));
    for (int p = 0; p < partitions; ++p) {
        auto it = stored.find({config_.output_topic, p});
        rd_kafka_topic_partition_list_add(assignment.get(), config_.output_topic.c_str(), p)
            ->offset = it == stored.end() ? RD_KAFKA_OFFSET_BEGINNING : it->second;
    }
    rd_kafka_assign(consumer.get(), assignment.get());
    log(Level::info, "materializer: applying " + config_.output_topic + " (" +
                         std::to_string(partitions) + " partitions) to " + config_.db_path);

    // The batch is records[0, used): records stay allocated from batch to
    // batch, so that filling one reuses its strings instead of allocating
    // two per result.
    std::vector<storage::OutputRecord> records;
    std::size_t used = 0;
    std::map<int, std::int64_t> position;
    std::map<int, std::int64_t> eof_at;
    for (const auto& [tp, offset] : stored) {
        position[tp.second] = offset;
    }
    auto last_lag_check = std::chrono::steady_clock::now();
    while (!stop_) {
        apply_pending_spec(store);
        used = 0;
        // A batch ends after 100 ms once the topic is drained (nothing new
        // within 20 ms), or at max_batch records or 2 s. Many results at
        // once (say, windows of a million keys closing) then go in a few
        // large SQLite transactions: each one writes every page it touched
        // to the WAL once, and with results spread over large tables a small
        // batch touches a page per record (profiles: the materializer took
        // a quarter of etld's CPU with 100 ms batches at 1e6 keys). Each
        // task's results for one window span the whole key range, and every
        // output partition holds a run of each task's, so a batch of long
        // runs of a few partitions rewrote most of a table; with small
        // fetches a batch advances through all partitions together (SQLite
        // wrote 937 MB for a 61 MB database at 1e6 keys, now 390-510 MB).
        const auto start = std::chrono::steady_clock::now();
        const auto soon = start + std::chrono::milliseconds(100);
        const auto latest = start + std::chrono::seconds(2);
        bool drained = false;
        while (used < config_.max_batch) {
            const auto now = std::chrono::steady_clock::now();
            if (now >= latest || (now >= soon && (drained || used == 0))) {
                break;
            }
            kafka::MessagePtr msg(kafka::poll_ready_first(consumer.get(), now >= soon ? 20 : 50));
            drained = !msg;
            if (!msg) {
                continue;
            }
            if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    // Applied up to here once the batch before it is.
                    eof_at[msg->partition] = msg->offset;
                } else {
                    log(Level::warning,
                        std::string("materializer: ") + rd_kafka_message_errstr(msg.get()));
                }
                continue;
            }
            if (used == records.size()) {
                records.emplace_back();
                records.back().topic = config_.output_topic;
            }
            storage::OutputRecord& record = records[used++];
            record.partition = msg->partition;
            record.offset = msg->offset;
            const std::size_t len = msg->payload != nullptr ? msg->len : 0;
            record.value.reserve(len + storage::kValuePadding);  // parsed in place
            record.value.assign(len > 0 ? static_cast<const char*>(msg->payload) : "", len);
        }
        const std::span<const storage::OutputRecord> batch(records.data(), used);
        auto backoff = std::chrono::milliseconds(50);
        while (!batch.empty()) {
            storage::ApplyCounts counts;
            auto error = store->apply(batch, counts);
            if (!error) {
                stats_.applied += counts.upserted + counts.deleted;
                stats_.skipped += counts.skipped;
                stats_.batches++;
                stats_.healthy = true;
                for (const auto& r : batch) {
                    position[r.partition] = r.offset + 1;
                }
                break;
            }
            // Kafka stays the source of truth: keep the batch and try again.
            stats_.retries++;
            stats_.healthy = false;
            log(Level::warning,
                "materializer: SQLite apply failed, retrying: " + error->describe());
            if (stop_) {
                refuse_pending();
                return;
            }
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        }
        for (const auto& [p, offset] : eof_at) {
            position[p] = std::max(position[p], offset);
        }
        eof_at.clear();
        // What a burst of results left allocated goes once batches are
        // small again.
        if (records.size() > 2 * used + 1024) {
            records.resize(used + 1024);
            records.shrink_to_fit();
        }
        if (std::chrono::steady_clock::now() - last_lag_check > std::chrono::seconds(1)) {
            last_lag_check = std::chrono::steady_clock::now();
            std::int64_t lag = 0;
            for (int p = 0; p < partitions; ++p) {
                std::int64_t low = 0;
                std::int64_t high = 0;
                if (rd_kafka_get_watermark_offsets(consumer.get(), config_.output_topic.c_str(), p,
                                                   &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    lag += std::max<std::int64_t>(0, high - std::max(low, position[p]));
                }
            }
            stats_.lag = lag;
            // Within a few thousand records of the end counts as caught up
            // (the health check's "materializer lagging" starts from there).
            if (lag <= kCaughtUpRecords) {
                stats_.last_caught_up_unix_ms = unix_ms();
            }
        }
    }
    refuse_pending();
    rd_kafka_consumer_close(consumer.get());
}

}  // namespace etld::daemon
