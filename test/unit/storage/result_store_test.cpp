// ResultStore against a real SQLite file: a batch of output records leaves
// the rows that applying its records one after another would leave, and the
// next offset of each output partition.
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <map>
#include <random>
#include <tuple>

#include "etld/pipeline/compile.h"
#include "etld/pipeline/result.h"
#include "storage/query.h"
#include "storage/result_store.h"

namespace storage = etld::storage;
namespace pipeline = etld::pipeline;

namespace {

pipeline::EngineSpec spec() {
    pipeline::EngineSpec s;
    for (const char* name : {"by_user", "by_type"}) {
        pipeline::PipelineSpec p;
        p.name = name;
        p.window.type = pipeline::WindowType::tumbling;
        p.window.size = pipeline::DurationMs{1000};
        p.group_by = {std::string(name) == "by_user" ? "user_id" : "event_type"};
        p.emit = pipeline::EmitMode::early;
        pipeline::AggregateSpec events;
        events.name = "events";
        events.fn = pipeline::AggregateFn::count;
        p.aggregates.push_back(events);
        s.pipelines.push_back(p);
    }
    return s;
}

struct TempDir {
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("etld-store-test-" + std::to_string(::getpid()));
    TempDir() { std::filesystem::create_directories(dir); }
    ~TempDir() { std::filesystem::remove_all(dir); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(result_store)

BOOST_AUTO_TEST_CASE(a_batch_leaves_the_rows_its_records_leave_one_after_another) {
    TempDir tmp;
    const std::string db = (tmp.dir / "results.db").string();
    auto compiled = pipeline::compile(spec());
    BOOST_REQUIRE(compiled.errors.empty());
    const auto& engine = *compiled.engine;

    // Records for few rows, in random order, each row updated, retracted and
    // written again several times within one batch.
    using Row = std::tuple<std::string, std::int64_t, std::string>;  // pipeline, start, group
    struct Stored {
        std::int64_t events;
        std::int64_t revision;
    };
    std::map<Row, Stored> expected;  // applying the records in batch order
    std::map<Row, std::uint32_t> revisions;
    std::vector<storage::OutputRecord> batch;
    std::mt19937_64 rng(5);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
    for (int i = 0; i < 3000; ++i) {
        pipeline::Result r;
        r.pipeline = static_cast<std::uint32_t>(pick(2));
        r.pipeline_name = r.pipeline == 0 ? "by_user" : "by_type";
        r.window_start = pipeline::EventTimeMs{1000 * pick(5)};
        r.window_end = pipeline::EventTimeMs{r.window_start.value + 1000};
        const std::string group = "g" + std::to_string(pick(30));
        r.group = {group};
        const Row row{r.pipeline_name, r.window_start.value, group};
        r.revision = revisions[row]++;
        if (pick(5) == 0) {
            r.kind = pipeline::ResultKind::retract;
            expected.erase(row);
        } else {
            r.kind = pipeline::ResultKind::update;
            const std::int64_t events = 1 + pick(1000);
            r.values = {events};
            expected[row] = Stored{events, r.revision};
        }
        batch.push_back(
            storage::OutputRecord{"out", i % 3, i / 3, pipeline::result_json(engine, r)});
    }

    storage::ResultStore store(db, std::chrono::seconds(5), spec());
    storage::ApplyCounts counts;
    BOOST_REQUIRE(!store.apply(batch, counts));
    BOOST_TEST(counts.skipped == 0u);
    BOOST_TEST(counts.upserted + counts.deleted == batch.size());

    std::map<Row, Stored> actual;
    for (const auto& [table, column] :
         {std::pair{"by_user", "user_id"}, std::pair{"by_type", "event_type"}}) {
        auto result = storage::run_read_only_query(
            db, std::string("SELECT window_start, ") + column + ", events, revision FROM " + table,
            std::chrono::seconds(5));
        const auto& rows = std::get<storage::QueryResult>(result).rows;
        for (const auto& r : rows) {
            actual[Row{table, std::get<std::int64_t>(r.at(0)), std::get<std::string>(r.at(1))}] =
                Stored{std::get<std::int64_t>(r.at(2)), std::get<std::int64_t>(r.at(3))};
        }
    }
    BOOST_TEST(actual.size() == expected.size());
    BOOST_TEST(expected.size() > 50u);
    for (const auto& [row, want] : expected) {
        auto it = actual.find(row);
        BOOST_REQUIRE_MESSAGE(it != actual.end(), std::get<0>(row)
                                                      << " " << std::get<1>(row) << " "
                                                      << std::get<2>(row) << " is missing");
        BOOST_TEST(it->second.events == want.events);
        BOOST_TEST(it->second.revision == want.revision);
    }
    const auto next = store.next_offsets();
    BOOST_TEST(next.at({"out", 0}) == 1000);
    BOOST_TEST(next.at({"out", 2}) == 1000);
}

BOOST_AUTO_TEST_SUITE_END()
