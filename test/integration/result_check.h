// Comparing what etld wrote — the output topic, a SQLite database, the late
// and dead-letter topics, the repartition topics — with what the reference
// model computes from the same records. Failures are reported through
// Boost.Test, naming each difference (the first ten of them).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "broker.h"
#include "etld/pipeline/spec.h"
#include "scenario.h"

namespace etld::test {

// A result in a form both sides can be turned into: the window's identity as
// text, and its values (integers, doubles, null, or top-k as text).
using Val = std::variant<std::monostate, std::int64_t, double, std::string>;
struct Row {
    std::string kind;
    std::int64_t revision = 0;
    std::map<std::string, Val> values;
};
using Rows = std::map<std::string, Row>;

// (label, raw record) pairs: the dead letters with their reason, the late
// records with their pipeline.
using Labelled = std::multiset<std::pair<std::string, std::string>>;

struct Expected {
    Rows finals;
    Labelled dead;  // (reason, raw)
    Labelled late;  // (pipeline, raw)
};

// Runs the reference model over the main stream, the flush, then the late
// records. The order within the main stream does not change the outcome as
// long as its disorder stays inside max_out_of_orderness.
Expected model_outcome(const Stream& s, const pipeline::EngineSpec& spec);

// Parses the output topic. Fails the test on a window seen twice.
Rows topic_rows(const std::vector<ConsumedRecord>& records, const pipeline::EngineSpec& spec);

// Reads every pipeline's table of the database (missing tables give no rows).
Rows sqlite_rows(const std::string& db, const pipeline::EngineSpec& spec);

// Checks `actual` against `expected`, naming every difference.
void check_rows(const Rows& actual, const Rows& expected, const std::string& what,
                bool check_kind = true);

// The records with the value of their `header` as label.
Labelled labelled(const std::vector<ConsumedRecord>& records, const std::string& header);

// Checks that every record (late or dead letter) names, in its
// etld.source.topic / .partition / .offset headers, the input record it
// copies — repartitioned ones included, whose coordinates travel in the
// repartition topic's one etld.source header.
void check_source_headers(const Scenario& s, const std::vector<ConsumedRecord>& records,
                          const std::string& what);

// Checks that every input record the model does not reject, and nothing
// else, appears exactly once in each repartition topic (by the source
// coordinates etld puts in their etld.source header). A transaction committed twice for the same
// input — by a zombie, or after a crash — shows up here even where dedup
// would hide it from the results.
void check_repartitioned_once(const Scenario& s, const Expected& expected);

}  // namespace etld::test
