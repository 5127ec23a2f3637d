// The end-to-end scenario the exactness tests (and the scale-out benchmark)
// run etld on: a seeded stream of shop events with duplicates, disorder and
// malformed records, the configuration of three pipelines over it, and
// probes of the broker that say how far a consumer group has got.
//
// Nothing here uses Boost.Test, so a benchmark program can link it; the
// comparisons against the reference model live in result_check.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "etld/pipeline/spec.h"
#include "etld_process.h"

namespace etld::test {

constexpr std::int64_t kT0 = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kDay = 86400000;

struct Stream {
    std::vector<ProducedRecord> main;   // in produce order
    std::vector<ProducedRecord> flush;  // closes every window of the main stream
    std::vector<ProducedRecord> late;   // too late for every pipeline
};

// `events` fresh events spread over `partitions` input partitions, one every
// 30 ms of event time, each up to 1 s early (disorder). About 5% are
// followed by a copy of an earlier event, half of those on another partition,
// and about 1% by a malformed record. The flush holds one event a day later
// for each of `users` users; the late records fall inside the first windows.
Stream make_stream(std::uint64_t seed, int events, int users, int partitions = 3);

// Names and files of one run: the topics, the consumer group, and the files
// of its first (or only) etld instance. Every topic etld creates has
// `partitions` partitions; the input topic is created by the test.
struct Scenario {
    explicit Scenario(const std::string& prefix = "eo", int partitions = 3);

    TempDir dir;
    std::string name;
    int partitions;
    std::string input;
    std::string output;
    std::string late;
    std::string dead;
    std::string group;
    std::string config;
    std::string db;
    std::string log;

    // Each keyspace's repartition topic (event_type, global, user_id).
    std::vector<std::string> repartition_topics() const;
    std::vector<std::string> changelog_topics() const;
    // Every topic an event of the main stream passes through before it
    // reaches its window: the input, then the repartition topics.
    std::vector<std::string> stages() const;
};

// What differs between instances of one group.
struct InstanceSettings {
    std::string transactional_id;
    std::string sqlite_path;
    std::string state_dir;  // empty: the scenario's directory
    std::string commit_interval = "100ms";
    int max_batch_events = 300;
    int session_timeout_ms = 6000;
    int transaction_timeout_ms = 0;  // 0: etld's default
};

// Writes an etld.toml for the scenario's pipelines (see engine_spec()).
void write_config(const Scenario& s, const std::string& path, const InstanceSettings& instance);
// The single-instance configuration: s.config, transactional id
// <name>-txn, SQLite at s.db.
void write_config(const Scenario& s);

// The engine specification the configuration declares, for the reference
// model.
pipeline::EngineSpec engine_spec();

// The group's committed offsets for partitions 0..n-1 of `topic` (-1 where
// none).
std::vector<std::int64_t> committed(const std::string& group, const std::string& topic, int n);

// True once the group has consumed and committed every record of `topic`:
// each partition's committed offset is past its last committed record
// (transaction markers may follow it).
bool drained(const std::string& group, const std::string& topic, int partitions);

// For failure messages: each partition's committed offset for `group` and its
// end, as "partition=committed/end", one line per topic.
std::string progress(const std::string& group, const std::vector<std::string>& topics,
                     int partitions);

// For failure messages: how many records of `topic` read_committed and
// read_uncommitted readers see (or why reading failed). An open transaction
// hides everything after its first record from the former.
std::string visible_records(const std::string& topic);

// Records of `topic` visible to read_committed readers; 0 while it does not
// exist.
std::size_t count_records(const std::string& topic);

// The partition count of an etld log's last "assigned N partitions" line;
// -1 before the first.
int last_assignment(const std::string& log);

// Lines of the file starting with `prefix`.
std::size_t count_lines(const std::string& path, const std::string& prefix);

// The last 4000 characters of a log, for failure messages.
std::string tail(const std::string& path);

}  // namespace etld::test
