// Read-only SQL over the result database, for `etld query` and tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace etld::storage {

// One SQL value as SQLite returned it.
using SqlValue = std::variant<std::monostate, std::int64_t, double, std::string>;

struct QueryResult {
    std::vector<std::string> columns;
    std::vector<std::vector<SqlValue>> rows;
};

struct QueryError {
    std::string message;
};

// Runs every statement in `sql` on a read-only connection to `db_path` and
// returns the rows of the last statement that produced columns. A statement
// that could modify the database is refused before it runs, with a message
// naming it; so is a database file that does not exist.
std::variant<QueryResult, QueryError> run_read_only_query(const std::string& db_path,
                                                          const std::string& sql,
                                                          std::chrono::milliseconds busy_timeout);

}  // namespace etld::storage
