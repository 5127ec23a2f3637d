// GCC 12 at -O3 reports false -Wrestrict overlaps inside std::string's
// operator+ (GCC bug 105651); -Werror would make them build failures.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include <map>
#include <set>

#include "test_support.h"

namespace etld::pipeline::test {
namespace {

EngineSpec mixed() {
    PipelineSpec t = tumbling_pipeline("t", 1000, 500, EmitMode::early);
    t.group_by = {"event_type"};
    AggregateSpec users;
    users.name = "users";
    users.fn = AggregateFn::count_distinct;
    users.field = "user_id";
    t.aggregates.push_back(users);
    AggregateSpec top;
    top.name = "top";
    top.fn = AggregateFn::top_k;
    top.field = "product";
    top.k = 2;
    t.aggregates.push_back(top);
    PipelineSpec s = session_pipeline("s", 700, 300, EmitMode::early);
    s.group_by = {"user_id"};
    s.aggregates.push_back(sum_agg("revenue", "price * quantity", "event_type == 'purchase'"));
    return engine_with({t, s}, 200);
}

std::vector<Shop> script() {
    const char* types[] = {"view", "purchase", "add_to_cart"};
    const char* products[] = {"laptop", "mouse", "monitor"};
    std::vector<Shop> v;
    for (int i = 0; i < 60; ++i) {
        Shop s{"e" + std::to_string(i), kT0 + std::int64_t{i} * 137 - std::int64_t{i % 7} * 300};
        s.user = "u" + std::to_string(i % 3);
        s.type = types[i % 3];
        s.product = products[(i / 2) % 3];
        s.price = 10 + i;
        s.quantity = 1 + i % 4;
        v.push_back(s);
    }
    v.push_back(v[5]);  // a duplicate
    return v;
}

using Log = std::map<std::string, std::optional<std::string>>;

void flush(Task& t, Log& log) {
    std::vector<StateDelta> deltas;
    t.take_changelog(deltas);
    for (auto& d : deltas) {
        log[d.key] = d.value;
    }
}

std::unique_ptr<Task> restore(const std::shared_ptr<const CompiledEngine>& e, const Log& log) {
    auto t = std::make_unique<Task>(e);
    for (const auto& [k, v] : log) {
        auto err = t->apply_changelog(k, v ? std::optional<std::string_view>(*v) : std::nullopt);
        BOOST_REQUIRE_MESSAGE(!err, *err);
    }
    return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(state)

BOOST_AUTO_TEST_CASE(restoring_mid_stream_changes_no_later_output) {
    const auto engine = must_compile(mixed());
    const auto events = script();
    for (std::size_t cut = 0; cut <= events.size(); cut += 7) {
        Task plain(engine);
        auto restored = std::make_unique<Task>(engine);
        Decoder d(engine->spec().schema);
        Event ev;
        Log log;
        Output a;
        Output b;
        for (std::size_t i = 0; i < events.size(); ++i) {
            if (i == cut) {
                flush(*restored, log);
                restored = restore(engine, log);
            }
            const std::string json = events[i].json();
            BOOST_REQUIRE(!d.decode(json, ev));
            a.clear();
            b.clear();
            plain.process(ev, json, a);
            restored->process(ev, json, b);
            BOOST_REQUIRE_MESSAGE(a.results == b.results, "cut " << cut << " event " << i);
            BOOST_REQUIRE_EQUAL(a.late.size(), b.late.size());
            if (i % 5 == 0) {
                a.clear();
                b.clear();
                plain.advance_processing_time(ProcessingTimeMs{static_cast<std::int64_t>(i) * 100},
                                              true, a);
                restored->advance_processing_time(
                    ProcessingTimeMs{static_cast<std::int64_t>(i) * 100}, true, b);
                BOOST_REQUIRE(a.results == b.results);
            }
        }
        BOOST_TEST(plain.counters().duplicates == restored->counters().duplicates);
        BOOST_TEST(plain.counters().open_windows == restored->counters().open_windows);
        BOOST_TEST(plain.counters().open_sessions == restored->counters().open_sessions);
    }
}

BOOST_AUTO_TEST_CASE(a_flush_names_each_key_once_and_an_unchanged_task_has_nothing_to_flush) {
    Harness h(mixed());
    for (const auto& s : script()) {
        h.send(s);
    }
    std::vector<StateDelta> deltas;
    h.task.take_changelog(deltas);
    std::set<std::string> keys;
    for (const auto& d : deltas) {
        BOOST_TEST(keys.insert(d.key).second);
    }
    BOOST_TEST(!deltas.empty());
    deltas.clear();
    h.task.take_changelog(deltas);
    BOOST_TEST(deltas.empty());
}

BOOST_AUTO_TEST_CASE(purged_windows_are_tombstoned) {
    Harness h(engine_with({tumbling_pipeline("t", 1000)}));
    h.send(Shop{"a", kT0});
    std::vector<StateDelta> deltas;
    h.task.take_changelog(deltas);
    std::string window_key;
    for (const auto& d : deltas) {
        if (d.key[0] == 'w') {
            window_key = d.key;
        }
    }
    BOOST_REQUIRE(!window_key.empty());
    h.send(Shop{"b", kT0 + 5000});
    deltas.clear();
    h.task.take_changelog(deltas);
    bool tombstoned = false;
    for (const auto& d : deltas) {
        tombstoned = tombstoned || (d.key == window_key && !d.value);
    }
    BOOST_TEST(tombstoned);
}

BOOST_AUTO_TEST_CASE(corrupt_records_are_errors_and_leave_the_task_usable) {
    Harness h(mixed());
    for (const auto& s : script()) {
        h.send(s);
    }
    std::vector<StateDelta> deltas;
    h.task.take_changelog(deltas);
    Task fresh(h.engine);
    int errors = 0;
    for (const auto& d : deltas) {
        if (!d.value) {
            continue;
        }
        // Every strict prefix of a record is rejected, never crashes.
        for (std::size_t n = 0; n < d.value->size(); n += 3) {
            errors += fresh.apply_changelog(d.key, std::string_view(*d.value).substr(0, n)) ? 1 : 0;
        }
        std::string flipped = *d.value;
        flipped[0] = static_cast<char>(flipped[0] ^ 0x7f);  // the version byte
        BOOST_TEST(fresh.apply_changelog(d.key, std::string_view(flipped)).has_value());
    }
    BOOST_TEST(errors > 0);
    BOOST_TEST(fresh.apply_changelog("", std::string_view("x")).has_value());
    BOOST_TEST(fresh.apply_changelog("q", std::string_view("x")).has_value());
    BOOST_TEST(fresh.apply_changelog("d12", std::string_view("x")).has_value());
    Output out;
    Event ev;
    const std::string record = Shop{"new", kT0 + 100000}.json();  // the event refers to it
    BOOST_REQUIRE(!h.decoder.decode(record, ev));
    fresh.process(ev, record, out);
}

BOOST_AUTO_TEST_CASE(state_of_an_edited_pipeline_is_not_restored) {
    Harness h(engine_with({tumbling_pipeline("t", 1000)}));
    h.send(Shop{"a", kT0});
    std::vector<StateDelta> deltas;
    h.task.take_changelog(deltas);
    // Same name, different window size: a different pipeline.
    auto edited = must_compile(engine_with({tumbling_pipeline("t", 2000)}));
    Task fresh(edited);
    for (const auto& d : deltas) {
        BOOST_TEST(!fresh.apply_changelog(
            d.key, d.value ? std::optional<std::string_view>(*d.value) : std::nullopt));
    }
    BOOST_TEST(fresh.counters().open_windows == 0u);
    BOOST_TEST(fresh.counters().watermark->value == kT0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace etld::pipeline::test
