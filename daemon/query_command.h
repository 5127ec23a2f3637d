// `etld query --db FILE [--format table|csv|json] "SQL"`: read-only SQL over
// the result database, printed for people (table) or programs (csv, json).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "storage/query.h"

namespace etld::daemon {

enum class QueryFormat { table, csv, json };

// args: everything after the word `query`.
int query_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Exposed for tests.
void print_query_result(const storage::QueryResult& result, QueryFormat format, std::ostream& out);

}  // namespace etld::daemon
