#define BOOST_TEST_MODULE etld_conf
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>

#include "conf/config.h"
#include "conf/load.h"
#include "test/unit/conf/conf_test_util.h"

using namespace etld::conf;
using namespace std::chrono_literals;
using etld::conf::test::kMinimal;
using etld::conf::test::must_load;

BOOST_AUTO_TEST_SUITE(loading_valid_configs)

BOOST_AUTO_TEST_CASE(a_minimal_config_gets_every_documented_default) {
    const Config c = must_load(kMinimal);

    BOOST_TEST(c.service.name == "etld");
    BOOST_TEST(c.service.log_level == LogLevel::info);
    BOOST_TEST(c.service.state_dir == "/var/lib/etld");
    BOOST_TEST(c.service.shutdown_timeout.count() == 30'000);

    BOOST_TEST(c.kafka.bootstrap_servers == "127.0.0.1:9092");
    BOOST_TEST(c.kafka.group_id == "etld");
    BOOST_TEST(c.kafka.transactional_id == "etld-1");
    BOOST_TEST(c.kafka.commit_interval.count() == 100);
    BOOST_TEST(c.kafka.max_batch_events == 10'000);
    BOOST_TEST(c.kafka.consumer.empty());
    BOOST_TEST(c.kafka.producer.empty());
    BOOST_TEST(c.kafka.secrets.empty());

    BOOST_TEST(c.input.topics == std::vector<std::string>{"shop.events"});
    BOOST_TEST(c.input.partitioned_by == "");
    BOOST_TEST(c.input.max_record_bytes == 1'048'576);

    BOOST_TEST(c.schema.id_field == "event_id");
    BOOST_TEST(c.schema.time_field == "timestamp");
    BOOST_TEST(c.schema.time_format == TimeFormat::iso8601);
    BOOST_TEST(c.schema.fields.empty());

    BOOST_TEST(c.dedup.horizon.count() == 3'600'000);
    BOOST_TEST(c.watermark.max_out_of_orderness.count() == 5'000);
    BOOST_TEST(c.watermark.idle_timeout.count() == 30'000);

    BOOST_TEST(c.topics.output == "etld.results");
    BOOST_TEST(c.topics.late == "etld.late");
    BOOST_TEST(c.topics.dead_letter == "etld.dead-letter");
    BOOST_TEST(c.topics.internal_prefix == "etld");
    BOOST_TEST(c.topics.partitions == 3);
    BOOST_TEST(c.topics.replication_factor == 1);
    BOOST_TEST(c.topics.retention.count() == 7LL * 24 * 3'600'000);

    BOOST_TEST(c.storage.sqlite_path == "/var/lib/etld/results.db");
    BOOST_TEST(c.storage.busy_timeout.count() == 5'000);

    BOOST_TEST(c.http.enabled);
    BOOST_TEST(c.http.listen == "127.0.0.1:9464");
    BOOST_TEST(c.http.host == "127.0.0.1");
    BOOST_TEST(c.http.port == 9464);

    BOOST_REQUIRE(c.pipelines.size() == 1U);
    const PipelineConfig& p = c.pipelines[0];
    BOOST_TEST(p.name.value == "counts");
    BOOST_TEST(p.window.type == WindowType::tumbling);
    BOOST_TEST(p.window.size.count() == 60'000);
    BOOST_TEST(p.window.slide.count() == 0);
    BOOST_TEST(p.window.gap.count() == 0);
    BOOST_TEST(p.group_by.empty());
    BOOST_TEST(p.emit == Emit::final);
    BOOST_TEST(p.allowed_lateness.count() == 0);
    BOOST_TEST(p.late_policy == LatePolicy::topic);
    BOOST_REQUIRE(p.aggregates.size() == 1U);
    BOOST_TEST(p.aggregates[0].name.value == "events");
    BOOST_TEST(p.aggregates[0].fn == AggregateFn::count);
    BOOST_TEST(p.aggregates[0].where.value == "");
}

BOOST_AUTO_TEST_CASE(a_full_config_parses_to_the_expected_structs) {
    const Config c = must_load(R"([service]
name = "etld-eu.1"
log_level = "notice"
state_dir = "/srv/etld"
shutdown_timeout = "1m"

[kafka]
bootstrap_servers = "k1:9092,k2:9092"
group_id = "shop"
transactional_id = "shop-1"
commit_interval = "250ms"
max_batch_events = 500
consumer = { "fetch.min.bytes" = 1, "check.crcs" = true }
producer = { "compression.type" = "zstd" }
secrets = { "sasl.password" = { env = "ETLD_PW" }, "ssl.key.password" = { file = "/etc/etld/key.pw" } }

[input]
topics = ["shop.events", "shop.events.replay"]
partitioned_by = "user_id"
max_record_bytes = 65536

[schema]
id_field = "id"
time_field = "ts"
time_format = "epoch_ms"

[schema.fields]
user_id = "string"
price = "double"
quantity = "int"
vip = "bool"

[dedup]
horizon = "2h"

[watermark]
max_out_of_orderness = "0ms"
idle_timeout = "10s"

[topics]
output = "out"
late = "late"
dead_letter = "dlq"
internal_prefix = "x"
partitions = 12
replication_factor = 3
retention = "30d"

[storage]
sqlite_path = "/srv/etld/r.db"
busy_timeout = "0ms"

[http]
enabled = false
listen = "[::1]:0"

[[pipeline]]
name = "spend"
window = { type = "sliding", size = "10m", slide = "2m" }
group_by = ["user_id", "vip"]
emit = "early"
allowed_lateness = "1h"
late_policy = "drop"

[[pipeline.aggregate]]
name = "avg_price"
fn = "avg"
expr = "price"
where = "vip"

[[pipeline.aggregate]]
name = "max_qty"
fn = "max"
expr = "quantity"

[[pipeline.aggregate]]
name = "share"
fn = "ratio"
numerator = "max_qty"
denominator = "avg_price"
)");
    Config e;
    e.service = ServiceConfig{"etld-eu.1", LogLevel::notice, "/srv/etld", 1min};
    e.kafka.bootstrap_servers = "k1:9092,k2:9092";
    e.kafka.group_id = "shop";
    e.kafka.transactional_id = "shop-1";
    e.kafka.commit_interval = 250ms;
    e.kafka.max_batch_events = 500;
    e.kafka.consumer = {{"fetch.min.bytes", "1"}, {"check.crcs", "true"}};
    e.kafka.producer = {{"compression.type", "zstd"}};
    e.kafka.secrets = {{"sasl.password", SecretRef{SecretKind::env, "ETLD_PW"}},
                       {"ssl.key.password", SecretRef{SecretKind::file, "/etc/etld/key.pw"}}};
    e.input = InputConfig{{"shop.events", "shop.events.replay"}, "user_id", 65536};
    e.schema.id_field = "id";
    e.schema.time_field = "ts";
    e.schema.time_format = TimeFormat::epoch_ms;
    e.schema.fields = {{{"user_id", {}}, FieldType::string},
                       {{"price", {}}, FieldType::float64},
                       {{"quantity", {}}, FieldType::int64},
                       {{"vip", {}}, FieldType::boolean}};
    e.dedup.horizon = 2h;
    e.watermark = WatermarkConfig{0ms, 10s};
    e.topics = TopicsConfig{"out", "late", "dlq", "x", 12, 3, std::chrono::days{30}};
    e.storage = StorageConfig{"/srv/etld/r.db", 0ms};
    e.http = HttpConfig{false, "[::1]:0", "::1", 0};
    PipelineConfig p;
    p.name.value = "spend";
    p.window = WindowConfig{WindowType::sliding, 10min, 2min, 0ms};
    p.group_by = {{"user_id", {}}, {"vip", {}}};
    p.emit = Emit::early;
    p.allowed_lateness = 1h;
    p.late_policy = LatePolicy::drop;
    AggregateConfig avg;
    avg.name.value = "avg_price";
    avg.fn = AggregateFn::avg;
    avg.expr.value = "price";
    avg.where.value = "vip";
    AggregateConfig max;
    max.name.value = "max_qty";
    max.fn = AggregateFn::max;
    max.expr.value = "quantity";
    AggregateConfig share;
    share.name.value = "share";
    share.fn = AggregateFn::ratio;
    share.numerator.value = "max_qty";
    share.denominator.value = "avg_price";
    p.aggregates = {avg, max, share};
    e.pipelines = {p};

    BOOST_TEST((c.service == e.service));
    BOOST_TEST((c.kafka == e.kafka));
    BOOST_TEST((c.input == e.input));
    BOOST_TEST((c.schema == e.schema));
    BOOST_TEST((c.dedup == e.dedup));
    BOOST_TEST((c.watermark == e.watermark));
    BOOST_TEST((c.topics == e.topics));
    BOOST_TEST((c.storage == e.storage));
    BOOST_TEST((c.http == e.http));
    BOOST_TEST((c.pipelines == e.pipelines));
    BOOST_TEST((c == e));
}

BOOST_AUTO_TEST_CASE(schema_fields_keep_the_order_of_the_file) {
    const Config c = must_load(std::string(kMinimal) + R"(
[schema.fields]
zeta = "string"
alpha = "int"
mid = "double"
)");
    BOOST_REQUIRE(c.schema.fields.size() == 3U);
    BOOST_TEST(c.schema.fields[0].name.value == "zeta");
    BOOST_TEST(c.schema.fields[1].name.value == "alpha");
    BOOST_TEST(c.schema.fields[2].name.value == "mid");
    BOOST_TEST(c.schema.fields[1].name.pos.line == 19U);
    BOOST_TEST(c.schema.fields[1].name.pos.column == 1U);
    BOOST_TEST(c.schema.find("mid")->type == FieldType::float64);
    BOOST_TEST(c.schema.find("nope") == nullptr);
}

BOOST_AUTO_TEST_CASE(expressions_names_and_group_by_entries_record_where_they_were_written) {
    const Config c = must_load(R"toml([kafka]
bootstrap_servers = "b:9092"
group_id = "g"
transactional_id = "t"

[input]
topics = ["in"]

[schema.fields]
event_type = "string"
price = "double"

[[pipeline]]
name = "rev"
window = { type = "session", gap = "30m" }
group_by = [ "event_type" ]

[[pipeline.aggregate]]
name = "revenue"
fn = "sum"
expr = 'price * 2'
  where = "event_type == 'purchase'"

[[pipeline.aggregate]]
name = "n"
fn = "count"
where = """
event_type in ('view',
               'purchase')"""
)toml");
    const PipelineConfig& p = c.pipelines.at(0);
    BOOST_TEST(p.entry.pos.line == 13U);
    BOOST_TEST(p.entry.pos.column == 1U);
    BOOST_TEST(p.name.pos.line == 14U);
    BOOST_TEST(p.name.pos.column == 9U);
    BOOST_TEST(p.group_by.at(0).pos.line == 16U);
    BOOST_TEST(p.group_by.at(0).pos.column == 15U);

    const AggregateConfig& revenue = p.aggregates.at(0);
    BOOST_TEST(revenue.entry.pos.line == 18U);
    BOOST_TEST(revenue.name.pos.line == 19U);
    BOOST_TEST(revenue.name.pos.column == 9U);
    BOOST_TEST(revenue.expr.pos.line == 21U);
    BOOST_TEST(revenue.expr.pos.column == 9U);
    BOOST_TEST(revenue.where.pos.line == 22U);
    BOOST_TEST(revenue.where.pos.column == 12U);
    // The engine reports an offset into the string; 'purchase' starts at offset 14.
    const SourcePos at = position_at(revenue.where, 14);
    BOOST_TEST(at.line == 22U);
    BOOST_TEST(at.column == 26U);

    // A multi-line string starts on the line after its opening quotes.
    const AggregateConfig& n = p.aggregates.at(1);
    BOOST_TEST(n.where.pos.line == 28U);
    BOOST_TEST(n.where.pos.column == 1U);
    const std::size_t purchase = n.where.value.find("'purchase'");
    const SourcePos second = position_at(n.where, purchase);
    BOOST_TEST(second.line == 29U);
    BOOST_TEST(second.column == 16U);
}

BOOST_AUTO_TEST_CASE(passthrough_values_become_strings_and_dotted_keys_are_flattened) {
    const Config c = must_load(std::string(kMinimal) + R"(
[kafka.consumer]
session.timeout.ms = 45000
"fetch.wait.max.ms" = 100
"check.crcs" = false
"client.rack" = "eu-1a"

[kafka.producer]
linger.ms = "5"

[kafka.secrets]
sasl.password = { env = "ETLD_PW" }
)");
    const std::map<std::string, std::string> consumer{{"session.timeout.ms", "45000"},
                                                      {"fetch.wait.max.ms", "100"},
                                                      {"check.crcs", "false"},
                                                      {"client.rack", "eu-1a"}};
    BOOST_TEST((c.kafka.consumer == consumer));
    BOOST_TEST(c.kafka.producer.at("linger.ms") == "5");
    BOOST_TEST(c.kafka.secrets.at("sasl.password").kind == SecretKind::env);
    BOOST_TEST(c.kafka.secrets.at("sasl.password").source == "ETLD_PW");
}

BOOST_AUTO_TEST_CASE(ratios_may_refer_to_aggregates_declared_after_them_and_to_other_ratios) {
    const Config c = must_load(R"([kafka]
bootstrap_servers = "b:9092"
group_id = "g"
transactional_id = "t"

[input]
topics = ["in"]

[schema.fields]
event_type = "string"

[[pipeline]]
name = "funnel"
window = { type = "tumbling", size = "1h" }

[[pipeline.aggregate]]
name = "ratio_of_ratios"
fn = "ratio"
numerator = "conversion"
denominator = "cart_rate"

[[pipeline.aggregate]]
name = "conversion"
fn = "ratio"
numerator = "purchases"
denominator = "views"

[[pipeline.aggregate]]
name = "cart_rate"
fn = "ratio"
numerator = "carts"
denominator = "views"

[[pipeline.aggregate]]
name = "purchases"
fn = "count"
where = "event_type == 'purchase'"

[[pipeline.aggregate]]
name = "carts"
fn = "count"
where = "event_type == 'add_to_cart'"

[[pipeline.aggregate]]
name = "views"
fn = "count"
where = "event_type == 'view'"
)");
    const PipelineConfig& p = c.pipelines.at(0);
    BOOST_TEST(p.aggregates.size() == 6U);
    BOOST_TEST(p.find_aggregate("conversion")->numerator.value == "purchases");
    BOOST_TEST(p.find_aggregate("absent") == nullptr);
}

BOOST_AUTO_TEST_CASE(the_reference_config_loads_and_declares_the_seed_metrics) {
    const LoadResult result = load_config_file(ETLD_REFERENCE_CONFIG);
    BOOST_TEST_INFO(format_errors(result.errors()));
    BOOST_REQUIRE(result.ok());
    const Config& c = result.config();

    const PipelineConfig* by_type = c.find_pipeline("events_by_type");
    BOOST_REQUIRE(by_type != nullptr);
    BOOST_TEST(by_type->window.type == WindowType::tumbling);
    BOOST_TEST(by_type->window.size.count() == 60'000);
    BOOST_TEST(by_type->group_by.at(0).value == "event_type");
    BOOST_TEST(by_type->find_aggregate("events")->fn == AggregateFn::count);
    BOOST_TEST(by_type->find_aggregate("revenue")->expr.value == "price * quantity");

    const PipelineConfig* products = c.find_pipeline("product_metrics");
    BOOST_REQUIRE(products != nullptr);
    BOOST_TEST(products->window.type == WindowType::sliding);
    BOOST_TEST(products->window.size.count() % products->window.slide.count() == 0);
    const AggregateConfig* top = products->find_aggregate("top_products");
    BOOST_REQUIRE(top != nullptr);
    BOOST_TEST(top->fn == AggregateFn::top_k);
    BOOST_TEST(top->field.value == "product");
    BOOST_TEST(top->k == 3);
    BOOST_TEST(products->find_aggregate("unique_users")->fn == AggregateFn::count_distinct);
    BOOST_TEST(products->find_aggregate("revenue")->where.value == "event_type == 'purchase'");
    const AggregateConfig* conversion = products->find_aggregate("conversion_rate");
    BOOST_REQUIRE(conversion != nullptr);
    BOOST_TEST(conversion->numerator.value == "purchases");
    BOOST_TEST(conversion->denominator.value == "views");

    const PipelineConfig* sessions = c.find_pipeline("user_sessions");
    BOOST_REQUIRE(sessions != nullptr);
    BOOST_TEST(sessions->window.type == WindowType::session);
    BOOST_TEST(sessions->window.gap.count() == 30 * 60'000);
    BOOST_TEST(sessions->group_by.at(0).value == "user_id");
    BOOST_TEST(sessions->find_aggregate("add_to_cart") != nullptr);
    BOOST_TEST(sessions->find_aggregate("purchases") != nullptr);
}

BOOST_AUTO_TEST_CASE(the_redacted_description_loads_back_to_an_equal_config) {
    const Config reference = load_config_file(ETLD_REFERENCE_CONFIG).config();
    const LoadResult again = load_config_string(redacted(reference), "redacted.toml");
    BOOST_TEST_INFO(format_errors(again.errors()));
    BOOST_REQUIRE(again.ok());
    BOOST_TEST((again.config() == reference));

    const Config odd = must_load(std::string(kMinimal) + R"(
[kafka.consumer]
"client.id" = "quote \" backslash \\ tab \t é"
)");
    BOOST_TEST((load_config_string(redacted(odd), "odd.toml").config() == odd));
}

BOOST_AUTO_TEST_CASE(equality_ignores_where_things_were_written) {
    const Config a = must_load(kMinimal);
    const Config b = must_load("\n\n# moved down\n" + std::string(kMinimal));
    BOOST_TEST(a.pipelines[0].name.pos.line + 3 == b.pipelines[0].name.pos.line);
    BOOST_TEST((a == b));
    Config c = a;
    c.pipelines[0].aggregates[0].where.value = "true";
    BOOST_TEST(!(a == c));
}

BOOST_AUTO_TEST_CASE(sqlite_path_defaults_to_a_file_in_the_state_dir) {
    const Config c = must_load("[service]\nstate_dir = \"/data/etld\"\n" + std::string(kMinimal));
    BOOST_TEST(c.storage.sqlite_path == "/data/etld/results.db");
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_one_error_without_a_position) {
    const LoadResult r = load_config_file("/nonexistent/etld.toml");
    BOOST_REQUIRE(!r.ok());
    BOOST_REQUIRE(r.errors().size() == 1U);
    BOOST_TEST(format_error(r.errors()[0]) ==
               "/nonexistent/etld.toml: error: cannot read: No such file or directory");
}

BOOST_AUTO_TEST_CASE(errors_are_formatted_as_file_line_column) {
    BOOST_TEST(format_error(ConfigError{"etld.toml", 12, 5, "bad thing"}) ==
               "etld.toml:12:5: error: bad thing");
    BOOST_TEST(format_errors({ConfigError{"a", 1, 2, "x"}, ConfigError{"a", 3, 4, "y"}}) ==
               "a:1:2: error: x\na:3:4: error: y\n");
}

BOOST_AUTO_TEST_CASE(asking_a_failed_load_for_its_config_throws_with_every_error) {
    const LoadResult r = load_config_string("[kafka]\n", "x.toml");
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.errors().size() > 1U);
    try {
        (void)r.config();
        BOOST_FAIL("expected InvalidConfig");
    } catch (const InvalidConfig& e) {
        BOOST_TEST(e.errors() == r.errors());
        BOOST_TEST(std::string(e.what()) == "invalid configuration:\n" + format_errors(r.errors()));
    }
    BOOST_CHECK_THROW(LoadResult(std::vector<ConfigError>{}), std::logic_error);
}

BOOST_AUTO_TEST_SUITE_END()
