#include "test_support.h"

namespace etld::pipeline::test {
namespace {

Shop user_event(std::string id, std::int64_t t, std::string user = "u1") {
    Shop s{std::move(id), t};
    s.user = std::move(user);
    return s;
}

PipelineSpec by_user(PipelineSpec p) {
    p.group_by = {"user_id"};
    return p;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(session)

BOOST_AUTO_TEST_CASE(a_session_spans_its_first_event_to_its_last_event_plus_the_gap) {
    Harness h(engine_with({session_pipeline("s", 1000)}));
    h.send(Shop{"a", kT0});
    h.send(Shop{"b", kT0 + 500});
    h.send(Shop{"c", kT0 + 999});
    const auto& out = h.send(Shop{"d", kT0 + 5000});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST(out.results[0].window_start.value == kT0);
    BOOST_TEST(out.results[0].window_end.value == kT0 + 1999);
    BOOST_TEST(count_of(out.results[0]) == 3);
}

BOOST_AUTO_TEST_CASE(an_event_exactly_one_gap_after_the_last_starts_a_new_session) {
    Harness h(engine_with({session_pipeline("s", 1000)}, 5000));
    h.send(Shop{"a", kT0});
    h.send(Shop{"b", kT0 + 1000});
    BOOST_TEST(h.task.counters().open_sessions == 2u);
}

BOOST_AUTO_TEST_CASE(an_event_that_bridges_two_sessions_merges_them) {
    Harness h(engine_with({session_pipeline("s", 1000)}, 10000));
    h.send(Shop{"a", kT0});
    h.send(Shop{"b", kT0 + 1800});
    BOOST_TEST(h.task.counters().open_sessions == 2u);
    h.send(Shop{"c", kT0 + 900});
    BOOST_TEST(h.task.counters().open_sessions == 1u);
    const auto& out = h.send(Shop{"d", kT0 + 20000});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST(out.results[0].window_start.value == kT0);
    BOOST_TEST(out.results[0].window_end.value == kT0 + 2800);
    BOOST_TEST(count_of(out.results[0]) == 3);
}

BOOST_AUTO_TEST_CASE(merging_sessions_retracts_the_emitted_ones) {
    Harness h(engine_with({by_user(session_pipeline("s", 1000, 10000, EmitMode::early))}));
    h.send(user_event("a", kT0));
    auto out = h.send(user_event("b", kT0 + 1800));  // W passes [T0, T0+1000)'s end
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST(out.results[0].window_end.value == kT0 + 1000);
    out = h.send(user_event("x", kT0 + 3000, "u2"));  // W passes [T0+1800, T0+2800)'s end
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST(out.results[0].window_start.value == kT0 + 1800);
    // A late event of u1 bridges both emitted sessions.
    out = h.send(user_event("c", kT0 + 900));
    BOOST_REQUIRE_EQUAL(out.results.size(), 3u);
    BOOST_TEST((out.results[0].kind == ResultKind::retract));
    BOOST_TEST(out.results[0].window_start.value == kT0);
    BOOST_TEST(out.results[0].window_end.value == kT0 + 1000);
    BOOST_TEST(out.results[0].revision == 1u);
    BOOST_TEST(out.results[0].values.empty());
    BOOST_TEST((out.results[1].kind == ResultKind::retract));
    BOOST_TEST(out.results[1].window_start.value == kT0 + 1800);
    // The merged session is a new window: revision 0 of its own key.
    BOOST_TEST((out.results[2].kind == ResultKind::update));
    BOOST_TEST(out.results[2].window_start.value == kT0);
    BOOST_TEST(out.results[2].window_end.value == kT0 + 2800);
    BOOST_TEST(out.results[2].revision == 0u);
    BOOST_TEST(count_of(out.results[2]) == 3);
}

BOOST_AUTO_TEST_CASE(a_late_event_inside_an_emitted_session_updates_it_in_place) {
    Harness h(engine_with({session_pipeline("s", 1000, 10000, EmitMode::early)}));
    h.send(Shop{"a", kT0});
    h.send(Shop{"b", kT0 + 800});
    auto out = h.send(Shop{"c", kT0 + 5000});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    out = h.send(Shop{"d", kT0 + 400});
    BOOST_REQUIRE_EQUAL(out.results.size(), 1u);
    BOOST_TEST((out.results[0].kind == ResultKind::update));
    BOOST_TEST(out.results[0].revision == 1u);
    BOOST_TEST(out.results[0].window_end.value == kT0 + 1800);
    BOOST_TEST(count_of(out.results[0]) == 3);
}

BOOST_AUTO_TEST_CASE(an_event_whose_own_session_would_be_closed_is_too_late) {
    Harness h(engine_with({session_pipeline("s", 1000)}));
    h.send(Shop{"a", kT0});
    h.send(Shop{"b", kT0 + 5000});  // closes [T0, T0+1000)
    // Its session [T0+3999, T0+4999) has end <= W: too late.
    BOOST_TEST(h.send(Shop{"c", kT0 + 3999}).late.size() == 1u);
    // [T0+4000, T0+5000) overlaps the open session of b: applied.
    BOOST_TEST(h.send(Shop{"d", kT0 + 4001}).late.empty());
    BOOST_TEST(h.task.counters().too_late == 1u);
}

BOOST_AUTO_TEST_CASE(sessions_are_kept_per_key) {
    Harness h(engine_with({by_user(session_pipeline("s", 1000))}));
    h.send(user_event("a", kT0, "u1"));
    h.send(user_event("b", kT0 + 100, "u2"));
    BOOST_TEST(h.task.counters().open_sessions == 2u);
    const auto& out = h.send(user_event("c", kT0 + 3000, "u3"));
    BOOST_REQUIRE_EQUAL(out.results.size(), 2u);
    // Same end? No: u1's ends first, and results come in end order.
    BOOST_TEST(std::get<std::string>(out.results[0].group[0]) == "u1");
    BOOST_TEST(std::get<std::string>(out.results[1].group[0]) == "u2");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace etld::pipeline::test
