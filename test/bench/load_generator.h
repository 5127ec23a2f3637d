// The benchmarks' load: events of the default schema (the seed's fields, in
// the seed's order, as `etld simulate` writes them) with a configurable number
// of distinct user keys, duplicate rate and event-time disorder, and a
// producer that writes them to a topic as fast as the broker takes them or at
// a steady rate.
//
// The generator is pure (time is an argument) and reuses the simulator's
// PRNG, event ids, timestamp format and Kafka partitioner
// (daemon/simulator.h); `etld simulate` itself has a fixed population of 100
// users, which is why the key cardinality lives here.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include <librdkafka/rdkafka.h>

#include "daemon/simulator.h"

namespace etld::bench {

struct LoadOptions {
    std::uint64_t events = 1'000'000;
    std::uint64_t keys = 1'000;        // distinct user_id values
    double duplicate_rate = 0.01;      // share of records that re-send a recent event
    std::int64_t disorder_ms = 2'000;  // each event's time is jittered back by up to this
    int partitions = 6;                // records are keyed by user_id, murmur2-partitioned
    std::uint64_t seed = 1;
    // Preloading: event time of record i is start_ms + i * 1000 / events_per_second.
    std::int64_t start_ms = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
    double events_per_second = 10'000;
    // Each key is used once, in order, before any repeats (so `events` >=
    // `keys` opens exactly `keys` windows per window period).
    bool keys_in_order = false;
};

struct LoadRecord {
    std::string key;
    std::string value;
    int partition = 0;
};

class LoadGenerator {
  public:
    explicit LoadGenerator(const LoadOptions& options);
    // The next record with the event time `event_time_ms` (before jitter).
    const LoadRecord& next(std::int64_t event_time_ms);
    // Event time of the i-th record when preloading.
    std::int64_t preload_time(std::uint64_t i) const;
    std::uint64_t duplicates() const { return duplicates_; }

  private:
    LoadOptions options_;
    daemon::EventSimulator::Random random_;
    std::uint64_t produced_ = 0;
    std::uint64_t fresh_ = 0;
    std::uint64_t duplicates_ = 0;
    static constexpr std::size_t kRecent = 256;
    LoadRecord recent_[kRecent];
    std::size_t recent_count_ = 0;
    LoadRecord* current_ = nullptr;
};

struct LoadReport {
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
    double seconds = 0;
    double events_per_second() const { return seconds > 0 ? records / seconds : 0; }
};

// Creates `topic` with options.partitions partitions (fails if it exists)
// and writes options.events records to it as fast as the broker acknowledges
// them (idempotent producer, acks=all); returns when all are acknowledged.
LoadReport preload(const std::string& bootstrap, const std::string& topic,
                   const LoadOptions& options);

// Writes records at `rate` per second with event time = the wall clock at
// generation, until `stop` is set.
LoadReport produce_steady(const std::string& bootstrap, const std::string& topic,
                          const LoadOptions& options, double rate, const std::atomic<bool>& stop);

// One rd_kafka_produceva call copying key and value; the error code.
rd_kafka_resp_err_t produce_copy(rd_kafka_t* producer, rd_kafka_topic_t* rkt, int partition,
                                 std::string_view key, std::string_view value);

void create_topic(const std::string& bootstrap, const std::string& topic, int partitions);

}  // namespace etld::bench
