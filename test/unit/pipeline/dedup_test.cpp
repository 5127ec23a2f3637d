#include "dedup.h"
#include "event_features.h"

#include <algorithm>
#include <limits>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

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

BOOST_AUTO_TEST_CASE(check_and_insert_agrees_with_a_map_while_ids_expire_and_the_table_compacts) {
    // Reference: each id's latest accepted time; a copy is a duplicate iff
    // that time is >= the cutoff. Times arrive out of order, ids repeat
    // (some within the horizon, some after expiring), the cutoff rises.
    detail::DedupSet set;
    std::unordered_map<std::string, std::int64_t> latest;
    std::mt19937_64 rng(20261202);
    std::int64_t frontier = 0;
    std::int64_t cutoff = kNoCutoff;
    std::size_t duplicates = 0;
    std::size_t max_capacity = 0;
    for (int i = 0; i < 300000; ++i) {
        frontier += static_cast<std::int64_t>(rng() % 3);
        const std::int64_t t = frontier - static_cast<std::int64_t>(rng() % 500);
        const int n = rng() % 4 == 0 ? i - static_cast<int>(rng() % 12000) : i;
        const std::string id = "id-" + std::to_string(n);
        if (i >= 1000) {
            cutoff = frontier - 5000;
        }
        const auto it = latest.find(id);
        const bool expected = it != latest.end() && it->second >= cutoff;
        BOOST_REQUIRE_EQUAL(set.check_and_insert(hash_id(id), t, cutoff), expected);
        if (expected) {
            ++duplicates;
        } else if (it == latest.end()) {
            latest.emplace(id, t);
        } else {
            it->second = std::max(it->second, t);
        }
        max_capacity = std::max(max_capacity, set.capacity());
    }
    // Both kinds of copies occurred, and expiry kept the table near the
    // live ids (about 7,500 within the horizon) instead of all 300,000.
    BOOST_TEST(duplicates > 10000u);
    BOOST_TEST(duplicates < 60000u);
    BOOST_TEST(max_capacity < 40000u);
    for (const auto& [id, time] : latest) {
        BOOST_REQUIRE_EQUAL(set.contains(hash_id(id), cutoff), time >= cutoff);
    }
}

BOOST_AUTO_TEST_CASE(a_large_table_grows_into_a_prepared_table_and_keeps_every_id) {
    // From about 27,000 ids the next table is large enough (1 MiB) to be
    // prepared on another thread; 800,000 ids take the table through many
    // growths.
    detail::DedupSet set;
    constexpr int kIds = 800000;
    std::vector<IdHash> ids;
    ids.reserve(kIds);
    for (int i = 0; i < kIds; ++i) {
        ids.push_back(hash_id("id-" + std::to_string(i)));
    }
    for (int i = 0; i < kIds; ++i) {
        BOOST_REQUIRE(!set.check_and_insert(ids[i], i, kNoCutoff));
    }
    BOOST_TEST(set.size() == static_cast<std::size_t>(kIds));
    BOOST_TEST(set.prepared_growths() >= 10u);
    for (int i = 0; i < kIds; ++i) {
        BOOST_REQUIRE(set.check_and_insert(ids[i], i, kNoCutoff));
    }
    for (int i = 0; i < kIds; i += 7) {
        BOOST_REQUIRE(!set.contains(hash_id("other-" + std::to_string(i)), kNoCutoff));
    }
}

BOOST_AUTO_TEST_CASE(ids_expiring_after_the_next_table_was_prepared_make_room_instead) {
    detail::DedupSet set;
    int n = 0;
    auto id = [](int i) { return hash_id("id-" + std::to_string(i)); };
    // Fill a large table to 75%: its successor is being prepared.
    while (set.size() < 400000 || set.size() * 4 < set.capacity() * 3) {
        set.check_and_insert(id(n), n, kNoCutoff);
        ++n;
    }
    const std::size_t capacity = set.capacity();
    const std::size_t growths = set.prepared_growths();
    // Then the older half expires, and inserts pass 80%: compaction.
    const std::int64_t cutoff = n / 2;
    const int first_new = n;
    while (n < first_new + static_cast<int>(capacity / 10)) {
        BOOST_REQUIRE(!set.check_and_insert(id(n), n, cutoff));
        ++n;
    }
    BOOST_TEST(set.capacity() == capacity);
    BOOST_TEST(set.prepared_growths() == growths);
    for (int i = 0; i < n; ++i) {
        BOOST_REQUIRE_EQUAL(set.contains(id(i), cutoff), i >= cutoff);
    }
    // Past the room compaction made, it grows again, into a prepared table.
    while (set.capacity() == capacity) {
        set.check_and_insert(id(n), n, cutoff);
        ++n;
    }
    BOOST_TEST(set.prepared_growths() == growths + 1);
    for (int i = 0; i < n; ++i) {
        BOOST_REQUIRE_EQUAL(set.contains(id(i), cutoff), i >= cutoff);
    }
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

// Id hashes (and count_distinct value hashes) are kept in changelog records,
// so a restored task only recognises its ids if the hash never changes. These
// values were written down when the hash was first shipped.
BOOST_AUTO_TEST_CASE(id_and_value_hashes_never_change_since_changelogs_keep_them) {
    // text, id hash (lo, hi), count_distinct value hash (lo, hi)
    struct Known {
        const char* text;
        IdHash id;
        IdHash value;
    };
    const Known known[] = {
        {"",
         {0x1502193ca9b8d910ULL, 0x104e2d421594b28fULL},
         {0x5bf3656c8456c99bULL, 0x96ce44337e52ecf6ULL}},
        {"7",
         {0xbf1e68533e25db58ULL, 0xbe7823857e093932ULL},
         {0x3ea82c4993ebdb28ULL, 0x9baafaab08b72b66ULL}},
        {"e1",
         {0x0a53e2b494581d52ULL, 0xc34fefdbbd02da6aULL},
         {0xf071a568126a5fe4ULL, 0x0416c41ea4791479ULL}},
        {"abc",
         {0x9e57b5ea13aafd0aULL, 0xc9ff8e493de9e9afULL},
         {0x79acb842be02f033ULL, 0xccec92f64307fc37ULL}},
        {"user_42",
         {0xc418873f4ba7050cULL, 0x0ca5c549893fa272ULL},
         {0xc6f15ee1c55ed346ULL, 0xd46aa1ce52925c89ULL}},
        {"12345678",
         {0x6ba4cde45a5d6846ULL, 0xd9ef8402c2afdd3dULL},
         {0x5c72e25b1b0f0752ULL, 0x6d14146bfd3833b0ULL}},
        {"evt-000000012",
         {0x9451f10fe8091f13ULL, 0x184a24580cab0275ULL},
         {0x41fd1a6fa80d918bULL, 0x15f90c371dd8f522ULL}},
        {"0123456789abcdef",
         {0xe2f7f3216b6392f4ULL, 0xd18cedc7b180b00eULL},
         {0x48826795a48c19ebULL, 0xa5e776d1eb53c47aULL}},
        {"order-2024-01-15-000123",
         {0x1abc6fe30f2b7bc5ULL, 0x90b48d153fd19ef9ULL},
         {0x945e9b89bd39a9feULL, 0x8106fb8b126d5ff1ULL}},
    };
    for (const Known& k : known) {
        BOOST_TEST((hash_id(k.text) == k.id), k.text);
        BOOST_TEST((detail::value_hash(k.text) == k.value), k.text);
    }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace etld::pipeline::test
