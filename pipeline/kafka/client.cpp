#include "client.h"

#include <algorithm>
#include <array>
#include <cstdio>

namespace etld::pipeline::kafka {

namespace {

KafkaPtr adopt_client(rd_kafka_type_t type, ConfPtr conf) {
    std::array<char, 512> error{};
    // rd_kafka_new takes ownership of the conf only on success.
    rd_kafka_t* rk = rd_kafka_new(type, conf.get(), error.data(), error.size());
    if (rk == nullptr) {
        throw ClientConfigError(std::string("cannot create Kafka client: ") + error.data());
    }
    (void)conf.release();
    return KafkaPtr(rk);
}

KafkaPtr make_client(rd_kafka_type_t type, const Properties& properties) {
    return adopt_client(type, make_conf(properties));
}

}  // namespace

bool is_secret_property(const std::string& name) {
    return name.find("password") != std::string::npos || name.find("secret") != std::string::npos ||
           name.find("token") != std::string::npos || name.find(".key") != std::string::npos;
}

namespace {

// librdkafka's own log lines (broker connections, retries) in the same
// "<level>" stderr format as etld's, so journald keeps their levels. Called on
// librdkafka's threads; one fprintf per line.
void log_to_stderr(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
    std::fprintf(stderr, "<%d>librdkafka %s %s: %s\n", std::clamp(level, 0, 7), rd_kafka_name(rk),
                 facility, message);
}

}  // namespace

ConfPtr make_conf(const Properties& properties) {
    ConfPtr conf(rd_kafka_conf_new());
    rd_kafka_conf_set_log_cb(conf.get(), &log_to_stderr);
    std::array<char, 512> error{};
    for (const auto& [name, value] : properties) {
        if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), error.data(),
                              error.size()) != RD_KAFKA_CONF_OK) {
            const std::string shown = is_secret_property(name) ? "<redacted>" : value;
            throw ClientConfigError("Kafka property '" + name + "' = '" + shown +
                                    "' rejected: " + error.data());
        }
    }
    return conf;
}

KafkaPtr make_producer(const Properties& properties) {
    return make_client(RD_KAFKA_PRODUCER, properties);
}

void wake_flush_on_delivery(rd_kafka_conf_t* conf) {
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t*, void*) {});
}

KafkaPtr make_polled_producer(const Properties& properties) {
    ConfPtr conf = make_conf(properties);
    wake_flush_on_delivery(conf.get());
    return adopt_client(RD_KAFKA_PRODUCER, std::move(conf));
}

rd_kafka_message_t* poll_ready_first(rd_kafka_t* consumer, int timeout_ms) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer, 0);
    return msg != nullptr || timeout_ms == 0 ? msg : rd_kafka_consumer_poll(consumer, timeout_ms);
}

void set_default(Properties& properties, const std::string& name, const std::string& value) {
    const bool given = std::any_of(properties.begin(), properties.end(),
                                   [&](const auto& p) { return p.first == name; });
    if (!given) {
        properties.emplace_back(name, value);
    }
}

void add_consumer_defaults(Properties& properties) {
    set_default(properties, "queued.min.messages", "1000000");
}

KafkaPtr make_consumer(const Properties& properties) {
    Properties with_defaults = properties;
    add_consumer_defaults(with_defaults);
    KafkaPtr rk = make_client(RD_KAFKA_CONSUMER, with_defaults);
    // Route the main queue to the consumer queue so one poll serves both.
    rd_kafka_poll_set_consumer(rk.get());
    return rk;
}

KafkaPtr make_admin(const Properties& properties) {
    return make_client(RD_KAFKA_PRODUCER, properties);
}

}  // namespace etld::pipeline::kafka
