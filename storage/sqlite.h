// RAII over the SQLite C API: a connection, prepared statements, and a
// transaction guard that rolls back unless committed.
//
// Expected runtime conditions (SQLITE_BUSY, a full disk, a constraint) come
// back as SqliteError values; opening a database that cannot be opened is an
// exception (a start-up error). A Database is used by one thread at a time.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace etld::storage {

struct SqliteError {
    int code = SQLITE_OK;           // primary result code
    int extended_code = SQLITE_OK;  // extended result code
    std::string message;

    bool busy() const { return code == SQLITE_BUSY || code == SQLITE_LOCKED; }
    bool disk_full() const { return code == SQLITE_FULL; }
    std::string describe() const;
};

class SqliteOpenError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class Statement;

class Database {
  public:
    enum class Mode { read_write_create, read_only };

    // Opens `path`. read_only connections also set `PRAGMA query_only` so no
    // statement can write, whatever it is.
    Database(const std::string& path, Mode mode);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;
    Database(Database&& other) noexcept;
    Database& operator=(Database&& other) noexcept;

    // Runs one or more statements that return no rows.
    std::optional<SqliteError> exec(std::string_view sql);

    // Compiles the first statement of `sql`; `tail` (if given) receives the
    // rest of the text.
    struct Prepared;
    Prepared prepare(std::string_view sql, std::string_view* tail = nullptr);

    void set_busy_timeout(std::chrono::milliseconds timeout);
    sqlite3* handle() const { return db_; }
    SqliteError last_error() const;

  private:
    sqlite3* db_ = nullptr;
};

// A compiled statement. Columns and bindings are 0-based for columns and
// 1-based for parameters, as in SQLite.
class Statement {
  public:
    Statement() = default;
    explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;

    explicit operator bool() const { return stmt_ != nullptr; }
    sqlite3_stmt* handle() const { return stmt_; }

    void bind_null(int index);
    void bind_int64(int index, std::int64_t value);
    void bind_double(int index, double value);
    void bind_text(int index, std::string_view value);

    enum class Step { row, done };
    // A row, done, or an error value.
    struct StepResult {
        Step step = Step::done;
        std::optional<SqliteError> error;
    };
    StepResult step();
    void reset();

    int column_count() const;
    std::string column_name(int index) const;
    int column_type(int index) const;
    std::int64_t column_int64(int index) const;
    double column_double(int index) const;
    std::string column_text(int index) const;

    // True when the statement cannot modify the database (sqlite3_stmt_readonly).
    bool read_only() const;

  private:
    sqlite3_stmt* stmt_ = nullptr;
};

struct Database::Prepared {
    Statement statement;  // empty when the text held no statement, or on error
    std::optional<SqliteError> error;
};

// BEGIN IMMEDIATE on construction (so a writer learns about a competing writer
// up front, not at COMMIT); ROLLBACK on destruction unless commit() succeeded.
class Transaction {
  public:
    // Check begin_error() before using the transaction.
    explicit Transaction(Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    const std::optional<SqliteError>& begin_error() const { return begin_error_; }
    std::optional<SqliteError> commit();

  private:
    Database& db_;
    bool active_ = false;
    std::optional<SqliteError> begin_error_;
};

}  // namespace etld::storage
