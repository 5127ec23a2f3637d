#include "result_check.h"

#include <boost/test/unit_test.hpp>

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "etld/pipeline/result.h"
#include "reference_model.h"
#include "storage/query.h"

namespace etld::test {

namespace pipeline = etld::pipeline;

namespace {

std::string field_text(const pipeline::FieldValue& v) {
    if (const auto* s = std::get_if<std::string>(&v)) {
        return *s;
    }
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        return std::to_string(*i);
    }
    if (const auto* b = std::get_if<bool>(&v)) {
        return *b ? "true" : "false";
    }
    std::ostringstream out;
    out << std::get<double>(v);
    return out.str();
}

std::string window_id(const std::string& pipeline, std::int64_t start, std::int64_t end,
                      const std::vector<std::string>& group) {
    std::string id = pipeline + "|" + std::to_string(start) + "|" + std::to_string(end);
    for (const auto& g : group) {
        id += "|" + g;
    }
    return id;
}

Rows expected_rows(const std::vector<pipeline::Result>& results, const pipeline::EngineSpec& spec) {
    Rows rows;
    for (const auto& r : results) {
        std::vector<std::string> group;
        for (const auto& g : r.group) {
            group.push_back(field_text(g));
        }
        Row row;
        row.kind = std::string(pipeline::name_of(r.kind));
        row.revision = r.revision;
        const auto& aggs = spec.pipelines[r.pipeline].aggregates;
        for (size_t i = 0; i < r.values.size(); ++i) {
            const auto& v = r.values[i];
            Val val;
            if (const auto* n = std::get_if<std::int64_t>(&v)) {
                val = *n;
            } else if (const auto* d = std::get_if<double>(&v)) {
                val = *d;
            } else if (const auto* top = std::get_if<std::vector<pipeline::TopKEntry>>(&v)) {
                std::string text;
                for (const auto& e : *top) {
                    text += field_text(e.value) + ":" + std::to_string(e.count) + ";";
                }
                val = text;
            }
            row.values[aggs[i].name] = val;
        }
        const std::string id =
            window_id(r.pipeline_name, r.window_start.value, r.window_end.value, group);
        BOOST_REQUIRE_MESSAGE(rows.count(id) == 0, "the model emitted " << id << " twice");
        rows[id] = row;
    }
    return rows;
}

std::string top_text(simdjson::dom::element e) {
    std::string text;
    simdjson::dom::array pairs;
    if (e.get(pairs)) {
        return "?";
    }
    for (simdjson::dom::element pair : pairs) {
        simdjson::dom::array two;
        if (pair.get(two)) {
            return "?";
        }
        std::string value;
        std::int64_t count = 0;
        std::string_view sv;
        if (two.at(0).get(sv) == simdjson::SUCCESS) {
            value = sv;
        }
        if (two.at(1).get(count) != simdjson::SUCCESS) {
            return "?";
        }
        text += value + ":" + std::to_string(count) + ";";
    }
    return text;
}

// Sums added in a different order differ in the last bits only. The order
// does differ between runs: a repartition partition interleaves the records of
// several input partitions as they arrive.
bool nearly_equal(double actual, double expected) {
    return std::fabs(actual - expected) <= 1e-9 * std::max(1.0, std::fabs(expected));
}

bool same_value(const Val& a, const Val& b) {
    if (a.index() != b.index()) {
        // An integral double and an integer are the same number: the output
        // topic's JSON writes 226012.0 as 226012, which reads back as an
        // integer, while the model's sum may be 226012.00000000006.
        if (std::holds_alternative<double>(a) && std::holds_alternative<std::int64_t>(b)) {
            return nearly_equal(std::get<double>(a),
                                static_cast<double>(std::get<std::int64_t>(b)));
        }
        if (std::holds_alternative<std::int64_t>(a) && std::holds_alternative<double>(b)) {
            return nearly_equal(static_cast<double>(std::get<std::int64_t>(a)),
                                std::get<double>(b));
        }
        return false;
    }
    if (const auto* d = std::get_if<double>(&a)) {
        return nearly_equal(*d, std::get<double>(b));
    }
    return a == b;
}

std::string describe(const Val& v) {
    if (std::holds_alternative<std::monostate>(v)) {
        return "null";
    }
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        return std::to_string(*i);
    }
    if (const auto* d = std::get_if<double>(&v)) {
        std::ostringstream out;
        out.precision(17);
        out << *d;
        return out.str();
    }
    return std::get<std::string>(v);
}

}  // namespace

Rows topic_rows(const std::vector<ConsumedRecord>& records, const pipeline::EngineSpec& spec) {
    Rows rows;
    simdjson::dom::parser parser;
    for (const auto& rec : records) {
        simdjson::dom::element doc;
        BOOST_REQUIRE(parser.parse(rec.value).get(doc) == simdjson::SUCCESS);
        std::string_view name;
        std::string_view kind;
        std::int64_t start = 0;
        std::int64_t end = 0;
        std::int64_t revision = 0;
        BOOST_REQUIRE(doc["pipeline"].get(name) == simdjson::SUCCESS);
        BOOST_REQUIRE(doc["kind"].get(kind) == simdjson::SUCCESS);
        BOOST_REQUIRE(doc["window_start"].get(start) == simdjson::SUCCESS);
        BOOST_REQUIRE(doc["window_end"].get(end) == simdjson::SUCCESS);
        BOOST_REQUIRE(doc["revision"].get(revision) == simdjson::SUCCESS);
        const pipeline::PipelineSpec* p = nullptr;
        for (const auto& candidate : spec.pipelines) {
            if (candidate.name == name) {
                p = &candidate;
            }
        }
        BOOST_REQUIRE(p != nullptr);
        std::vector<std::string> group;
        for (const auto& g : p->group_by) {
            std::string_view v;
            BOOST_REQUIRE(doc["group"][g].get(v) == simdjson::SUCCESS);
            group.emplace_back(v);
        }
        Row row;
        row.kind = std::string(kind);
        row.revision = revision;
        for (const auto& a : p->aggregates) {
            simdjson::dom::element v;
            BOOST_REQUIRE(doc["values"][a.name].get(v) == simdjson::SUCCESS);
            if (v.is_null()) {
                row.values[a.name] = std::monostate{};
            } else if (a.fn == pipeline::AggregateFn::top_k) {
                row.values[a.name] = top_text(v);
            } else if (v.is_int64()) {
                row.values[a.name] = v.get_int64().value();
            } else {
                row.values[a.name] = v.get_double().value();
            }
        }
        const std::string id = window_id(std::string(name), start, end, group);
        BOOST_CHECK_MESSAGE(rows.count(id) == 0, "the output topic holds " << id << " twice");
        rows[id] = row;
    }
    return rows;
}

Rows sqlite_rows(const std::string& db, const pipeline::EngineSpec& spec) {
    Rows rows;
    simdjson::dom::parser parser;
    for (const auto& p : spec.pipelines) {
        auto result = etld::storage::run_read_only_query(db, "SELECT * FROM \"" + p.name + "\"",
                                                         std::chrono::seconds(5));
        if (std::holds_alternative<etld::storage::QueryError>(result)) {
            continue;
        }
        const auto& q = std::get<etld::storage::QueryResult>(result);
        auto col = [&](const std::string& name) {
            return static_cast<size_t>(std::find(q.columns.begin(), q.columns.end(), name) -
                                       q.columns.begin());
        };
        for (const auto& r : q.rows) {
            std::vector<std::string> group;
            for (const auto& g : p.group_by) {
                group.push_back(std::get<std::string>(r[col(g)]));
            }
            Row row;
            row.kind = std::get<std::string>(r[col("kind")]);
            row.revision = std::get<std::int64_t>(r[col("revision")]);
            for (const auto& a : p.aggregates) {
                const auto& v = r[col(a.name)];
                if (std::holds_alternative<std::monostate>(v)) {
                    row.values[a.name] = std::monostate{};
                } else if (a.fn == pipeline::AggregateFn::top_k) {
                    simdjson::dom::element e;
                    BOOST_REQUIRE(parser.parse(std::get<std::string>(v)).get(e) ==
                                  simdjson::SUCCESS);
                    row.values[a.name] = top_text(e);
                } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
                    row.values[a.name] = *i;
                } else {
                    row.values[a.name] = std::get<double>(v);
                }
            }
            rows[window_id(p.name, std::get<std::int64_t>(r[col("window_start")]),
                           std::get<std::int64_t>(r[col("window_end")]), group)] = row;
        }
    }
    return rows;
}

void check_rows(const Rows& actual, const Rows& expected, const std::string& what,
                bool check_kind) {
    size_t differences = 0;
    for (const auto& [id, row] : expected) {
        auto it = actual.find(id);
        if (it == actual.end()) {
            if (++differences <= 10) {
                BOOST_ERROR(what << ": missing " << id);
            }
            continue;
        }
        if (check_kind && (it->second.kind != row.kind || it->second.revision != row.revision)) {
            if (++differences <= 10) {
                BOOST_ERROR(what << ": " << id << " is " << it->second.kind << "/"
                                 << it->second.revision << ", expected " << row.kind << "/"
                                 << row.revision);
            }
        }
        for (const auto& [name, value] : row.values) {
            auto v = it->second.values.find(name);
            if (v == it->second.values.end() || !same_value(v->second, value)) {
                if (++differences <= 10) {
                    BOOST_ERROR(what
                                << ": " << id << " " << name << " = "
                                << (v == it->second.values.end() ? "absent" : describe(v->second))
                                << ", expected " << describe(value));
                }
            }
        }
    }
    for (const auto& [id, row] : actual) {
        if (expected.count(id) == 0 && ++differences <= 10) {
            BOOST_ERROR(what << ": unexpected " << id);
        }
    }
    BOOST_CHECK_MESSAGE(differences == 0, what << ": " << differences << " differences; "
                                               << actual.size() << " rows, expected "
                                               << expected.size());
}

Expected model_outcome(const Stream& s, const pipeline::EngineSpec& spec) {
    etld::reference::Model model(spec);
    Expected out;
    std::vector<pipeline::Result> finals;
    auto feed = [&](const std::vector<ProducedRecord>& records) {
        for (const auto& r : records) {
            etld::reference::Input in;
            in.raw = r.value;
            const etld::reference::Outcome o = model.step(in);
            if (o.rejected) {
                out.dead.insert({std::string(pipeline::name_of(*o.rejected)), r.value});
            }
            for (const auto p : o.late_pipelines) {
                out.late.insert({spec.pipelines[p].name, r.value});
            }
            for (const auto& result : o.results) {
                finals.push_back(result);
            }
        }
    };
    feed(s.main);
    feed(s.flush);
    feed(s.late);
    out.finals = expected_rows(finals, spec);
    return out;
}

Labelled labelled(const std::vector<ConsumedRecord>& records, const std::string& header) {
    Labelled out;
    for (const auto& r : records) {
        auto it = r.headers.find(header);
        out.insert({it == r.headers.end() ? "" : it->second, r.value});
    }
    return out;
}

void check_source_headers(const Scenario& s, const std::vector<ConsumedRecord>& records,
                          const std::string& what) {
    std::map<std::pair<int, std::int64_t>, std::string> input;
    for (const auto& r : read_all(s.input, "read_uncommitted")) {
        input[{r.partition, r.offset}] = r.value;
    }
    std::size_t wrong = 0;
    for (const auto& r : records) {
        auto header = [&](const char* name) {
            auto it = r.headers.find(name);
            return it == r.headers.end() ? std::string() : it->second;
        };
        const std::string partition = header("etld.source.partition");
        const std::string offset = header("etld.source.offset");
        const bool parsed = !partition.empty() && !offset.empty() &&
                            partition.find_first_not_of("0123456789") == std::string::npos &&
                            offset.find_first_not_of("0123456789") == std::string::npos;
        auto it = parsed ? input.find({std::stoi(partition), std::stoll(offset)}) : input.end();
        if (header("etld.source.topic") != s.input || it == input.end() || it->second != r.value) {
            if (++wrong <= 10) {
                BOOST_ERROR(what << ": a record names source '" << header("etld.source.topic")
                                 << "' " << partition << "@" << offset
                                 << ", which is not the input record it copies");
            }
        }
    }
    BOOST_CHECK_MESSAGE(wrong == 0, what << ": " << wrong << " of " << records.size()
                                         << " records with wrong source headers");
}

void check_repartitioned_once(const Scenario& s, const Expected& expected) {
    std::set<std::string> rejected;
    for (const auto& [reason, raw] : expected.dead) {
        rejected.insert(raw);
    }
    using Coordinates = std::pair<int, std::int64_t>;  // input partition, offset
    std::set<Coordinates> wanted;
    for (const auto& r : read_all(s.input, "read_uncommitted")) {
        if (rejected.count(r.value) == 0) {
            wanted.insert({r.partition, r.offset});
        }
    }
    BOOST_REQUIRE(!wanted.empty());
    for (const auto& topic : s.repartition_topics()) {
        std::map<Coordinates, int> seen;
        for (const auto& r : read_all(topic, "read_committed")) {
            // One header, "<input topic>:<partition>:<offset>".
            auto it = r.headers.find("etld.source");
            const std::string source = it == r.headers.end() ? std::string() : it->second;
            const auto last = source.rfind(':');
            const auto middle = last == std::string::npos || last == 0
                                    ? std::string::npos
                                    : source.rfind(':', last - 1);
            BOOST_REQUIRE_MESSAGE(
                middle != std::string::npos && source.substr(0, middle) == s.input,
                topic << " holds a record from '" << source << "'");
            seen[{std::stoi(source.substr(middle + 1, last - middle - 1)),
                  std::stoll(source.substr(last + 1))}]++;
        }
        std::size_t differences = 0;
        for (const auto& c : wanted) {
            auto it = seen.find(c);
            const int times = it == seen.end() ? 0 : it->second;
            if (times != 1 && ++differences <= 10) {
                BOOST_ERROR(topic << ": input record " << c.first << "@" << c.second << " appears "
                                  << times << " times");
            }
        }
        for (const auto& [c, times] : seen) {
            if (wanted.count(c) == 0 && ++differences <= 10) {
                BOOST_ERROR(topic << ": unexpected record from input " << c.first << "@"
                                  << c.second);
            }
        }
        BOOST_CHECK_MESSAGE(differences == 0, topic << ": " << differences << " differences; "
                                                    << seen.size() << " input records, expected "
                                                    << wanted.size());
    }
}

}  // namespace etld::test
