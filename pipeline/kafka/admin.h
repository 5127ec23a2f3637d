// Topic administration over an admin handle (see make_admin): creating topics
// and reading their partition counts and configuration. Each call is
// synchronous with a timeout and reports failures as values.
#pragma once

#include "handles.h"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace etld::pipeline::kafka {

struct TopicSpec {
    std::string name;
    int partitions = 1;
    int replication_factor = 1;
    std::map<std::string, std::string> configs;  // e.g. cleanup.policy=compact
};

struct TopicCreation {
    std::string name;
    bool created = false;  // false with no error: it existed already
    std::optional<KafkaError> error;
};

std::vector<TopicCreation> create_topics(rd_kafka_t* admin, const std::vector<TopicSpec>& topics,
                                         std::chrono::milliseconds timeout);

// Partition count of an existing topic; nullopt when the topic does not exist.
// An error value when the broker cannot be asked.
struct PartitionCount {
    std::optional<int> partitions;
    std::optional<KafkaError> error;
};
PartitionCount topic_partition_count(rd_kafka_t* admin, const std::string& topic,
                                     std::chrono::milliseconds timeout);

// The topic's effective configuration (name -> value), or an error.
struct TopicConfigs {
    std::map<std::string, std::string> values;
    std::optional<KafkaError> error;
};
TopicConfigs describe_topic_configs(rd_kafka_t* admin, const std::string& topic,
                                    std::chrono::milliseconds timeout);

}  // namespace etld::pipeline::kafka
