#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "etld/pipeline/compile.h"
#include "etld/pipeline/event.h"
#include "etld/pipeline/types.h"

namespace etld::pipeline {

enum class ResultKind : std::uint8_t {
    final,    // the one and only record of a window (emit = "final")
    update,   // revision n of a window (emit = "early")
    retract,  // a previously emitted window no longer exists (session merge)
};
std::string_view name_of(ResultKind k);

struct TopKEntry {
    FieldValue value;
    std::int64_t count = 0;
    bool operator==(const TopKEntry&) const = default;
};

// null (monostate) | integer (count, count_distinct) | double (sum, avg, min,
// max, ratio) | top-k list.
using AggregateValue = std::variant<std::monostate, std::int64_t, double, std::vector<TopKEntry>>;

// One emitted window result. Results are rare next to events (one per window
// and key), so this is a plain value with owning members.
struct Result {
    std::uint32_t pipeline = 0;  // index into EngineSpec::pipelines
    std::string pipeline_name;
    EventTimeMs window_start;
    EventTimeMs window_end;
    std::vector<FieldValue> group;       // group_by values, in group_by order
    std::vector<AggregateValue> values;  // per aggregate in spec order; empty for retract
    std::uint32_t revision = 0;
    ResultKind kind = ResultKind::final;

    bool operator==(const Result&) const = default;
};

// The stable identity of a window: a compact JSON array
// ["<pipeline>",<start ms>,<end ms>,<group value>...]. Deterministic, so it is
// used as the Kafka message key of the output topic.
std::string result_key(const Result& r);
// The same into `out` (replacing its contents, keeping its capacity).
void write_result_key(std::string& out, const Result& r);

// The output topic's message value; the format is specified in
// pipeline/core/README.md.
std::string result_json(const CompiledEngine& engine, const Result& r);
// The same into `out` (replacing its contents, keeping its capacity).
void write_result_json(std::string& out, const CompiledEngine& engine, const Result& r);

// An event that arrived after every window it belongs to had closed.
struct LateRecord {
    std::uint32_t pipeline = 0;
    std::string raw;     // the record exactly as it was consumed
    std::string reason;  // human-readable: why it is too late
    EventTimeMs event_time;
    EventTimeMs watermark;
};

// What one call into a Task produced. The runner drains (and clears) it; the
// vectors keep their capacity so steady-state processing does not allocate.
struct Output {
    std::vector<Result> results;
    std::vector<LateRecord> late;
    void clear() {
        results.clear();
        late.clear();
    }
};

}  // namespace etld::pipeline
