#include "admin.h"

#include <array>

namespace etld::pipeline::kafka {

namespace {

// Waits for the one result event of an admin request on `queue`.
EventPtr wait_result(rd_kafka_queue_t* queue, rd_kafka_event_type_t type,
                     std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        EventPtr event(rd_kafka_queue_poll(queue, 100));
        if (event && rd_kafka_event_type(event.get()) == type) {
            return event;
        }
    }
    return nullptr;
}

AdminOptionsPtr make_options(rd_kafka_t* admin, rd_kafka_admin_op_t op,
                             std::chrono::milliseconds timeout) {
    AdminOptionsPtr options(rd_kafka_AdminOptions_new(admin, op));
    std::array<char, 256> error{};
    rd_kafka_AdminOptions_set_request_timeout(options.get(), static_cast<int>(timeout.count()),
                                              error.data(), error.size());
    rd_kafka_AdminOptions_set_operation_timeout(options.get(), static_cast<int>(timeout.count()),
                                                error.data(), error.size());
    return options;
}

}  // namespace

std::vector<TopicCreation> create_topics(rd_kafka_t* admin, const std::vector<TopicSpec>& topics,
                                         std::chrono::milliseconds timeout) {
    std::vector<TopicCreation> out;
    std::vector<NewTopicPtr> owned;
    std::vector<rd_kafka_NewTopic_t*> raw;
    std::array<char, 512> error{};
    for (const auto& spec : topics) {
        NewTopicPtr topic(rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                                spec.replication_factor, error.data(),
                                                error.size()));
        if (!topic) {
            out.push_back({spec.name, false,
                           KafkaError::from_code(RD_KAFKA_RESP_ERR__INVALID_ARG, error.data())});
            continue;
        }
        for (const auto& [key, value] : spec.configs) {
            rd_kafka_NewTopic_set_config(topic.get(), key.c_str(), value.c_str());
        }
        raw.push_back(topic.get());
        owned.push_back(std::move(topic));
    }
    if (raw.empty()) {
        return out;
    }
    QueuePtr queue(rd_kafka_queue_new(admin));
    AdminOptionsPtr options = make_options(admin, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout);
    rd_kafka_CreateTopics(admin, raw.data(), raw.size(), options.get(), queue.get());
    EventPtr event = wait_result(queue.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT,
                                 timeout + std::chrono::seconds(5));
    if (!event) {
        for (const auto& spec : topics) {
            out.push_back({spec.name, false,
                           KafkaError::from_code(RD_KAFKA_RESP_ERR__TIMED_OUT, "CreateTopics")});
        }
        return out;
    }
    if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (const auto& spec : topics) {
            out.push_back({spec.name, false,
                           KafkaError::from_code(rd_kafka_event_error(event.get()),
                                                 rd_kafka_event_error_string(event.get()))});
        }
        return out;
    }
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
    size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
    for (size_t i = 0; i < count; ++i) {
        TopicCreation creation;
        creation.name = rd_kafka_topic_result_name(results[i]);
        const rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[i]);
        if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
            creation.created = true;
        } else if (code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            const char* text = rd_kafka_topic_result_error_string(results[i]);
            creation.error = KafkaError::from_code(code, text != nullptr ? text : "");
        }
        out.push_back(std::move(creation));
    }
    return out;
}

PartitionCount topic_partition_count(rd_kafka_t* admin, const std::string& topic,
                                     std::chrono::milliseconds timeout) {
    const rd_kafka_metadata_t* raw = nullptr;
    const rd_kafka_resp_err_t code =
        rd_kafka_metadata(admin, 1, nullptr, &raw, static_cast<int>(timeout.count()));
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return {std::nullopt, KafkaError::from_code(code, "metadata request")};
    }
    MetadataPtr metadata(raw);
    for (int i = 0; i < metadata->topic_cnt; ++i) {
        const rd_kafka_metadata_topic_t& t = metadata->topics[i];
        if (topic == t.topic) {
            if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                return {std::nullopt, std::nullopt};
            }
            if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                return {std::nullopt, KafkaError::from_code(t.err, "metadata of " + topic)};
            }
            return {t.partition_cnt, std::nullopt};
        }
    }
    return {std::nullopt, std::nullopt};
}

TopicConfigs describe_topic_configs(rd_kafka_t* admin, const std::string& topic,
                                    std::chrono::milliseconds timeout) {
    TopicConfigs out;
    ConfigResourcePtr resource(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
    rd_kafka_ConfigResource_t* raw = resource.get();
    QueuePtr queue(rd_kafka_queue_new(admin));
    AdminOptionsPtr options = make_options(admin, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout);
    rd_kafka_DescribeConfigs(admin, &raw, 1, options.get(), queue.get());
    EventPtr event = wait_result(queue.get(), RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT,
                                 timeout + std::chrono::seconds(5));
    if (!event) {
        out.error = KafkaError::from_code(RD_KAFKA_RESP_ERR__TIMED_OUT, "DescribeConfigs");
        return out;
    }
    if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        out.error = KafkaError::from_code(rd_kafka_event_error(event.get()),
                                          rd_kafka_event_error_string(event.get()));
        return out;
    }
    const rd_kafka_DescribeConfigs_result_t* result =
        rd_kafka_event_DescribeConfigs_result(event.get());
    size_t count = 0;
    const rd_kafka_ConfigResource_t** resources =
        rd_kafka_DescribeConfigs_result_resources(result, &count);
    for (size_t i = 0; i < count; ++i) {
        if (rd_kafka_ConfigResource_error(resources[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            out.error = KafkaError::from_code(rd_kafka_ConfigResource_error(resources[i]),
                                              "DescribeConfigs " + topic);
            return out;
        }
        size_t entry_count = 0;
        const rd_kafka_ConfigEntry_t** entries =
            rd_kafka_ConfigResource_configs(resources[i], &entry_count);
        for (size_t j = 0; j < entry_count; ++j) {
            const char* value = rd_kafka_ConfigEntry_value(entries[j]);
            out.values[rd_kafka_ConfigEntry_name(entries[j])] = value != nullptr ? value : "";
        }
    }
    return out;
}

}  // namespace etld::pipeline::kafka
