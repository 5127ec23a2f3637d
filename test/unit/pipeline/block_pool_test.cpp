#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "block_pool.h"
#include "hash.h"
#include "key_table.h"

namespace etld::pipeline::detail {
namespace {

bool aligned(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % BlockPool::kGrain == 0;
}

BOOST_AUTO_TEST_SUITE(block_pool)

BOOST_AUTO_TEST_CASE(blocks_are_aligned_distinct_and_reused_per_size) {
    BlockPool pool;
    std::set<void*> seen;
    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i) {
        void* p = pool.allocate(40);
        BOOST_TEST(aligned(p));
        BOOST_TEST(seen.insert(p).second);
        std::memset(p, 0xab, 40);  // writable over its whole size
        blocks.push_back(p);
    }
    // 40 bytes round up to 48: consecutive blocks of one chunk are 48 apart.
    BOOST_TEST(static_cast<char*>(blocks[1]) - static_cast<char*>(blocks[0]) == 48);
    // A freed block is handed out again for a request of its size class,
    // and never for another class.
    pool.deallocate(blocks[10], 40);
    void* other = pool.allocate(64);
    BOOST_TEST(other != blocks[10]);
    BOOST_TEST(pool.allocate(33) == blocks[10]);  // 33..48 share the class
    pool.deallocate(other, 64);
}

BOOST_AUTO_TEST_CASE(memory_stays_bounded_when_blocks_come_and_go) {
    BlockPool pool;
    std::vector<void*> blocks;
    // Two chunks' worth of 64-byte blocks, freed and taken again ten times:
    // the pool takes no further chunk.
    const std::size_t n = 2 * BlockPool::kChunkBytes / 64;
    for (std::size_t i = 0; i < n; ++i) {
        blocks.push_back(pool.allocate(64));
    }
    const std::size_t after_first = pool.chunk_bytes();
    BOOST_TEST(after_first == 2 * BlockPool::kChunkBytes);
    for (int round = 0; round < 10; ++round) {
        for (void* p : blocks) {
            pool.deallocate(p, 64);
        }
        for (void*& p : blocks) {
            p = pool.allocate(64);
        }
    }
    BOOST_TEST(pool.chunk_bytes() == after_first);
    for (void* p : blocks) {
        pool.deallocate(p, 64);
    }
}

BOOST_AUTO_TEST_CASE(large_blocks_bypass_the_chunks) {
    BlockPool pool;
    void* big = pool.allocate(BlockPool::kLargest + 1);
    BOOST_TEST(aligned(big));
    std::memset(big, 1, BlockPool::kLargest + 1);
    BOOST_TEST(pool.chunk_bytes() == 0u);
    pool.deallocate(big, BlockPool::kLargest + 1);
    void* largest = pool.allocate(BlockPool::kLargest);
    BOOST_TEST(pool.chunk_bytes() == BlockPool::kChunkBytes);
    pool.deallocate(largest, BlockPool::kLargest);
}

// The table of pooled nodes against std::map under random inserts, erases
// and detaches, with keys from empty to longer than any block class.
BOOST_AUTO_TEST_CASE(key_table_matches_a_map_under_random_operations) {
    BlockPool pool;
    std::map<std::string, int> model;
    std::mt19937_64 rng(11);
    auto random_key = [&] {
        const std::size_t len = rng() % 8 == 0 ? 600 : rng() % 24;
        std::string k(len, '\0');
        for (char& c : k) {
            c = static_cast<char>('a' + rng() % 3);  // few letters: repeats
        }
        return k;
    };
    std::vector<KeyTable<int>::NodePtr> detached;
    {
        KeyTable<int> table(pool);
        for (int step = 0; step < 20000; ++step) {
            const std::string k = random_key();
            auto* node = table.find(std::string_view(k));
            const auto it = model.find(k);
            BOOST_REQUIRE((node != nullptr) == (it != model.end()));
            if (node != nullptr) {
                BOOST_REQUIRE(node->key() == k);
                BOOST_REQUIRE(node->second == it->second);
                if (step % 3 == 0) {
                    table.erase(node);
                    model.erase(it);
                } else if (step % 3 == 1) {
                    // A detached node stays valid until its owner drops it.
                    detached.push_back(table.detach(node));
                    model.erase(it);
                    BOOST_REQUIRE(detached.back()->key() == k);
                } else {
                    node->second = step;
                    it->second = step;
                }
            } else {
                auto* added = table.insert(k, group_hash(k));
                BOOST_REQUIRE(added->key() == k);
                added->second = step;
                model[k] = step;
            }
            if (detached.size() > 50) {
                detached.clear();
            }
            BOOST_REQUIRE(table.size() == model.size());
        }
        std::map<std::string, int> listed;
        table.for_each(
            [&](const KeyTable<int>::Node& n) { listed[std::string(n.key())] = n.second; });
        BOOST_TEST((listed == model));
    }
    // The table is gone; its detached nodes still free into the pool.
    detached.clear();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace etld::pipeline::detail
