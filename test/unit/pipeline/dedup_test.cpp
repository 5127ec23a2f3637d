#include "dedup.h"

#include <limits>

#include "test_support.h"

namespace etld::pipeline::test {
namespace {

constexpr std::int64_t kNoCutoff = std::numeric_limits<std::int64_t>::min();

EngineSpec with_horizon(std::int64_t horizon) {
    EngineSpec s = engine_with({tumbling_pipeline("t", 1000, 100000)});
    s.dedup_horizon = DurationMs{horizon};
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dedup)

BOOST_AUTO_TEST_CASE(a_copy_within_the_horizon_is_dropped_and_counted) {
    Harness h(with_horizon(60000));
    h.send(Shop{"a", kT0});
    h.send(Shop{"a", kT0});
    h.send(Shop{"a", kT0 + 30000});  // same id, other content: still a duplicate
    BOOST_TEST(h.task.counters().duplicates == 2u);
    BOOST_TEST(h.task.counters().processed == 3u);
}

BOOST_AUTO_TEST_CASE(a_copy_is_new_once_the_original_is_older_than_watermark_minus_horizon) {
    Harness h(with_horizon(1000));
    h.send(Shop{"a", kT0});
    h.send(Shop{"b", kT0 + 1000});  // W - horizon = T0: "a" (at T0) still counts
    h.send(Shop{"a", kT0 + 1000});
    BOOST_TEST(h.task.counters().duplicates == 1u);
    h.send(Shop{"c", kT0 + 1001});  // W - horizon = T0 + 1: "a" at T0 is forgotten
    h.send(Shop{"a", kT0 + 1001});
    BOOST_TEST(h.task.counters().duplicates == 1u);
}

BOOST_AUTO_TEST_CASE(a_reaccepted_id_is_remembered_at_its_latest_time) {
    Harness h(with_horizon(1000));
    h.send(Shop{"a", kT0});
    h.send(Shop{"z", kT0 + 5000});
    h.send(Shop{"a", kT0 + 4500});  // accepted again (old copy expired)
    h.send(Shop{"a", kT0 + 1});     // duplicate of the copy at T0+4500
    BOOST_TEST(h.task.counters().duplicates == 1u);
}

BOOST_AUTO_TEST_CASE(rejected_and_too_late_events_do_not_hide_later_copies_from_dedup) {
    // A too-late event is still accepted by dedup (it was seen), so its copy
    // is a duplicate, not a second late record.
    EngineSpec s = engine_with({tumbling_pipeline("t", 1000)});
    Harness h(s);
    h.send(Shop{"a", kT0 + 5000});
    BOOST_TEST(h.send(Shop{"old", kT0}).late.size() == 1u);
    BOOST_TEST(h.send(Shop{"old", kT0}).late.empty());
    BOOST_TEST(h.task.counters().duplicates == 1u);
}

BOOST_AUTO_TEST_CASE(remembered_ids_cost_at_most_40_bytes_each) {
    detail::DedupSet set;
    for (std::uint64_t n : {1000u, 10000u, 100000u, 300000u}) {
        while (set.size() < n) {
            set.insert(hash_id("id-" + std::to_string(set.size())), kT0, kNoCutoff);
        }
        const double bytes = static_cast<double>(set.capacity() * sizeof(detail::DedupSet::Entry)) /
                             static_cast<double>(set.size());
        BOOST_TEST_INFO("ids " << n);
        BOOST_TEST(bytes <= 40.0);
    }
}

BOOST_AUTO_TEST_CASE(lookups_find_every_inserted_id_and_no_other) {
    detail::DedupSet set;
    for (int i = 0; i < 50000; ++i) {
        set.insert(hash_id("id-" + std::to_string(i)), i, kNoCutoff);
    }
    for (int i = 0; i < 50000; ++i) {
        BOOST_REQUIRE(set.contains(hash_id("id-" + std::to_string(i)), kNoCutoff));
        BOOST_REQUIRE(!set.contains(hash_id("other-" + std::to_string(i)), kNoCutoff));
    }
    BOOST_TEST(set.contains(hash_id("id-100"), 100));
    BOOST_TEST(!set.contains(hash_id("id-100"), 101));
}

BOOST_AUTO_TEST_CASE(expired_ids_are_dropped_instead_of_growing_the_table) {
    detail::DedupSet set;
    // A sliding horizon of 10000 ids: memory stays bounded by it.
    for (std::int64_t i = 0; i < 200000; ++i) {
        set.insert(hash_id("id-" + std::to_string(i)), i, i - 10000);
    }
    BOOST_TEST(set.capacity() < 40000u);
}

BOOST_AUTO_TEST_CASE(ids_are_written_as_one_segment_per_flush_and_tombstoned_when_expired) {
    Harness h(with_horizon(1000));
    h.send(Shop{"a", kT0});
    h.send(Shop{"b", kT0 + 10});
    std::vector<StateDelta> deltas;
    h.task.take_changelog(deltas);
    int segments = 0;
    for (const auto& d : deltas) {
        if (d.key[0] == 'd') {
            ++segments;
            BOOST_REQUIRE(d.value);
            BOOST_TEST(d.value->size() == 1u + 4u + 2u * 24u);
        }
    }
    BOOST_TEST(segments == 1);
    deltas.clear();
    h.send(Shop{"c", kT0 + 5000});  // W - horizon = T0 + 4000: segment 0 expired
    h.task.take_changelog(deltas);
    int tombstones = 0;
    int written = 0;
    for (const auto& d : deltas) {
        if (d.key[0] == 'd') {
            (d.value ? written : tombstones) += 1;
        }
    }
    BOOST_TEST(tombstones == 1);
    BOOST_TEST(written == 1);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace etld::pipeline::test
