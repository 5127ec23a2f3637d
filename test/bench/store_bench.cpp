// The materializer's share alone: results of the Kafka benchmark's three
// pipelines (tumbling 1m, sliding 4m/1m, sessions, each by user_id, with a
// count and a sum) applied to a real SQLite file through ResultStore, in the
// order and batch size the daemon applies them. Build in Release and run:
//   etld_store_bench [results=1000000] [keys=1000000] [runs=3] [dir=/tmp]
// Prints results/s of wall time and of this thread's CPU (median of the
// runs, each into a fresh file) and the file's size.

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "bench_pipelines.h"
#include "etld/pipeline/compile.h"
#include "etld/pipeline/result.h"
#include "storage/result_store.h"

using namespace etld;
using namespace etld::pipeline;

namespace {

constexpr std::int64_t kT0 = 1705312800000;  // 2024-01-15T10:00:00Z
constexpr std::int64_t kMinute = 60000;
constexpr std::size_t kBatch = 50000;  // the materializer's max_batch

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Final results as the engine emits them when the watermark passes a minute
// boundary: for each pipeline, the windows ending there, in (end, start,
// key) order, about 45% of the keys per window (600,000 events a minute over
// 1e6 keys), interleaved minute by minute across the pipelines.
std::vector<std::string> make_results(const CompiledEngine& engine, std::size_t n,
                                      std::size_t keys) {
    std::mt19937_64 rng(7);
    std::vector<std::string> out;
    out.reserve(n);
    std::vector<std::string> users;
    for (std::int64_t minute = 1; out.size() < n; ++minute) {
        const std::int64_t end = kT0 + minute * kMinute;
        users.clear();
        for (std::size_t k = 0; k < keys; ++k) {
            if (rng() % 100 < 45) {
                users.push_back("user_" + std::to_string(k));
            }
        }
        std::sort(users.begin(), users.end());
        for (std::uint32_t p = 0; p < 3 && out.size() < n; ++p) {
            Result r;
            r.pipeline = p;
            r.pipeline_name = engine.spec().pipelines[p].name;
            r.kind = ResultKind::final;
            r.window_end = EventTimeMs{end};
            for (const std::string& u : users) {
                if (out.size() == n) {
                    break;
                }
                const std::int64_t span = p == 1 ? 4 * kMinute : kMinute;
                // A session ends a gap after its last event: anywhere in the
                // minute before the boundary.
                const std::int64_t jitter =
                    p == 2 ? static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(kMinute))
                           : 0;
                r.window_end = EventTimeMs{end - jitter};
                r.window_start = EventTimeMs{end - jitter - span};
                r.group = {FieldValue{u}};
                const auto count = static_cast<std::int64_t>(1 + rng() % 3);
                r.values = {AggregateValue{count},
                            rng() % 4 == 0
                                ? AggregateValue{static_cast<double>(rng() % 200000) / 100.0}
                                : AggregateValue{std::monostate{}}};
                out.push_back(result_json(engine, r));
            }
        }
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
    const std::size_t keys = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1000000;
    const int runs = argc > 3 ? std::atoi(argv[3]) : 3;
    const std::filesystem::path dir = argc > 4 ? argv[4] : std::filesystem::temp_directory_path();
    const EngineSpec spec = etld::bench::three_by_user_pipelines();
    auto compiled = compile(spec);
    if (!compiled.errors.empty()) {
        std::fprintf(stderr, "spec error: %s\n", compiled.errors[0].message.c_str());
        return 1;
    }
    const auto values = make_results(*compiled.engine, n, keys);
    std::size_t bytes = 0;
    for (const auto& v : values) {
        bytes += v.size();
    }
    std::vector<double> rates;
    std::vector<double> cpu_rates;
    std::uintmax_t file_bytes = 0;
    for (int r = 0; r < runs; ++r) {
        const auto path = dir / ("etld_store_bench_" + std::to_string(::getpid()) + ".db");
        std::filesystem::remove(path);
        std::filesystem::remove(path.string() + "-wal");
        std::filesystem::remove(path.string() + "-shm");
        double cpu = 0;
        double wall = 0;
        {
            storage::ResultStore store(path.string(), std::chrono::milliseconds(1000), spec);
            std::vector<storage::OutputRecord> batch;
            std::int64_t offset = 0;
            for (std::size_t i = 0; i < values.size();) {
                batch.clear();
                for (; i < values.size() && batch.size() < kBatch; ++i) {
                    storage::OutputRecord rec{
                        "out", static_cast<std::int32_t>(i % 6), offset++, {}};
                    // Padded as the materializer's are, so parsed in place.
                    rec.value.reserve(values[i].size() + storage::kValuePadding);
                    rec.value.assign(values[i]);
                    batch.push_back(std::move(rec));
                }
                // Timed: apply() alone (building the batch is not the
                // store's work).
                const auto start = std::chrono::steady_clock::now();
                const double cpu_start = thread_cpu_seconds();
                storage::ApplyCounts counts;
                if (auto error = store.apply(batch, counts)) {
                    std::fprintf(stderr, "apply failed: %s\n", error->describe().c_str());
                    return 1;
                }
                cpu += thread_cpu_seconds() - cpu_start;
                wall +=
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                if (counts.upserted != batch.size()) {
                    std::fprintf(stderr, "applied %llu of %zu records\n",
                                 static_cast<unsigned long long>(counts.upserted), batch.size());
                    return 1;
                }
            }
        }
        file_bytes = std::filesystem::file_size(path);
        std::filesystem::remove(path);
        std::filesystem::remove(path.string() + "-wal");
        std::filesystem::remove(path.string() + "-shm");
        rates.push_back(static_cast<double>(n) / wall);
        cpu_rates.push_back(static_cast<double>(n) / cpu);
    }
    std::sort(rates.begin(), rates.end());
    std::sort(cpu_rates.begin(), cpu_rates.end());
    std::printf(
        "store: %zu results (%.0f bytes of JSON avg) over %zu keys, 3 pipelines, batches of "
        "%zu, %d runs\n",
        n, static_cast<double>(bytes) / static_cast<double>(n), keys, kBatch, runs);
    std::printf("  median %.0f results/s wall (min %.0f, max %.0f), %.0f per CPU second\n",
                rates[rates.size() / 2], rates.front(), rates.back(),
                cpu_rates[cpu_rates.size() / 2]);
    std::printf("  database file %.1f MB, %.1f bytes per result\n",
                static_cast<double>(file_bytes) / 1e6,
                static_cast<double>(file_bytes) / static_cast<double>(n));
    return 0;
}
