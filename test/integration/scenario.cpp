#include "scenario.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "broker.h"

namespace etld::test {

namespace kafka = etld::pipeline::kafka;
namespace pipeline = etld::pipeline;

namespace {

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

}  // namespace

Stream make_stream(std::uint64_t seed, int events, int users, int partitions) {
    std::mt19937_64 rng(seed);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    Stream s;
    std::vector<ProducedRecord> originals;
    for (int i = 0; i < events; ++i) {
        const std::int64_t time = kT0 + i * 30 - uniform(0, 1000);  // disorder up to 1 s
        const std::string id = "ev-" + std::to_string(seed) + "-" + std::to_string(i);
        ProducedRecord r{
            uniform(0, partitions - 1), "",
            event_json(id, time, uniform(1, users), kTypes[uniform(0, 3)], kProducts[uniform(0, 4)],
                       uniform(1000, 200000), uniform(1, 4))};
        s.main.push_back(r);
        originals.push_back(r);
        if (uniform(0, 99) < 5) {  // a duplicate, sometimes on another partition
            ProducedRecord dup = originals[uniform(0, static_cast<int>(originals.size()) - 1)];
            if (uniform(0, 1) == 0) {
                dup.partition = (dup.partition + 1) % partitions;
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
            s.main.push_back({uniform(0, partitions - 1), "",
                              bad[uniform(0, static_cast<int>(bad.size()) - 1)]});
        }
    }
    for (int u = 1; u <= users; ++u) {
        s.flush.push_back({u % partitions, "",
                           event_json("flush-" + std::to_string(seed) + "-" + std::to_string(u),
                                      kT0 + kDay + u, u, kTypes[u % 4], kProducts[u % 5], 100, 1)});
    }
    for (int i = 0; i < 40; ++i) {
        s.late.push_back({i % partitions, "",
                          event_json("late-" + std::to_string(seed) + "-" + std::to_string(i),
                                     kT0 + 10000 + i, uniform(1, users), kTypes[uniform(0, 3)],
                                     kProducts[uniform(0, 4)], 999, 1)});
    }
    return s;
}

Scenario::Scenario(const std::string& prefix, int partition_count)
    : name(unique_name(prefix)),
      partitions(partition_count),
      input(name + "-in"),
      output(name + "-out"),
      late(name + "-late"),
      dead(name + "-dlq"),
      group(name + "-group"),
      config(dir.path + "/etld.toml"),
      db(dir.path + "/results.db"),
      log(dir.path + "/etld.log") {}

// One internal topic of each of the scenario's three keyspaces.
static std::vector<std::string> per_keyspace(const Scenario& s, const std::string& kind) {
    std::vector<std::string> topics;
    for (const char* keyspace : {"event_type", "global", "user_id"}) {
        topics.push_back(s.name + "-" + s.group + "-" + kind + "-" + keyspace);
    }
    return topics;
}

std::vector<std::string> Scenario::repartition_topics() const {
    return per_keyspace(*this, "repartition");
}

std::vector<std::string> Scenario::changelog_topics() const {
    return per_keyspace(*this, "changelog");
}

std::vector<std::string> Scenario::stages() const {
    std::vector<std::string> topics = {input};
    for (const auto& t : repartition_topics()) {
        topics.push_back(t);
    }
    return topics;
}

void write_config(const Scenario& s, const std::string& path, const InstanceSettings& instance) {
    std::ofstream out(path);
    const std::string state_dir = instance.state_dir.empty() ? s.dir.path : instance.state_dir;
    out << "[service]\nname = \"" << s.name << "\"\nstate_dir = \"" << state_dir << "\"\n"
        << "[kafka]\nbootstrap_servers = \"" << bootstrap_servers() << "\"\n"
        << "group_id = \"" << s.group << "\"\ntransactional_id = \"" << instance.transactional_id
        << "\"\n"
        << "commit_interval = \"" << instance.commit_interval << "\"\n"
        << "max_batch_events = " << instance.max_batch_events << "\n"
        << "[kafka.consumer]\n\"session.timeout.ms\" = " << instance.session_timeout_ms << "\n"
        << "\"heartbeat.interval.ms\" = 500\n";
    if (instance.transaction_timeout_ms > 0) {
        out << "[kafka.producer]\n\"transaction.timeout.ms\" = " << instance.transaction_timeout_ms
            << "\n";
    }
    out << "[input]\ntopics = [\"" << s.input << "\"]\npartitioned_by = \"\"\n"
        << "[schema]\nid_field = \"event_id\"\ntime_field = \"timestamp\"\n"
        << "time_format = \"iso8601\"\n[schema.fields]\nuser_id = \"string\"\n"
        << "event_type = \"string\"\nproduct = \"string\"\nprice = \"double\"\n"
        << "quantity = \"int\"\n"
        << "[dedup]\nhorizon = \"1d\"\n"
        << "[watermark]\nmax_out_of_orderness = \"1h\"\nidle_timeout = \"1d\"\n"
        << "[topics]\noutput = \"" << s.output << "\"\nlate = \"" << s.late
        << "\"\ndead_letter = \"" << s.dead << "\"\ninternal_prefix = \"" << s.name
        << "\"\npartitions = " << s.partitions << "\n"
        << "[storage]\nsqlite_path = \"" << instance.sqlite_path << "\"\n"
        << "[http]\nenabled = false\n"
        << kPipelines;
}

void write_config(const Scenario& s) {
    InstanceSettings only;
    only.transactional_id = s.name + "-txn";
    only.sqlite_path = s.db;
    write_config(s, s.config, only);
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

std::vector<std::int64_t> committed(const std::string& group, const std::string& topic, int n) {
    kafka::KafkaPtr consumer =
        kafka::make_consumer({{"bootstrap.servers", bootstrap_servers()}, {"group.id", group}});
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

bool drained(const std::string& group, const std::string& topic, int partitions) {
    std::vector<std::int64_t> next(static_cast<size_t>(partitions), 0);
    for (const auto& r : read_all(topic, "read_committed")) {
        next[static_cast<size_t>(r.partition)] =
            std::max(next[static_cast<size_t>(r.partition)], r.offset + 1);
    }
    const auto done = committed(group, topic, partitions);
    for (size_t p = 0; p < next.size(); ++p) {
        if (next[p] > 0 && done[p] < next[p]) {
            return false;
        }
    }
    return true;
}

std::size_t count_records(const std::string& topic) {
    try {
        return read_all(topic, "read_committed", std::chrono::seconds(20)).size();
    } catch (const std::exception&) {
        return 0;  // not created yet
    }
}

std::string progress(const std::string& group, const std::vector<std::string>& topics,
                     int partitions) {
    kafka::KafkaPtr consumer =
        kafka::make_consumer({{"bootstrap.servers", bootstrap_servers()}, {"group.id", group}});
    std::ostringstream out;
    for (const auto& topic : topics) {
        const auto done = committed(group, topic, partitions);
        out << topic << ":";
        for (int p = 0; p < partitions; ++p) {
            int64_t low = 0;
            int64_t high = 0;
            rd_kafka_query_watermark_offsets(consumer.get(), topic.c_str(), p, &low, &high, 10000);
            out << " " << p << "=" << done[static_cast<size_t>(p)] << "/" << high;
        }
        out << "\n";
    }
    return out.str();
}

std::string visible_records(const std::string& topic) {
    std::ostringstream out;
    for (const char* level : {"read_committed", "read_uncommitted"}) {
        out << level << ": ";
        try {
            out << read_all(topic, level, std::chrono::seconds(20)).size();
        } catch (const std::exception& e) {
            out << e.what();
        }
        out << "; ";
    }
    return out.str();
}

std::size_t count_lines(const std::string& path, const std::string& prefix) {
    std::ifstream in(path);
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) == 0) {
            ++n;
        }
    }
    return n;
}

int last_assignment(const std::string& log) {
    std::ifstream in(log);
    std::string line;
    int n = -1;
    const std::string prefix = "<6>assigned ";
    while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) == 0) {
            n = std::atoi(line.c_str() + prefix.size());
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

}  // namespace etld::test
