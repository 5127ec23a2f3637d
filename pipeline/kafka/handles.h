// RAII ownership of librdkafka handles and conversion of librdkafka errors into
// values. Every librdkafka object etld creates is owned by one of these
// unique_ptr aliases from the moment it exists; nothing calls *_destroy by hand.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <optional>
#include <string>

namespace etld::pipeline::kafka {

struct KafkaDeleter {
    void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
    void operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }
    void operator()(rd_kafka_topic_partition_list_t* list) const noexcept {
        rd_kafka_topic_partition_list_destroy(list);
    }
    void operator()(rd_kafka_message_t* msg) const noexcept { rd_kafka_message_destroy(msg); }
    void operator()(rd_kafka_error_t* error) const noexcept { rd_kafka_error_destroy(error); }
    void operator()(rd_kafka_queue_t* queue) const noexcept { rd_kafka_queue_destroy(queue); }
    void operator()(rd_kafka_event_t* event) const noexcept { rd_kafka_event_destroy(event); }
    void operator()(rd_kafka_consumer_group_metadata_t* meta) const noexcept {
        rd_kafka_consumer_group_metadata_destroy(meta);
    }
    void operator()(rd_kafka_headers_t* headers) const noexcept {
        rd_kafka_headers_destroy(headers);
    }
    void operator()(rd_kafka_NewTopic_t* topic) const noexcept { rd_kafka_NewTopic_destroy(topic); }
    void operator()(rd_kafka_AdminOptions_t* options) const noexcept {
        rd_kafka_AdminOptions_destroy(options);
    }
    void operator()(rd_kafka_ConfigResource_t* resource) const noexcept {
        rd_kafka_ConfigResource_destroy(resource);
    }
    void operator()(rd_kafka_topic_t* topic) const noexcept { rd_kafka_topic_destroy(topic); }
    void operator()(const rd_kafka_metadata_t* metadata) const noexcept {
        rd_kafka_metadata_destroy(metadata);
    }
};

using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, KafkaDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, KafkaDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, KafkaDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, KafkaDeleter>;
using GroupMetadataPtr = std::unique_ptr<rd_kafka_consumer_group_metadata_t, KafkaDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, KafkaDeleter>;
using NewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, KafkaDeleter>;
using AdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, KafkaDeleter>;
using ConfigResourcePtr = std::unique_ptr<rd_kafka_ConfigResource_t, KafkaDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, KafkaDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, KafkaDeleter>;

// A librdkafka error as a value, classified the way the transactional API asks
// callers to react: retry the same call, abort the transaction, or give up.
struct KafkaError {
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
    std::string message;
    bool retriable = false;
    bool txn_requires_abort = false;
    bool fatal = false;

    // Takes ownership of `error` (may be null: no error).
    static std::optional<KafkaError> from(rd_kafka_error_t* error);
    static KafkaError from_code(rd_kafka_resp_err_t code, std::string context = {});

    std::string describe() const;
};

}  // namespace etld::pipeline::kafka
