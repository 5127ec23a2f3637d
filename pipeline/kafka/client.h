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

// Adds `name` = `value` unless `properties` already sets `name`.
void set_default(Properties& properties, const std::string& name, const std::string& value);

KafkaPtr make_producer(const Properties& properties);

// Gives the producer made from `conf` a delivery-report callback that does
// nothing. Without one, librdkafka 2.0.2 queues no delivery reports, and
// rd_kafka_flush() -- which rd_kafka_commit_transaction() calls first --
// has nothing to wake it: it sleeps in 10 ms steps until the last message
// is acknowledged (two or three steps per commit, most of a commit's
// duration). With the callback, each acknowledged batch wakes it. A failed
// delivery needs no handling here: it fails the transaction, and the commit
// reports it. The producer's owner must serve the reports with
// rd_kafka_poll() regularly, or they pile up in its queue.
void wake_flush_on_delivery(rd_kafka_conf_t* conf);
// make_producer() with wake_flush_on_delivery().
KafkaPtr make_polled_producer(const Properties& properties);
// A consumer, with add_consumer_defaults() applied.
KafkaPtr make_consumer(const Properties& properties);

// Consumer properties that etld sets unless they are given. librdkafka 2.0.2
// stops fetching once the consumer queue holds queued.min.messages records
// (default 100,000) or queued.max.messages.kbytes (64 MB) and looks again
// only a second later (librdkafka issue #2879; 2.1 made that wait
// configurable as fetch.queue.backoff.ms). A consumer that drains the queue
// faster than that waits for input while the broker idles: the runner at
// 120,000 events/s waited 4.4 of 8.6 s. queued.min.messages = 1,000,000
// leaves the queue bounded by its 64 MB, which lasts over a second at the
// rates etld reaches.
void add_consumer_defaults(Properties& properties);

// rd_kafka_consumer_poll(), asking first without a timeout: with one,
// librdkafka 2.0.2 reads the clock three more times per call (the deadline,
// the time left, the wait's end) even when a record is waiting, and the
// runner asks once per record (clock reads were a tenth of its profile at
// 1e6 keys).
rd_kafka_message_t* poll_ready_first(rd_kafka_t* consumer, int timeout_ms);

// A handle used only for admin requests and metadata.
KafkaPtr make_admin(const Properties& properties);

// True when a property's value must not appear in logs or errors.
bool is_secret_property(const std::string& name);

}  // namespace etld::pipeline::kafka
