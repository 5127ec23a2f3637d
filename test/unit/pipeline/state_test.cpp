// GCC 12 at -O3 reports false -Wrestrict overlaps inside std::string's
// operator+ (GCC bug 105651); -Werror would make them build failures.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include <map>
#include <random>
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

// The entries of a segment record's value, read by the documented layout
// (pipeline/core/README.md): u8 version, u64 fingerprint, u32 n, n x
// (u8 kind, bytes key, bytes value), integers big-endian.
struct SegmentEntry {
    char kind;
    std::string rest;
    std::string value;
};
std::vector<SegmentEntry> entries_of(const std::string& v) {
    std::size_t at = 0;
    auto take = [&](std::size_t n) {
        BOOST_REQUIRE(at + n <= v.size());
        std::uint64_t x = 0;
        for (std::size_t i = 0; i < n; ++i) {
            x = (x << 8) | static_cast<unsigned char>(v[at + i]);
        }
        at += n;
        return x;
    };
    BOOST_REQUIRE_EQUAL(take(1), 1u);
    take(8);
    const std::uint64_t n = take(4);
    std::vector<SegmentEntry> out;
    for (std::uint64_t i = 0; i < n; ++i) {
        SegmentEntry e;
        e.kind = static_cast<char>(take(1));
        const std::size_t rest_len = take(4);
        e.rest = v.substr(at, rest_len);
        at += rest_len;
        const std::size_t value_len = take(4);
        e.value = v.substr(at, value_len);
        at += value_len;
        out.push_back(std::move(e));
    }
    BOOST_REQUIRE_EQUAL(at, v.size());
    return out;
}

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

BOOST_AUTO_TEST_CASE(a_flush_writes_one_segment_per_pipeline_however_many_windows_changed) {
    PipelineSpec t = tumbling_pipeline("t", 60000);
    t.group_by = {"user_id"};
    Harness h(engine_with({t}));
    for (int i = 0; i < 500; ++i) {
        Shop s{"e" + std::to_string(i), kT0 + i};
        s.user = "user-" + std::to_string(i);
        h.send(s);
    }
    std::vector<StateDelta> deltas;
    h.task.take_changelog(deltas);
    int segments = 0;
    for (const auto& d : deltas) {
        if (d.key[0] == 'g') {
            ++segments;
            BOOST_REQUIRE(d.value);
            BOOST_TEST(entries_of(*d.value).size() == 500u);
        } else {
            BOOST_TEST((d.key[0] == 'd' || d.key[0] == 'm'));
        }
    }
    BOOST_TEST(segments == 1);
}

BOOST_AUTO_TEST_CASE(a_segment_is_tombstoned_once_each_entry_in_it_was_rewritten_or_closed) {
    PipelineSpec t = tumbling_pipeline("t", 1000);
    t.group_by = {"user_id"};
    Harness h(engine_with({t}));
    auto flush_keys = [&](std::set<std::string>& written, std::set<std::string>& tombstoned) {
        std::vector<StateDelta> deltas;
        h.task.take_changelog(deltas);
        written.clear();
        tombstoned.clear();
        for (const auto& d : deltas) {
            if (d.key[0] == 'g') {
                (d.value ? written : tombstoned).insert(d.key);
            }
        }
    };
    std::set<std::string> written;
    std::set<std::string> tombstoned;
    Shop a{"a1", kT0};
    a.user = "a";
    Shop b{"b1", kT0 + 1};
    b.user = "b";
    h.send(a);
    h.send(b);
    flush_keys(written, tombstoned);
    BOOST_REQUIRE(written.size() == 1u);
    const std::string first = *written.begin();
    // a changes: the first segment still holds b's latest value.
    a.id = "a2";
    h.send(a);
    flush_keys(written, tombstoned);
    BOOST_TEST(written.size() == 1u);
    BOOST_TEST(tombstoned.empty());
    // b changes too: nothing in the first segment is current any more.
    b.id = "b2";
    h.send(b);
    flush_keys(written, tombstoned);
    BOOST_TEST(written.size() == 1u);
    BOOST_TEST(tombstoned == std::set<std::string>{first});
    // The window closes: the two later segments go, and nothing is written.
    Shop later{"c", kT0 + 5000};
    later.user = "c";
    h.send(later);
    flush_keys(written, tombstoned);
    BOOST_TEST(written.size() == 1u);  // c's window
    BOOST_TEST(tombstoned.size() == 2u);
}

BOOST_AUTO_TEST_CASE(the_compacted_changelog_stays_near_the_live_state_and_restores_exactly) {
    // One long window, many keys, each flush rewriting a random few: most
    // written entries soon are dead, and old segments must be rewritten and
    // tombstoned or the log grows without bound.
    PipelineSpec t = tumbling_pipeline("t", 3600000);
    t.group_by = {"user_id"};
    t.aggregates.push_back(sum_agg("revenue", "price * quantity"));
    PipelineSpec s = session_pipeline("s", 3600000);
    s.group_by = {"user_id"};
    const EngineSpec spec = engine_with({t, s});
    Harness h(spec);
    std::mt19937_64 rng(77);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    Log log;  // the compacted topic: the latest value per key
    std::vector<std::string> events;
    std::set<std::string> all_users;
    std::size_t max_segments = 0;
    for (int flush_no = 0; flush_no < 300; ++flush_no) {
        std::set<std::string> users;
        for (int i = 0; i < 200; ++i) {
            Shop e{"e" + std::to_string(events.size()), kT0 + flush_no * 10 + i % 10};
            e.user = "user-" + std::to_string(uniform(0, 1999));
            e.price = static_cast<double>(uniform(1, 1000)) / 7;
            users.insert(e.user);
            all_users.insert(e.user);
            events.push_back(e.json());
            h.send(events.back());
        }
        std::vector<StateDelta> deltas;
        h.task.take_changelog(deltas);
        for (auto& d : deltas) {
            if (d.value) {
                log[d.key] = d.value;
            } else {
                log.erase(d.key);
            }
        }
        // Entries kept: at most twice the live ones, plus the slack of 1024
        // per pipeline, plus what this flush wrote (each may have made one
        // older entry dead).
        std::size_t kept = 0;
        std::size_t segments = 0;
        for (const auto& [k, v] : log) {
            if (k[0] == 'g') {
                kept += entries_of(*v).size();
                ++segments;
            }
        }
        const auto c = h.task.counters();
        const std::size_t live = c.open_windows + c.open_sessions;
        BOOST_REQUIRE_MESSAGE(
            kept <= 2 * live + 2 * 1024 + 2 * users.size(),
            "flush " << flush_no << ": " << kept << " entries kept for " << live << " live");
        max_segments = std::max(max_segments, segments);
    }
    // Without rewriting old segments, all 600 would still be kept.
    BOOST_TEST(max_segments < 200u);
    BOOST_TEST_MESSAGE("at most " << max_segments << " segments kept");

    // Restoring the compacted log (key order is segment order within a
    // pipeline) gives the same task: the same results once everything closes.
    auto restored = restore(h.engine, log);
    BOOST_TEST(restored->counters().open_windows == h.task.counters().open_windows);
    BOOST_TEST(restored->counters().open_sessions == h.task.counters().open_sessions);
    const std::string closer = Shop{"closer", kT0 + 100000000}.json();
    Event ev;
    BOOST_REQUIRE(!h.decoder.decode(closer, ev));
    Output a;
    Output b;
    h.task.process(ev, closer, a);
    restored->process(ev, closer, b);
    BOOST_TEST(a.results.size() == 2 * all_users.size());  // a window and a session each
    BOOST_TEST(a.results == b.results);
}

BOOST_AUTO_TEST_CASE(records_of_the_keyed_format_are_restored_rewritten_and_tombstoned) {
    // The format before segments: one record per window (or pane, or
    // session key), keyed kind + bytes(pipeline) + the entry's key, valued
    // u8 version 1 + u64 fingerprint + the entry's value. Built here from
    // the entries of a segment, which carry exactly those parts.
    const auto engine = must_compile(mixed());
    const auto events = script();
    Task original(engine);
    Decoder d(engine->spec().schema);
    Event ev;
    Output out;
    const std::size_t cut = events.size() / 2;
    for (std::size_t i = 0; i < cut; ++i) {
        const std::string json = events[i].json();
        BOOST_REQUIRE(!d.decode(json, ev));
        original.process(ev, json, out);
    }
    std::vector<StateDelta> deltas;
    original.take_changelog(deltas);
    std::vector<std::pair<std::string, std::string>> legacy;
    std::set<std::string> legacy_keys;
    for (const auto& delta : deltas) {
        BOOST_REQUIRE(delta.value);
        if (delta.key[0] != 'g') {
            legacy.emplace_back(delta.key, *delta.value);
            continue;
        }
        const std::string pipeline_bytes = delta.key.substr(1, delta.key.size() - 1 - 8);
        const std::string fingerprint = delta.value->substr(1, 8);
        for (const auto& e : entries_of(*delta.value)) {
            std::string key = std::string(1, e.kind) + pipeline_bytes + e.rest;
            legacy.emplace_back(key, std::string(1, '\x01') + fingerprint + e.value);
            legacy_keys.insert(key);
        }
    }
    BOOST_REQUIRE(legacy_keys.size() > 3u);
    Task upgraded(engine);
    for (const auto& [k, v] : legacy) {
        auto err = upgraded.apply_changelog(k, std::string_view(v));
        BOOST_REQUIRE_MESSAGE(!err, *err);
    }
    // The first flush rewrites the state as segments and tombstones every
    // keyed record.
    std::vector<StateDelta> first;
    upgraded.take_changelog(first);
    std::set<std::string> tombstoned;
    int segments = 0;
    Log upgraded_log;
    for (const auto& delta : first) {
        if (!delta.value) {
            tombstoned.insert(delta.key);
        } else {
            segments += delta.key[0] == 'g' ? 1 : 0;
            upgraded_log[delta.key] = delta.value;
        }
    }
    BOOST_TEST(tombstoned == legacy_keys);
    BOOST_TEST(segments == 2);  // one per pipeline
    // Both the upgraded task and one restored from its new records go on
    // exactly like the original.
    for (const auto& delta : deltas) {
        if (delta.key[0] != 'g') {
            upgraded_log[delta.key] = delta.value;  // dedup segments and meta, as they were
        }
    }
    auto again = restore(engine, upgraded_log);
    for (std::size_t i = cut; i < events.size(); ++i) {
        const std::string json = events[i].json();
        BOOST_REQUIRE(!d.decode(json, ev));
        Output a;
        Output b;
        Output c;
        original.process(ev, json, a);
        upgraded.process(ev, json, b);
        again->process(ev, json, c);
        BOOST_REQUIRE_MESSAGE(a.results == b.results, "event " << i);
        BOOST_REQUIRE_MESSAGE(a.results == c.results, "event " << i);
        BOOST_REQUIRE_EQUAL(a.late.size(), b.late.size());
    }
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
