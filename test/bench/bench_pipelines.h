#pragma once

// The three pipelines of the Kafka benchmark's 3-pipeline rows
// (kafka_bench.cpp, three_pipelines), as an engine spec for the benchmarks
// that run without Kafka: tumbling 1m, sliding 4m/1m and sessions with a 1m
// gap, each by user_id, with a count and a where-filtered sum.

#include <cstdint>

#include "etld/pipeline/spec.h"

namespace etld::bench {

inline pipeline::EngineSpec three_by_user_pipelines() {
    using namespace etld::pipeline;
    constexpr std::int64_t kMinute = 60000;
    AggregateSpec events;
    events.name = "events";
    events.fn = AggregateFn::count;
    AggregateSpec revenue;
    revenue.name = "revenue";
    revenue.fn = AggregateFn::sum;
    revenue.expr = "price * quantity";
    revenue.where = "event_type == 'purchase'";
    PipelineSpec t;
    t.name = "tumbling";
    t.window = WindowSpec{WindowType::tumbling, DurationMs{kMinute}, DurationMs{0}, DurationMs{0}};
    t.group_by = {"user_id"};
    t.aggregates = {events, revenue};
    PipelineSpec sl = t;
    sl.name = "sliding";
    sl.window = WindowSpec{WindowType::sliding, DurationMs{4 * kMinute}, DurationMs{kMinute},
                           DurationMs{0}};
    PipelineSpec se = t;
    se.name = "sessions";
    se.window = WindowSpec{WindowType::session, DurationMs{0}, DurationMs{0}, DurationMs{kMinute}};
    EngineSpec s;
    s.pipelines = {t, sl, se};
    return s;
}

}  // namespace etld::bench
