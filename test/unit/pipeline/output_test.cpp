#include "test_support.h"

namespace etld::pipeline::test {
namespace {

Shop shop(std::string id, std::int64_t t, std::string user, std::string type, std::string product,
          double price, std::int64_t qty) {
    Shop s{std::move(id), t};
    s.user = std::move(user);
    s.type = std::move(type);
    s.product = std::move(product);
    s.price = price;
    s.quantity = qty;
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(output)

BOOST_AUTO_TEST_CASE(the_seed_metrics_come_out_as_documented_json) {
    EngineSpec spec;
    spec.pipelines = default_seed_pipelines();
    spec.max_out_of_orderness = DurationMs{0};
    for (auto& p : spec.pipelines) {
        p.allowed_lateness = DurationMs{0};
    }
    Harness h(spec);
    h.send(shop("1", kT0 + 1000, "u1", "view", "laptop", 999.99, 1));
    h.send(shop("2", kT0 + 2000, "u1", "purchase", "laptop", 999.99, 2));
    h.send(shop("3", kT0 + 3000, "u2", "view", "mouse", 25.5, 1));
    h.send(shop("4", kT0 + 4000, "u3", "view", "mouse", 25.5, 3));
    h.send(shop("5", kT0 + 5000, "u2", "purchase", "mouse", 25.5, 4));
    const auto& out = h.send(shop("6", kT0 + 60000, "u9", "view", "monitor", 1, 1));
    BOOST_REQUIRE_EQUAL(out.results.size(), 3u);
    // events_by_type, one per event_type, then shop_metrics.
    std::vector<std::string> json;
    for (const auto& r : out.results) {
        json.push_back(result_json(*h.engine, r));
    }
    BOOST_TEST(json[0] ==
               R"({"pipeline":"events_by_type","window_start":1705312800000,)"
               R"("window_end":1705312860000,"group":{"event_type":"view"},"kind":"final",)"
               R"("revision":0,"values":{"events":3}})");
    BOOST_TEST(json[1] ==
               R"({"pipeline":"events_by_type","window_start":1705312800000,)"
               R"("window_end":1705312860000,"group":{"event_type":"purchase"},"kind":"final",)"
               R"("revision":0,"values":{"events":2}})");
    BOOST_TEST(
        json[2] ==
        R"({"pipeline":"shop_metrics","window_start":1705312800000,)"
        R"("window_end":1705312860000,"group":{},"kind":"final","revision":0,)"
        R"("values":{"top_products":[["mouse",3],["laptop",2]],"unique_users":3,)"
        R"("revenue":2101.98,"purchases":2,"views":3,"conversion_rate":0.6666666666666666}})");
}

BOOST_AUTO_TEST_CASE(result_keys_are_deterministic_json_arrays) {
    Result r;
    r.pipeline_name = "by_user";
    r.window_start = EventTimeMs{1000};
    r.window_end = EventTimeMs{2000};
    r.group = {std::string("u\"1"), std::int64_t{7}, 2.5, true};
    BOOST_TEST(result_key(r) == R"(["by_user",1000,2000,"u\"1",7,2.5,true])");
}

BOOST_AUTO_TEST_CASE(group_strings_are_escaped_for_json) {
    Result r;
    r.pipeline_name = "p";
    r.window_start = EventTimeMs{1};
    r.window_end = EventTimeMs{2};
    // Quote and backslash, the short escapes, other control characters as
    // \u00XX, and bytes from 0x7f up (UTF-8) as they are; plain runs
    // before, between and after.
    r.group = {std::string("a\"b\\c\nd\re\tf\x01g\x1f\x7f\xc3\xa9h"), std::string("\""),
               std::string(""), std::string("plain")};
    BOOST_TEST(result_key(r) == R"(["p",1,2,"a\"b\\c\nd\re\tf\u0001g\u001f)"
                                "\x7f\xc3\xa9"
                                R"(h","\"","","plain"])");
}

BOOST_AUTO_TEST_CASE(retractions_carry_the_key_fields_and_no_values) {
    PipelineSpec p = session_pipeline("s", 1000, 10000, EmitMode::early);
    p.group_by = {"user_id"};
    Harness h(engine_with({p}));
    h.send(Shop{"a", kT0});
    h.send(Shop{"b", kT0 + 1500});
    const auto& out = h.send(Shop{"c", kT0 + 900});
    BOOST_REQUIRE(!out.results.empty());
    BOOST_TEST(result_json(*h.engine, out.results[0]) ==
               R"({"pipeline":"s","window_start":1705312800000,"window_end":1705312801000,)"
               R"("group":{"user_id":"u1"},"kind":"retract","revision":1})");
}

BOOST_AUTO_TEST_CASE(top_k_breaks_count_ties_by_value) {
    PipelineSpec p = tumbling_pipeline("t", 1000);
    AggregateSpec top;
    top.name = "top";
    top.fn = AggregateFn::top_k;
    top.field = "product";
    top.k = 3;
    p.aggregates = {top};
    Harness h(engine_with({p}));
    const char* products[] = {"mouse", "laptop", "zebra", "laptop", "mouse", "apple"};
    int i = 0;
    for (const char* prod : products) {
        Shop s{"e" + std::to_string(i), kT0 + i};
        s.product = prod;
        h.send(s);
        ++i;
    }
    const auto& out = h.send(Shop{"end", kT0 + 1000});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    const auto& top3 = std::get<std::vector<TopKEntry>>(out.results[0].values[0]);
    BOOST_REQUIRE_EQUAL(top3.size(), 3u);
    BOOST_TEST(std::get<std::string>(top3[0].value) == "laptop");
    BOOST_TEST(std::get<std::string>(top3[1].value) == "mouse");
    BOOST_TEST(std::get<std::string>(top3[2].value) == "apple");
    BOOST_TEST(top3[2].count == 1);
}

BOOST_AUTO_TEST_CASE(ratio_and_avg_are_null_without_data) {
    PipelineSpec p = tumbling_pipeline("t", 1000);
    p.aggregates = {count_agg("buys", "event_type == 'purchase'"),
                    count_agg("views", "event_type == 'view'")};
    AggregateSpec ratio;
    ratio.name = "rate";
    ratio.fn = AggregateFn::ratio;
    ratio.numerator = "buys";
    ratio.denominator = "views";
    p.aggregates.push_back(ratio);
    AggregateSpec avg;
    avg.name = "avg_price";
    avg.fn = AggregateFn::avg;
    avg.expr = "price";
    avg.where = "event_type == 'purchase'";
    p.aggregates.push_back(avg);
    AggregateSpec mx;
    mx.name = "max_qty";
    mx.fn = AggregateFn::max;
    mx.expr = "quantity";
    mx.where = "false";
    p.aggregates.push_back(mx);
    Harness h(engine_with({p}));
    Shop s{"a", kT0};
    s.type = "add_to_cart";
    h.send(s);
    const auto& out = h.send(Shop{"b", kT0 + 1000});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST(result_json(*h.engine, out.results[0]) ==
               R"({"pipeline":"t","window_start":1705312800000,"window_end":1705312801000,)"
               R"("group":{},"kind":"final","revision":0,)"
               R"("values":{"buys":0,"views":0,"rate":null,"avg_price":null,"max_qty":null}})");
}

BOOST_AUTO_TEST_CASE(events_where_the_expression_is_not_finite_are_left_out) {
    PipelineSpec p = tumbling_pipeline("t", 1000);
    p.aggregates = {sum_agg("per_unit", "price / (quantity - 1)")};
    Harness h(engine_with({p}));
    Shop a{"a", kT0};
    a.price = 10;
    a.quantity = 1;  // division by zero: skipped
    Shop b{"b", kT0 + 1};
    b.price = 10;
    b.quantity = 3;
    h.send(a);
    h.send(b);
    const auto& out = h.send(Shop{"c", kT0 + 1000});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST(std::get<double>(out.results[0].values[0]) == 5.0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace etld::pipeline::test
