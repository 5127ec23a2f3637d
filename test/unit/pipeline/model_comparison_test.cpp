// The engine against the brute-force reference model on seeded random
// streams: out-of-order arrival, duplicates (near and far), late and too-late
// events, idle periods with processing-time ticks, session merges, bad
// records, and restores from the changelog at random points.

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>

#include "reference_model.h"
#include "test_support.h"

namespace etld::pipeline::test {
namespace {

using reference::Input;
using reference::Model;

// Debug builds run under ASan; ETLD_MODEL_STREAMS overrides the count.
#ifdef NDEBUG
constexpr int kDefaultStreams = 3000;
#else
constexpr int kDefaultStreams = 60;
#endif

int stream_count() {
    if (const char* s = std::getenv("ETLD_MODEL_STREAMS")) {
        return std::atoi(s);
    }
    return kDefaultStreams;
}

struct Gen {
    explicit Gen(std::uint64_t seed) : rng(seed) {}
    std::mt19937_64 rng;
    std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
        return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
    }
    bool chance(double p) { return std::bernoulli_distribution(p)(rng); }
    template <typename T>
    const T& pick(const std::vector<T>& v) {
        return v[static_cast<std::size_t>(uniform(0, static_cast<std::int64_t>(v.size()) - 1))];
    }
};

std::vector<AggregateSpec> random_aggregates(Gen& g) {
    static const std::vector<std::string> where_pool = {
        "",
        "event_type == 'purchase'",
        "event_type in ('view', 'add_to_cart')",
        "price > 500 and not (quantity == 1)",
        "user_id != 'u1' or quantity >= 3",
    };
    static const std::vector<std::string> expr_pool = {
        "price * quantity", "price", "quantity", "price - 100", "-price", "(price + 1) * 2",
    };
    std::vector<AggregateSpec> out;
    if (g.chance(0.5)) {
        out.push_back(count_agg("events"));
    }
    out.push_back(count_agg("purchases", "event_type == 'purchase'"));
    out.push_back(count_agg("views", "event_type == 'view'"));
    const AggregateFn numeric[] = {AggregateFn::sum, AggregateFn::avg, AggregateFn::min,
                                   AggregateFn::max};
    for (int i = 0; i < 2; ++i) {
        AggregateSpec a;
        a.name = "n" + std::to_string(i);
        a.fn = numeric[g.uniform(0, 3)];
        a.expr = g.pick(expr_pool);
        a.where = g.pick(where_pool);
        out.push_back(a);
    }
    if (g.chance(0.6)) {
        AggregateSpec a;
        a.name = "users";
        a.fn = AggregateFn::count_distinct;
        a.field = g.chance(0.5) ? "user_id" : "quantity";
        a.where = g.pick(where_pool);
        out.push_back(a);
    }
    if (g.chance(0.6)) {
        AggregateSpec a;
        a.name = "top";
        a.fn = AggregateFn::top_k;
        a.field = g.chance(0.7) ? "product" : "quantity";
        a.k = g.uniform(1, 3);
        out.push_back(a);
    }
    AggregateSpec r;
    r.name = "conversion";
    r.fn = AggregateFn::ratio;
    r.numerator = "purchases";
    r.denominator = "views";
    out.push_back(r);
    return out;
}

EngineSpec random_spec(Gen& g) {
    EngineSpec s;
    s.max_out_of_orderness = DurationMs{g.pick(std::vector<std::int64_t>{0, 300, 1500})};
    s.dedup_horizon = DurationMs{g.pick(std::vector<std::int64_t>{1000, 5000, 1000000})};
    s.idle_timeout = DurationMs{g.pick(std::vector<std::int64_t>{0, 2000, 5000})};
    const std::vector<std::vector<std::string>> groups = {
        {}, {"event_type"}, {"user_id"}, {"user_id", "quantity"}};
    auto common = [&](PipelineSpec& p, const std::string& name) {
        p.name = name;
        p.group_by = g.pick(groups);
        p.emit = g.chance(0.5) ? EmitMode::early : EmitMode::final;
        p.allowed_lateness = DurationMs{g.pick(std::vector<std::int64_t>{0, 700, 2500})};
        p.late_policy = g.chance(0.8) ? LatePolicy::topic : LatePolicy::drop;
        p.aggregates = random_aggregates(g);
    };
    PipelineSpec t;
    common(t, "tumbling");
    t.window.type = WindowType::tumbling;
    t.window.size = DurationMs{g.pick(std::vector<std::int64_t>{1000, 2000, 5000})};
    s.pipelines.push_back(t);
    PipelineSpec sl;
    common(sl, "sliding");
    sl.window.type = WindowType::sliding;
    sl.window.slide = DurationMs{g.pick(std::vector<std::int64_t>{500, 1000})};
    sl.window.size = DurationMs{sl.window.slide.value * g.uniform(1, 4)};
    s.pipelines.push_back(sl);
    PipelineSpec se;
    common(se, "sessions");
    se.window.type = WindowType::session;
    se.window.gap = DurationMs{g.pick(std::vector<std::int64_t>{400, 1200, 3000})};
    s.pipelines.push_back(se);
    return s;
}

std::string time_text(Gen& g, std::int64_t ms) {
    // Same instant, several spellings: Z, an offset, naive (= UTC), epoch-ish
    // precision differences.
    std::string z = iso(ms);  // ...sss'Z'
    switch (g.uniform(0, 4)) {
        case 0:
            return z;
        case 1: {
            // +01:30 local time is 90 minutes ahead of UTC.
            std::string local = iso(ms + std::int64_t{90} * 60000);
            local.pop_back();
            return local + "+01:30";
        }
        case 2: {
            std::string local = iso(ms - std::int64_t{5} * 3600000);
            local.pop_back();
            return local + "-0500";
        }
        case 3: {
            std::string naive = z.substr(0, z.size() - 1);
            return naive + "456";  // microseconds, truncated to ms
        }
        default:
            return z.substr(0, z.size() - 1);
    }
}

std::vector<Input> random_stream(Gen& g, int n) {
    static const std::vector<std::string> types = {"view", "view", "add_to_cart", "purchase",
                                                   "remove_from_cart"};
    // Top-k tables keep values of up to 15 bytes in their slots and longer
    // ones apart: names on both sides of that line.
    static const std::vector<std::string> products = {
        "laptop",     "mouse",           "keyboard",         "monitor",
        "headphones", "mechanical_keyb", "mechanical_keyb2", "noise_cancelling_headphones"};
    std::vector<Input> out;
    std::vector<std::string> sent;  // raw records, for duplicates
    std::vector<std::string> ids;
    std::int64_t clock = kT0;    // event-time frontier
    std::int64_t now = 1000000;  // processing time
    int next_id = 0;
    for (int i = 0; i < n; ++i) {
        const int what = static_cast<int>(g.uniform(0, 99));
        if (what < 12) {
            Input tick;
            tick.is_tick = true;
            now += g.pick(std::vector<std::int64_t>{0, 100, 1000, 2500, 6000});
            tick.now = now;
            tick.caught_up = g.chance(0.85);
            out.push_back(tick);
            continue;
        }
        if (what < 17 && !sent.empty()) {
            // Exact copy of an earlier record, recent or far back.
            Input dup;
            dup.raw = g.chance(0.5)
                          ? sent[sent.size() - 1 -
                                 static_cast<std::size_t>(g.uniform(
                                     0, std::min<std::int64_t>(
                                            5, static_cast<std::int64_t>(sent.size()) - 1)))]
                          : g.pick(sent);
            out.push_back(dup);
            continue;
        }
        if (what < 19) {
            // Long records are split over lines, which the missing-comma check dislikes.
            // NOLINTBEGIN(bugprone-suspicious-missing-comma)
            static const std::vector<std::string> bad_records = {
                "not json",
                "[1,2]",
                "{\"event_id\":\"x\"}",
                "{\"event_id\":\"\",\"timestamp\":\"2024-01-15T10:00:00Z\",\"user_id\":\"u\","
                "\"event_type\":\"view\",\"product\":\"p\",\"price\":1,\"quantity\":1}",
                "{\"event_id\":\"b\",\"timestamp\":\"2024-13-15T10:00:00Z\",\"user_id\":\"u\","
                "\"event_type\":\"view\",\"product\":\"p\",\"price\":1,\"quantity\":1}",
                "{\"event_id\":\"b\",\"timestamp\":\"1969-12-31T23:59:59Z\",\"user_id\":\"u\","
                "\"event_type\":\"view\",\"product\":\"p\",\"price\":1,\"quantity\":1}",
                "{\"event_id\":\"b\",\"timestamp\":\"2024-01-15T10:00:00Z\",\"user_id\":\"u\","
                "\"event_type\":\"view\",\"product\":\"p\",\"price\":\"1\",\"quantity\":1}",
                "{\"event_id\":\"b\",\"timestamp\":\"2024-01-15T10:00:00Z\",\"user_id\":\"u\","
                "\"event_type\":\"view\",\"product\":\"p\",\"price\":1,\"quantity\":1.5}",
                "{\"event_id\":\"b\",\"event_id\":\"c\"}",
                "\xff\xfe",
            };
            // NOLINTEND(bugprone-suspicious-missing-comma)
            Input bad;
            bad.raw = g.pick(bad_records);
            out.push_back(bad);
            continue;
        }
        // Times on a 100 ms grid (like every duration of the spec), so
        // that boundaries (watermark == end + lateness, gaps of exactly
        // `gap`) are hit often; now and then an off-grid millisecond.
        std::int64_t t;
        clock += 100 * g.uniform(0, 4);
        if (what < 24) {
            t = clock - 100 * g.uniform(30, 120);  // late or too late
        } else if (what < 26) {
            clock += 100 * g.uniform(20, 80);  // a jump forward
            t = clock;
        } else {
            t = clock - 100 * g.uniform(0, 12);  // ordinary disorder
        }
        if (g.chance(0.1)) {
            t += g.uniform(-1, 1);
        }
        std::string id;
        if (!ids.empty() && g.chance(0.05)) {
            id = g.pick(ids);  // same id, different content
        } else {
            id = "e" + std::to_string(next_id++);
            ids.push_back(id);
        }
        std::string json = "{\"event_id\":\"" + id + "\",\"timestamp\":\"" + time_text(g, t) +
                           "\",\"user_id\":\"u" + std::to_string(g.uniform(1, 5)) +
                           "\",\"event_type\":\"" + g.pick(types) + "\",\"product\":\"" +
                           g.pick(products) + "\",\"price\":";
        const std::int64_t quarters = g.uniform(40, 8000);
        json += quarters % 4 == 0 ? std::to_string(quarters / 4)
                                  : std::to_string(static_cast<double>(quarters) / 4.0);
        json += ",\"quantity\":" + std::to_string(g.uniform(1, 4));
        if (g.chance(0.2)) {
            json += ",\"extra\":{\"nested\":[1,2,3]}";
        }
        json += "}";
        sent.push_back(json);
        Input ev;
        ev.raw = json;
        out.push_back(ev);
    }
    return out;
}

std::string describe(const Result& r) {
    std::string s = r.pipeline_name + " " + std::string(name_of(r.kind)) + " rev " +
                    std::to_string(r.revision) + " " + result_key(r) + " values:";
    for (const auto& v : r.values) {
        if (const auto* i = std::get_if<std::int64_t>(&v)) {
            s += " " + std::to_string(*i);
        } else if (const auto* d = std::get_if<double>(&v)) {
            s += " " + std::to_string(*d);
        } else if (std::holds_alternative<std::monostate>(v)) {
            s += " null";
        } else {
            s += " [top-k " + std::to_string(std::get<std::vector<TopKEntry>>(v).size()) + "]";
        }
    }
    return s;
}

std::vector<Result> sorted(std::vector<Result> v) {
    std::sort(v.begin(), v.end(), [](const Result& a, const Result& b) {
        return std::make_tuple(a.pipeline, result_key(a), static_cast<int>(a.kind), a.revision) <
               std::make_tuple(b.pipeline, result_key(b), static_cast<int>(b.kind), b.revision);
    });
    return v;
}

struct StepOut {
    std::optional<RejectReason> rejected;
    std::vector<Result> results;
    std::vector<std::pair<std::uint32_t, std::string>> late;
    std::optional<std::int64_t> watermark;
    std::uint64_t duplicates = 0;
};

// Drives an engine over the inputs; with `restore_rng`, flushes the changelog
// at random points and sometimes rebuilds the task from it.
std::vector<StepOut> run_engine(const std::shared_ptr<const CompiledEngine>& engine,
                                const std::vector<Input>& inputs, Gen* restore_rng, int* restores) {
    Decoder decoder(engine->spec().schema);
    auto task = std::make_unique<Task>(engine);
    std::vector<std::pair<std::string, std::optional<std::string>>> log;
    Event ev;
    Output out;
    std::vector<StepOut> steps;
    for (const Input& in : inputs) {
        StepOut s;
        out.clear();
        if (in.is_tick) {
            task->advance_processing_time(ProcessingTimeMs{in.now}, in.caught_up, out);
        } else if (auto rej = decoder.decode(in.raw, ev)) {
            s.rejected = rej->reason;
        } else {
            task->process(ev, in.raw, out);
        }
        s.results = out.results;
        for (const auto& l : out.late) {
            s.late.emplace_back(l.pipeline, l.raw);
        }
        const TaskCounters c = task->counters();
        if (c.watermark) {
            s.watermark = c.watermark->value;
        }
        s.duplicates = c.duplicates;
        steps.push_back(std::move(s));
        if (restore_rng == nullptr) {
            continue;
        }
        if (restore_rng->chance(0.15)) {
            std::vector<StateDelta> deltas;
            task->take_changelog(deltas);
            std::set<std::string> keys;
            for (auto& d : deltas) {
                BOOST_REQUIRE_MESSAGE(keys.insert(d.key).second,
                                      "a key appears twice in one flush: " + d.key.substr(0, 1));
                log.emplace_back(std::move(d.key), std::move(d.value));
            }
        }
        if (restore_rng->chance(0.04)) {
            std::vector<StateDelta> deltas;
            task->take_changelog(deltas);
            for (auto& d : deltas) {
                log.emplace_back(std::move(d.key), std::move(d.value));
            }
            auto fresh = std::make_unique<Task>(engine);
            if (restore_rng->chance(0.5)) {
                // The whole log, in order.
                for (const auto& [k, v] : log) {
                    auto err = fresh->apply_changelog(
                        k, v ? std::optional<std::string_view>(*v) : std::nullopt);
                    BOOST_REQUIRE_MESSAGE(!err, *err);
                }
            } else {
                // What a compacted topic keeps: the last record of each key,
                // in log order, without tombstones.
                std::map<std::string, std::size_t> last;
                for (std::size_t i = 0; i < log.size(); ++i) {
                    last[log[i].first] = i;
                }
                for (std::size_t i = 0; i < log.size(); ++i) {
                    const auto& [k, v] = log[i];
                    if (v && last[k] == i) {
                        auto err = fresh->apply_changelog(k, std::string_view(*v));
                        BOOST_REQUIRE_MESSAGE(!err, *err);
                    }
                }
            }
            task = std::move(fresh);
            ++*restores;
        }
    }
    return steps;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(model_comparison)

BOOST_AUTO_TEST_CASE(engine_matches_the_reference_model_on_random_streams) {
    int total_results = 0;
    int total_late = 0;
    int total_dups = 0;
    int total_restores = 0;
    int retracts = 0;
    int updates = 0;
    const int streams = stream_count();
    for (int stream = 0; stream < streams; ++stream) {
        Gen g(0x5eed0000ULL + static_cast<std::uint64_t>(stream));
        const EngineSpec spec = random_spec(g);
        const auto engine = must_compile(spec);
        const auto inputs = random_stream(g, static_cast<int>(g.uniform(50, 220)));

        int restores = 0;
        const auto plain = run_engine(engine, inputs, nullptr, &restores);
        Gen rg(0xabcdULL + static_cast<std::uint64_t>(stream));
        const auto restored = run_engine(engine, inputs, &rg, &restores);
        total_restores += restores;

        Model model(spec);
        std::uint64_t model_dups = 0;
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            const auto expect = model.step(inputs[i]);
            const StepOut& got = plain[i];
            const std::string where =
                "stream " + std::to_string(stream) + " step " + std::to_string(i);
            BOOST_TEST_INFO(where);
            // Identical to the run that was restored from its changelog.
            BOOST_REQUIRE_MESSAGE(restored[i].results == got.results,
                                  where + ": restored run differs in results");
            BOOST_REQUIRE_MESSAGE(restored[i].late == got.late,
                                  where + ": restored run differs in late");
            BOOST_REQUIRE_MESSAGE(restored[i].watermark == got.watermark,
                                  where + ": restored run differs in watermark");

            BOOST_REQUIRE_MESSAGE(expect.rejected == got.rejected,
                                  where + ": rejection differs for " + inputs[i].raw);
            model_dups += expect.duplicate ? 1 : 0;
            BOOST_REQUIRE_MESSAGE(model_dups == got.duplicates,
                                  where + ": duplicate decision differs");
            BOOST_REQUIRE_MESSAGE(expect.watermark == got.watermark, where + ": watermark differs");
            std::vector<std::uint32_t> late_pipes;
            for (const auto& [p, raw] : got.late) {
                BOOST_REQUIRE_EQUAL(raw, inputs[i].raw);
                late_pipes.push_back(p);
            }
            std::vector<std::uint32_t> expect_late;
            for (std::uint32_t p : expect.late_pipelines) {
                if (spec.pipelines[p].late_policy == LatePolicy::topic) {
                    expect_late.push_back(p);
                }
            }
            BOOST_REQUIRE_MESSAGE(late_pipes == expect_late, where + ": late records differ");
            const auto a = sorted(got.results);
            const auto b = sorted(expect.results);
            if (a != b) {
                std::string msg = where + ": results differ\nengine:\n";
                for (const auto& r : a) {
                    msg += "  " + describe(r) + "\n";
                }
                msg += "model:\n";
                for (const auto& r : b) {
                    msg += "  " + describe(r) + "\n";
                }
                BOOST_FAIL(msg);
            }
            total_results += static_cast<int>(a.size());
            total_late += static_cast<int>(late_pipes.size());
            for (const auto& r : a) {
                retracts += r.kind == ResultKind::retract ? 1 : 0;
                updates += r.kind == ResultKind::update && r.revision > 0 ? 1 : 0;
            }
        }
        total_dups += static_cast<int>(model_dups);
    }
    BOOST_TEST_MESSAGE("streams " << streams << ", results " << total_results << " (updates "
                                  << updates << ", retractions " << retracts << "), late "
                                  << total_late << ", duplicates " << total_dups << ", restores "
                                  << total_restores);
    // The generator must actually exercise the interesting paths.
    BOOST_TEST(retracts > 0);
    BOOST_TEST(updates > 0);
    BOOST_TEST(total_late > 0);
    BOOST_TEST(total_dups > 0);
    BOOST_TEST(total_restores > 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace etld::pipeline::test
