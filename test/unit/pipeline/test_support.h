#pragma once

// Shared helpers for the engine's unit tests.

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <ctime>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "etld/pipeline/compile.h"
#include "etld/pipeline/event.h"
#include "etld/pipeline/result.h"
#include "etld/pipeline/task.h"

namespace etld::pipeline::test {

// 2024-01-15T10:00:00Z
inline constexpr std::int64_t kT0 = 1705312800000;

inline std::shared_ptr<const CompiledEngine> must_compile(const EngineSpec& spec) {
    CompileResult r = compile(spec);
    std::ostringstream msg;
    for (const auto& e : r.errors) {
        msg << "pipeline " << (e.pipeline ? static_cast<long>(*e.pipeline) : -1L) << " aggregate "
            << (e.aggregate ? static_cast<long>(*e.aggregate) : -1L) << " " << e.attribute << ": "
            << e.message << "\n";
    }
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), msg.str());
    return r.engine;
}

// UTC ISO-8601 with milliseconds and 'Z'.
inline std::string iso(std::int64_t ms) {
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
    return out;
}

struct Shop {
    std::string id;
    std::int64_t time = kT0;
    std::string user = "u1";
    std::string type = "view";
    std::string product = "laptop";
    double price = 10;
    std::int64_t quantity = 1;

    std::string json() const {
        std::ostringstream o;
        o.precision(17);
        o << "{\"event_id\":\"" << id << "\",\"timestamp\":\"" << iso(time) << "\",\"user_id\":\""
          << user << "\",\"event_type\":\"" << type << "\",\"product\":\"" << product
          << "\",\"price\":" << price << ",\"quantity\":" << quantity << "}";
        return o.str();
    }
};

inline AggregateSpec count_agg(std::string name, std::string where = "") {
    AggregateSpec a;
    a.name = std::move(name);
    a.fn = AggregateFn::count;
    a.where = std::move(where);
    return a;
}

inline AggregateSpec sum_agg(std::string name, std::string expr, std::string where = "") {
    AggregateSpec a;
    a.name = std::move(name);
    a.fn = AggregateFn::sum;
    a.expr = std::move(expr);
    a.where = std::move(where);
    return a;
}

inline PipelineSpec tumbling_pipeline(std::string name, std::int64_t size,
                                      std::int64_t lateness = 0, EmitMode emit = EmitMode::final) {
    PipelineSpec p;
    p.name = std::move(name);
    p.window.type = WindowType::tumbling;
    p.window.size = DurationMs{size};
    p.allowed_lateness = DurationMs{lateness};
    p.emit = emit;
    p.aggregates.push_back(count_agg("events"));
    return p;
}

inline PipelineSpec session_pipeline(std::string name, std::int64_t gap, std::int64_t lateness = 0,
                                     EmitMode emit = EmitMode::final) {
    PipelineSpec p;
    p.name = std::move(name);
    p.window.type = WindowType::session;
    p.window.gap = DurationMs{gap};
    p.allowed_lateness = DurationMs{lateness};
    p.emit = emit;
    p.aggregates.push_back(count_agg("events"));
    return p;
}

inline EngineSpec engine_with(std::vector<PipelineSpec> pipelines, std::int64_t ooo = 0) {
    EngineSpec s;
    s.pipelines = std::move(pipelines);
    s.max_out_of_orderness = DurationMs{ooo};
    s.dedup_horizon = DurationMs{3600000};
    s.idle_timeout = DurationMs{10000};
    return s;
}

// Decoder + Task + Output, fed JSON strings.
class Harness {
  public:
    explicit Harness(const EngineSpec& spec)
        : engine(must_compile(spec)), decoder(engine->spec().schema), task(engine) {}

    // Processes one record; returns the results and late records it produced.
    Output& send(const std::string& json) {
        out.clear();
        auto rej = decoder.decode(json, event);
        BOOST_REQUIRE_MESSAGE(!rej, "rejected: " + (rej ? rej->detail : std::string()));
        task.process(event, json, out);
        return out;
    }
    Output& send(const Shop& s) { return send(s.json()); }
    Output& tick(std::int64_t now, bool caught_up = true) {
        out.clear();
        task.advance_processing_time(ProcessingTimeMs{now}, caught_up, out);
        return out;
    }

    std::shared_ptr<const CompiledEngine> engine;
    Decoder decoder;
    Task task;
    Event event;
    Output out;
};

inline std::int64_t count_of(const Result& r, std::size_t i = 0) {
    return std::get<std::int64_t>(r.values.at(i));
}

}  // namespace etld::pipeline::test
