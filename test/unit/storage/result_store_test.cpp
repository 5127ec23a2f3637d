// ResultStore against a real SQLite file: a batch of output records leaves
// the rows that applying its records one after another would leave, and the
// next offset of each output partition; tables of earlier layouts are
// rebuilt or moved aside on open.
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <map>
#include <random>
#include <tuple>
#include <variant>
#include <vector>

#include "etld/pipeline/compile.h"
#include "etld/pipeline/result.h"
#include "storage/query.h"
#include "storage/result_store.h"
#include "storage/sqlite.h"

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

// The rows of a read-only query as text, one string per row ("a|b|c").
std::vector<std::string> rows_of(const std::string& db, const std::string& sql) {
    auto result = storage::run_read_only_query(db, sql, std::chrono::seconds(5));
    BOOST_REQUIRE_MESSAGE(std::holds_alternative<storage::QueryResult>(result), sql);
    std::vector<std::string> out;
    for (const auto& row : std::get<storage::QueryResult>(result).rows) {
        std::string line;
        for (const auto& v : row) {
            line += line.empty() ? "" : "|";
            if (const auto* i = std::get_if<std::int64_t>(&v)) {
                line += std::to_string(*i);
            } else if (const auto* d = std::get_if<double>(&v)) {
                line += std::to_string(*d);
            } else if (const auto* t = std::get_if<std::string>(&v)) {
                line += *t;
            } else {
                line += "NULL";
            }
        }
        out.push_back(line);
    }
    return out;
}

BOOST_AUTO_TEST_CASE(tables_keyed_by_window_start_are_rebuilt_with_their_rows) {
    TempDir tmp;
    const std::string db = (tmp.dir / "results.db").string();
    {
        // The layout etld wrote before tables were keyed by window_end first:
        // key (window_start, window_end, group), an index on window_end and
        // the view. `old_metric` is the column of an aggregate since removed.
        // by_type was grouped by a different field: another definition.
        storage::Database d(db, storage::Database::Mode::read_write_create);
        for (const char* sql : {
                 "CREATE TABLE by_user (window_start INTEGER NOT NULL, window_end INTEGER NOT "
                 "NULL, user_id TEXT NOT NULL, events INTEGER, old_metric REAL, revision INTEGER "
                 "NOT NULL, kind TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY "
                 "(window_start, window_end, user_id)) STRICT, WITHOUT ROWID",
                 "CREATE INDEX by_user_by_end ON by_user (window_end)",
                 "CREATE VIEW by_user_view AS SELECT 1 AS window_start_utc, * FROM by_user",
                 "INSERT INTO by_user VALUES (1000, 2000, 'u1', 3, 1.5, 0, 'update', 11), "
                 "(1000, 2000, 'u2', 4, NULL, 2, 'update', 12), (0, 1000, 'u1', 7, 2.5, 1, "
                 "'final', 13)",
                 "CREATE TABLE by_type (window_start INTEGER NOT NULL, window_end INTEGER NOT "
                 "NULL, product TEXT NOT NULL, events INTEGER, revision INTEGER NOT NULL, kind "
                 "TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (window_start, "
                 "window_end, product)) STRICT, WITHOUT ROWID",
                 "INSERT INTO by_type VALUES (0, 1000, 'mouse', 5, 0, 'final', 14)",
             }) {
            const auto error = d.exec(sql);
            BOOST_REQUIRE_MESSAGE(!error, sql << ": " << (error ? error->describe() : ""));
        }
    }
    storage::ResultStore store(db, std::chrono::seconds(5), spec());

    BOOST_TEST(rows_of(db,
                       "SELECT name, pk FROM pragma_table_info('by_user') WHERE pk > 0 "
                       "ORDER BY pk") ==
                   (std::vector<std::string>{"window_end|1", "window_start|2", "user_id|3"}),
               boost::test_tools::per_element());
    BOOST_TEST(rows_of(db,
                       "SELECT window_start, window_end, user_id, events, old_metric, "
                       "revision, kind, updated_at FROM by_user ORDER BY window_start, user_id") ==
                   (std::vector<std::string>{"0|1000|u1|7|2.500000|1|final|13",
                                             "1000|2000|u1|3|1.500000|0|update|11",
                                             "1000|2000|u2|4|NULL|2|update|12"}),
               boost::test_tools::per_element());
    BOOST_TEST(rows_of(db,
                       "SELECT name FROM sqlite_master WHERE type = 'index' AND "
                       "tbl_name = 'by_user' AND sql IS NOT NULL")
                   .empty());
    BOOST_TEST(rows_of(db,
                       "SELECT window_start_utc, window_end_utc FROM by_user_view WHERE "
                       "user_id = 'u1' AND window_start = 0") ==
                   (std::vector<std::string>{"1970-01-01T00:00:00.000Z|1970-01-01T00:00:01.000Z"}),
               boost::test_tools::per_element());

    // The other definition's table is kept aside, rows and all; its name
    // gets a fresh table.
    const auto aside = rows_of(db,
                               "SELECT name FROM sqlite_master WHERE type = 'table' AND name "
                               "LIKE 'by_type_before_%'");
    BOOST_REQUIRE(aside.size() == 1u);
    BOOST_TEST(rows_of(db, "SELECT product, events FROM " + aside[0]) ==
                   (std::vector<std::string>{"mouse|5"}),
               boost::test_tools::per_element());
    BOOST_TEST(rows_of(db, "SELECT count(*) FROM by_type") == (std::vector<std::string>{"0"}),
               boost::test_tools::per_element());

    // Records upsert the rebuilt table's rows by their key.
    auto compiled = pipeline::compile(spec());
    BOOST_REQUIRE(compiled.errors.empty());
    pipeline::Result r;
    r.pipeline = 0;
    r.pipeline_name = "by_user";
    r.window_start = pipeline::EventTimeMs{1000};
    r.window_end = pipeline::EventTimeMs{2000};
    r.group = {std::string("u2")};
    r.values = {std::int64_t{9}};
    r.revision = 3;
    r.kind = pipeline::ResultKind::update;
    storage::ApplyCounts counts;
    const std::vector<storage::OutputRecord> one{
        storage::OutputRecord{"out", 0, 0, pipeline::result_json(*compiled.engine, r)}};
    BOOST_REQUIRE(!store.apply(one, counts));
    BOOST_TEST(rows_of(db,
                       "SELECT user_id, events, revision FROM by_user WHERE window_start = "
                       "1000 ORDER BY user_id") == (std::vector<std::string>{"u1|3|0", "u2|9|3"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
