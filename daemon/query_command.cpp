#include "daemon/query_command.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ostream>

#include "daemon/cli.h"
#include "daemon/testcase_json.h"

namespace etld::daemon {

namespace {

constexpr const char* kQueryUsage =
    "usage: etld query --db FILE [--format table|csv|json] \"SQL\"\n";

std::string to_text(const storage::SqlValue& value) {
    if (std::holds_alternative<std::monostate>(value)) {
        return "";
    }
    if (const auto* i = std::get_if<std::int64_t>(&value)) {
        return std::to_string(*i);
    }
    if (const auto* d = std::get_if<double>(&value)) {
        char buffer[64];
        const auto result = std::to_chars(buffer, buffer + sizeof buffer, *d);
        return std::string(buffer, result.ptr);
    }
    return std::get<std::string>(value);
}

std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) {
        return text;
    }
    std::string out = "\"";
    for (char c : text) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    return out + "\"";
}

std::string json_value(const storage::SqlValue& value) {
    if (std::holds_alternative<std::monostate>(value)) {
        return "null";
    }
    if (std::holds_alternative<std::string>(value)) {
        return testcase::quote_json(std::get<std::string>(value));
    }
    if (const auto* d = std::get_if<double>(&value); d != nullptr && !std::isfinite(*d)) {
        return "null";
    }
    return to_text(value);
}

// Display width in characters: counts UTF-8 lead bytes only.
size_t width(const std::string& text) {
    return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

}  // namespace

void print_query_result(const storage::QueryResult& result, QueryFormat format, std::ostream& out) {
    const auto& columns = result.columns;
    switch (format) {
        case QueryFormat::csv: {
            for (size_t i = 0; i < columns.size(); ++i) {
                out << (i ? "," : "") << csv_field(columns[i]);
            }
            out << "\r\n";
            for (const auto& row : result.rows) {
                for (size_t i = 0; i < row.size(); ++i) {
                    out << (i ? "," : "") << csv_field(to_text(row[i]));
                }
                out << "\r\n";
            }
            return;
        }
        case QueryFormat::json: {
            out << "[";
            for (size_t r = 0; r < result.rows.size(); ++r) {
                out << (r ? ",\n " : "\n ") << "{";
                for (size_t i = 0; i < columns.size(); ++i) {
                    out << (i ? ", " : "") << testcase::quote_json(columns[i]) << ": "
                        << json_value(result.rows[r][i]);
                }
                out << "}";
            }
            out << (result.rows.empty() ? "]\n" : "\n]\n");
            return;
        }
        case QueryFormat::table: {
            std::vector<size_t> widths(columns.size());
            std::vector<std::vector<std::string>> cells;
            for (size_t i = 0; i < columns.size(); ++i) {
                widths[i] = width(columns[i]);
            }
            for (const auto& row : result.rows) {
                std::vector<std::string> line;
                for (size_t i = 0; i < row.size(); ++i) {
                    line.push_back(
                        std::holds_alternative<std::monostate>(row[i]) ? "NULL" : to_text(row[i]));
                    widths[i] = std::max(widths[i], width(line.back()));
                }
                cells.push_back(std::move(line));
            }
            auto print_row = [&](const std::vector<std::string>& line,
                                 const std::vector<storage::SqlValue>* values) {
                for (size_t i = 0; i < line.size(); ++i) {
                    const bool numeric =
                        values != nullptr && (std::holds_alternative<std::int64_t>((*values)[i]) ||
                                              std::holds_alternative<double>((*values)[i]));
                    const bool last = i + 1 == line.size();
                    const std::string pad(widths[i] - width(line[i]), ' ');
                    out << (i ? " | " : "")
                        << (numeric ? pad + line[i] : (last ? line[i] : line[i] + pad));
                }
                out << "\n";
            };
            print_row(columns, nullptr);
            for (size_t i = 0; i < columns.size(); ++i) {
                out << (i ? "-+-" : "") << std::string(widths[i], '-');
            }
            out << "\n";
            for (size_t r = 0; r < cells.size(); ++r) {
                print_row(cells[r], &result.rows[r]);
            }
            out << "(" << result.rows.size() << (result.rows.size() == 1 ? " row)\n" : " rows)\n");
            return;
        }
    }
}

int query_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    std::string db;
    std::string sql;
    QueryFormat format = QueryFormat::table;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--db" && i + 1 < args.size()) {
            db = args[++i];
        } else if (a == "--format" && i + 1 < args.size()) {
            const std::string& f = args[++i];
            if (f == "table") {
                format = QueryFormat::table;
            } else if (f == "csv") {
                format = QueryFormat::csv;
            } else if (f == "json") {
                format = QueryFormat::json;
            } else {
                err << "etld query: unknown format '" << f << "' (table, csv or json)\n";
                return kExitUsage;
            }
        } else if (!a.empty() && a[0] == '-' && a != "-") {
            err << "etld query: unknown option '" << a << "'\n" << kQueryUsage;
            return kExitUsage;
        } else if (sql.empty()) {
            sql = a;
        } else {
            err << "etld query: give the SQL as one argument (quote it)\n" << kQueryUsage;
            return kExitUsage;
        }
    }
    if (db.empty() || sql.empty()) {
        err << kQueryUsage;
        return kExitUsage;
    }
    auto result = storage::run_read_only_query(db, sql, std::chrono::seconds(5));
    if (const auto* error = std::get_if<storage::QueryError>(&result)) {
        err << "etld query: " << error->message << "\n";
        return kExitDataErr;
    }
    print_query_result(std::get<storage::QueryResult>(result), format, out);
    return kExitOk;
}

}  // namespace etld::daemon
