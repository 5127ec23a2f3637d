#pragma once

// Plain, uncompiled description of what the engine computes. These structs
// mirror the TOML config one to one (see conf/); `compile()` checks them and
// turns them into a CompiledEngine.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "etld/pipeline/types.h"

namespace etld::pipeline {

enum class FieldType : std::uint8_t { string, int64, float64, boolean };
enum class TimeFormat : std::uint8_t { iso8601, epoch_s, epoch_ms };
enum class WindowType : std::uint8_t { tumbling, sliding, session };
enum class EmitMode : std::uint8_t { final, early };
enum class LatePolicy : std::uint8_t { topic, drop };
enum class AggregateFn : std::uint8_t { count, sum, avg, min, max, count_distinct, ratio, top_k };

// Config spellings ("string", "int", "double", "bool"; "iso8601"; ...).
std::string_view name_of(FieldType t);
std::string_view name_of(TimeFormat f);
std::string_view name_of(WindowType w);
std::string_view name_of(EmitMode m);
std::string_view name_of(LatePolicy p);
std::string_view name_of(AggregateFn f);
std::optional<FieldType> parse_field_type(std::string_view s);
std::optional<TimeFormat> parse_time_format(std::string_view s);
std::optional<WindowType> parse_window_type(std::string_view s);
std::optional<EmitMode> parse_emit_mode(std::string_view s);
std::optional<LatePolicy> parse_late_policy(std::string_view s);
std::optional<AggregateFn> parse_aggregate_fn(std::string_view s);

struct FieldSpec {
    std::string name;
    FieldType type = FieldType::string;
};

// 0001-01-01 is not representable by the ISO parser's rules anyway; these are
// the absolute bounds an event time must fall in (inclusive).
inline constexpr std::int64_t kMinEventTimeMs = 0;                // 1970-01-01T00:00:00Z
inline constexpr std::int64_t kMaxEventTimeMs = 253402300799999;  // 9999-12-31T23:59:59.999Z

struct EventSchema {
    std::string id_field = "event_id";
    std::string time_field = "timestamp";
    TimeFormat time_format = TimeFormat::iso8601;
    std::vector<FieldSpec> fields;
    // Records larger than this are rejected before parsing.
    std::size_t max_record_bytes = 1048576;
    // Event times outside [min_event_time, max_event_time] are rejected.
    EventTimeMs min_event_time{kMinEventTimeMs};
    EventTimeMs max_event_time{kMaxEventTimeMs};
    // When > 0 and the decoder has been told the processing time, events
    // further than this ahead of it are rejected: one bogus far-future event
    // would otherwise push the watermark ahead and make everything else late.
    DurationMs max_future_skew{0};
};

// The e-commerce event of the seed: event_id, timestamp (naive ISO-8601 =
// UTC), user_id, event_type, product, price, quantity.
EventSchema default_seed_schema();

struct WindowSpec {
    WindowType type = WindowType::tumbling;
    DurationMs size{60000};  // tumbling, sliding
    DurationMs slide{0};     // sliding: size must be a multiple of slide
    DurationMs gap{0};       // session
};

struct AggregateSpec {
    std::string name;
    AggregateFn fn = AggregateFn::count;
    std::string expr;       // sum, avg, min, max: numeric expression
    std::string where;      // optional predicate ("" = every event)
    std::string field;      // count_distinct, top_k
    std::int64_t k = 0;     // top_k
    std::string numerator;  // ratio: names of aggregates of the same pipeline
    std::string denominator;
};

struct PipelineSpec {
    std::string name;
    WindowSpec window;
    std::vector<std::string> group_by;
    EmitMode emit = EmitMode::final;
    DurationMs allowed_lateness{0};
    LatePolicy late_policy = LatePolicy::topic;
    std::vector<AggregateSpec> aggregates;
};

struct EngineSpec {
    EventSchema schema = default_seed_schema();
    DurationMs dedup_horizon{3600000};
    DurationMs max_out_of_orderness{5000};
    // 0 disables idle advancement of the watermark.
    DurationMs idle_timeout{30000};
    std::vector<PipelineSpec> pipelines;
};

// The seed notebook's metrics as pipelines over the default schema: events by
// type, top products, unique users, revenue and conversion rate per window.
std::vector<PipelineSpec> default_seed_pipelines();

}  // namespace etld::pipeline
