// Exactly-once, end to end: the real etld binary against a real broker, on a
// stream with duplicates (also on other partitions), disorder, malformed and
// too-late records, over a 3-partition input not keyed by any group-by key.
// The output topic, the late and dead-letter topics and the SQLite tables
// must equal what the brute-force reference model computes from the same
// records: nothing missing, nothing twice, nothing extra — also when etld is
// killed with SIGKILL again and again while it works.
//
// Timing never decides the outcome: the input's disorder stays far inside
// max_out_of_orderness (so no event of the main stream is late whatever the
// partitions' interleaving), windows are closed by flush events a day later,
// and the deliberately too-late events are sent only once every expected
// result is visible.
#include <signal.h>

#include <boost/test/unit_test.hpp>

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "broker.h"
#include "etld/pipeline/result.h"
#include "etld/pipeline/spec.h"
#include "etld_process.h"
#include "reference_model.h"
#include "storage/query.h"

namespace test = etld::test;
namespace pipeline = etld::pipeline;

namespace {

constexpr std::int64_t kT0 = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kDay = 86400000;

std::string iso(std::int64_t ms) {
    const std::time_t s = ms / 1000;
    std::tm tm{};
    gmtime_r(&s, &tm);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    return buffer;
}

const std::vector<std::string> kTypes = {"view", "add_to_cart", "purchase", "remove_from_cart"};
const std::vector<std::string> kProducts = {"laptop", "mouse", "keyboard", "monitor", "headphones"};

std::string event_json(const std::string& id, std::int64_t time, int user, const std::string& type,
                       const std::string& product, int cents, int quantity) {
    std::ostringstream out;
    out << "{\"event_id\":\"" << id << "\",\"timestamp\":\"" << iso(time)
        << "\",\"user_id\":\"user_" << user << "\",\"event_type\":\"" << type << "\",\"product\":\""
        << product << "\",\"price\":" << cents / 100 << "." << (cents % 100 < 10 ? "0" : "")
        << cents % 100 << ",\"quantity\":" << quantity << "}";
    return out.str();
}

struct Stream {
    std::vector<test::ProducedRecord> main;   // in produce order
    std::vector<test::ProducedRecord> flush;  // closes every window of the main stream
    std::vector<test::ProducedRecord> late;   // too late for every pipeline
};

Stream make_stream(std::uint64_t seed, int events, int users) {
    std::mt19937_64 rng(seed);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    Stream s;
    std::vector<test::ProducedRecord> originals;
    for (int i = 0; i < events; ++i) {
        const std::int64_t time = kT0 + i * 30 - uniform(0, 1000);  // disorder up to 1 s
        const std::string id = "ev-" + std::to_string(seed) + "-" + std::to_string(i);
        test::ProducedRecord r{
            uniform(0, 2), "",
            event_json(id, time, uniform(1, users), kTypes[uniform(0, 3)], kProducts[uniform(0, 4)],
                       uniform(1000, 200000), uniform(1, 4))};
        s.main.push_back(r);
        originals.push_back(r);
        if (uniform(0, 99) < 5) {  // a duplicate, sometimes on another partition
            test::ProducedRecord dup =
                originals[uniform(0, static_cast<int>(originals.size()) - 1)];
            if (uniform(0, 1) == 0) {
                dup.partition = (dup.partition + 1) % 3;
            }
            s.main.push_back(dup);
        }
        if (uniform(0, 99) < 1) {  // malformed records of several kinds
            static const std::vector<std::string> bad = {
                "{not json", "[1,2,3]", "{\"event_id\":\"x\"}",
                "{\"event_id\":\"b1\",\"timestamp\":\"yesterday\",\"user_id\":\"user_1\","
                "\"event_type\":\"view\",\"product\":\"mouse\",\"price\":1.5,\"quantity\":1}",
                "{\"event_id\":\"b2\",\"timestamp\":\"2026-01-01T00:00:01Z\",\"user_id\":\"user_"
                "1\","
                "\"event_type\":\"view\",\"product\":\"mouse\",\"price\":\"cheap\",\"quantity\":"
                "1}"};
            s.main.push_back(
                {uniform(0, 2), "", bad[uniform(0, static_cast<int>(bad.size()) - 1)]});
        }
    }
    for (int u = 1; u <= users; ++u) {
        s.flush.push_back({u % 3, "",
                           event_json("flush-" + std::to_string(seed) + "-" + std::to_string(u),
                                      kT0 + kDay + u, u, kTypes[u % 4], kProducts[u % 5], 100, 1)});
    }
    for (int i = 0; i < 40; ++i) {
        s.late.push_back({i % 3, "",
                          event_json("late-" + std::to_string(seed) + "-" + std::to_string(i),
                                     kT0 + 10000 + i, uniform(1, users), kTypes[uniform(0, 3)],
                                     kProducts[uniform(0, 4)], 999, 1)});
    }
    return s;
}

struct Scenario {
    test::TempDir dir;
    std::string name = test::unique_name("eo");
    std::string input = name + "-in";
    std::string output = name + "-out";
    std::string late = name + "-late";
    std::string dead = name + "-dlq";
    std::string config = dir.path + "/etld.toml";
    std::string db = dir.path + "/results.db";
    std::string log = dir.path + "/etld.log";
};

const char* kPipelines = R"(
[[pipeline]]
name = "by_type"
window = { type = "tumbling", size = "10s" }
group_by = ["event_type"]
emit = "final"
allowed_lateness = "2s"
[[pipeline.aggregate]]
name = "events"
fn = "count"
[[pipeline.aggregate]]
name = "revenue"
fn = "sum"
expr = "price * quantity"
where = "event_type == 'purchase'"

[[pipeline]]
name = "products"
window = { type = "sliding", size = "20s", slide = "5s" }
group_by = []
emit = "final"
[[pipeline.aggregate]]
name = "top_products"
fn = "top_k"
field = "product"
k = 3
[[pipeline.aggregate]]
name = "unique_users"
fn = "count_distinct"
field = "user_id"
[[pipeline.aggregate]]
name = "views"
fn = "count"
where = "event_type == 'view'"
[[pipeline.aggregate]]
name = "purchases"
fn = "count"
where = "event_type == 'purchase'"
[[pipeline.aggregate]]
name = "conversion_rate"
fn = "ratio"
numerator = "purchases"
denominator = "views"

[[pipeline]]
name = "sessions"
window = { type = "session", gap = "3s" }
group_by = ["user_id"]
emit = "final"
[[pipeline.aggregate]]
name = "events"
fn = "count"
[[pipeline.aggregate]]
name = "spent"
fn = "sum"
expr = "price * quantity"
where = "event_type == 'purchase'"
)";

void write_config(const Scenario& s) {
    std::ofstream out(s.config);
    out << "[service]\nname = \"" << s.name << "\"\nstate_dir = \"" << s.dir.path << "\"\n"
        << "[kafka]\nbootstrap_servers = \"" << test::bootstrap_servers() << "\"\n"
        << "group_id = \"" << s.name << "-group\"\ntransactional_id = \"" << s.name << "-txn\"\n"
        << "commit_interval = \"100ms\"\nmax_batch_events = 300\n"
        << "[kafka.consumer]\n\"session.timeout.ms\" = 6000\n"
        << "\"heartbeat.interval.ms\" = 500\n"
        << "[input]\ntopics = [\"" << s.input << "\"]\npartitioned_by = \"\"\n"
        << "[schema]\nid_field = \"event_id\"\ntime_field = \"timestamp\"\n"
        << "time_format = \"iso8601\"\n[schema.fields]\nuser_id = \"string\"\n"
        << "event_type = \"string\"\nproduct = \"string\"\nprice = \"double\"\n"
        << "quantity = \"int\"\n"
        << "[dedup]\nhorizon = \"1d\"\n"
        << "[watermark]\nmax_out_of_orderness = \"1h\"\nidle_timeout = \"1d\"\n"
        << "[topics]\noutput = \"" << s.output << "\"\nlate = \"" << s.late
        << "\"\ndead_letter = \"" << s.dead << "\"\ninternal_prefix = \"" << s.name
        << "\"\npartitions = 3\n"
        << "[storage]\nsqlite_path = \"" << s.db << "\"\n"
        << "[http]\nenabled = false\n"
        << kPipelines;
}

pipeline::EngineSpec engine_spec() {
    pipeline::EngineSpec spec;
    spec.schema = pipeline::default_seed_schema();
    spec.dedup_horizon = pipeline::DurationMs{kDay};
    spec.max_out_of_orderness = pipeline::DurationMs{3600000};
    spec.idle_timeout = pipeline::DurationMs{kDay};
    auto agg = [](std::string name, pipeline::AggregateFn fn) {
        pipeline::AggregateSpec a;
        a.name = std::move(name);
        a.fn = fn;
        return a;
    };
    pipeline::PipelineSpec by_type;
    by_type.name = "by_type";
    by_type.window = {pipeline::WindowType::tumbling, pipeline::DurationMs{10000},
                      pipeline::DurationMs{0}, pipeline::DurationMs{0}};
    by_type.group_by = {"event_type"};
    by_type.allowed_lateness = pipeline::DurationMs{2000};
    by_type.aggregates.push_back(agg("events", pipeline::AggregateFn::count));
    auto revenue = agg("revenue", pipeline::AggregateFn::sum);
    revenue.expr = "price * quantity";
    revenue.where = "event_type == 'purchase'";
    by_type.aggregates.push_back(revenue);

    pipeline::PipelineSpec products;
    products.name = "products";
    products.window = {pipeline::WindowType::sliding, pipeline::DurationMs{20000},
                       pipeline::DurationMs{5000}, pipeline::DurationMs{0}};
    auto top = agg("top_products", pipeline::AggregateFn::top_k);
    top.field = "product";
    top.k = 3;
    products.aggregates.push_back(top);
    auto users = agg("unique_users", pipeline::AggregateFn::count_distinct);
    users.field = "user_id";
    products.aggregates.push_back(users);
    auto views = agg("views", pipeline::AggregateFn::count);
    views.where = "event_type == 'view'";
    products.aggregates.push_back(views);
    auto purchases = agg("purchases", pipeline::AggregateFn::count);
    purchases.where = "event_type == 'purchase'";
    products.aggregates.push_back(purchases);
    auto ratio = agg("conversion_rate", pipeline::AggregateFn::ratio);
    ratio.numerator = "purchases";
    ratio.denominator = "views";
    products.aggregates.push_back(ratio);

    pipeline::PipelineSpec sessions;
    sessions.name = "sessions";
    sessions.window = {pipeline::WindowType::session, pipeline::DurationMs{0},
                       pipeline::DurationMs{0}, pipeline::DurationMs{3000}};
    sessions.group_by = {"user_id"};
    sessions.aggregates.push_back(agg("events", pipeline::AggregateFn::count));
    auto spent = agg("spent", pipeline::AggregateFn::sum);
    spent.expr = "price * quantity";
    spent.where = "event_type == 'purchase'";
    sessions.aggregates.push_back(spent);

    spec.pipelines = {by_type, products, sessions};
    return spec;
}

// A result in a form both sides can be turned into: the window's identity as
// text, and its values (integers, doubles, null, or top-k as text).
using Val = std::variant<std::monostate, std::int64_t, double, std::string>;
struct Row {
    std::string kind;
    std::int64_t revision = 0;
    std::map<std::string, Val> values;
};
using Rows = std::map<std::string, Row>;

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

// Parses the output topic. Fails the test on a window seen twice.
Rows topic_rows(const std::vector<test::ConsumedRecord>& records,
                const pipeline::EngineSpec& spec) {
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

bool same_value(const Val& a, const Val& b) {
    if (a.index() != b.index()) {
        // An integral double and an integer are the same number.
        if (std::holds_alternative<double>(a) && std::holds_alternative<std::int64_t>(b)) {
            return std::get<double>(a) == static_cast<double>(std::get<std::int64_t>(b));
        }
        if (std::holds_alternative<std::int64_t>(a) && std::holds_alternative<double>(b)) {
            return same_value(b, a);
        }
        return false;
    }
    if (const auto* d = std::get_if<double>(&a)) {
        // Sums added in a different order differ in the last bits only.
        const double e = std::get<double>(b);
        return std::fabs(*d - e) <= 1e-9 * std::max(1.0, std::fabs(e));
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

// Checks `actual` against `expected`, naming every difference.
void check_rows(const Rows& actual, const Rows& expected, const std::string& what,
                bool check_kind = true) {
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

struct Expected {
    Rows finals;
    std::multiset<std::pair<std::string, std::string>> dead;  // (reason, raw)
    std::multiset<std::pair<std::string, std::string>> late;  // (pipeline, raw)
};

// Runs the reference model over the records in the order given. The order
// within the main stream does not matter for the outcome (see the top).
Expected model_outcome(const Stream& s, const pipeline::EngineSpec& spec) {
    etld::reference::Model model(spec);
    Expected out;
    std::vector<pipeline::Result> finals;
    auto feed = [&](const std::vector<test::ProducedRecord>& records) {
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

size_t count_records(const std::string& topic) {
    try {
        return test::read_all(topic, "read_committed", std::chrono::seconds(20)).size();
    } catch (const std::exception&) {
        return 0;  // not created yet
    }
}

// The group's committed offsets for partitions 0..n-1 of `topic`.
std::vector<std::int64_t> committed(const std::string& group, const std::string& topic, int n) {
    namespace kafka = etld::pipeline::kafka;
    kafka::KafkaPtr consumer = kafka::make_consumer(
        {{"bootstrap.servers", test::bootstrap_servers()}, {"group.id", group}});
    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(n));
    for (int p = 0; p < n; ++p) {
        rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    }
    std::vector<std::int64_t> out(static_cast<size_t>(n), -1);
    if (rd_kafka_committed(consumer.get(), list.get(), 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < list->cnt; ++i) {
            out[static_cast<size_t>(list->elems[i].partition)] = list->elems[i].offset;
        }
    }
    return out;
}

// True once etld has consumed and committed every record of `topic`: the
// committed offset of each partition is past its last committed record
// (transaction markers may follow it).
bool drained(const std::string& group, const std::string& topic) {
    std::vector<std::int64_t> next(3, 0);
    for (const auto& r : test::read_all(topic, "read_committed")) {
        next[static_cast<size_t>(r.partition)] =
            std::max(next[static_cast<size_t>(r.partition)], r.offset + 1);
    }
    const auto done = committed(group, topic, 3);
    for (size_t p = 0; p < 3; ++p) {
        if (next[p] > 0 && done[p] < next[p]) {
            return false;
        }
    }
    return true;
}

size_t count_lines(const std::string& path, const std::string& prefix) {
    std::ifstream in(path);
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) == 0) {
            ++n;
        }
    }
    return n;
}

std::string tail(const std::string& path) {
    std::ifstream in(path);
    std::stringstream all;
    all << in.rdbuf();
    const std::string text = all.str();
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

// The whole scenario; `kills` SIGKILLs while the main stream is processed.
enum class Disruption { none, kills, fencing, broker_restart };

// A broker of the test's own, for tests that stop it; the shared one stays
// up. Its address replaces ETLD_TEST_BOOTSTRAP for the test's duration.
struct OwnBroker {
    test::TempDir dir;
    std::string previous;
    OwnBroker() {
        if (const char* b = std::getenv("ETLD_TEST_BOOTSTRAP")) {
            previous = b;
        }
        run("start " + dir.path);
        std::ifstream in(dir.path + "/bootstrap");
        std::string address;
        in >> address;
        ::setenv("ETLD_TEST_BOOTSTRAP", address.c_str(), 1);
    }
    ~OwnBroker() {
        run("stop " + dir.path + " --kill");
        if (previous.empty()) {
            ::unsetenv("ETLD_TEST_BOOTSTRAP");
        } else {
            ::setenv("ETLD_TEST_BOOTSTRAP", previous.c_str(), 1);
        }
    }
    static void run(const std::string& args) {
        const std::string command =
            std::string(ETLD_SOURCE_DIR) + "/test/kafka/" + args + " > /dev/null";
        BOOST_REQUIRE_EQUAL(std::system(command.c_str()), 0);
    }
    void restart(std::chrono::milliseconds outage) {
        run("stop " + dir.path);
        std::this_thread::sleep_for(outage);
        run("start " + dir.path + " --keep-data");
    }
};

void run_scenario(std::uint64_t seed, int events, Disruption disruption) {
    const int kills = disruption == Disruption::kills ? 10 : 0;
    std::unique_ptr<OwnBroker> own_broker;
    if (disruption == Disruption::broker_restart) {
        own_broker = std::make_unique<OwnBroker>();
    }
    Scenario s;
    const pipeline::EngineSpec spec = engine_spec();
    const Stream stream = make_stream(seed, events, 40);
    const Expected expected = model_outcome(stream, spec);
    BOOST_TEST_MESSAGE("model: " << expected.finals.size() << " results, " << expected.dead.size()
                                 << " dead letters, " << expected.late.size() << " late records");
    BOOST_REQUIRE(!expected.finals.empty());
    BOOST_REQUIRE(!expected.dead.empty());
    BOOST_REQUIRE(!expected.late.empty());

    test::create_topic(s.input, 3);
    write_config(s);
    auto etld = std::make_unique<test::EtldProcess>(s.config, s.log);

    std::mt19937_64 rng(seed);
    const size_t chunks = static_cast<size_t>(std::max(2, kills) * 3);
    const size_t per_chunk = (stream.main.size() + chunks - 1) / chunks;
    int killed = 0;
    size_t assignments_seen = 0;
    for (size_t c = 0; c < chunks; ++c) {
        const auto first =
            stream.main.begin() + static_cast<long>(std::min(c * per_chunk, stream.main.size()));
        const auto last = stream.main.begin() +
                          static_cast<long>(std::min((c + 1) * per_chunk, stream.main.size()));
        test::produce_records(s.input, {first, last});
        if (killed < kills && c % 3 == 1) {
            // Kill it while it works: after it has been assigned partitions
            // (and so restored its state), at a random moment.
            const bool assigned = test::wait_until(
                [&] { return count_lines(s.log, "<6>assigned ") > assignments_seen; },
                std::chrono::minutes(1));
            BOOST_REQUIRE_MESSAGE(assigned, "etld was never assigned partitions; log:\n"
                                                << tail(s.log));
            assignments_seen = count_lines(s.log, "<6>assigned ");
            std::this_thread::sleep_for(
                std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 1500)(rng)));
            etld->kill_now();
            ++killed;
            etld = std::make_unique<test::EtldProcess>(s.config, s.log);
        }
        if (disruption == Disruption::fencing && c == 1) {
            // A second instance with the same transactional.id fences the
            // first, which must stop on its own, non-zero, without committing.
            BOOST_REQUIRE(test::wait_until([&] { return count_lines(s.log, "<6>assigned ") > 0; },
                                           std::chrono::minutes(1)));
            auto second = std::make_unique<test::EtldProcess>(s.config, s.dir.path + "/second.log");
            const int status = etld->wait(std::chrono::minutes(2));
            BOOST_CHECK_MESSAGE(status != 0 && status != -1,
                                "the fenced instance exited with " << status);
            BOOST_CHECK_MESSAGE(count_lines(s.log, "<3>fenced: another instance") == 1,
                                "no fencing line in the first instance's log:\n"
                                    << tail(s.log));
            etld = std::move(second);
            s.log = s.dir.path + "/second.log";
        }
        if (disruption == Disruption::broker_restart && c == 2) {
            own_broker->restart(std::chrono::seconds(3));
        }
    }
    BOOST_REQUIRE_EQUAL(killed, kills);

    // The flush closes every window; it must come after every main-stream
    // event reached its task, or a task could see it first and call the rest
    // too late. So wait until the input and then each repartition topic are
    // consumed and committed.
    const std::string group = s.name + "-group";
    std::vector<std::string> stages = {s.input};
    for (const char* keyspace : {"event_type", "global", "user_id"}) {
        stages.push_back(s.name + "-" + group + "-repartition-" + keyspace);
    }
    for (const auto& topic : stages) {
        const bool done =
            test::wait_until([&] { return drained(group, topic); }, std::chrono::minutes(3));
        BOOST_REQUIRE_MESSAGE(done, topic << " was not drained; etld log:\n" << tail(s.log));
    }
    test::produce_records(s.input, stream.flush);

    // Every expected result visible, then the too-late records.
    const bool all_results = test::wait_until(
        [&] { return count_records(s.output) >= expected.finals.size(); }, std::chrono::minutes(4));
    BOOST_REQUIRE_MESSAGE(all_results, "results did not appear; etld log:\n" << tail(s.log));
    test::produce_records(s.input, stream.late);
    const bool all_late = test::wait_until(
        [&] { return count_records(s.late) >= expected.late.size(); }, std::chrono::minutes(2));
    BOOST_CHECK_MESSAGE(all_late, "late records did not appear; etld log:\n" << tail(s.log));
    const bool materialized =
        test::wait_until([&] { return sqlite_rows(s.db, spec).size() >= expected.finals.size(); },
                         std::chrono::minutes(1));
    BOOST_CHECK_MESSAGE(materialized, "SQLite did not catch up; etld log:\n" << tail(s.log));
    // Give a wrongly extra record the chance to show up before checking.
    std::this_thread::sleep_for(std::chrono::seconds(2));

    etld->signal(SIGTERM);
    BOOST_CHECK_EQUAL(etld->wait(std::chrono::seconds(60)), 0);

    check_rows(topic_rows(test::read_all(s.output, "read_committed"), spec), expected.finals,
               "output topic");
    check_rows(sqlite_rows(s.db, spec), expected.finals, "SQLite");

    std::multiset<std::pair<std::string, std::string>> dead;
    std::multiset<std::pair<std::string, std::string>> late;
    {
        // Headers carry the reason and the pipeline; read them with librdkafka.
        namespace kafka = etld::pipeline::kafka;
        for (const auto& [topic, header, target] : {std::tuple{s.dead, "etld.reason", &dead},
                                                    std::tuple{s.late, "etld.pipeline", &late}}) {
            kafka::KafkaPtr consumer =
                kafka::make_consumer({{"bootstrap.servers", test::bootstrap_servers()},
                                      {"group.id", test::unique_name("hdr")},
                                      {"isolation.level", "read_committed"},
                                      {"enable.partition.eof", "true"},
                                      {"enable.auto.commit", "false"}});
            kafka::PartitionListPtr parts(rd_kafka_topic_partition_list_new(3));
            for (int p = 0; p < 3; ++p) {
                rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), p)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
            }
            rd_kafka_assign(consumer.get(), parts.get());
            int eofs = 0;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            while (eofs < 3 && std::chrono::steady_clock::now() < deadline) {
                kafka::MessagePtr m(rd_kafka_consumer_poll(consumer.get(), 200));
                if (!m) {
                    continue;
                }
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    ++eofs;
                    continue;
                }
                if (m->err) {
                    continue;
                }
                rd_kafka_headers_t* hdrs = nullptr;
                std::string label;
                const void* value = nullptr;
                size_t size = 0;
                if (rd_kafka_message_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    rd_kafka_header_get_last(hdrs, header, &value, &size) ==
                        RD_KAFKA_RESP_ERR_NO_ERROR) {
                    label.assign(static_cast<const char*>(value), size);
                }
                target->insert({label, std::string(static_cast<const char*>(m->payload), m->len)});
            }
            rd_kafka_consumer_close(consumer.get());
        }
    }
    BOOST_CHECK_MESSAGE(dead == expected.dead,
                        "dead letters: " << dead.size() << ", expected " << expected.dead.size());
    BOOST_CHECK_MESSAGE(late == expected.late,
                        "late records: " << late.size() << ", expected " << expected.late.size());

    // SQLite is never the source of truth: delete it and it comes back.
    std::filesystem::remove(s.db);
    std::filesystem::remove(s.db + "-wal");
    std::filesystem::remove(s.db + "-shm");
    etld = std::make_unique<test::EtldProcess>(s.config, s.log);
    const bool rebuilt =
        test::wait_until([&] { return sqlite_rows(s.db, spec).size() >= expected.finals.size(); },
                         std::chrono::minutes(2));
    BOOST_CHECK_MESSAGE(rebuilt, "SQLite was not rebuilt; etld log:\n" << tail(s.log));
    etld->signal(SIGTERM);
    BOOST_CHECK_EQUAL(etld->wait(std::chrono::seconds(60)), 0);
    check_rows(sqlite_rows(s.db, spec), expected.finals, "rebuilt SQLite");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(exactly_once)

BOOST_AUTO_TEST_CASE(output_late_and_dead_letter_topics_and_sqlite_equal_the_reference_model) {
    run_scenario(11, 3000, Disruption::none);
}

BOOST_AUTO_TEST_CASE(results_stay_exact_when_etld_is_killed_ten_times_mid_stream) {
    run_scenario(12, 3000, Disruption::kills);
}

BOOST_AUTO_TEST_SUITE_END()

// Fencing and a broker restart: separate from the suite above so CTest can
// run them side by side.
BOOST_AUTO_TEST_SUITE(disruptions)

BOOST_AUTO_TEST_CASE(a_second_instance_with_the_same_transactional_id_fences_the_first) {
    run_scenario(13, 2000, Disruption::fencing);
}

BOOST_AUTO_TEST_CASE(etld_recovers_on_its_own_from_a_broker_restart_and_stays_exact) {
    run_scenario(14, 2000, Disruption::broker_restart);
}

BOOST_AUTO_TEST_SUITE_END()

// Start-up checks of the topics etld relies on: a wrong internal topic is a
// clear error at start, never silent misbehaviour later.
BOOST_AUTO_TEST_SUITE(etld_startup)

namespace {

// Runs etld on `s` until it exits; returns its status and checks that the
// log names the problem.
void expect_start_error(Scenario& s, const std::string& message) {
    write_config(s);
    test::EtldProcess etld(s.config, s.log);
    const int status = etld.wait(std::chrono::minutes(2));
    BOOST_CHECK_MESSAGE(status == 1, "etld exited with " << status << "; log:\n" << tail(s.log));
    std::ifstream in(s.log);
    std::stringstream all;
    all << in.rdbuf();
    BOOST_CHECK_MESSAGE(all.str().find(message) != std::string::npos, "the log does not say '"
                                                                          << message << "':\n"
                                                                          << tail(s.log));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_missing_input_topic_stops_etld_at_start_naming_it) {
    Scenario s;
    expect_start_error(s, "input topic '" + s.input + "' does not exist");
}

BOOST_AUTO_TEST_CASE(a_changelog_topic_with_the_wrong_partition_count_stops_etld_at_start) {
    Scenario s;
    test::create_topic(s.input, 3);
    const std::string changelog = s.name + "-" + s.name + "-group-changelog-event_type";
    test::create_topic(changelog, 1, {{"cleanup.policy", "compact"}});
    expect_start_error(s, "topic '" + changelog + "' has 1 partitions but etld needs 3");
}

BOOST_AUTO_TEST_CASE(a_changelog_topic_that_is_not_compacted_stops_etld_at_start) {
    Scenario s;
    test::create_topic(s.input, 3);
    const std::string changelog = s.name + "-" + s.name + "-group-changelog-user_id";
    test::create_topic(changelog, 3, {{"cleanup.policy", "delete"}});
    expect_start_error(
        s, "changelog topic '" + changelog + "' has cleanup.policy=delete; it must be compact");
}

BOOST_AUTO_TEST_SUITE_END()
