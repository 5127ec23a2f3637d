// Runs an `etld test` case through the engine exactly as the daemon would
// process the same records, without Kafka: the same decoder, the same tasks
// (one per input partition for a keyspace the input is partitioned by, one
// per repartition-topic partition otherwise) and the same routing function
// (pipeline/kafka/topology.h), each task with its own dedup set and
// watermark.
//
// Arrival order is the order of the case's lines. An event reaches every task
// it is routed to before the next line runs; in the daemon a repartitioned
// event takes a trip through its repartition topic first, which preserves
// the order of the events that meet in one task as long as one instance
// processes all input partitions.
//
// Processing time is only what the case says: a task is told the time (as
// the runner's loop does) before and after each event that carries "at", and
// at each "advance" and "flush" line. A case that never names a time runs in
// pure event time and only the watermark closes windows.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/testcase_file.h"
#include "etld/pipeline/compile.h"

namespace etld::daemon::testcase {

// What the daemon's routing depends on (from [input] and [topics]).
struct Routing {
    std::vector<std::string> input_topics;
    std::string partitioned_by;
    int partitions = 3;  // of the repartition topics
    std::string internal_prefix = "etld";
    std::string group_id = "etld";
};

// How far "flush" moves processing time: longer than any window, lateness
// and out-of-orderness the configuration allows, so every window closes.
inline constexpr std::int64_t kFlushMs = 100LL * 366 * 24 * 3600 * 1000;

// The outputs of the case's steps: results, late records (of pipelines with
// late_policy "topic", as the daemon writes them) and dead letters, each with
// every field set, in the order they were produced.
std::vector<Record> run_case(const CaseFile& file,
                             const std::shared_ptr<const pipeline::CompiledEngine>& engine,
                             const Routing& routing);

}  // namespace etld::daemon::testcase
