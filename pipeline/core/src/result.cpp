#include "etld/pipeline/result.h"

#include <charconv>
#include <cmath>

#include "compiled.h"

namespace etld::pipeline {

std::string_view name_of(ResultKind k) {
    switch (k) {
        case ResultKind::final:
            return "final";
        case ResultKind::update:
            return "update";
        case ResultKind::retract:
            return "retract";
    }
    return "?";
}

namespace {

// Runs of characters that need no escape go in with one append each (the
// common case: the whole string), the others escaped one by one.
void json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t run = 0;  // start of the pending plain run
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto u = static_cast<unsigned char>(s[i]);
        if (u >= 0x20 && u != '"' && u != '\\') {
            continue;
        }
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (u) {
            case '"':
                out.append("\\\"");
                break;
            case '\\':
                out.append("\\\\");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            case '\t':
                out.append("\\t");
                break;
            default: {
                const char esc[6] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
                out.append(esc, sizeof esc);
            }
        }
    }
    out.append(s.data() + run, s.size() - run);
    out.push_back('"');
}

void json_int(std::string& out, std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// Shortest text that reads back as the same double; non-finite values cannot
// occur (they are excluded when aggregated) but would become null.
void json_double(std::string& out, double v) {
    if (!std::isfinite(v)) {
        out.append("null");
        return;
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void json_field(std::string& out, const FieldValue& v) {
    if (const auto* s = std::get_if<std::string>(&v)) {
        json_string(out, *s);
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        json_int(out, *i);
    } else if (const auto* d = std::get_if<double>(&v)) {
        json_double(out, *d);
    } else {
        out.append(std::get<bool>(v) ? "true" : "false");
    }
}

void json_value(std::string& out, const AggregateValue& v) {
    if (std::holds_alternative<std::monostate>(v)) {
        out.append("null");
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        json_int(out, *i);
    } else if (const auto* d = std::get_if<double>(&v)) {
        json_double(out, *d);
    } else {
        out.push_back('[');
        bool first = true;
        for (const TopKEntry& e : std::get<std::vector<TopKEntry>>(v)) {
            if (!first) {
                out.push_back(',');
            }
            first = false;
            out.push_back('[');
            json_field(out, e.value);
            out.push_back(',');
            json_int(out, e.count);
            out.push_back(']');
        }
        out.push_back(']');
    }
}

}  // namespace

void write_result_key(std::string& out, const Result& r) {
    out.clear();
    out.push_back('[');
    json_string(out, r.pipeline_name);
    out.push_back(',');
    json_int(out, r.window_start.value);
    out.push_back(',');
    json_int(out, r.window_end.value);
    for (const FieldValue& g : r.group) {
        out.push_back(',');
        json_field(out, g);
    }
    out.push_back(']');
}

std::string result_key(const Result& r) {
    std::string out;
    write_result_key(out, r);
    return out;
}

void write_result_json(std::string& out, const CompiledEngine& engine, const Result& r) {
    const PipelineSpec& p = engine.impl().pipelines.at(r.pipeline).spec;
    out.assign("{\"pipeline\":");
    json_string(out, r.pipeline_name);
    out.append(",\"window_start\":");
    json_int(out, r.window_start.value);
    out.append(",\"window_end\":");
    json_int(out, r.window_end.value);
    out.append(",\"group\":{");
    for (std::size_t i = 0; i < r.group.size() && i < p.group_by.size(); ++i) {
        if (i > 0) {
            out.push_back(',');
        }
        json_string(out, p.group_by[i]);
        out.push_back(':');
        json_field(out, r.group[i]);
    }
    out.append("},\"kind\":");
    json_string(out, name_of(r.kind));
    out.append(",\"revision\":");
    json_int(out, r.revision);
    if (r.kind != ResultKind::retract) {
        out.append(",\"values\":{");
        for (std::size_t i = 0; i < r.values.size() && i < p.aggregates.size(); ++i) {
            if (i > 0) {
                out.push_back(',');
            }
            json_string(out, p.aggregates[i].name);
            out.push_back(':');
            json_value(out, r.values[i]);
        }
        out.push_back('}');
    }
    out.push_back('}');
}

std::string result_json(const CompiledEngine& engine, const Result& r) {
    std::string out;
    write_result_json(out, engine, r);
    return out;
}

}  // namespace etld::pipeline
