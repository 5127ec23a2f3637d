#include "conf/load.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "conf/duration.h"
#include "conf/load_internal.h"
#include "conf/rules_internal.h"
#include "conf/toml_reader_internal.h"

namespace etld::conf {
namespace {

using namespace std::chrono_literals;
using detail::Choice;
using detail::Diagnostics;
using detail::quoted;
using detail::single_quoted;
using detail::SourceText;
using detail::TableReader;
using detail::to_pos;
using detail::type_name;

constexpr std::array<Choice<LogLevel>, 5> kLogLevels{{
    {"debug", LogLevel::debug},
    {"info", LogLevel::info},
    {"notice", LogLevel::notice},
    {"warning", LogLevel::warning},
    {"error", LogLevel::error},
}};
constexpr std::array<Choice<TimeFormat>, 3> kTimeFormats{{
    {"iso8601", TimeFormat::iso8601},
    {"epoch_s", TimeFormat::epoch_s},
    {"epoch_ms", TimeFormat::epoch_ms},
}};
constexpr std::array<Choice<FieldType>, 4> kFieldTypes{{
    {"string", FieldType::string},
    {"int", FieldType::int64},
    {"double", FieldType::float64},
    {"bool", FieldType::boolean},
}};

// Internal topics are named "<internal_prefix>-<group_id>-<suffix>"; this leaves room for the
// suffix within Kafka's 249 characters.
constexpr std::size_t kMaxInternalStem = 150;

bool is_absolute_path(std::string_view s) {
    return !s.empty() && s.front() == '/';
}

class Loader {
  public:
    Loader(std::string_view text, std::string name) : diag_(std::move(name)), source_(text) {}

    LoadResult run(const toml::table& document) {
        const TableReader root(diag_, source_, document, "", "",
                               {"service", "kafka", "input", "schema", "dedup", "watermark",
                                "topics", "storage", "http", "pipeline"});
        read_service(root);
        read_kafka(root);
        read_schema(root);
        read_input(root);
        read_dedup(root);
        read_watermark(root);
        read_topics(root);
        read_storage(root);
        read_http(root);
        config_.pipelines = detail::read_pipelines(root, fields_);
        root.report_unknown_keys();
        check_across_tables();
        if (!diag_.empty()) {
            return LoadResult(diag_.take());
        }
        return LoadResult(std::move(config_));
    }

  private:
    void read_service(const TableReader& root) {
        const auto t = root.table("service", "[service]",
                                  {"name", "log_level", "state_dir", "shutdown_timeout"});
        if (!t) {
            return;
        }
        ServiceConfig& s = config_.service;
        if (const auto v = t->text("name")) {
            if (const auto problem = detail::topic_name_problem(v->value)) {
                t->string_error("name", *v,
                                quoted(v->value) + " is not a valid instance name: " + *problem);
            } else {
                s.name = v->value;
            }
        }
        if (const auto v = t->choice<LogLevel>("log_level", kLogLevels)) {
            s.log_level = *v;
        }
        if (const auto v = t->text("state_dir")) {
            if (!is_absolute_path(v->value)) {
                t->string_error("state_dir", *v,
                                "must be an absolute path, got " + quoted(v->value));
            } else {
                s.state_dir = v->value;
            }
        }
        if (const auto v = t->duration("shutdown_timeout", 1s, 1h)) {
            s.shutdown_timeout = *v;
        }
        t->report_unknown_keys();
    }

    void read_kafka(const TableReader& root) {
        if (!root.has("kafka")) {
            root.error(root.header(),
                       "missing required table [kafka] (bootstrap_servers, group_id and "
                       "transactional_id are required)");
            return;
        }
        const auto t =
            root.table("kafka", "[kafka]",
                       {"bootstrap_servers", "group_id", "transactional_id", "commit_interval",
                        "max_batch_events", "consumer", "producer", "secrets"});
        if (!t) {
            return;
        }
        KafkaConfig& k = config_.kafka;
        t->require("bootstrap_servers");
        if (const auto v = t->text("bootstrap_servers")) {
            k.bootstrap_servers = v->value;
        }
        t->require("group_id");
        if (const auto v = t->text("group_id")) {
            if (const auto problem = detail::topic_name_problem(v->value)) {
                t->string_error("group_id", *v,
                                quoted(v->value) +
                                    " cannot be used: it is part of internal topic names, so " +
                                    *problem);
            } else {
                k.group_id = v->value;
                group_id_ = *v;
            }
        }
        t->require("transactional_id");
        if (const auto v = t->text("transactional_id")) {
            k.transactional_id = v->value;
        }
        if (const auto v = t->duration("commit_interval", 10ms, 60s)) {
            k.commit_interval = *v;
        }
        if (const auto v = t->integer("max_batch_events", 1, 10'000'000)) {
            k.max_batch_events = *v;
        }
        k.consumer = read_passthrough(*t, "consumer", consumer_keys_);
        k.producer = read_passthrough(*t, "producer", producer_keys_);
        read_secrets(*t);
        t->report_unknown_keys();
    }

    // [kafka.consumer] / [kafka.producer]. Unquoted dotted keys (session.timeout.ms = 1) make
    // nested tables in TOML; they are flattened back into the property name.
    std::map<std::string, std::string> read_passthrough(const TableReader& kafka,
                                                        std::string_view key,
                                                        std::map<std::string, SourcePos>& where) {
        std::map<std::string, std::string> out;
        const toml::node* n = kafka.node(key);
        if (n == nullptr) {
            return out;
        }
        const toml::table* table = n->as_table();
        if (table == nullptr) {
            kafka.value_error(key, "expected a table of librdkafka properties, got " +
                                       std::string(type_name(*n)));
            return out;
        }
        flatten_passthrough(*table, "", kafka.key_path(key), key == "consumer", out, where);
        return out;
    }

    void flatten_passthrough(const toml::table& table, const std::string& prefix,
                             const std::string& path, bool consumer,
                             std::map<std::string, std::string>& out,
                             std::map<std::string, SourcePos>& where) {
        for (const auto& [k, v] : table) {
            const std::string property =
                prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
            const SourcePos at = to_pos(k.source().begin);
            if (const toml::table* sub = v.as_table()) {
                flatten_passthrough(*sub, property, path, consumer, out, where);
                continue;
            }
            std::string value;
            if (const auto* s = v.as_string()) {
                value = s->get();
            } else if (const auto* i = v.as_integer()) {
                value = std::to_string(i->get());
            } else if (const auto* b = v.as_boolean()) {
                value = b->get() ? "true" : "false";
            } else {
                diag_.error(to_pos(v.source().begin),
                            path + ": " + single_quoted(property) +
                                " must be a string, integer or boolean, got " +
                                std::string(type_name(v)));
                continue;
            }
            if (const auto problem = detail::property_name_problem(property)) {
                diag_.error(at, path + ": " + single_quoted(property) +
                                    " is not a librdkafka property name: " + *problem);
                continue;
            }
            if (const auto problem = detail::reserved_property_problem(property)) {
                diag_.error(at, path + ": " + single_quoted(property) + " " + *problem);
                continue;
            }
            if (detail::is_secret_property(property)) {
                diag_.error(at, path + ": " + single_quoted(property) +
                                    " is a secret; move it to [kafka.secrets] as { file = "
                                    "\"/path\" } or { env = \"NAME\" }");
                continue;
            }
            if (consumer && property == "partition.assignment.strategy" &&
                value.find("cooperative") != std::string::npos) {
                diag_.error(to_pos(v.source().begin),
                            path +
                                ": 'partition.assignment.strategy' must be eager (range or "
                                "roundrobin): etld's rebalance handling and librdkafka 2.0's "
                                "cooperative protocol do not mix");
                continue;
            }
            if (out.contains(property)) {
                diag_.error(at, path + ": " + single_quoted(property) + " is set twice");
                continue;
            }
            out.emplace(property, std::move(value));
            where.emplace(property, at);
        }
    }

    void read_secrets(const TableReader& kafka) {
        const toml::node* n = kafka.node("secrets");
        if (n == nullptr) {
            return;
        }
        const toml::table* table = n->as_table();
        if (table == nullptr) {
            kafka.value_error("secrets",
                              "expected a table of librdkafka property = { file = "
                              "\"/path\" } or { env = \"NAME\" }, got " +
                                  std::string(type_name(*n)));
            return;
        }
        flatten_secrets(*table, "");
    }

    static bool only_tables(const toml::table& t) {
        return !t.empty() &&
               std::all_of(t.begin(), t.end(), [](const auto& kv) { return kv.second.is_table(); });
    }

    void flatten_secrets(const toml::table& table, const std::string& prefix) {
        for (const auto& [k, v] : table) {
            const std::string property =
                prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
            const SourcePos at = to_pos(k.source().begin);
            const toml::table* ref = v.as_table();
            if (ref == nullptr) {
                diag_.error(to_pos(v.source().begin),
                            "kafka.secrets: " + single_quoted(property) +
                                " must be { file = \"/path\" } or { env = \"NAME\" }, got " +
                                std::string(type_name(v)));
                continue;
            }
            if (only_tables(*ref)) {
                flatten_secrets(*ref, property);  // an unquoted dotted key: sasl.password = {...}
                continue;
            }
            const TableReader r(diag_, source_, *ref, "kafka.secrets." + quoted(property),
                                "secret " + single_quoted(property), {"file", "env"});
            r.report_unknown_keys();
            const bool has_file = r.has("file");
            const bool has_env = r.has("env");
            if (has_file == has_env) {
                diag_.error(to_pos(v.source().begin), "kafka.secrets: " + single_quoted(property) +
                                                          " needs exactly one of file or env" +
                                                          (has_file ? ", not both" : ""));
                continue;
            }
            SecretRef secret;
            if (has_file) {
                const auto file = r.text("file");
                if (!file) {
                    continue;
                }
                if (!is_absolute_path(file->value)) {
                    r.string_error("file", *file,
                                   "must be an absolute path, got " + quoted(file->value));
                    continue;
                }
                secret = SecretRef{SecretKind::file, file->value};
            } else {
                const auto env = r.string("env");
                if (!env) {
                    continue;
                }
                if (const auto problem = detail::env_name_problem(env->value)) {
                    r.string_error("env", *env,
                                   quoted(env->value) +
                                       " is not a valid environment variable name: " + *problem);
                    continue;
                }
                secret = SecretRef{SecretKind::env, env->value};
            }
            if (const auto problem = detail::property_name_problem(property)) {
                diag_.error(at, "kafka.secrets: " + single_quoted(property) +
                                    " is not a librdkafka property name: " + *problem);
                continue;
            }
            if (const auto problem = detail::reserved_property_problem(property)) {
                diag_.error(at, "kafka.secrets: " + single_quoted(property) + " " + *problem);
                continue;
            }
            if (config_.kafka.secrets.contains(property)) {
                diag_.error(at, "kafka.secrets: " + single_quoted(property) + " is set twice");
                continue;
            }
            config_.kafka.secrets.emplace(property, std::move(secret));
            secret_keys_.emplace(property, at);
        }
    }

    void read_schema(const TableReader& root) {
        const auto t =
            root.table("schema", "[schema]", {"id_field", "time_field", "time_format", "fields"});
        if (!t) {
            return;
        }
        SchemaConfig& s = config_.schema;
        if (const auto v = t->text("id_field")) {
            s.id_field = v->value;
        }
        if (const auto v = t->text("time_field")) {
            s.time_field = v->value;
        }
        if (const auto v = t->choice<TimeFormat>("time_format", kTimeFormats)) {
            s.time_format = *v;
        }
        if (const auto fields = t->table("fields", "[schema.fields]", {})) {
            // toml++ keeps keys sorted; the model keeps the order of the file.
            std::vector<std::pair<SourcePos, std::string_view>> order;
            for (const auto& [k, v] : fields->table()) {
                order.emplace_back(to_pos(k.source().begin), k.str());
            }
            std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
                return std::pair(a.first.line, a.first.column) <
                       std::pair(b.first.line, b.first.column);
            });
            for (const auto& [at, name] : order) {
                fields_.add(name);
                if (const auto problem = detail::field_name_problem(name)) {
                    fields->error(at, "schema.fields: " + quoted(name) +
                                          " is not a valid field name: " + *problem);
                    continue;
                }
                const auto type = fields->choice<FieldType>(name, kFieldTypes);
                if (!type) {
                    continue;
                }
                s.fields.push_back(FieldDef{Located<std::string>{std::string(name), at}, *type});
            }
        }
        t->report_unknown_keys();
    }

    void read_input(const TableReader& root) {
        if (!root.has("input")) {
            root.error(root.header(), "missing required table [input] (topics is required)");
            return;
        }
        const auto t =
            root.table("input", "[input]", {"topics", "partitioned_by", "max_record_bytes"});
        if (!t) {
            return;
        }
        InputConfig& in = config_.input;
        t->require("topics");
        if (const auto topics = t->string_array("topics")) {
            if (topics->empty()) {
                t->value_error("topics", "must list at least one topic");
            }
            for (const Located<std::string>& topic : *topics) {
                if (const auto problem = detail::topic_name_problem(topic.value)) {
                    t->string_error(
                        "topics", topic,
                        quoted(topic.value) + " is not a valid Kafka topic name: " + *problem);
                    continue;
                }
                if (std::find(in.topics.begin(), in.topics.end(), topic.value) != in.topics.end()) {
                    t->string_error("topics", topic, quoted(topic.value) + " is listed twice");
                    continue;
                }
                in.topics.push_back(topic.value);
                input_topics_.push_back(topic);
            }
        }
        if (const auto v = t->string("partitioned_by")) {
            if (!v->value.empty() && !fields_.contains(v->value)) {
                t->string_error("partitioned_by", *v,
                                fields_.not_a_field(v->value) +
                                    " (use \"\" when the input is not "
                                    "keyed by a field)");
            } else {
                in.partitioned_by = v->value;
            }
        }
        if (const auto v = t->integer("max_record_bytes", 1024, 1'000'000'000)) {
            in.max_record_bytes = *v;
        }
        t->report_unknown_keys();
    }

    void read_dedup(const TableReader& root) {
        const auto t = root.table("dedup", "[dedup]", {"horizon"});
        if (!t) {
            return;
        }
        if (const auto v = t->duration("horizon", 1s, std::chrono::days{7})) {
            config_.dedup.horizon = *v;
        }
        t->report_unknown_keys();
    }

    void read_watermark(const TableReader& root) {
        const auto t =
            root.table("watermark", "[watermark]", {"max_out_of_orderness", "idle_timeout"});
        if (!t) {
            return;
        }
        if (const auto v = t->duration("max_out_of_orderness", 0ms, std::chrono::days{1})) {
            config_.watermark.max_out_of_orderness = *v;
        }
        if (const auto v = t->duration("idle_timeout", 100ms, std::chrono::days{1})) {
            config_.watermark.idle_timeout = *v;
        }
        t->report_unknown_keys();
    }

    std::optional<Located<std::string>> topic(const TableReader& t, std::string_view key) {
        auto v = t.text(key);
        if (!v) {
            return std::nullopt;
        }
        if (const auto problem = detail::topic_name_problem(v->value)) {
            t.string_error(key, *v,
                           quoted(v->value) + " is not a valid Kafka topic name: " + *problem);
            return std::nullopt;
        }
        return v;
    }

    void read_topics(const TableReader& root) {
        const auto t = root.table("topics", "[topics]",
                                  {"output", "late", "dead_letter", "internal_prefix", "partitions",
                                   "replication_factor", "retention"});
        if (!t) {
            return;
        }
        TopicsConfig& topics = config_.topics;
        if (const auto v = topic(*t, "output")) {
            topics.output = v->value;
            output_topics_.emplace_back("topics.output", *v);
        }
        if (const auto v = topic(*t, "late")) {
            topics.late = v->value;
            output_topics_.emplace_back("topics.late", *v);
        }
        if (const auto v = topic(*t, "dead_letter")) {
            topics.dead_letter = v->value;
            output_topics_.emplace_back("topics.dead_letter", *v);
        }
        if (const auto v = t->text("internal_prefix")) {
            if (const auto problem = detail::topic_name_problem(v->value)) {
                t->string_error("internal_prefix", *v,
                                quoted(v->value) + " cannot start a Kafka topic name: " + *problem);
            } else {
                topics.internal_prefix = v->value;
                internal_prefix_ = *v;
            }
        }
        if (const auto v = t->integer("partitions", 1, 10'000)) {
            topics.partitions = static_cast<std::int32_t>(*v);
        }
        if (const auto v = t->integer("replication_factor", 1, 32'767)) {
            topics.replication_factor = static_cast<std::int32_t>(*v);
        }
        if (const auto v = t->duration("retention", 1min, std::chrono::days{3650})) {
            topics.retention = *v;
        }
        t->report_unknown_keys();
    }

    void read_storage(const TableReader& root) {
        const auto t = root.table("storage", "[storage]", {"sqlite_path", "busy_timeout"});
        if (!t) {
            return;
        }
        if (const auto v = t->text("sqlite_path")) {
            if (!is_absolute_path(v->value)) {
                t->string_error("sqlite_path", *v,
                                "must be an absolute path, got " + quoted(v->value));
            } else {
                config_.storage.sqlite_path = v->value;
                sqlite_path_set_ = true;
            }
        }
        if (const auto v = t->duration("busy_timeout", 0ms, 10min)) {
            config_.storage.busy_timeout = *v;
        }
        t->report_unknown_keys();
    }

    void read_http(const TableReader& root) {
        const auto t = root.table("http", "[http]", {"enabled", "listen"});
        if (!t) {
            return;
        }
        if (const auto v = t->boolean("enabled")) {
            config_.http.enabled = *v;
        }
        if (const auto v = t->text("listen")) {
            detail::HostPort hp;
            if (const auto problem = detail::split_host_port(v->value, hp)) {
                t->string_error("listen", *v,
                                "expected \"host:port\" like \"127.0.0.1:9464\", got " +
                                    quoted(v->value) + ": " + *problem);
            } else {
                config_.http.listen = v->value;
                config_.http.host = hp.host;
                config_.http.port = hp.port;
            }
        }
        t->report_unknown_keys();
    }

    void check_across_tables() {
        // Writing results into an input topic would feed etld its own output.
        for (const auto& [key, topic] : output_topics_) {
            if (std::find(input_topics_.begin(), input_topics_.end(), topic) !=
                input_topics_.end()) {
                diag_.error(topic.pos, key + ": " + quoted(topic.value) +
                                           " is also an input topic; etld would read its own "
                                           "output");
            }
        }
        for (std::size_t i = 0; i < output_topics_.size(); ++i) {
            for (std::size_t j = 0; j < i; ++j) {
                if (output_topics_[i].second == output_topics_[j].second) {
                    diag_.error(output_topics_[i].second.pos,
                                output_topics_[i].first + ": " +
                                    quoted(output_topics_[i].second.value) +
                                    " is already used by " + output_topics_[j].first);
                }
            }
        }
        if (config_.topics.internal_prefix.size() + config_.kafka.group_id.size() >
            kMaxInternalStem) {
            const SourcePos at =
                internal_prefix_.pos.line != 0 ? internal_prefix_.pos : group_id_.pos;
            diag_.error(at,
                        "topics.internal_prefix and kafka.group_id together name internal "
                        "topics and must not exceed " +
                            std::to_string(kMaxInternalStem) + " characters");
        }
        for (const auto& [property, at] : secret_keys_) {
            for (const auto& [table, keys] : {std::pair{"[kafka.consumer]", &consumer_keys_},
                                              std::pair{"[kafka.producer]", &producer_keys_}}) {
                if (const auto it = keys->find(property); it != keys->end()) {
                    diag_.error(at, "kafka.secrets: " + single_quoted(property) +
                                        " is also set in " + table + " at line " +
                                        std::to_string(it->second.line) +
                                        "; set it in one place only");
                }
            }
        }
        if (!sqlite_path_set_) {
            config_.storage.sqlite_path = config_.service.state_dir + "/results.db";
        }
    }

    Diagnostics diag_;
    SourceText source_;
    Config config_;
    // Remembered for the rules that span tables.
    detail::FieldNames fields_;
    std::vector<Located<std::string>> input_topics_;
    std::vector<std::pair<std::string, Located<std::string>>> output_topics_;
    Located<std::string> internal_prefix_;
    Located<std::string> group_id_;
    std::map<std::string, SourcePos> consumer_keys_;
    std::map<std::string, SourcePos> producer_keys_;
    std::map<std::string, SourcePos> secret_keys_;
    bool sqlite_path_set_ = false;
};

}  // namespace

namespace detail {

bool FieldNames::contains(std::string_view name) const {
    return std::find(names_.begin(), names_.end(), name) != names_.end();
}

std::string FieldNames::not_a_field(std::string_view name) const {
    std::string message = single_quoted(name) + " is not a field of [schema.fields]";
    const std::vector<std::string_view> names(names_.begin(), names_.end());
    if (const auto guess = closest_match(name, names)) {
        message += "; did you mean " + single_quoted(*guess) + "?";
    }
    return message;
}

}  // namespace detail

std::string format_error(const ConfigError& error) {
    if (error.line == 0) {
        return error.file + ": error: " + error.message;
    }
    return error.file + ":" + std::to_string(error.line) + ":" + std::to_string(error.column) +
           ": error: " + error.message;
}

std::string format_errors(const std::vector<ConfigError>& errors) {
    std::string out;
    for (const ConfigError& e : errors) {
        out += format_error(e);
        out.push_back('\n');
    }
    return out;
}

InvalidConfig::InvalidConfig(std::vector<ConfigError> errors)
    : std::runtime_error("invalid configuration:\n" + format_errors(errors)),
      errors_(std::move(errors)) {}

LoadResult::LoadResult(std::vector<ConfigError> errors) : value_(std::move(errors)) {
    if (std::get<std::vector<ConfigError>>(value_).empty()) {
        throw std::logic_error("LoadResult: a failed load needs at least one error");
    }
}

const Config& LoadResult::config() const& {
    if (const auto* errors = std::get_if<std::vector<ConfigError>>(&value_)) {
        throw InvalidConfig(*errors);
    }
    return std::get<Config>(value_);
}

Config LoadResult::config() && {
    if (const auto* errors = std::get_if<std::vector<ConfigError>>(&value_)) {
        throw InvalidConfig(*errors);
    }
    return std::move(std::get<Config>(value_));
}

const std::vector<ConfigError>& LoadResult::errors() const noexcept {
    static const std::vector<ConfigError> none;
    if (const auto* errors = std::get_if<std::vector<ConfigError>>(&value_)) {
        return *errors;
    }
    return none;
}

LoadResult load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        return LoadResult(std::vector<ConfigError>{
            ConfigError{path, 0, 0, "cannot read: " + std::string(std::strerror(err))}});
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        return LoadResult(std::vector<ConfigError>{ConfigError{path, 0, 0, "cannot read"}});
    }
    return load_config_string(text.str(), path);
}

LoadResult load_config_string(std::string_view text, std::string_view name) {
    toml::table document;
    try {
        document = toml::parse(text, name);
    } catch (const toml::parse_error& e) {
        SourcePos at = to_pos(e.source().begin);
        if (at.line == 0) {
            at = SourcePos{1, 1};
        }
        return LoadResult(std::vector<ConfigError>{
            ConfigError{std::string(name), at.line, at.column, std::string(e.description())}});
    }
    Loader loader(text, std::string(name));
    return loader.run(document);
}

}  // namespace etld::conf

namespace etld::conf {

std::string peek_state_dir(const std::string& path) {
    try {
        const toml::table root = toml::parse_file(path);
        if (auto dir = root["service"]["state_dir"].value<std::string>()) {
            return *dir;
        }
    } catch (const toml::parse_error&) {
        // An unreadable or invalid file: the default it is.
    }
    return ServiceConfig{}.state_dir;
}

}  // namespace etld::conf
