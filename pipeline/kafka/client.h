// Creation of librdkafka clients from plain property lists.
//
// Start-up errors (an unknown property, a bad value, a client that cannot be
// created) are exceptions: they are configuration mistakes, caught in main.
#pragma once

#include "handles.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace etld::pipeline::kafka {

using Properties = std::vector<std::pair<std::string, std::string>>;

class ClientConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Builds an rd_kafka_conf_t; throws ClientConfigError naming the property.
// Values of properties whose name contains "password", "secret" or "token"
// are never put into the message.
ConfPtr make_conf(const Properties& properties);

KafkaPtr make_producer(const Properties& properties);
KafkaPtr make_consumer(const Properties& properties);

// A handle used only for admin requests and metadata.
KafkaPtr make_admin(const Properties& properties);

// True when a property's value must not appear in logs or errors.
bool is_secret_property(const std::string& name);

}  // namespace etld::pipeline::kafka
