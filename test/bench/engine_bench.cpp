// Engine throughput and memory figures. Build in Release and run:
//   etld_engine_bench [events=1000000] [runs=5] [only=all] [keys]
// Prints events/s on one core (median of the runs) for decode + dedup + one
// tumbling, one sliding (size = 4 x slide) and one session pipeline with the
// seed's aggregates, then the heap bytes per remembered id, per open window
// and per open session (mallinfo2 deltas). Events come from 1000 users, 2000
// per second of event time. With `keys`, the pipelines are the Kafka
// benchmark's three (tumbling 1m, sliding 4m/1m, sessions with a 1m gap, each
// by user_id, a count and a sum) over that many users at 10,000 events per
// second of event time: at 1e6 keys nearly every event opens windows of its
// own, the shape of the benchmark's slowest rows without Kafka.

#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench_pipelines.h"
#include "etld/pipeline/compile.h"
#include "etld/pipeline/event.h"
#include "etld/pipeline/task.h"

using namespace etld::pipeline;

namespace {

constexpr std::int64_t kT0 = 1705312800000;  // 2024-01-15T10:00:00Z

std::string naive_iso(std::int64_t ms) {
    // The seed's datetime.now().isoformat(): no offset, microseconds.
    const std::int64_t day_ms = ms % 86400000;
    const std::int64_t h = day_ms / 3600000;
    const std::int64_t m = day_ms / 60000 % 60;
    const std::int64_t s = day_ms / 1000 % 60;
    char buf[64];
    std::snprintf(buf, sizeof buf, "2024-01-15T%02lld:%02lld:%02lld.%03lld123",
                  static_cast<long long>(h), static_cast<long long>(m), static_cast<long long>(s),
                  static_cast<long long>(ms % 1000));
    return buf;
}

std::vector<std::string> make_events(std::size_t n, std::uint64_t users, std::int64_t per_second) {
    static constexpr const char* kTypes[] = {"view",        "view",     "view",
                                             "add_to_cart", "purchase", "remove_from_cart"};
    static constexpr const char* kProducts[] = {"laptop", "mouse", "keyboard", "monitor",
                                                "headphones"};
    std::mt19937_64 rng(42);
    std::vector<std::string> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        // 2000 events per second of event time, up to 2 s out of order,
        // 1% exact duplicates of a recent event.
        if (i > 100 && rng() % 100 == 0) {
            out.push_back(out[i - 1 - rng() % 100]);
            continue;
        }
        const std::int64_t t = kT0 + static_cast<std::int64_t>(i) * 1000 / per_second -
                               static_cast<std::int64_t>(rng() % 2000);
        char buf[320];
        std::snprintf(buf, sizeof buf,
                      "{\"event_id\": %llu, \"timestamp\": \"%s\", \"user_id\": \"user_%llu\", "
                      "\"event_type\": \"%s\", \"product\": \"%s\", \"price\": %.2f, "
                      "\"quantity\": %llu}",
                      static_cast<unsigned long long>(i) + 1000000ULL, naive_iso(t).c_str(),
                      static_cast<unsigned long long>(rng() % users), kTypes[rng() % 6],
                      kProducts[rng() % 5], 10 + static_cast<double>(rng() % 199000) / 100.0,
                      static_cast<unsigned long long>(1 + rng() % 4));
        out.emplace_back(buf);
    }
    return out;
}

std::vector<AggregateSpec> seed_aggregates() {
    std::vector<AggregateSpec> a;
    for (const auto& p : default_seed_pipelines()) {
        if (p.name == "shop_metrics") {
            a = p.aggregates;
        }
    }
    AggregateSpec events;
    events.name = "events";
    events.fn = AggregateFn::count;
    a.insert(a.begin(), events);
    return a;
}

std::shared_ptr<const CompiledEngine> must(const EngineSpec& spec) {
    auto r = compile(spec);
    if (!r.errors.empty()) {
        std::fprintf(stderr, "spec error: %s\n", r.errors[0].message.c_str());
        std::exit(1);
    }
    return r.engine;
}

EngineSpec throughput_spec() {
    EngineSpec s;
    s.dedup_horizon = DurationMs{3600000};
    s.max_out_of_orderness = DurationMs{5000};
    PipelineSpec t;
    t.name = "tumbling";
    t.window = WindowSpec{WindowType::tumbling, DurationMs{60000}, DurationMs{0}, DurationMs{0}};
    t.group_by = {"event_type"};
    t.allowed_lateness = DurationMs{30000};
    t.aggregates = seed_aggregates();
    PipelineSpec sl = t;
    sl.name = "sliding";
    sl.group_by = {};
    sl.window =
        WindowSpec{WindowType::sliding, DurationMs{240000}, DurationMs{60000}, DurationMs{0}};
    PipelineSpec se = t;
    se.name = "sessions";
    se.group_by = {"user_id"};
    se.window = WindowSpec{WindowType::session, DurationMs{0}, DurationMs{0}, DurationMs{30000}};
    s.pipelines = {t, sl, se};
    return s;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// CPU time of this thread: on a shared machine the wall clock also counts
// the time other processes held the core.
double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::size_t heap_in_use() {
    // Blocks in the heap plus blocks malloc placed in their own mappings
    // (large tables, depending on glibc's adaptive mmap threshold).
    const struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

void throughput(std::size_t n, int runs, const std::string& only, std::uint64_t keys) {
    const auto events = keys > 0 ? make_events(n, keys, 10000) : make_events(n, 1000, 2000);
    std::size_t bytes = 0;
    for (const auto& e : events) {
        bytes += e.size();
    }
    EngineSpec spec = keys > 0 ? etld::bench::three_by_user_pipelines() : throughput_spec();
    if (!only.empty() && only != "all") {
        // Profiling aid: one pipeline by name, or "none" for decode + dedup.
        // "decode" measures the decoder alone.
        std::erase_if(spec.pipelines, [&](const PipelineSpec& p) { return p.name != only; });
    }
    const auto engine = must(spec);
    std::vector<double> rates;
    std::vector<double> cpu_rates;
    std::size_t results = 0;
    TaskCounters last;
    for (int r = 0; r < runs; ++r) {
        Decoder decoder(engine->spec().schema);
        Task task(engine);
        // Two events in flight: decode (and prefetch for) the next one
        // before processing the current one, as a runner would over a batch.
        Event evs[2];
        bool ok[2] = {false, false};
        Output out;
        std::vector<StateDelta> deltas;
        results = 0;
        const auto start = std::chrono::steady_clock::now();
        const double cpu_start = thread_cpu_seconds();
        for (std::size_t i = 0; i <= events.size(); ++i) {
            Event& next = evs[i % 2];
            ok[i % 2] = i < events.size() && !decoder.decode(events[i], next);
            if (ok[i % 2] && only != "decode") {
                task.prefetch(next);
            }
            if (i > 0 && ok[(i - 1) % 2] && only != "decode") {
                task.process(evs[(i - 1) % 2], events[i - 1], out);
            }
            if (out.results.size() > 1024) {
                results += out.results.size();
                out.clear();
            }
            if (i % 20000 == 0) {
                // The runner flushes the changelog every commit (100 ms).
                task.take_changelog(deltas);
                deltas.clear();
            }
        }
        const double secs = seconds_since(start);
        cpu_rates.push_back(static_cast<double>(n) / (thread_cpu_seconds() - cpu_start));
        results += out.results.size();
        rates.push_back(static_cast<double>(n) / secs);
        last = task.counters();
    }
    std::sort(rates.begin(), rates.end());
    std::sort(cpu_rates.begin(), cpu_rates.end());
    std::printf(
        "throughput: %zu events (%.0f bytes avg), %d runs: median %.0f events/s "
        "(min %.0f, max %.0f)\n",
        n, static_cast<double>(bytes) / static_cast<double>(n), runs, rates[rates.size() / 2],
        rates.front(), rates.back());
    std::printf("  per CPU second of this thread: median %.0f events/s (min %.0f, max %.0f)\n",
                cpu_rates[cpu_rates.size() / 2], cpu_rates.front(), cpu_rates.back());
    std::printf(
        "  per run: %zu results, %llu duplicates, %llu too late, %llu open windows, "
        "%llu open sessions, %llu remembered ids\n",
        results, static_cast<unsigned long long>(last.duplicates),
        static_cast<unsigned long long>(last.too_late),
        static_cast<unsigned long long>(last.open_windows),
        static_cast<unsigned long long>(last.open_sessions),
        static_cast<unsigned long long>(last.remembered_ids));
}

// Heap bytes per item when `n` events each create one new item in `task`.
template <typename Make>
double bytes_per_item(const std::shared_ptr<const CompiledEngine>& engine, std::size_t n,
                      Make make) {
    Decoder decoder(engine->spec().schema);
    Event ev;
    Output out;
    std::vector<std::string> raw(n);
    for (std::size_t i = 0; i < n; ++i) {
        raw[i] = make(i);
    }
    const std::size_t before = heap_in_use();
    Task task(engine);
    for (std::size_t i = 0; i < n; ++i) {
        if (decoder.decode(raw[i], ev)) {
            std::fprintf(stderr, "bench event rejected\n");
            std::exit(1);
        }
        task.process(ev, raw[i], out);
        if (i % 20000 == 0) {
            std::vector<StateDelta> deltas;
            task.take_changelog(deltas);
        }
    }
    {
        // What stays after a commit: pending changelog bookkeeping is gone.
        std::vector<StateDelta> deltas;
        task.take_changelog(deltas);
    }
    return static_cast<double>(heap_in_use() - before) / static_cast<double>(n);
}

std::string keyed_event(std::size_t i, std::int64_t t) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "{\"event_id\":\"id-%zu\",\"timestamp\":\"%s\",\"user_id\":\"user_%zu\","
                  "\"event_type\":\"view\",\"product\":\"mouse\",\"price\":12.5,\"quantity\":1}",
                  i, naive_iso(t).c_str(), i);
    return buf;
}

void memory(std::size_t n) {
    EngineSpec dedup_only;
    dedup_only.dedup_horizon = DurationMs{1LL << 40};
    const auto e1 = must(dedup_only);
    for (std::size_t k : {n / 3, n / 2, n}) {
        const double b = bytes_per_item(e1, k, [](std::size_t i) { return keyed_event(i, kT0); });
        std::printf("dedup: %.1f bytes per remembered id (%zu ids)\n", b, k);
    }

    // One open tumbling window per key: count + sum, group_by user_id, every
    // event a new user in the same minute.
    EngineSpec win;
    win.dedup_horizon = DurationMs{0};
    PipelineSpec t;
    t.name = "t";
    t.window = WindowSpec{WindowType::tumbling, DurationMs{60000}, DurationMs{0}, DurationMs{0}};
    t.group_by = {"user_id"};
    AggregateSpec count;
    count.name = "events";
    AggregateSpec sum;
    sum.name = "revenue";
    sum.fn = AggregateFn::sum;
    sum.expr = "price * quantity";
    t.aggregates = {count, sum};
    win.pipelines = {t};
    // The dedup set is measured above; here ids expire at once (horizon 0)
    // but are still held until the table is rebuilt, so subtract them.
    const auto e2 = must(win);
    const double ids = bytes_per_item(e1, n, [](std::size_t i) { return keyed_event(i, kT0); });
    const double w = bytes_per_item(e2, n, [](std::size_t i) { return keyed_event(i, kT0); });
    std::printf(
        "tumbling (count + sum, group_by user_id): %.1f bytes per open window "
        "(%.1f including its dedup id)\n",
        w - ids, w);

    PipelineSpec s = t;
    s.name = "s";
    s.window = WindowSpec{WindowType::session, DurationMs{0}, DurationMs{0}, DurationMs{30000}};
    win.pipelines = {s};
    const auto e3 = must(win);
    const double sess = bytes_per_item(e3, n, [](std::size_t i) { return keyed_event(i, kT0); });
    std::printf(
        "session (count + sum, group_by user_id): %.1f bytes per open session "
        "(%.1f including its dedup id)\n",
        sess - ids, sess);
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
    const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
    const std::string only = argc > 3 ? argv[3] : "";
    const std::uint64_t keys = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 0;
    throughput(n, runs, only, keys);
    if (only.empty()) {
        memory(std::min<std::size_t>(n, 300000));
    }
    return 0;
}
