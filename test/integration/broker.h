// Access to the test broker for integration tests: its address, unique names,
// and small synchronous helpers built on etld's own Kafka wrappers.
#pragma once

#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/client.h"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace etld::test {

// ETLD_TEST_BOOTSTRAP if set, else the address the CTest fixture wrote to
// $ETLD_TEST_BROKER_DIR/bootstrap. Throws when neither is available.
std::string bootstrap_servers();

// A name no earlier test run used on this broker: prefix + time + counter.
std::string unique_name(const std::string& prefix);

// Creates a topic and waits until its metadata shows every partition.
void create_topic(const std::string& name, int partitions,
                  std::map<std::string, std::string> configs = {});

// Replaces the topic's configuration overrides with `configs` (AlterConfigs:
// overrides not named return to the broker's defaults). Throws on failure.
void set_topic_configs(const std::string& topic, const std::map<std::string, std::string>& configs);

// A producer that dies in the middle of a transaction, as far as the broker
// can tell: it begins one, writes a record to every partition of `topics`
// and never ends it, so the broker aborts it only `timeout` after it began
// (and each partition's last stable offset stays behind that record until
// then). Keep the producer alive for as long as the transaction should hang.
pipeline::kafka::KafkaPtr leave_transaction_open(const std::vector<std::string>& topics,
                                                 int partitions, std::chrono::milliseconds timeout);

struct ConsumedRecord {
    int partition = 0;
    int64_t offset = 0;
    std::string key;
    std::string value;
    std::map<std::string, std::string> headers;  // the last value of each name
};

// Reads every record of `topic` visible at `isolation_level` from the
// beginning, up to the partitions' end as seen at the start of the call.
std::vector<ConsumedRecord> read_all(const std::string& topic, const std::string& isolation_level,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace etld::test
