// How the engine's pipelines map onto Kafka: which pipelines share a task
// (a keyspace: the same group-by fields), whether a keyspace can be processed
// straight from the input partitions or must go through a repartition topic,
// and the names of the internal topics.
//
// Every event of one group-by key must be processed by one task, and every
// copy of one event must meet in one task for dedup to drop it. Both hold
// when the input is keyed by exactly the keyspace's group-by field (then the
// keyspace is "direct"); otherwise events are re-keyed through the
// keyspace's repartition topic, inside the same transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "etld/pipeline/event.h"
#include "etld/pipeline/spec.h"

namespace etld::pipeline::kafka {

struct Keyspace {
    std::string id;                     // "user_id", "user_id.product", "global"
    std::vector<std::string> group_by;  // empty: one constant key
    std::vector<std::uint32_t> pipelines;
    std::vector<std::size_t> key_fields;  // schema field indices of group_by
    bool direct = false;
    std::string repartition_topic;  // empty when direct
    std::string changelog_topic;
};

struct Topology {
    std::vector<Keyspace> keyspaces;
};

// `partitioned_by`: the schema field producers key the input by ("" = not
// keyed). A keyspace is direct only with a single input topic keyed by its
// single group-by field.
Topology plan_topology(const EngineSpec& spec, const std::vector<std::string>& input_topics,
                       const std::string& partitioned_by, const std::string& internal_prefix,
                       const std::string& group_id);

// The key an event is repartitioned by for `keyspace`: its group-by values
// in group-by order, separated by the unit separator 0x1f (ints in decimal,
// doubles in shortest round-trip form, bools as true/false). Empty for a
// keyspace without group-by.
std::string repartition_key(const EventSchema& schema, const Keyspace& keyspace,
                            const Event& event);

// The repartition topic's partition of a key: an FNV-1a hash (64 bit, see
// topology.cpp for its offset basis) of the key bytes modulo `partitions`. Chosen by etld rather
// than by librdkafka's partitioner so that every key, the empty key included, maps to exactly one
// partition, and so that `etld test` routes events to tasks as the daemon does.
std::int32_t repartition_partition(std::string_view key, int partitions);

// Where an input record came from. A repartitioned copy carries it in one
// header, `etld.source`, valued "<topic>:<partition>:<offset>" (a topic name
// cannot contain ':'); one header instead of three is a fifth less CPU per
// repartitioned record for etld and for the broker. Late records and dead
// letters carry the three documented headers etld.source.topic,
// etld.source.partition and etld.source.offset, decoded from it.
inline constexpr const char* kSourceHeader = "etld.source";

struct SourceCoordinates {
    std::string_view topic;
    std::string_view partition;  // decimal digits, as in the header
    std::string_view offset;
};

// Replaces `out` with the header value.
void format_source(std::string& out, std::string_view topic, std::int32_t partition,
                   std::int64_t offset);

// The parts of a header value; nullopt when it is not "<topic>:<digits>:<digits>".
std::optional<SourceCoordinates> parse_source(std::string_view value);

// A string made safe for a Kafka topic name: characters outside
// [A-Za-z0-9._-] become '_'.
std::string topic_safe(const std::string& text);

}  // namespace etld::pipeline::kafka
