#include "test_support.h"

namespace etld::pipeline::test {
namespace {

std::vector<SpecError> errors_of(const EngineSpec& s) {
    return compile(s).errors;
}

EngineSpec one(PipelineSpec p) {
    return engine_with({std::move(p)});
}

void expect_one(const EngineSpec& s, std::string attribute, const std::string& message,
                std::optional<std::size_t> aggregate = std::nullopt,
                std::optional<std::size_t> position = std::nullopt) {
    const auto errs = errors_of(s);
    BOOST_REQUIRE_EQUAL(errs.size(), 1u);
    BOOST_TEST(errs[0].attribute == attribute);
    BOOST_TEST(errs[0].message == message);
    BOOST_TEST((errs[0].aggregate == aggregate));
    BOOST_TEST((errs[0].position == position));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(compile)

BOOST_AUTO_TEST_CASE(the_seed_metrics_compile_over_the_default_schema) {
    EngineSpec s;
    s.pipelines = default_seed_pipelines();
    const CompileResult r = ::etld::pipeline::compile(s);
    BOOST_TEST(r.errors.empty());
    BOOST_REQUIRE(r.engine);
    BOOST_TEST(r.engine->spec().pipelines.size() == 2u);
}

BOOST_AUTO_TEST_CASE(expression_errors_name_the_aggregate_attribute_and_position) {
    PipelineSpec p = tumbling_pipeline("shop", 60000);
    p.aggregates.push_back(
        sum_agg("revenue", "price * quantity", "event_type == 'x' and prce > 1"));
    const auto errs = errors_of(one(p));
    BOOST_REQUIRE_EQUAL(errs.size(), 1u);
    BOOST_TEST(*errs[0].pipeline == 0u);
    BOOST_TEST(*errs[0].aggregate == 1u);
    BOOST_TEST(errs[0].attribute == "where");
    BOOST_TEST(*errs[0].position == 22u);
    BOOST_TEST(errs[0].message == "unknown field 'prce'; did you mean 'price'?");
}

BOOST_AUTO_TEST_CASE(unknown_group_by_fields_get_a_suggestion) {
    PipelineSpec p = tumbling_pipeline("shop", 60000);
    p.group_by = {"event_typ"};
    expect_one(one(p), "group_by", "unknown field 'event_typ'; did you mean 'event_type'?");
}

BOOST_AUTO_TEST_CASE(sum_needs_an_expression_and_count_rejects_one) {
    PipelineSpec p = tumbling_pipeline("shop", 60000);
    p.aggregates.push_back(sum_agg("revenue", ""));
    expect_one(one(p), "expr", "sum needs 'expr', a numeric expression", 1);
    PipelineSpec q = tumbling_pipeline("shop", 60000);
    q.aggregates[0].expr = "price";
    expect_one(one(q), "expr", "'expr' is not used by count", 0);
}

BOOST_AUTO_TEST_CASE(ratio_operands_must_be_numeric_aggregates_of_the_same_pipeline) {
    PipelineSpec p = tumbling_pipeline("shop", 60000);
    AggregateSpec r;
    r.name = "rate";
    r.fn = AggregateFn::ratio;
    r.numerator = "event";
    r.denominator = "events";
    p.aggregates.push_back(r);
    expect_one(one(p), "numerator",
               "no aggregate named 'event' in pipeline 'shop'; did you mean 'events'?", 1);
    p.aggregates[1].numerator = "rate";
    expect_one(one(p), "numerator", "a ratio cannot refer to itself", 1);
}

BOOST_AUTO_TEST_CASE(top_k_needs_a_field_and_a_sane_k) {
    PipelineSpec p = tumbling_pipeline("shop", 60000);
    AggregateSpec t;
    t.name = "top";
    t.fn = AggregateFn::top_k;
    t.field = "product";
    t.k = 0;
    p.aggregates.push_back(t);
    expect_one(one(p), "k", "top_k needs 1 <= k <= 1000", 1);
}

BOOST_AUTO_TEST_CASE(window_shapes_are_checked) {
    PipelineSpec p = tumbling_pipeline("shop", 60000);
    p.window.type = WindowType::sliding;
    p.window.size = DurationMs{60000};
    p.window.slide = DurationMs{7000};
    expect_one(one(p), "window", "sliding window size must be a multiple of its slide");
    PipelineSpec q = session_pipeline("s", 0);
    expect_one(one(q), "window", "session gap must be positive");
}

BOOST_AUTO_TEST_CASE(names_must_be_valid_and_unique) {
    EngineSpec s = engine_with({tumbling_pipeline("shop", 1000), tumbling_pipeline("shop", 2000)});
    expect_one(s, "name", "pipeline name 'shop' is used twice");
    PipelineSpec p = tumbling_pipeline("Shop", 1000);
    expect_one(one(p), "name", "pipeline name 'Shop' must match [a-z][a-z0-9_]*");
}

BOOST_AUTO_TEST_CASE(all_errors_are_reported_at_once) {
    PipelineSpec p = tumbling_pipeline("shop", 0);
    p.group_by = {"nope"};
    p.aggregates.push_back(sum_agg("x", "price +"));
    BOOST_TEST(errors_of(one(p)).size() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace etld::pipeline::test
