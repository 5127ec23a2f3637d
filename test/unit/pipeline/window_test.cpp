// GCC 12 at -O3 reports false -Wrestrict overlaps inside std::string's
// operator+ (GCC bug 105651); -Werror would make them build failures.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include <map>

#include "test_support.h"

namespace etld::pipeline::test {

BOOST_AUTO_TEST_SUITE(window)

BOOST_AUTO_TEST_CASE(a_tumbling_window_emits_once_when_the_watermark_reaches_its_end) {
    Harness h(engine_with({tumbling_pipeline("t", 1000)}));
    BOOST_TEST(h.send(Shop{"a", kT0 + 100}).results.empty());
    BOOST_TEST(h.send(Shop{"b", kT0 + 999}).results.empty());
    // Watermark == end (>=) closes [T0, T0+1000).
    const auto& out = h.send(Shop{"c", kT0 + 1000});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    const Result& r = out.results[0];
    BOOST_TEST(r.window_start.value == kT0);
    BOOST_TEST(r.window_end.value == kT0 + 1000);
    BOOST_TEST((r.kind == ResultKind::final));
    BOOST_TEST(r.revision == 0u);
    BOOST_TEST(count_of(r) == 2);
    BOOST_TEST(h.task.counters().open_windows == 1u);
}

BOOST_AUTO_TEST_CASE(allowed_lateness_delays_the_final_record_and_admits_late_events) {
    Harness h(engine_with({tumbling_pipeline("t", 1000, 500)}));
    h.send(Shop{"a", kT0 + 100});
    BOOST_TEST(h.send(Shop{"b", kT0 + 1200}).results.empty());
    BOOST_TEST(h.send(Shop{"late", kT0 + 300}).results.empty());
    BOOST_TEST(h.task.counters().late_applied == 1u);
    const auto& out = h.send(Shop{"c", kT0 + 1500});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST(count_of(out.results[0]) == 2);
}

BOOST_AUTO_TEST_CASE(events_after_end_plus_lateness_come_out_as_late_records) {
    Harness h(engine_with({tumbling_pipeline("t", 1000)}));
    h.send(Shop{"a", kT0 + 100});
    h.send(Shop{"b", kT0 + 1000});
    const std::string raw = Shop{"too-late", kT0 + 200}.json();
    const auto& out = h.send(raw);
    BOOST_TEST(out.results.empty());
    BOOST_REQUIRE_EQUAL(out.late.size(), 1u);
    BOOST_TEST(out.late[0].raw == raw);
    BOOST_TEST(out.late[0].pipeline == 0u);
    BOOST_TEST(out.late[0].reason.rfind("too_late:", 0) == 0u);
    BOOST_TEST(out.late[0].watermark.value == kT0 + 1000);
    BOOST_TEST(h.task.counters().too_late == 1u);
    BOOST_TEST(h.task.counters().watermark->value == kT0 + 1000);
}

BOOST_AUTO_TEST_CASE(late_policy_drop_counts_but_writes_no_late_record) {
    PipelineSpec p = tumbling_pipeline("t", 1000);
    p.late_policy = LatePolicy::drop;
    Harness h(engine_with({p}));
    h.send(Shop{"a", kT0 + 1000});
    BOOST_TEST(h.send(Shop{"b", kT0 + 1}).late.empty());
    BOOST_TEST(h.task.counters().too_late == 1u);
}

BOOST_AUTO_TEST_CASE(early_mode_emits_at_the_end_then_one_update_per_late_event) {
    Harness h(engine_with({tumbling_pipeline("t", 1000, 1000, EmitMode::early)}));
    h.send(Shop{"a", kT0 + 100});
    auto out = h.send(Shop{"b", kT0 + 1000});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST((out.results[0].kind == ResultKind::update));
    BOOST_TEST(out.results[0].revision == 0u);
    BOOST_TEST(count_of(out.results[0]) == 1);
    out = h.send(Shop{"late", kT0 + 200});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST(out.results[0].revision == 1u);
    BOOST_TEST(count_of(out.results[0]) == 2);
    // end + lateness passes silently; the next window reaches its end.
    out = h.send(Shop{"c", kT0 + 2000});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST(out.results[0].window_start.value == kT0 + 1000);
    BOOST_TEST(out.results[0].revision == 0u);
}

BOOST_AUTO_TEST_CASE(early_updates_are_skipped_when_a_late_event_changes_nothing) {
    PipelineSpec p = tumbling_pipeline("t", 1000, 1000, EmitMode::early);
    p.aggregates = {count_agg("purchases", "event_type == 'purchase'")};
    Harness h(engine_with({p}));
    h.send(Shop{"a", kT0 + 100});
    BOOST_TEST(h.send(Shop{"b", kT0 + 1000}).results.size() == 1u);
    Shop view{"late", kT0 + 200};
    view.type = "view";
    BOOST_TEST(h.send(view).results.empty());
    Shop buy{"late2", kT0 + 300};
    buy.type = "purchase";
    BOOST_TEST(h.send(buy).results.size() == 1u);
}

BOOST_AUTO_TEST_CASE(sliding_windows_hold_each_event_in_size_over_slide_windows) {
    PipelineSpec p = tumbling_pipeline("s", 2000);
    p.window.type = WindowType::sliding;
    p.window.slide = DurationMs{1000};
    Harness h(engine_with({p}));
    h.send(Shop{"a", kT0 + 1500});
    BOOST_TEST(h.task.counters().open_windows == 2u);
    const auto& out = h.send(Shop{"b", kT0 + 3000});
    // [T0, T0+2000) and [T0+1000, T0+3000) close, in end order.
    BOOST_REQUIRE_EQUAL(out.results.size(), 2u);
    BOOST_TEST(out.results[0].window_start.value == kT0);
    BOOST_TEST(out.results[1].window_start.value == kT0 + 1000);
    BOOST_TEST(count_of(out.results[0]) == 1);
    BOOST_TEST(count_of(out.results[1]) == 1);
}

BOOST_AUTO_TEST_CASE(a_sliding_event_is_applied_to_its_still_open_windows_only) {
    PipelineSpec p = tumbling_pipeline("s", 2000);
    p.window.type = WindowType::sliding;
    p.window.slide = DurationMs{1000};
    Harness h(engine_with({p}));
    h.send(Shop{"a", kT0 + 2000});  // closes nothing yet: W = T0+2000 closes [T0, T0+2000)
    const auto& out = h.send(Shop{"b", kT0 + 1500});
    // [T0, T0+2000) is closed, [T0+1000, T0+3000) is open: applied, not late.
    BOOST_TEST(out.late.empty());
    BOOST_TEST(h.task.counters().too_late == 0u);
    const auto& fin = h.send(Shop{"c", kT0 + 3000});
    BOOST_REQUIRE_EQUAL(fin.results.size(), 1u);
    BOOST_TEST(count_of(fin.results[0]) == 2);
}

BOOST_AUTO_TEST_CASE(group_by_splits_windows_by_key) {
    PipelineSpec p = tumbling_pipeline("t", 1000);
    p.group_by = {"event_type"};
    Harness h(engine_with({p}));
    Shop a{"a", kT0 + 1};
    a.type = "view";
    Shop b{"b", kT0 + 2};
    b.type = "purchase";
    Shop c{"c", kT0 + 3};
    c.type = "view";
    h.send(a);
    h.send(b);
    h.send(c);
    const auto& out = h.send(Shop{"d", kT0 + 1000});
    BOOST_REQUIRE_EQUAL(out.results.size(), 2u);
    std::map<std::string, std::int64_t> counts;
    for (const auto& r : out.results) {
        counts[std::get<std::string>(r.group.at(0))] = count_of(r);
    }
    BOOST_TEST(counts["purchase"] == 1);
    BOOST_TEST(counts["view"] == 2);
}

BOOST_AUTO_TEST_CASE(the_watermark_is_max_event_time_minus_out_of_orderness_and_never_goes_back) {
    Harness h(engine_with({tumbling_pipeline("t", 1000)}, 500));
    BOOST_TEST(!h.task.counters().watermark.has_value());
    h.send(Shop{"a", kT0 + 5000});
    BOOST_TEST(h.task.counters().watermark->value == kT0 + 4500);
    h.send(Shop{"b", kT0 + 4900});
    BOOST_TEST(h.task.counters().watermark->value == kT0 + 4500);
}

BOOST_AUTO_TEST_CASE(duplicates_do_not_move_the_watermark) {
    Harness h(engine_with({tumbling_pipeline("t", 1000)}));
    h.send(Shop{"a", kT0});
    h.send(Shop{"a", kT0 + 9000});  // same id: a duplicate, whatever its time
    BOOST_TEST(h.task.counters().duplicates == 1u);
    BOOST_TEST(h.task.counters().watermark->value == kT0);
}

BOOST_AUTO_TEST_CASE(an_idle_caught_up_task_advances_the_watermark_with_processing_time) {
    Harness h(engine_with({tumbling_pipeline("t", 1000)}));  // idle_timeout 10 s
    h.send(Shop{"a", kT0 + 100});
    h.tick(50000);  // input seen: the idle clock starts at 50 s
    BOOST_TEST(h.tick(59999).results.empty());
    BOOST_TEST(h.task.counters().watermark->value == kT0 + 100);
    // Idle long enough, but the input is behind: nothing moves.
    BOOST_TEST(h.tick(60000, false).results.empty());
    // Caught up: the watermark moves by the 10 s of quiet.
    const auto& out = h.tick(60000, true);
    BOOST_TEST(h.task.counters().watermark->value == kT0 + 100 + 10000);
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST(count_of(out.results[0]) == 1);
    h.tick(61000);
    BOOST_TEST(h.task.counters().watermark->value == kT0 + 100 + 11000);
}

BOOST_AUTO_TEST_CASE(new_input_restarts_the_idle_clock) {
    Harness h(engine_with({tumbling_pipeline("t", 1000)}));
    h.send(Shop{"a", kT0});
    h.tick(0);
    h.send(Shop{"b", kT0 + 1});
    h.tick(9000);  // input since the last tick: active at 9 s
    h.tick(18999);
    BOOST_TEST(h.task.counters().watermark->value == kT0 + 1);
    h.tick(19000);
    BOOST_TEST(h.task.counters().watermark->value == kT0 + 1 + 10000);
}

BOOST_AUTO_TEST_CASE(a_zero_idle_timeout_disables_idle_advancement) {
    EngineSpec s = engine_with({tumbling_pipeline("t", 1000)});
    s.idle_timeout = DurationMs{0};
    Harness h(s);
    h.send(Shop{"a", kT0});
    h.tick(0);
    h.tick(1000000);
    BOOST_TEST(h.task.counters().watermark->value == kT0);
}

namespace {

// Sliding 2000/1000 with the seed's set-like aggregates: distinct users and
// the top products (their state is kept per 1000 ms pane inside the engine).
PipelineSpec sliding_sets(EmitMode emit, std::int64_t lateness) {
    PipelineSpec p = tumbling_pipeline("s", 2000, lateness, emit);
    p.window.type = WindowType::sliding;
    p.window.slide = DurationMs{1000};
    AggregateSpec users;
    users.name = "users";
    users.fn = AggregateFn::count_distinct;
    users.field = "user_id";
    AggregateSpec top;
    top.name = "top";
    top.fn = AggregateFn::top_k;
    top.field = "product";
    top.k = 2;
    p.aggregates = {count_agg("events"), users, top};
    return p;
}

std::vector<std::pair<std::string, std::int64_t>> top_of(const Result& r) {
    std::vector<std::pair<std::string, std::int64_t>> v;
    for (const auto& e : std::get<std::vector<TopKEntry>>(r.values.at(2))) {
        v.emplace_back(std::get<std::string>(e.value), e.count);
    }
    return v;
}

using TopList = std::vector<std::pair<std::string, std::int64_t>>;

}  // namespace

BOOST_AUTO_TEST_CASE(sliding_windows_count_distinct_values_and_top_k_over_all_their_slides) {
    // Disorder 2000: W stays at most T0+100 until the last event.
    Harness h(engine_with({sliding_sets(EmitMode::final, 0)}, 2000));
    h.send(Shop{"a", kT0 + 100, "u1", "view", "laptop"});
    h.send(Shop{"b", kT0 + 1100, "u2", "view", "mouse"});
    h.send(Shop{"c", kT0 + 1200, "u1", "view", "mouse"});
    h.send(Shop{"d", kT0 + 2100, "u3", "view", "laptop"});
    const auto& out = h.send(Shop{"e", kT0 + 5000, "u9", "view", "cable"});
    BOOST_REQUIRE_EQUAL(out.results.size(), 3u);
    // [T0-1000, T0+1000): a.
    BOOST_TEST(out.results[0].window_start.value == kT0 - 1000);
    BOOST_TEST(count_of(out.results[0], 1) == 1);
    BOOST_TEST((top_of(out.results[0]) == TopList{{"laptop", 1}}));
    // [T0, T0+2000): a, b, c: users u1, u2; mouse twice.
    BOOST_TEST(out.results[1].window_start.value == kT0);
    BOOST_TEST(count_of(out.results[1]) == 3);
    BOOST_TEST(count_of(out.results[1], 1) == 2);
    BOOST_TEST((top_of(out.results[1]) == TopList{{"mouse", 2}, {"laptop", 1}}));
    // [T0+1000, T0+3000): b, c, d: users u2, u1, u3.
    BOOST_TEST(out.results[2].window_start.value == kT0 + 1000);
    BOOST_TEST(count_of(out.results[2], 1) == 3);
    BOOST_TEST((top_of(out.results[2]) == TopList{{"mouse", 2}, {"laptop", 1}}));
}

BOOST_AUTO_TEST_CASE(an_early_sliding_window_updates_only_when_a_late_event_changes_a_value) {
    PipelineSpec p = sliding_sets(EmitMode::early, 5000);
    p.aggregates = {p.aggregates[1]};  // distinct users only: a repeat user changes nothing
    Harness h(engine_with({p}));
    h.send(Shop{"a", kT0 + 100, "u1", "view", "laptop"});
    // W = T0+2500: [T0-1000, T0+1000) and [T0, T0+2000) get revision 0.
    BOOST_TEST(h.send(Shop{"b", kT0 + 2500, "u2", "view", "mouse"}).results.size() == 2u);
    // A late new user at T0+500 changes both windows holding it.
    const auto& upd = h.send(Shop{"c", kT0 + 500, "u3", "view", "laptop"});
    BOOST_REQUIRE_EQUAL(upd.results.size(), 2u);
    BOOST_TEST(upd.results[0].window_start.value == kT0 - 1000);
    BOOST_TEST(upd.results[1].window_start.value == kT0);
    for (const Result& r : upd.results) {
        BOOST_TEST(r.revision == 1u);
        BOOST_TEST(count_of(r) == 2);
    }
    // A late event of a user both windows already hold: no update.
    BOOST_TEST(h.send(Shop{"d", kT0 + 600, "u1", "view", "mouse"}).results.empty());
    BOOST_TEST(h.task.counters().late_applied == 2u);
}

BOOST_AUTO_TEST_CASE(window_state_is_purged_once_it_can_no_longer_change) {
    Harness h(engine_with({tumbling_pipeline("t", 1000, 2000)}));
    for (int i = 0; i < 10; ++i) {
        h.send(Shop{"e" + std::to_string(i), kT0 + std::int64_t{i} * 1000});
    }
    // W = T0+9000: windows ending at or before T0+7000 are gone.
    BOOST_TEST(h.task.counters().open_windows == 3u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace etld::pipeline::test
