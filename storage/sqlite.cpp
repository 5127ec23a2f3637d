#include "storage/sqlite.h"

#include <utility>

namespace etld::storage {

namespace {

SqliteError error_of(sqlite3* db, int code) {
    SqliteError error;
    error.code = code & 0xff;
    error.extended_code = db != nullptr ? sqlite3_extended_errcode(db) : code;
    error.message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    return error;
}

}  // namespace

std::string SqliteError::describe() const {
    return message + " (" + sqlite3_errstr(extended_code) + ")";
}

Database::Database(const std::string& path, Mode mode) {
    const int flags =
        mode == Mode::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        throw SqliteOpenError("cannot open SQLite database " + path + ": " + message);
    }
    sqlite3_extended_result_codes(db_, 1);
    if (mode == Mode::read_only) {
        if (auto error = exec("PRAGMA query_only = 1")) {
            throw SqliteOpenError("cannot make " + path + " read-only: " + error->describe());
        }
    }
}

Database::~Database() {
    if (db_ != nullptr) {
        sqlite3_close_v2(db_);
    }
}

Database::Database(Database&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Database& Database::operator=(Database&& other) noexcept {
    if (this != &other) {
        if (db_ != nullptr) {
            sqlite3_close_v2(db_);
        }
        db_ = std::exchange(other.db_, nullptr);
    }
    return *this;
}

std::optional<SqliteError> Database::exec(std::string_view sql) {
    std::string text(sql);
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
    if (rc == SQLITE_OK) {
        return std::nullopt;
    }
    SqliteError error = error_of(db_, rc);
    if (message != nullptr) {
        error.message = message;
        sqlite3_free(message);
    }
    return error;
}

Database::Prepared Database::prepare(std::string_view sql, std::string_view* tail) {
    Prepared out;
    sqlite3_stmt* stmt = nullptr;
    const char* rest = nullptr;
    const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, &rest);
    if (rc != SQLITE_OK) {
        out.error = error_of(db_, rc);
        return out;
    }
    out.statement = Statement(stmt);
    if (tail != nullptr) {
        const auto used = static_cast<size_t>(rest - sql.data());
        *tail = sql.substr(used);
    }
    return out;
}

void Database::set_busy_timeout(std::chrono::milliseconds timeout) {
    sqlite3_busy_timeout(db_, static_cast<int>(timeout.count()));
}

SqliteError Database::last_error() const {
    return error_of(db_, sqlite3_errcode(db_));
}

Statement::~Statement() {
    sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        sqlite3_finalize(stmt_);
        stmt_ = std::exchange(other.stmt_, nullptr);
    }
    return *this;
}

void Statement::bind_null(int index) {
    sqlite3_bind_null(stmt_, index);
}

void Statement::bind_int64(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
}

void Statement::bind_double(int index, double value) {
    sqlite3_bind_double(stmt_, index, value);
}

void Statement::bind_text(int index, std::string_view value) {
    sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
}

Statement::StepResult Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
        return {Step::row, std::nullopt};
    }
    if (rc == SQLITE_DONE) {
        return {Step::done, std::nullopt};
    }
    return {Step::done, error_of(sqlite3_db_handle(stmt_), rc)};
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

int Statement::column_count() const {
    return sqlite3_column_count(stmt_);
}

std::string Statement::column_name(int index) const {
    const char* name = sqlite3_column_name(stmt_, index);
    return name != nullptr ? name : "";
}

int Statement::column_type(int index) const {
    return sqlite3_column_type(stmt_, index);
}

std::int64_t Statement::column_int64(int index) const {
    return sqlite3_column_int64(stmt_, index);
}

double Statement::column_double(int index) const {
    return sqlite3_column_double(stmt_, index);
}

std::string Statement::column_text(int index) const {
    const unsigned char* text = sqlite3_column_text(stmt_, index);
    if (text == nullptr) {
        return {};
    }
    return {reinterpret_cast<const char*>(text),
            static_cast<size_t>(sqlite3_column_bytes(stmt_, index))};
}

bool Statement::read_only() const {
    return sqlite3_stmt_readonly(stmt_) != 0;
}

Transaction::Transaction(Database& db) : db_(db) {
    begin_error_ = db_.exec("BEGIN IMMEDIATE");
    active_ = !begin_error_;
}

Transaction::~Transaction() {
    if (active_) {
        // The outcome of a failed rollback changes nothing for the caller:
        // SQLite rolls back on its own when the connection closes.
        (void)db_.exec("ROLLBACK");
    }
}

std::optional<SqliteError> Transaction::commit() {
    auto error = db_.exec("COMMIT");
    if (!error) {
        active_ = false;
    }
    return error;
}

}  // namespace etld::storage
