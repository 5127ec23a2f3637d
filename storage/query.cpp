#include "storage/query.h"

#include <filesystem>

#include "storage/sqlite.h"

namespace etld::storage {

namespace {

std::string trimmed(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = text.find_last_not_of(" \t\r\n;");
    return std::string(text.substr(first, last - first + 1));
}

}  // namespace

std::variant<QueryResult, QueryError> run_read_only_query(const std::string& db_path,
                                                          const std::string& sql,
                                                          std::chrono::milliseconds busy_timeout) {
    // SQLITE_OPEN_READONLY does not create a missing file, but say so plainly.
    if (!std::filesystem::exists(db_path)) {
        return QueryError{"no database at " + db_path};
    }
    Database db(db_path, Database::Mode::read_only);
    db.set_busy_timeout(busy_timeout);

    QueryResult result;
    std::string_view rest = sql;
    while (!trimmed(rest).empty()) {
        std::string_view tail;
        Database::Prepared prepared = db.prepare(rest, &tail);
        if (prepared.error) {
            return QueryError{"SQL error: " + prepared.error->message};
        }
        const std::string text = trimmed(rest.substr(0, rest.size() - tail.size()));
        rest = tail;
        if (!prepared.statement) {
            continue;  // only whitespace or a comment
        }
        Statement& stmt = prepared.statement;
        if (!stmt.read_only()) {
            return QueryError{
                "refused: etld query is read-only, and this statement would modify "
                "the database: " +
                text};
        }
        QueryResult current;
        for (int i = 0; i < stmt.column_count(); ++i) {
            current.columns.push_back(stmt.column_name(i));
        }
        while (true) {
            const Statement::StepResult step = stmt.step();
            if (step.error) {
                return QueryError{"SQL error: " + step.error->message};
            }
            if (step.step == Statement::Step::done) {
                break;
            }
            std::vector<SqlValue> row;
            for (int i = 0; i < stmt.column_count(); ++i) {
                switch (stmt.column_type(i)) {
                    case SQLITE_INTEGER:
                        row.emplace_back(stmt.column_int64(i));
                        break;
                    case SQLITE_FLOAT:
                        row.emplace_back(stmt.column_double(i));
                        break;
                    case SQLITE_NULL:
                        row.emplace_back(std::monostate{});
                        break;
                    default:
                        row.emplace_back(stmt.column_text(i));
                        break;
                }
            }
            current.rows.push_back(std::move(row));
        }
        if (!current.columns.empty()) {
            result = std::move(current);
        }
    }
    return result;
}

}  // namespace etld::storage
