// The configuration model: plain, immutable values built once by the loader (load.h).
//
// Every struct has a defaulted operator== so that a reload can be compared against the running
// configuration. Source positions are recorded for the values that other modules report errors
// against (expressions, names, group_by entries), but they never take part in equality: moving a
// pipeline further down the file, or adding a comment above it, is not a change.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace etld::conf {

using Duration = std::chrono::milliseconds;

/// A 1-based line and column in the configuration file; {0, 0} when unknown (for a value that
/// was not written and took its default). Columns count characters, not bytes.
struct SourcePos {
    std::uint32_t line = 0;
    std::uint32_t column = 0;

    friend bool operator==(const SourcePos&, const SourcePos&) = default;
};

/// A value and where it was written. For a string, `pos` is the position of its first character
/// inside the quotes, so an error at character offset N of the string is at `position_at(s, N)`.
/// Equality compares the value only (see the top of this file).
template <typename T>
struct Located {
    T value{};
    SourcePos pos{};

    friend bool operator==(const Located& a, const Located& b) { return a.value == b.value; }
};

/// The position of the character at `offset` (0-based, in bytes) of a located string, following
/// line breaks of multi-line strings. Exact for literal strings and for basic strings without
/// escape sequences (expressions need none); after an escape sequence the column may be off.
SourcePos position_at(const Located<std::string>& text, std::size_t offset);

/// Where a [[pipeline]] or [[pipeline.aggregate]] table starts (its header). Like Located's
/// position it is metadata: any two EntryPos compare equal.
struct EntryPos {
    SourcePos pos{};

    friend bool operator==(const EntryPos&, const EntryPos&) { return true; }
};

enum class LogLevel { debug, info, notice, warning, error };
enum class TimeFormat { iso8601, epoch_s, epoch_ms };
/// Written "string", "int", "double", "bool" in the file.
enum class FieldType { string, int64, float64, boolean };
enum class WindowType { tumbling, sliding, session };
enum class Emit { final, early };
enum class LatePolicy { topic, drop };
enum class AggregateFn { count, sum, avg, min, max, count_distinct, ratio, top_k };
enum class SecretKind { file, env };

/// The spelling used in the configuration file.
std::string_view to_string(LogLevel v);
std::string_view to_string(TimeFormat v);
std::string_view to_string(FieldType v);
std::string_view to_string(WindowType v);
std::string_view to_string(Emit v);
std::string_view to_string(LatePolicy v);
std::string_view to_string(AggregateFn v);
std::string_view to_string(SecretKind v);

struct ServiceConfig {
    std::string name = "etld";
    LogLevel log_level = LogLevel::info;
    std::string state_dir = "/var/lib/etld";
    Duration shutdown_timeout = std::chrono::seconds{30};

    friend bool operator==(const ServiceConfig&, const ServiceConfig&) = default;
};

/// Where a secret's value comes from: the contents of a file (one trailing newline removed) or
/// an environment variable. The value itself is never stored in the model; see secrets.h.
struct SecretRef {
    SecretKind kind = SecretKind::env;
    std::string source;  // absolute file path or variable name

    friend bool operator==(const SecretRef&, const SecretRef&) = default;
};

struct KafkaConfig {
    std::string bootstrap_servers;
    std::string group_id;
    std::string transactional_id;
    Duration commit_interval{100};
    std::int64_t max_batch_events = 10'000;
    /// librdkafka properties passed through unchanged (values converted to strings). They never
    /// contain a key etld sets itself, nor a secret (those are in `secrets`).
    std::map<std::string, std::string> consumer;
    std::map<std::string, std::string> producer;
    /// librdkafka property -> where its value comes from; applies to consumers and producers.
    std::map<std::string, SecretRef> secrets;

    friend bool operator==(const KafkaConfig&, const KafkaConfig&) = default;
};

struct InputConfig {
    std::vector<std::string> topics;
    /// The schema field producers key the input by; empty when unknown or not keyed.
    std::string partitioned_by;
    std::int64_t max_record_bytes = 1'048'576;

    friend bool operator==(const InputConfig&, const InputConfig&) = default;
};

struct FieldDef {
    Located<std::string> name;
    FieldType type = FieldType::string;

    friend bool operator==(const FieldDef&, const FieldDef&) = default;
};

struct SchemaConfig {
    std::string id_field = "event_id";
    std::string time_field = "timestamp";
    TimeFormat time_format = TimeFormat::iso8601;
    /// In the order written in the file.
    std::vector<FieldDef> fields;

    /// nullptr when no field has that name.
    const FieldDef* find(std::string_view field_name) const;

    friend bool operator==(const SchemaConfig&, const SchemaConfig&) = default;
};

struct DedupConfig {
    Duration horizon = std::chrono::hours{1};

    friend bool operator==(const DedupConfig&, const DedupConfig&) = default;
};

struct WatermarkConfig {
    Duration max_out_of_orderness = std::chrono::seconds{5};
    Duration idle_timeout = std::chrono::seconds{30};

    friend bool operator==(const WatermarkConfig&, const WatermarkConfig&) = default;
};

struct TopicsConfig {
    std::string output = "etld.results";
    std::string late = "etld.late";
    std::string dead_letter = "etld.dead-letter";
    std::string internal_prefix = "etld";
    std::int32_t partitions = 3;
    std::int32_t replication_factor = 1;
    Duration retention = std::chrono::days{7};

    friend bool operator==(const TopicsConfig&, const TopicsConfig&) = default;
};

struct StorageConfig {
    /// Defaults to "<service.state_dir>/results.db".
    std::string sqlite_path = "/var/lib/etld/results.db";
    Duration busy_timeout = std::chrono::seconds{5};

    friend bool operator==(const StorageConfig&, const StorageConfig&) = default;
};

struct HttpConfig {
    bool enabled = true;
    /// As written, "host:port"; `host` and `port` are its parts (an IPv6 host without brackets).
    std::string listen = "127.0.0.1:9464";
    std::string host = "127.0.0.1";
    std::uint16_t port = 9464;

    friend bool operator==(const HttpConfig&, const HttpConfig&) = default;
};

/// Durations that do not apply to `type` are zero: tumbling uses size; sliding uses size and
/// slide (size is a multiple of slide); session uses gap.
struct WindowConfig {
    WindowType type = WindowType::tumbling;
    Duration size{0};
    Duration slide{0};
    Duration gap{0};

    friend bool operator==(const WindowConfig&, const WindowConfig&) = default;
};

/// One declared aggregate. Strings that do not apply to `fn` are empty and `k` is 0:
///   count                  where?
///   sum | avg | min | max  expr, where?
///   count_distinct         field, where?
///   top_k                  field, k, where?
///   ratio                  numerator, denominator (names of other aggregates of the pipeline)
/// `where` empty means every event. `expr` and `where` are not parsed here.
struct AggregateConfig {
    EntryPos entry;
    Located<std::string> name;
    AggregateFn fn = AggregateFn::count;
    Located<std::string> expr;
    Located<std::string> where;
    Located<std::string> field;
    std::int64_t k = 0;
    Located<std::string> numerator;
    Located<std::string> denominator;

    friend bool operator==(const AggregateConfig&, const AggregateConfig&) = default;
};

struct PipelineConfig {
    EntryPos entry;
    Located<std::string> name;
    WindowConfig window;
    /// Schema fields; empty means one global key.
    std::vector<Located<std::string>> group_by;
    Emit emit = Emit::final;
    Duration allowed_lateness{0};
    LatePolicy late_policy = LatePolicy::topic;
    /// In the order written; ratios may refer to aggregates declared after them.
    std::vector<AggregateConfig> aggregates;

    /// nullptr when no aggregate has that name.
    const AggregateConfig* find_aggregate(std::string_view aggregate_name) const;

    friend bool operator==(const PipelineConfig&, const PipelineConfig&) = default;
};

struct Config {
    ServiceConfig service;
    KafkaConfig kafka;
    InputConfig input;
    SchemaConfig schema;
    DedupConfig dedup;
    WatermarkConfig watermark;
    TopicsConfig topics;
    StorageConfig storage;
    HttpConfig http;
    /// At least one, names unique, in the order written.
    std::vector<PipelineConfig> pipelines;

    /// nullptr when no pipeline has that name.
    const PipelineConfig* find_pipeline(std::string_view pipeline_name) const;

    friend bool operator==(const Config&, const Config&) = default;
};

/// The effective configuration as TOML, every default written out, with no secret in it: a
/// secret appears as its reference ({ env = "NAME" } or { file = "/path" }), never as a value.
/// Loading the text back yields an equal Config. Safe to log.
std::string redacted(const Config& config);

}  // namespace etld::conf
