#include "conf/config.h"

#include <algorithm>
#include <cstdio>

#include "conf/duration.h"
#include "conf/rules_internal.h"

namespace etld::conf {

SourcePos position_at(const Located<std::string>& text, std::size_t offset) {
    SourcePos pos = text.pos;
    const std::size_t end = std::min(offset, text.value.size());
    for (std::size_t i = 0; i < end; ++i) {
        const auto byte = static_cast<unsigned char>(text.value[i]);
        if (byte == '\n') {
            ++pos.line;
            pos.column = 1;
        } else if ((byte & 0xC0U) != 0x80U) {  // columns count characters, not UTF-8 bytes
            ++pos.column;
        }
    }
    return pos;
}

std::string_view to_string(LogLevel v) {
    switch (v) {
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::notice:
            return "notice";
        case LogLevel::warning:
            return "warning";
        case LogLevel::error:
            return "error";
    }
    return "?";
}

std::string_view to_string(TimeFormat v) {
    switch (v) {
        case TimeFormat::iso8601:
            return "iso8601";
        case TimeFormat::epoch_s:
            return "epoch_s";
        case TimeFormat::epoch_ms:
            return "epoch_ms";
    }
    return "?";
}

std::string_view to_string(FieldType v) {
    switch (v) {
        case FieldType::string:
            return "string";
        case FieldType::int64:
            return "int";
        case FieldType::float64:
            return "double";
        case FieldType::boolean:
            return "bool";
    }
    return "?";
}

std::string_view to_string(WindowType v) {
    switch (v) {
        case WindowType::tumbling:
            return "tumbling";
        case WindowType::sliding:
            return "sliding";
        case WindowType::session:
            return "session";
    }
    return "?";
}

std::string_view to_string(Emit v) {
    switch (v) {
        case Emit::final:
            return "final";
        case Emit::early:
            return "early";
    }
    return "?";
}

std::string_view to_string(LatePolicy v) {
    switch (v) {
        case LatePolicy::topic:
            return "topic";
        case LatePolicy::drop:
            return "drop";
    }
    return "?";
}

std::string_view to_string(AggregateFn v) {
    switch (v) {
        case AggregateFn::count:
            return "count";
        case AggregateFn::sum:
            return "sum";
        case AggregateFn::avg:
            return "avg";
        case AggregateFn::min:
            return "min";
        case AggregateFn::max:
            return "max";
        case AggregateFn::count_distinct:
            return "count_distinct";
        case AggregateFn::ratio:
            return "ratio";
        case AggregateFn::top_k:
            return "top_k";
    }
    return "?";
}

std::string_view to_string(SecretKind v) {
    switch (v) {
        case SecretKind::file:
            return "file";
        case SecretKind::env:
            return "env";
    }
    return "?";
}

const FieldDef* SchemaConfig::find(std::string_view field_name) const {
    const auto it = std::find_if(fields.begin(), fields.end(),
                                 [&](const FieldDef& f) { return f.name.value == field_name; });
    return it == fields.end() ? nullptr : &*it;
}

const AggregateConfig* PipelineConfig::find_aggregate(std::string_view aggregate_name) const {
    const auto it =
        std::find_if(aggregates.begin(), aggregates.end(),
                     [&](const AggregateConfig& a) { return a.name.value == aggregate_name; });
    return it == aggregates.end() ? nullptr : &*it;
}

const PipelineConfig* Config::find_pipeline(std::string_view pipeline_name) const {
    const auto it = std::find_if(pipelines.begin(), pipelines.end(), [&](const PipelineConfig& p) {
        return p.name.value == pipeline_name;
    });
    return it == pipelines.end() ? nullptr : &*it;
}

namespace {

// A TOML basic string.
std::string toml_string(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned char>(c));
                    out += buf;
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
    return out;
}

class TomlWriter {
  public:
    void header(std::string_view name) {
        if (!out_.empty()) {
            out_.push_back('\n');
        }
        out_ += name;
        out_.push_back('\n');
    }
    void raw(std::string_view key, std::string_view value) {
        out_ += key;
        out_ += " = ";
        out_ += value;
        out_.push_back('\n');
    }
    void str(std::string_view key, std::string_view value) { raw(key, toml_string(value)); }
    void num(std::string_view key, std::int64_t value) { raw(key, std::to_string(value)); }
    void dur(std::string_view key, Duration value) {
        raw(key, toml_string(format_duration(value)));
    }
    void strs(std::string_view key, const std::vector<std::string>& values) {
        std::string list = "[";
        for (std::size_t i = 0; i < values.size(); ++i) {
            list += (i == 0 ? "" : ", ") + toml_string(values[i]);
        }
        list += "]";
        raw(key, list);
    }
    std::string take() { return std::move(out_); }

  private:
    std::string out_;
};

void write_passthrough(TomlWriter& w, std::string_view table,
                       const std::map<std::string, std::string>& properties) {
    if (properties.empty()) {
        return;
    }
    w.header(table);
    for (const auto& [property, value] : properties) {
        // The loader never lets a secret in here; a hand-built Config might.
        w.str(toml_string(property), detail::is_secret_property(property) ? "<redacted>" : value);
    }
}

}  // namespace

std::string redacted(const Config& c) {
    TomlWriter w;
    w.header("[service]");
    w.str("name", c.service.name);
    w.str("log_level", to_string(c.service.log_level));
    w.str("state_dir", c.service.state_dir);
    w.dur("shutdown_timeout", c.service.shutdown_timeout);

    w.header("[kafka]");
    w.str("bootstrap_servers", c.kafka.bootstrap_servers);
    w.str("group_id", c.kafka.group_id);
    w.str("transactional_id", c.kafka.transactional_id);
    w.dur("commit_interval", c.kafka.commit_interval);
    w.num("max_batch_events", c.kafka.max_batch_events);
    write_passthrough(w, "[kafka.consumer]", c.kafka.consumer);
    write_passthrough(w, "[kafka.producer]", c.kafka.producer);
    if (!c.kafka.secrets.empty()) {
        w.header("[kafka.secrets]");
        for (const auto& [property, ref] : c.kafka.secrets) {
            w.raw(toml_string(property),
                  "{ " + std::string(to_string(ref.kind)) + " = " + toml_string(ref.source) + " }");
        }
    }

    w.header("[input]");
    w.strs("topics", c.input.topics);
    w.str("partitioned_by", c.input.partitioned_by);
    w.num("max_record_bytes", c.input.max_record_bytes);

    w.header("[schema]");
    w.str("id_field", c.schema.id_field);
    w.str("time_field", c.schema.time_field);
    w.str("time_format", to_string(c.schema.time_format));
    w.header("[schema.fields]");
    for (const FieldDef& f : c.schema.fields) {
        w.str(toml_string(f.name.value), to_string(f.type));
    }

    w.header("[dedup]");
    w.dur("horizon", c.dedup.horizon);

    w.header("[watermark]");
    w.dur("max_out_of_orderness", c.watermark.max_out_of_orderness);
    w.dur("idle_timeout", c.watermark.idle_timeout);

    w.header("[topics]");
    w.str("output", c.topics.output);
    w.str("late", c.topics.late);
    w.str("dead_letter", c.topics.dead_letter);
    w.str("internal_prefix", c.topics.internal_prefix);
    w.num("partitions", c.topics.partitions);
    w.num("replication_factor", c.topics.replication_factor);
    w.dur("retention", c.topics.retention);

    w.header("[storage]");
    w.str("sqlite_path", c.storage.sqlite_path);
    w.dur("busy_timeout", c.storage.busy_timeout);

    w.header("[http]");
    w.raw("enabled", c.http.enabled ? "true" : "false");
    w.str("listen", c.http.listen);

    for (const PipelineConfig& p : c.pipelines) {
        w.header("[[pipeline]]");
        w.str("name", p.name.value);
        std::string window = "{ type = " + toml_string(to_string(p.window.type));
        switch (p.window.type) {
            case WindowType::tumbling:
                window += ", size = " + toml_string(format_duration(p.window.size));
                break;
            case WindowType::sliding:
                window += ", size = " + toml_string(format_duration(p.window.size)) +
                          ", slide = " + toml_string(format_duration(p.window.slide));
                break;
            case WindowType::session:
                window += ", gap = " + toml_string(format_duration(p.window.gap));
                break;
        }
        w.raw("window", window + " }");
        std::vector<std::string> group_by;
        for (const auto& g : p.group_by) {
            group_by.push_back(g.value);
        }
        w.strs("group_by", group_by);
        w.str("emit", to_string(p.emit));
        w.dur("allowed_lateness", p.allowed_lateness);
        w.str("late_policy", to_string(p.late_policy));
        for (const AggregateConfig& a : p.aggregates) {
            w.header("[[pipeline.aggregate]]");
            w.str("name", a.name.value);
            w.str("fn", to_string(a.fn));
            for (const auto& [key, value] :
                 {std::pair{"expr", &a.expr}, std::pair{"where", &a.where},
                  std::pair{"field", &a.field}, std::pair{"numerator", &a.numerator},
                  std::pair{"denominator", &a.denominator}}) {
                if (!value->value.empty()) {
                    w.str(key, value->value);
                }
            }
            if (a.k != 0) {
                w.num("k", a.k);
            }
        }
    }
    return w.take();
}

}  // namespace etld::conf
