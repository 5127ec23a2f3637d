#include "daemon/engine_spec.h"

namespace etld::daemon {

namespace {

pipeline::DurationMs ms(conf::Duration d) {
    return pipeline::DurationMs{d.count()};
}

pipeline::FieldType field_type(conf::FieldType t) {
    switch (t) {
        case conf::FieldType::string:
            return pipeline::FieldType::string;
        case conf::FieldType::int64:
            return pipeline::FieldType::int64;
        case conf::FieldType::float64:
            return pipeline::FieldType::float64;
        case conf::FieldType::boolean:
            return pipeline::FieldType::boolean;
    }
    return pipeline::FieldType::string;
}

pipeline::TimeFormat time_format(conf::TimeFormat f) {
    switch (f) {
        case conf::TimeFormat::iso8601:
            return pipeline::TimeFormat::iso8601;
        case conf::TimeFormat::epoch_s:
            return pipeline::TimeFormat::epoch_s;
        case conf::TimeFormat::epoch_ms:
            return pipeline::TimeFormat::epoch_ms;
    }
    return pipeline::TimeFormat::iso8601;
}

pipeline::WindowType window_type(conf::WindowType w) {
    switch (w) {
        case conf::WindowType::tumbling:
            return pipeline::WindowType::tumbling;
        case conf::WindowType::sliding:
            return pipeline::WindowType::sliding;
        case conf::WindowType::session:
            return pipeline::WindowType::session;
    }
    return pipeline::WindowType::tumbling;
}

pipeline::AggregateFn aggregate_fn(conf::AggregateFn f) {
    switch (f) {
        case conf::AggregateFn::count:
            return pipeline::AggregateFn::count;
        case conf::AggregateFn::sum:
            return pipeline::AggregateFn::sum;
        case conf::AggregateFn::avg:
            return pipeline::AggregateFn::avg;
        case conf::AggregateFn::min:
            return pipeline::AggregateFn::min;
        case conf::AggregateFn::max:
            return pipeline::AggregateFn::max;
        case conf::AggregateFn::count_distinct:
            return pipeline::AggregateFn::count_distinct;
        case conf::AggregateFn::ratio:
            return pipeline::AggregateFn::ratio;
        case conf::AggregateFn::top_k:
            return pipeline::AggregateFn::top_k;
    }
    return pipeline::AggregateFn::count;
}

// Where in the file an engine error belongs.
conf::SourcePos locate(const conf::Config& config, const pipeline::SpecError& error) {
    if (!error.pipeline || *error.pipeline >= config.pipelines.size()) {
        return {};
    }
    const conf::PipelineConfig& p = config.pipelines[*error.pipeline];
    if (error.aggregate && *error.aggregate < p.aggregates.size()) {
        const conf::AggregateConfig& a = p.aggregates[*error.aggregate];
        const conf::Located<std::string>* text = nullptr;
        if (error.attribute == "expr") {
            text = &a.expr;
        } else if (error.attribute == "where") {
            text = &a.where;
        } else if (error.attribute == "field") {
            text = &a.field;
        } else if (error.attribute == "numerator") {
            text = &a.numerator;
        } else if (error.attribute == "denominator") {
            text = &a.denominator;
        } else if (error.attribute == "name") {
            text = &a.name;
        }
        if (text != nullptr && text->pos.line != 0) {
            return conf::position_at(*text, error.position.value_or(0));
        }
        return a.entry.pos;
    }
    if (error.attribute == "group_by" && !p.group_by.empty()) {
        return p.group_by.front().pos;
    }
    if (error.attribute == "name" && p.name.pos.line != 0) {
        return p.name.pos;
    }
    return p.entry.pos;
}

}  // namespace

pipeline::EngineSpec to_engine_spec(const conf::Config& config) {
    pipeline::EngineSpec spec;
    spec.schema.id_field = config.schema.id_field;
    spec.schema.time_field = config.schema.time_field;
    spec.schema.time_format = time_format(config.schema.time_format);
    spec.schema.fields.clear();
    for (const auto& f : config.schema.fields) {
        spec.schema.fields.push_back({f.name.value, field_type(f.type)});
    }
    spec.schema.max_record_bytes = static_cast<std::size_t>(config.input.max_record_bytes);
    spec.dedup_horizon = ms(config.dedup.horizon);
    spec.max_out_of_orderness = ms(config.watermark.max_out_of_orderness);
    spec.idle_timeout = ms(config.watermark.idle_timeout);
    for (const auto& p : config.pipelines) {
        pipeline::PipelineSpec ps;
        ps.name = p.name.value;
        ps.window.type = window_type(p.window.type);
        ps.window.size = ms(p.window.size);
        ps.window.slide = ms(p.window.slide);
        ps.window.gap = ms(p.window.gap);
        for (const auto& g : p.group_by) {
            ps.group_by.push_back(g.value);
        }
        ps.emit =
            p.emit == conf::Emit::early ? pipeline::EmitMode::early : pipeline::EmitMode::final;
        ps.allowed_lateness = ms(p.allowed_lateness);
        ps.late_policy = p.late_policy == conf::LatePolicy::drop ? pipeline::LatePolicy::drop
                                                                 : pipeline::LatePolicy::topic;
        for (const auto& a : p.aggregates) {
            pipeline::AggregateSpec as;
            as.name = a.name.value;
            as.fn = aggregate_fn(a.fn);
            as.expr = a.expr.value;
            as.where = a.where.value;
            as.field = a.field.value;
            as.k = a.k;
            as.numerator = a.numerator.value;
            as.denominator = a.denominator.value;
            ps.aggregates.push_back(std::move(as));
        }
        spec.pipelines.push_back(std::move(ps));
    }
    return spec;
}

EngineBuild build_engine(const conf::Config& config, const std::string& file) {
    EngineBuild build;
    pipeline::CompileResult compiled = pipeline::compile(to_engine_spec(config));
    if (compiled.errors.empty()) {
        build.engine = std::move(compiled.engine);
        return build;
    }
    for (const auto& error : compiled.errors) {
        const conf::SourcePos pos = locate(config, error);
        build.errors.push_back({file, pos.line, pos.column, error.message});
    }
    return build;
}

}  // namespace etld::daemon
