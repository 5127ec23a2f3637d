#include "broker.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>

#include <unistd.h>

namespace etld::test {

namespace kafka = etld::pipeline::kafka;

std::string bootstrap_servers() {
    if (const char* env = std::getenv("ETLD_TEST_BOOTSTRAP"); env != nullptr && *env != '\0') {
        return env;
    }
    if (const char* dir = std::getenv("ETLD_TEST_BROKER_DIR"); dir != nullptr) {
        std::ifstream in(std::string(dir) + "/bootstrap");
        std::string address;
        if (in >> address) {
            return address;
        }
    }
    throw std::runtime_error(
        "no test broker: set ETLD_TEST_BOOTSTRAP or run through ctest (the kafka_broker fixture)");
}

// Unique across the test processes ctest runs side by side too (two of them
// once started a scenario in the same millisecond and shared its
// transactional.id): the process id is part of it.
std::string unique_name(const std::string& prefix) {
    static std::atomic<int> counter{0};
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return prefix + "-" +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) +
           "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

void create_topic(const std::string& name, int partitions,
                  std::map<std::string, std::string> configs) {
    kafka::KafkaPtr admin = kafka::make_admin({{"bootstrap.servers", bootstrap_servers()}});
    auto results = kafka::create_topics(admin.get(), {{name, partitions, 1, std::move(configs)}},
                                        std::chrono::seconds(30));
    if (results.size() != 1 || results[0].error) {
        throw std::runtime_error("cannot create topic " + name + ": " +
                                 (results.empty() ? "no result" : results[0].error->describe()));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        auto count = kafka::topic_partition_count(admin.get(), name, std::chrono::seconds(5));
        if (count.partitions && *count.partitions == partitions) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("topic " + name + " did not appear in metadata");
}

void set_topic_configs(const std::string& topic,
                       const std::map<std::string, std::string>& configs) {
    kafka::KafkaPtr admin = kafka::make_admin({{"bootstrap.servers", bootstrap_servers()}});
    kafka::ConfigResourcePtr resource(
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
    for (const auto& [name, value] : configs) {
        rd_kafka_ConfigResource_set_config(resource.get(), name.c_str(), value.c_str());
    }
    rd_kafka_ConfigResource_t* raw = resource.get();
    kafka::QueuePtr queue(rd_kafka_queue_new(admin.get()));
    rd_kafka_AlterConfigs(admin.get(), &raw, 1, nullptr, queue.get());
    kafka::EventPtr event(rd_kafka_queue_poll(queue.get(), 30000));
    if (!event || rd_kafka_event_type(event.get()) != RD_KAFKA_EVENT_ALTERCONFIGS_RESULT) {
        throw std::runtime_error("AlterConfigs of " + topic + ": no answer");
    }
    if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("AlterConfigs of " + topic + ": " +
                                 rd_kafka_event_error_string(event.get()));
    }
    size_t count = 0;
    const rd_kafka_ConfigResource_t** results = rd_kafka_AlterConfigs_result_resources(
        rd_kafka_event_AlterConfigs_result(event.get()), &count);
    for (size_t i = 0; i < count; ++i) {
        if (rd_kafka_ConfigResource_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            throw std::runtime_error(
                "AlterConfigs of " + topic + ": " +
                std::string(rd_kafka_err2str(rd_kafka_ConfigResource_error(results[i]))));
        }
    }
}

// A partition's end as `consumer` sees it: the last stable offset under
// read_committed, the high watermark under read_uncommitted.
static int64_t partition_end(rd_kafka_t* consumer, const std::string& topic, int partition) {
    int64_t low = 0;
    int64_t high = 0;
    const auto err =
        rd_kafka_query_watermark_offsets(consumer, topic.c_str(), partition, &low, &high, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("watermarks of " + topic + ": " + rd_kafka_err2str(err));
    }
    return high;
}

kafka::KafkaPtr leave_transaction_open(const std::vector<std::string>& topics, int partitions,
                                       std::chrono::milliseconds timeout) {
    kafka::KafkaPtr producer =
        kafka::make_producer({{"bootstrap.servers", bootstrap_servers()},
                              {"transactional.id", unique_name("etld-test-hanging")},
                              {"transaction.timeout.ms", std::to_string(timeout.count())}});
    const auto check = [](rd_kafka_error_t* raw, const std::string& what) {
        if (auto error = kafka::KafkaError::from(raw)) {
            throw std::runtime_error(what + ": " + error->describe());
        }
    };
    check(rd_kafka_init_transactions(producer.get(), 30000), "init_transactions");
    check(rd_kafka_begin_transaction(producer.get()), "begin_transaction");
    for (const auto& topic : topics) {
        for (int p = 0; p < partitions; ++p) {
            // (A key: compacted topics refuse records without one.)
            std::string key = "never committed";
            std::array<rd_kafka_vu_t, 4> vus{};
            vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
            vus[0].u.cstr = topic.c_str();
            vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
            vus[1].u.i32 = p;
            vus[2].vtype = RD_KAFKA_VTYPE_KEY;
            vus[2].u.mem.ptr = key.data();
            vus[2].u.mem.size = key.size();
            vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
            vus[3].u.i32 = RD_KAFKA_MSG_F_COPY;
            check(rd_kafka_produceva(producer.get(), vus.data(), vus.size()),
                  "produce to " + topic);
        }
    }
    if (rd_kafka_flush(producer.get(), 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("the open transaction's records were not delivered");
    }
    // Delivery failures do not fail the flush: check that each partition's
    // last stable offset now lies behind its end.
    const auto reader = [](const std::string& isolation) {
        return kafka::make_consumer({{"bootstrap.servers", bootstrap_servers()},
                                     {"group.id", unique_name("etld-test-end")},
                                     {"isolation.level", isolation}});
    };
    kafka::KafkaPtr committed = reader("read_committed");
    kafka::KafkaPtr uncommitted = reader("read_uncommitted");
    for (const auto& topic : topics) {
        for (int p = 0; p < partitions; ++p) {
            if (partition_end(committed.get(), topic, p) >=
                partition_end(uncommitted.get(), topic, p)) {
                throw std::runtime_error("no open transaction holds back " + topic + "[" +
                                         std::to_string(p) + "]");
            }
        }
    }
    return producer;
}

std::vector<ConsumedRecord> read_all(const std::string& topic, const std::string& isolation_level,
                                     std::chrono::milliseconds timeout) {
    kafka::KafkaPtr consumer = kafka::make_consumer({{"bootstrap.servers", bootstrap_servers()},
                                                     {"group.id", unique_name("etld-test-reader")},
                                                     {"enable.auto.commit", "false"},
                                                     {"enable.partition.eof", "true"},
                                                     {"isolation.level", isolation_level}});
    kafka::KafkaPtr admin = kafka::make_admin({{"bootstrap.servers", bootstrap_servers()}});
    auto count = kafka::topic_partition_count(admin.get(), topic, std::chrono::seconds(10));
    if (!count.partitions) {
        throw std::runtime_error("topic " + topic + " does not exist");
    }
    const int partitions = *count.partitions;
    std::map<int, int64_t> end;
    kafka::PartitionListPtr assignment(rd_kafka_topic_partition_list_new(partitions));
    for (int p = 0; p < partitions; ++p) {
        end[p] = partition_end(consumer.get(), topic, p);
        rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(consumer.get(), assignment.get());

    std::vector<ConsumedRecord> records;
    std::map<int, int64_t> reached;
    auto done = [&] {
        for (const auto& [p, high] : end) {
            if (high > 0 && reached[p] < high) {
                return false;
            }
        }
        return true;
    };
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            throw std::runtime_error("timed out reading " + topic);
        }
        kafka::MessagePtr msg(rd_kafka_consumer_poll(consumer.get(), 200));
        if (!msg) {
            continue;
        }
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            reached[msg->partition] = std::max(reached[msg->partition], msg->offset);
            continue;
        }
        if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            throw std::runtime_error("consume error: " +
                                     std::string(rd_kafka_message_errstr(msg.get())));
        }
        ConsumedRecord record;
        record.partition = msg->partition;
        record.offset = msg->offset;
        if (msg->key != nullptr) {
            record.key.assign(static_cast<const char*>(msg->key), msg->key_len);
        }
        if (msg->payload != nullptr) {
            record.value.assign(static_cast<const char*>(msg->payload), msg->len);
        }
        rd_kafka_headers_t* headers = nullptr;
        if (rd_kafka_message_headers(msg.get(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char* name = nullptr;
            const void* value = nullptr;
            size_t size = 0;
            for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                               RD_KAFKA_RESP_ERR_NO_ERROR;
                 ++i) {
                record.headers[name] =
                    value != nullptr ? std::string(static_cast<const char*>(value), size) : "";
            }
        }
        reached[msg->partition] = std::max(reached[msg->partition], msg->offset + 1);
        records.push_back(std::move(record));
    }
    rd_kafka_consumer_close(consumer.get());
    return records;
}

}  // namespace etld::test
