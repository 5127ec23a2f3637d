// Read-only queries against a real SQLite file.
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "storage/query.h"
#include "storage/sqlite.h"

namespace storage = etld::storage;

namespace {

// A result database in a fresh temporary directory with one small table.
struct ResultDb {
    std::filesystem::path dir;
    std::string path;

    ResultDb() {
        dir = std::filesystem::temp_directory_path() /
              ("etld-query-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
        std::filesystem::create_directories(dir);
        path = (dir / "results.db").string();
        storage::Database db(path, storage::Database::Mode::read_write_create);
        BOOST_REQUIRE(
            !db.exec("PRAGMA journal_mode=WAL;"
                     "CREATE TABLE revenue (window_start INTEGER, product TEXT, "
                     "revenue REAL, note TEXT);"
                     "INSERT INTO revenue VALUES (1000, 'laptop', 2500.5, NULL),"
                     "(1000, 'mouse', 30.25, 'a,b'), (2000, 'laptop', 1200, 'say \"hi\"');"));
    }
    ~ResultDb() { std::filesystem::remove_all(dir); }

    static int& counter() {
        static int n = 0;
        return n;
    }

    std::variant<storage::QueryResult, storage::QueryError> query(const std::string& sql) const {
        return storage::run_read_only_query(path, sql, std::chrono::seconds(1));
    }

    int64_t row_count() const {
        auto result = query("SELECT count(*) FROM revenue");
        return std::get<int64_t>(std::get<storage::QueryResult>(result).rows.at(0).at(0));
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(read_only_query)

BOOST_AUTO_TEST_CASE(select_returns_columns_and_typed_rows) {
    const ResultDb db;
    auto result = db.query(
        "SELECT product, sum(revenue) AS total, count(*) AS n FROM revenue GROUP BY product "
        "ORDER BY product");
    BOOST_REQUIRE(std::holds_alternative<storage::QueryResult>(result));
    const auto& rows = std::get<storage::QueryResult>(result);
    BOOST_TEST(rows.columns == (std::vector<std::string>{"product", "total", "n"}),
               boost::test_tools::per_element());
    BOOST_REQUIRE_EQUAL(rows.rows.size(), 2U);
    BOOST_TEST(std::get<std::string>(rows.rows[0][0]) == "laptop");
    BOOST_TEST(std::get<double>(rows.rows[0][1]) == 3700.5);
    BOOST_TEST(std::get<int64_t>(rows.rows[0][2]) == 2);
    BOOST_TEST(std::get<std::string>(rows.rows[1][0]) == "mouse");
}

BOOST_AUTO_TEST_CASE(statements_that_write_are_refused_and_change_nothing) {
    const ResultDb db;
    for (const std::string sql :
         {"DELETE FROM revenue", "INSERT INTO revenue VALUES (1, 'x', 1, NULL)",
          "UPDATE revenue SET revenue = 0", "DROP TABLE revenue", "CREATE TABLE t (x INTEGER)",
          "SELECT 1; DELETE FROM revenue", "PRAGMA query_only = 0; DELETE FROM revenue"}) {
        auto result = db.query(sql);
        BOOST_REQUIRE_MESSAGE(std::holds_alternative<storage::QueryError>(result), sql);
        const std::string message = std::get<storage::QueryError>(result).message;
        BOOST_TEST_INFO(sql);
        BOOST_TEST((message.find("read-only") != std::string::npos ||
                    message.find("readonly") != std::string::npos),
                   message);
        BOOST_TEST(db.row_count() == 3);
    }
}

BOOST_AUTO_TEST_CASE(a_missing_database_is_an_error_and_is_not_created) {
    const std::string path = "/tmp/etld-query-test-does-not-exist.db";
    auto result = storage::run_read_only_query(path, "SELECT 1", std::chrono::seconds(1));
    BOOST_REQUIRE(std::holds_alternative<storage::QueryError>(result));
    BOOST_TEST(std::get<storage::QueryError>(result).message == "no database at " + path);
    BOOST_TEST(!std::filesystem::exists(path));
}

BOOST_AUTO_TEST_CASE(sql_errors_are_reported_with_sqlites_message) {
    const ResultDb db;
    auto result = db.query("SELECT nope FROM revenue");
    BOOST_REQUIRE(std::holds_alternative<storage::QueryError>(result));
    BOOST_TEST(std::get<storage::QueryError>(result).message == "SQL error: no such column: nope");
}

BOOST_AUTO_TEST_SUITE_END()
