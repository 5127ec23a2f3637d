// The dedup table's growths, with and without a prepared successor:
//   etld_dedup_bench [ids=3000000] [rate=500000] [runs=3]
// Inserts `ids` distinct ids into one table, paced at `rate` per second in
// steps of 1000 (a task of a busy runner), once with the successor of a
// large table mapped and touched on another thread ahead of its growth
// (what etld does) and once without, alternating which goes first, and
// prints for each growth past 30,000 ids the median time of the insert
// that grew the table. Both tables grow at 80% load, so their growths line
// up. The first touch of fresh memory is most of an unprepared growth; on a
// VM it costs most the first time the guest uses the memory, so run 1 of
// the first variant may stand out.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "dedup.h"

using etld::pipeline::IdHash;
using etld::pipeline::detail::DedupSet;

namespace {

using Clock = std::chrono::steady_clock;

struct Growth {
    std::size_t ids;
    std::size_t slots;
    double ms;
};

std::vector<Growth> grow(bool prepare, std::size_t ids, double rate) {
    DedupSet set(prepare, 80);
    std::vector<Growth> out;
    std::size_t capacity = 0;
    const auto step = std::chrono::duration<double>(1000.0 / rate);
    auto next = Clock::now();
    for (std::uint64_t i = 0; i < ids; ++i) {
        // Distinct, well-mixed 128-bit hashes without hashing strings.
        const IdHash id{(i + 1) * 0x9E3779B97F4A7C15ull, (i + 7) * 0xC2B2AE3D27D4EB4Full};
        const auto t0 = Clock::now();
        set.check_and_insert(id, 1, 0);
        if (set.capacity() != capacity) {
            const auto t1 = Clock::now();
            capacity = set.capacity();
            if (set.size() >= 30000) {
                out.push_back(Growth{set.size(), capacity,
                                     std::chrono::duration<double, std::milli>(t1 - t0).count()});
            }
        }
        if (i % 1000 == 999) {
            next += std::chrono::duration_cast<Clock::duration>(step);
            std::this_thread::sleep_until(next);
        }
    }
    return out;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t ids = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 3000000;
    const double rate = argc > 2 ? std::strtod(argv[2], nullptr) : 500000;
    const int runs = argc > 3 ? std::atoi(argv[3]) : 3;
    std::vector<std::vector<Growth>> prepared;
    std::vector<std::vector<Growth>> unprepared;
    for (int r = 0; r < runs; ++r) {
        const bool prepared_first = r % 2 == 0;
        for (int k = 0; k < 2; ++k) {
            const bool prepare = (k == 0) == prepared_first;
            (prepare ? prepared : unprepared).push_back(grow(prepare, ids, rate));
        }
    }
    std::printf(
        "dedup table growth, %zu ids at %.0f per second, %d runs (median ms of the insert "
        "that grew the table):\n",
        ids, rate, runs);
    std::printf("| ids at growth | slots after | prepared ms | unprepared ms |\n");
    std::printf("|---------------|-------------|-------------|---------------|\n");
    std::vector<double> all_prepared;
    std::vector<double> all_unprepared;
    for (std::size_t g = 0; g < prepared[0].size() && g < unprepared[0].size(); ++g) {
        std::vector<double> p;
        std::vector<double> u;
        for (int r = 0; r < runs; ++r) {
            if (g < prepared[r].size() && g < unprepared[r].size()) {
                p.push_back(prepared[r][g].ms);
                u.push_back(unprepared[r][g].ms);
            }
        }
        all_prepared.insert(all_prepared.end(), p.begin(), p.end());
        all_unprepared.insert(all_unprepared.end(), u.begin(), u.end());
        std::printf("| %13zu | %11zu | %11.1f | %13.1f |\n", prepared[0][g].ids,
                    prepared[0][g].slots, median(p), median(u));
    }
    const double mp = median(all_prepared);
    const double mu = median(all_unprepared);
    std::printf(
        "all growths: prepared median %.1f ms, max %.1f; unprepared median %.1f ms, max "
        "%.1f; ratio %.1fx\n",
        mp, all_prepared.empty() ? 0 : *std::max_element(all_prepared.begin(), all_prepared.end()),
        mu,
        all_unprepared.empty() ? 0
                               : *std::max_element(all_unprepared.begin(), all_unprepared.end()),
        mp > 0 ? mu / mp : 0);
    return 0;
}
