#include "daemon/materialize.h"

#include <map>
#include <thread>

#include "daemon/log.h"
#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/client.h"
#include "storage/result_store.h"

namespace etld::daemon {

namespace kafka = pipeline::kafka;

OutputMaterializer::OutputMaterializer(MaterializeConfig config) : config_(std::move(config)) {}

void OutputMaterializer::run() {
    storage::ResultStore store(config_.db_path, config_.busy_timeout, config_.spec);
    kafka::Properties props = config_.consumer;
    props.emplace_back("isolation.level", "read_committed");
    props.emplace_back("enable.auto.commit", "false");
    props.emplace_back("group.id", "etld-materializer");  // required by librdkafka; never joined
    kafka::KafkaPtr consumer = kafka::make_consumer(props);

    // The output topic may not exist until the runner has created it.
    int partitions = 0;
    while (!stop_ && partitions == 0) {
        auto count = kafka::topic_partition_count(consumer.get(), config_.output_topic,
                                                  std::chrono::seconds(5));
        if (count.partitions) {
            partitions = *count.partitions;
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
    }
    if (stop_) {
        return;
    }
    const auto stored = store.next_offsets();
    kafka::PartitionListPtr assignment(rd_kafka_topic_partition_list_new(partitions));
    for (int p = 0; p < partitions; ++p) {
        auto it = stored.find({config_.output_topic, p});
        rd_kafka_topic_partition_list_add(assignment.get(), config_.output_topic.c_str(), p)
            ->offset = it == stored.end() ? RD_KAFKA_OFFSET_BEGINNING : it->second;
    }
    rd_kafka_assign(consumer.get(), assignment.get());
    log(Level::info, "materializer: applying " + config_.output_topic + " (" +
                         std::to_string(partitions) + " partitions) to " + config_.db_path);

    std::vector<storage::OutputRecord> batch;
    std::map<int, std::int64_t> position;
    for (const auto& [tp, offset] : stored) {
        position[tp.second] = offset;
    }
    auto last_lag_check = std::chrono::steady_clock::now();
    while (!stop_) {
        batch.clear();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
        while (batch.size() < config_.max_batch && std::chrono::steady_clock::now() < deadline) {
            kafka::MessagePtr msg(rd_kafka_consumer_poll(consumer.get(), 50));
            if (!msg) {
                continue;
            }
            if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    log(Level::warning,
                        std::string("materializer: ") + rd_kafka_message_errstr(msg.get()));
                }
                continue;
            }
            storage::OutputRecord record;
            record.topic = config_.output_topic;
            record.partition = msg->partition;
            record.offset = msg->offset;
            if (msg->payload != nullptr) {
                record.value.assign(static_cast<const char*>(msg->payload), msg->len);
            }
            batch.push_back(std::move(record));
        }
        auto backoff = std::chrono::milliseconds(50);
        while (!batch.empty()) {
            storage::ApplyCounts counts;
            auto error = store.apply(batch, counts);
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
                return;
            }
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
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
        }
    }
    rd_kafka_consumer_close(consumer.get());
}

}  // namespace etld::daemon
