#include "etld/pipeline/spec.h"

#include <array>
#include <utility>

namespace etld::pipeline {

namespace {

template <typename E, std::size_t N>
std::optional<E> lookup(const std::array<std::pair<std::string_view, E>, N>& table,
                        std::string_view s) {
    for (const auto& [name, value] : table) {
        if (name == s) {
            return value;
        }
    }
    return std::nullopt;
}

template <typename E, std::size_t N>
std::string_view reverse(const std::array<std::pair<std::string_view, E>, N>& table, E e) {
    for (const auto& [name, value] : table) {
        if (value == e) {
            return name;
        }
    }
    return "?";
}

constexpr std::array<std::pair<std::string_view, FieldType>, 4> kFieldTypes{{
    {"string", FieldType::string},
    {"int", FieldType::int64},
    {"double", FieldType::float64},
    {"bool", FieldType::boolean},
}};
constexpr std::array<std::pair<std::string_view, TimeFormat>, 3> kTimeFormats{{
    {"iso8601", TimeFormat::iso8601},
    {"epoch_s", TimeFormat::epoch_s},
    {"epoch_ms", TimeFormat::epoch_ms},
}};
constexpr std::array<std::pair<std::string_view, WindowType>, 3> kWindowTypes{{
    {"tumbling", WindowType::tumbling},
    {"sliding", WindowType::sliding},
    {"session", WindowType::session},
}};
constexpr std::array<std::pair<std::string_view, EmitMode>, 2> kEmitModes{{
    {"final", EmitMode::final},
    {"early", EmitMode::early},
}};
constexpr std::array<std::pair<std::string_view, LatePolicy>, 2> kLatePolicies{{
    {"topic", LatePolicy::topic},
    {"drop", LatePolicy::drop},
}};
constexpr std::array<std::pair<std::string_view, AggregateFn>, 8> kAggregateFns{{
    {"count", AggregateFn::count},
    {"sum", AggregateFn::sum},
    {"avg", AggregateFn::avg},
    {"min", AggregateFn::min},
    {"max", AggregateFn::max},
    {"count_distinct", AggregateFn::count_distinct},
    {"ratio", AggregateFn::ratio},
    {"top_k", AggregateFn::top_k},
}};

}  // namespace

std::string_view name_of(FieldType t) {
    return reverse(kFieldTypes, t);
}
std::string_view name_of(TimeFormat f) {
    return reverse(kTimeFormats, f);
}
std::string_view name_of(WindowType w) {
    return reverse(kWindowTypes, w);
}
std::string_view name_of(EmitMode m) {
    return reverse(kEmitModes, m);
}
std::string_view name_of(LatePolicy p) {
    return reverse(kLatePolicies, p);
}
std::string_view name_of(AggregateFn f) {
    return reverse(kAggregateFns, f);
}
std::optional<FieldType> parse_field_type(std::string_view s) {
    return lookup(kFieldTypes, s);
}
std::optional<TimeFormat> parse_time_format(std::string_view s) {
    return lookup(kTimeFormats, s);
}
std::optional<WindowType> parse_window_type(std::string_view s) {
    return lookup(kWindowTypes, s);
}
std::optional<EmitMode> parse_emit_mode(std::string_view s) {
    return lookup(kEmitModes, s);
}
std::optional<LatePolicy> parse_late_policy(std::string_view s) {
    return lookup(kLatePolicies, s);
}
std::optional<AggregateFn> parse_aggregate_fn(std::string_view s) {
    return lookup(kAggregateFns, s);
}

EventSchema default_seed_schema() {
    EventSchema s;
    s.id_field = "event_id";
    s.time_field = "timestamp";
    s.time_format = TimeFormat::iso8601;
    s.fields = {
        {"user_id", FieldType::string}, {"event_type", FieldType::string},
        {"product", FieldType::string}, {"price", FieldType::float64},
        {"quantity", FieldType::int64},
    };
    return s;
}

std::vector<PipelineSpec> default_seed_pipelines() {
    auto agg = [](std::string name, AggregateFn fn) {
        AggregateSpec a;
        a.name = std::move(name);
        a.fn = fn;
        return a;
    };
    std::vector<PipelineSpec> out;

    PipelineSpec by_type;
    by_type.name = "events_by_type";
    by_type.window =
        WindowSpec{WindowType::tumbling, DurationMs{60000}, DurationMs{0}, DurationMs{0}};
    by_type.group_by = {"event_type"};
    by_type.allowed_lateness = DurationMs{30000};
    by_type.aggregates.push_back(agg("events", AggregateFn::count));
    out.push_back(by_type);

    PipelineSpec shop;
    shop.name = "shop_metrics";
    shop.window = WindowSpec{WindowType::tumbling, DurationMs{60000}, DurationMs{0}, DurationMs{0}};
    shop.allowed_lateness = DurationMs{30000};
    AggregateSpec top = agg("top_products", AggregateFn::top_k);
    top.field = "product";
    top.k = 5;
    shop.aggregates.push_back(top);
    AggregateSpec users = agg("unique_users", AggregateFn::count_distinct);
    users.field = "user_id";
    shop.aggregates.push_back(users);
    AggregateSpec revenue = agg("revenue", AggregateFn::sum);
    revenue.expr = "price * quantity";
    revenue.where = "event_type == 'purchase'";
    shop.aggregates.push_back(revenue);
    AggregateSpec purchases = agg("purchases", AggregateFn::count);
    purchases.where = "event_type == 'purchase'";
    shop.aggregates.push_back(purchases);
    AggregateSpec views = agg("views", AggregateFn::count);
    views.where = "event_type == 'view'";
    shop.aggregates.push_back(views);
    AggregateSpec conversion = agg("conversion_rate", AggregateFn::ratio);
    conversion.numerator = "purchases";
    conversion.denominator = "views";
    shop.aggregates.push_back(conversion);
    out.push_back(shop);
    return out;
}

}  // namespace etld::pipeline
