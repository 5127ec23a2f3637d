#include "daemon/testcase_file.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>
#include <utility>

#include "conf/duration.h"
#include "etld/pipeline/event.h"

namespace etld::daemon::testcase {

namespace {

using pipeline::AggregateFn;
using pipeline::FieldType;

constexpr std::array<std::string_view, 6> kLineKeys = {"case",    "event", "raw",
                                                       "advance", "flush", "expect"};

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

// "; did you mean 'x'?" for the closest candidate within two edits, else "".
template <typename Range>
std::string suggestion(std::string_view word, const Range& candidates) {
    std::string best;
    std::size_t best_distance = 3;
    for (const auto& c : candidates) {
        const std::size_t d = edit_distance(word, c);
        if (d < best_distance) {
            best_distance = d;
            best = std::string(c);
        }
    }
    return best.empty() ? "" : "; did you mean '" + best + "'?";
}

template <typename Range>
std::string quoted_list(const Range& items) {
    std::string out;
    std::size_t i = 0;
    for (const auto& item : items) {
        out += (i++ == 0 ? "" : ", ");
        out += "'" + std::string(item) + "'";
    }
    return out;
}

std::string kind_name(Json::Kind k) {
    switch (k) {
        case Json::Kind::null:
            return "null";
        case Json::Kind::boolean:
            return "a boolean";
        case Json::Kind::number:
            return "a number";
        case Json::Kind::string:
            return "a string";
        case Json::Kind::array:
            return "an array";
        case Json::Kind::object:
            return "an object";
    }
    return "a value";
}

std::vector<std::string> reject_reason_names() {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < pipeline::kRejectReasonCount; ++i) {
        names.emplace_back(pipeline::name_of(static_cast<pipeline::RejectReason>(i)));
    }
    return names;
}

std::string file_stem(const std::string& path) {
    const std::size_t slash = path.find_last_of('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    const std::size_t dot = name.rfind('.');
    if (dot != std::string::npos && dot > 0) {
        name.resize(dot);
    }
    return name;
}

// Parses one line; collects its errors.
class LineParser {
  public:
    LineParser(const std::string& path, std::uint32_t line, const pipeline::EngineSpec& spec,
               std::vector<CaseError>& errors)
        : path_(path), line_(line), spec_(spec), errors_(errors) {}

    void error(std::uint32_t column, std::string message) {
        errors_.push_back({path_, line_, column, std::move(message)});
        ok_ = false;
    }
    bool ok() const { return ok_; }

    // Reports every member of `object` whose key is not in `allowed`.
    template <typename Range>
    void check_keys(const Json& object, const Range& allowed, std::string_view what) {
        for (const auto& m : object.members) {
            if (std::find(std::begin(allowed), std::end(allowed), m.key) == std::end(allowed)) {
                error(m.key_column, "unknown key '" + m.key + "' in " + std::string(what) +
                                        suggestion(m.key, allowed) +
                                        " (allowed: " + quoted_list(allowed) + ")");
            }
        }
    }

    std::optional<std::string> string_of(const Json& v, std::string_view key) {
        if (!v.is(Json::Kind::string)) {
            error(v.column,
                  "'" + std::string(key) + "' must be a string, not " + kind_name(v.kind));
            return std::nullopt;
        }
        return v.text;
    }

    std::optional<std::int64_t> integer_of(const Json& v, std::string_view key, std::int64_t min,
                                           std::int64_t max) {
        if (!v.is(Json::Kind::number) || !v.integer || *v.integer < min || *v.integer > max) {
            error(v.column, "'" + std::string(key) + "' must be an integer from " +
                                std::to_string(min) + " to " + std::to_string(max));
            return std::nullopt;
        }
        return *v.integer;
    }

    std::optional<double> tolerance_of(const Json& v) {
        if (!v.is(Json::Kind::number) || v.number < 0) {
            error(v.column, "'tolerance' must be a number >= 0");
            return std::nullopt;
        }
        return v.number;
    }

    std::optional<std::int64_t> duration_of(const Json& v, std::string_view key) {
        if (!v.is(Json::Kind::string)) {
            error(v.column, "'" + std::string(key) +
                                "' must be a duration string since the start of the case, "
                                "like \"45s\" or \"2m\"");
            return std::nullopt;
        }
        const conf::ParsedDuration d = conf::parse_duration(v.text);
        if (!d.ok()) {
            error(v.column + 1, "'" + std::string(key) + "': " + d.error);
            return std::nullopt;
        }
        return d.value.count();
    }

    // An event time: an ISO-8601 string with a zone, or epoch milliseconds.
    std::optional<Json> time_of(const Json& v, std::string_view key) {
        if (v.is(Json::Kind::number) && v.integer) {
            return Json::make_int(*v.integer);
        }
        if (v.is(Json::Kind::string)) {
            if (auto t = parse_utc(v.text)) {
                return Json::make_int(*t);
            }
        }
        error(v.column, "'" + std::string(key) +
                            "' must be a time like \"2026-01-15T10:00:00Z\" or epoch "
                            "milliseconds");
        return std::nullopt;
    }

    // A group-by value of a schema field of type `type`.
    bool check_field_value(const Json& v, FieldType type, const std::string& what) {
        bool good = false;
        switch (type) {
            case FieldType::string:
                good = v.is(Json::Kind::string);
                break;
            case FieldType::int64:
                good = v.is(Json::Kind::number) && v.integer.has_value();
                break;
            case FieldType::float64:
                good = v.is(Json::Kind::number);
                break;
            case FieldType::boolean:
                good = v.is(Json::Kind::boolean);
                break;
        }
        if (!good) {
            error(v.column, what + " is a " + std::string(pipeline::name_of(type)) +
                                " field, so its value cannot be " + kind_name(v.kind));
        }
        return good;
    }

    void check_aggregate_value(const Json& v, const pipeline::AggregateSpec& a) {
        const std::string what =
            "aggregate '" + a.name + "' (" + std::string(pipeline::name_of(a.fn)) + ")";
        switch (a.fn) {
            case AggregateFn::count:
            case AggregateFn::count_distinct:
                if (!v.is(Json::Kind::number) || !v.integer) {
                    error(v.column, what + " is an integer");
                }
                return;
            case AggregateFn::sum:
                if (!v.is(Json::Kind::number)) {
                    error(v.column, what + " is a number");
                }
                return;
            case AggregateFn::avg:
            case AggregateFn::min:
            case AggregateFn::max:
            case AggregateFn::ratio:
                if (!v.is(Json::Kind::number) && !v.is(Json::Kind::null)) {
                    error(v.column, what + " is a number or null");
                }
                return;
            case AggregateFn::top_k: {
                bool good = v.is(Json::Kind::array);
                for (const Json& item : v.items) {
                    good = good && item.is(Json::Kind::array) && item.items.size() == 2 &&
                           !item.items[0].is(Json::Kind::array) &&
                           !item.items[0].is(Json::Kind::object) &&
                           item.items[1].is(Json::Kind::number) && item.items[1].integer;
                }
                if (!good) {
                    error(v.column, what +
                                        " is a list of [value, count] pairs, like "
                                        "[[\"mouse\", 3], [\"laptop\", 2]]");
                }
                return;
            }
        }
    }

    FieldType field_type(std::string_view name) const {
        for (const auto& f : spec_.schema.fields) {
            if (f.name == name) {
                return f.type;
            }
        }
        return FieldType::string;
    }

    const pipeline::PipelineSpec* pipeline_of(const Json& v) {
        auto name = string_of(v, "pipeline");
        if (!name) {
            return nullptr;
        }
        std::vector<std::string> names;
        for (const auto& p : spec_.pipelines) {
            if (p.name == *name) {
                return &p;
            }
            names.push_back(p.name);
        }
        error(v.column + 1, "no pipeline '" + *name + "' in the configuration" +
                                suggestion(*name, names) + " (pipelines: " + quoted_list(names) +
                                ")");
        return nullptr;
    }

  private:
    const std::string& path_;
    std::uint32_t line_;
    const pipeline::EngineSpec& spec_;
    std::vector<CaseError>& errors_;
    bool ok_ = true;
};

struct Context {
    CaseFile& file;
    const pipeline::EngineSpec& spec;
    std::optional<std::int64_t> last_time;
    std::uint32_t last_time_line = 0;
    bool seen_content = false;
    std::uint32_t flush_line = 0;
};

void parse_header(LineParser& p, const Json& obj, Context& ctx) {
    static constexpr std::array<std::string_view, 4> kKeys = {"case", "description", "tolerance",
                                                              "ignore_unexpected"};
    p.check_keys(obj, kKeys, "the case header");
    if (ctx.seen_content) {
        p.error(1, "the case header (the line with \"case\") must come before every other line");
    }
    if (auto name = p.string_of(*obj.find("case"), "case")) {
        ctx.file.name = *name;
    }
    if (const Json* d = obj.find("description")) {
        if (auto text = p.string_of(*d, "description")) {
            ctx.file.description = *text;
        }
    }
    if (const Json* t = obj.find("tolerance")) {
        if (auto tol = p.tolerance_of(*t)) {
            ctx.file.tolerance = *tol;
        }
    }
    if (const Json* ig = obj.find("ignore_unexpected")) {
        if (ig->is(Json::Kind::boolean)) {
            ctx.file.ignore_all_unexpected = ig->boolean;
        } else if (ig->is(Json::Kind::array)) {
            std::vector<std::string> allowed = {"late", "dead_letter"};
            for (const auto& pl : ctx.spec.pipelines) {
                allowed.push_back(pl.name);
            }
            for (const Json& item : ig->items) {
                if (!item.is(Json::Kind::string) ||
                    std::find(allowed.begin(), allowed.end(), item.text) == allowed.end()) {
                    p.error(item.column,
                            "'ignore_unexpected' lists pipeline names, 'late' and 'dead_letter'" +
                                (item.is(Json::Kind::string) ? suggestion(item.text, allowed)
                                                             : std::string()) +
                                " (allowed: " + quoted_list(allowed) + ")");
                    continue;
                }
                ctx.file.ignore_unexpected.push_back(item.text);
            }
        } else {
            p.error(ig->column,
                    "'ignore_unexpected' must be true, false or a list of pipeline names, "
                    "'late' and 'dead_letter'");
        }
    }
}

// Processing time must not go back: the engine would ignore it, and the case
// would not mean what it says.
void set_time(LineParser& p, const Json& v, std::int64_t t, Context& ctx, Step& step) {
    if (ctx.last_time && t < *ctx.last_time) {
        p.error(v.column, "processing time goes back: " +
                              conf::format_duration(std::chrono::milliseconds(t)) + " after " +
                              conf::format_duration(std::chrono::milliseconds(*ctx.last_time)) +
                              " on line " + std::to_string(ctx.last_time_line));
        return;
    }
    ctx.last_time = t;
    ctx.last_time_line = step.line;
    step.at = t;
}

void parse_input(LineParser& p, const Json& obj, const std::string& line, Context& ctx,
                 Step& step) {
    const bool is_event = obj.find("event") != nullptr;
    static constexpr std::array<std::string_view, 3> kEventKeys = {"event", "partition", "at"};
    static constexpr std::array<std::string_view, 3> kRawKeys = {"raw", "partition", "at"};
    if (is_event) {
        p.check_keys(obj, kEventKeys, "an event line");
        const Json& e = *obj.find("event");
        if (!e.is(Json::Kind::object)) {
            p.error(e.column,
                    "'event' must be a JSON object (write any other record as "
                    "{\"raw\": \"...\"})");
        } else {
            step.raw = line.substr(e.begin, e.end - e.begin);
        }
    } else {
        p.check_keys(obj, kRawKeys, "a raw record line");
        if (auto text = p.string_of(*obj.find("raw"), "raw")) {
            step.raw = *text;
        }
    }
    step.kind = Step::Kind::event;
    if (const Json* part = obj.find("partition")) {
        if (auto v = p.integer_of(*part, "partition", 0, 2147483647)) {
            step.partition = static_cast<std::int32_t>(*v);
        }
    }
    if (const Json* at = obj.find("at")) {
        if (auto t = p.duration_of(*at, "at")) {
            set_time(p, *at, *t, ctx, step);
        }
    }
}

void parse_advance(LineParser& p, const Json& obj, Context& ctx, Step& step) {
    static constexpr std::array<std::string_view, 2> kKeys = {"advance", "caught_up"};
    p.check_keys(obj, kKeys, "an advance line");
    step.kind = Step::Kind::advance;
    const Json& a = *obj.find("advance");
    if (auto t = p.duration_of(a, "advance")) {
        set_time(p, a, *t, ctx, step);
    }
    if (const Json* c = obj.find("caught_up")) {
        if (!c->is(Json::Kind::boolean)) {
            p.error(c->column, "'caught_up' must be true or false");
        } else {
            step.caught_up = c->boolean;
        }
    }
}

void parse_flush(LineParser& p, const Json& obj, Step& step) {
    static constexpr std::array<std::string_view, 1> kKeys = {"flush"};
    p.check_keys(obj, kKeys, "a flush line");
    const Json& f = *obj.find("flush");
    if (!f.is(Json::Kind::boolean) || !f.boolean) {
        p.error(f.column, "'flush' must be true");
    }
    step.kind = Step::Kind::flush;
}

// "emitted_at": when the record must come out: a processing time since the
// start of the case (normalized to the shortest spelling), or "flush".
void add_emitted_at(LineParser& p, const Json& obj, Record& r) {
    if (const Json* v = obj.find("emitted_at")) {
        if (v->is(Json::Kind::string) && v->text == "flush") {
            r.fields.push_back({"emitted_at", Json::make_string("flush")});
        } else if (auto t = p.duration_of(*v, "emitted_at")) {
            r.fields.push_back({"emitted_at", Json::make_string(conf::format_duration(
                                                  std::chrono::milliseconds(*t)))});
        }
    }
}

void parse_result(LineParser& p, const Json& obj, Expectation& ex) {
    static constexpr std::array<std::string_view, 10> kKeys = {
        "expect", "pipeline", "window_start", "window_end", "group",
        "kind",   "revision", "values",       "emitted_at", "tolerance"};
    p.check_keys(obj, kKeys, "a result expectation");
    Record& r = ex.record;
    const Json* pv = obj.find("pipeline");
    if (pv == nullptr) {
        p.error(1, "a result expectation needs 'pipeline'");
        return;
    }
    const pipeline::PipelineSpec* pipeline = p.pipeline_of(*pv);
    if (pipeline == nullptr) {
        return;
    }
    r.fields.push_back({"pipeline", Json::make_string(pipeline->name)});
    for (const char* key : {"window_start", "window_end"}) {
        if (const Json* v = obj.find(key)) {
            if (auto t = p.time_of(*v, key)) {
                r.fields.push_back({key, *t});
            }
        }
    }
    if (const Json* g = obj.find("group")) {
        if (!g->is(Json::Kind::object)) {
            p.error(g->column, "'group' must be an object of group_by field values");
        } else {
            for (const auto& m : g->members) {
                if (std::find(pipeline->group_by.begin(), pipeline->group_by.end(), m.key) ==
                    pipeline->group_by.end()) {
                    p.error(m.key_column,
                            "pipeline '" + pipeline->name + "' does not group by '" + m.key + "'" +
                                suggestion(m.key, pipeline->group_by) + " (group_by: " +
                                (pipeline->group_by.empty() ? std::string("none")
                                                            : quoted_list(pipeline->group_by)) +
                                ")");
                    continue;
                }
                if (p.check_field_value(m.value, p.field_type(m.key), "'" + m.key + "'")) {
                    r.fields.push_back({"group." + m.key, m.value});
                }
            }
        }
    }
    std::optional<std::string> kind;
    if (const Json* k = obj.find("kind")) {
        kind = p.string_of(*k, "kind");
        if (kind && *kind != "final" && *kind != "update" && *kind != "retract") {
            p.error(k->column, "'kind' must be \"final\", \"update\" or \"retract\"");
        } else if (kind) {
            r.fields.push_back({"kind", Json::make_string(*kind)});
        }
    }
    if (const Json* rev = obj.find("revision")) {
        if (auto v = p.integer_of(*rev, "revision", 0, 4294967295)) {
            r.fields.push_back({"revision", Json::make_int(*v)});
        }
    }
    if (const Json* vals = obj.find("values")) {
        if (kind && *kind == "retract") {
            p.error(vals->column, "a retraction has no values");
        } else if (!vals->is(Json::Kind::object)) {
            p.error(vals->column, "'values' must be an object of aggregate values");
        } else {
            std::vector<std::string> names;
            for (const auto& a : pipeline->aggregates) {
                names.push_back(a.name);
            }
            for (const auto& m : vals->members) {
                auto it = std::find(names.begin(), names.end(), m.key);
                if (it == names.end()) {
                    p.error(m.key_column, "pipeline '" + pipeline->name + "' has no aggregate '" +
                                              m.key + "'" + suggestion(m.key, names) +
                                              " (aggregates: " + quoted_list(names) + ")");
                    continue;
                }
                p.check_aggregate_value(
                    m.value, pipeline->aggregates[static_cast<std::size_t>(it - names.begin())]);
                r.fields.push_back({"values." + m.key, m.value});
            }
        }
    }
    add_emitted_at(p, obj, r);
    if (const Json* t = obj.find("tolerance")) {
        if (auto tol = p.tolerance_of(*t)) {
            ex.tolerance = *tol;
        }
    }
}

void add_event_id(LineParser& p, const Json& obj, Record& r) {
    if (const Json* id = obj.find("event_id")) {
        if (id->is(Json::Kind::string)) {
            r.fields.push_back({"event_id", Json::make_string(id->text)});
        } else if (id->is(Json::Kind::number) && id->integer) {
            // The decoder treats 42 and "42" as the same id.
            r.fields.push_back({"event_id", Json::make_string(std::to_string(*id->integer))});
        } else {
            p.error(id->column, "'event_id' must be a string or an integer");
        }
    }
}

void add_string(LineParser& p, const Json& obj, const char* key, Record& r) {
    if (const Json* v = obj.find(key)) {
        if (auto s = p.string_of(*v, key)) {
            r.fields.push_back({key, Json::make_string(*s)});
        }
    }
}

void add_partition(LineParser& p, const Json& obj, Record& r) {
    if (const Json* v = obj.find("partition")) {
        if (auto n = p.integer_of(*v, "partition", 0, 2147483647)) {
            r.fields.push_back({"partition", Json::make_int(*n)});
        }
    }
}

void parse_late(LineParser& p, const Json& obj, Expectation& ex) {
    static constexpr std::array<std::string_view, 9> kKeys = {
        "expect",     "pipeline",  "event_id",  "raw",       "reason",
        "event_time", "watermark", "partition", "emitted_at"};
    p.check_keys(obj, kKeys, "a late expectation");
    Record& r = ex.record;
    if (const Json* pv = obj.find("pipeline")) {
        if (const pipeline::PipelineSpec* pipeline = p.pipeline_of(*pv)) {
            r.fields.push_back({"pipeline", Json::make_string(pipeline->name)});
        }
    }
    add_event_id(p, obj, r);
    add_string(p, obj, "raw", r);
    add_string(p, obj, "reason", r);
    for (const char* key : {"event_time", "watermark"}) {
        if (const Json* v = obj.find(key)) {
            if (auto t = p.time_of(*v, key)) {
                r.fields.push_back({key, *t});
            }
        }
    }
    add_partition(p, obj, r);
    add_emitted_at(p, obj, r);
}

void parse_dead_letter(LineParser& p, const Json& obj, Expectation& ex) {
    static constexpr std::array<std::string_view, 7> kKeys = {
        "expect", "reason", "detail", "event_id", "raw", "partition", "emitted_at"};
    p.check_keys(obj, kKeys, "a dead_letter expectation");
    Record& r = ex.record;
    if (const Json* v = obj.find("reason")) {
        if (auto reason = p.string_of(*v, "reason")) {
            const std::vector<std::string> names = reject_reason_names();
            if (std::find(names.begin(), names.end(), *reason) == names.end()) {
                p.error(v->column + 1, "unknown dead-letter reason '" + *reason + "'" +
                                           suggestion(*reason, names) +
                                           " (reasons: " + quoted_list(names) + ")");
            } else {
                r.fields.push_back({"reason", Json::make_string(*reason)});
            }
        }
    }
    add_string(p, obj, "detail", r);
    add_event_id(p, obj, r);
    add_string(p, obj, "raw", r);
    add_partition(p, obj, r);
    add_emitted_at(p, obj, r);
}

void parse_expectation(LineParser& p, const Json& obj, std::uint32_t line, Context& ctx) {
    const Json& what = *obj.find("expect");
    Expectation ex;
    ex.tolerance = ctx.file.tolerance;
    ex.record.line = line;
    static constexpr std::array<std::string_view, 3> kKinds = {"result", "late", "dead_letter"};
    if (!what.is(Json::Kind::string) ||
        std::find(kKinds.begin(), kKinds.end(), what.text) == kKinds.end()) {
        p.error(what.column,
                "'expect' must be \"result\", \"late\" or \"dead_letter\"" +
                    (what.is(Json::Kind::string) ? suggestion(what.text, kKinds) : std::string()));
        return;
    }
    if (what.text == "result") {
        ex.record.category = Category::result;
        parse_result(p, obj, ex);
    } else if (what.text == "late") {
        ex.record.category = Category::late;
        parse_late(p, obj, ex);
    } else {
        ex.record.category = Category::dead_letter;
        parse_dead_letter(p, obj, ex);
    }
    if (p.ok()) {
        ctx.file.expectations.push_back(std::move(ex));
    }
}

void parse_line(const std::string& line, std::uint32_t number, Context& ctx,
                std::vector<CaseError>& errors) {
    LineParser p(ctx.file.path, number, ctx.spec, errors);
    auto parsed = parse_json(line);
    if (auto* e = std::get_if<JsonError>(&parsed)) {
        p.error(e->column, "not valid JSON: " + e->message);
        return;
    }
    const Json& obj = std::get<Json>(parsed);
    if (!obj.is(Json::Kind::object)) {
        p.error(obj.column, "each line must be a JSON object (or a comment starting with '#')");
        return;
    }
    std::vector<const JsonMember*> found;
    for (const auto& m : obj.members) {
        if (std::find(kLineKeys.begin(), kLineKeys.end(), m.key) != kLineKeys.end()) {
            found.push_back(&m);
        }
    }
    if (found.empty()) {
        std::string hint;
        for (const auto& m : obj.members) {
            hint = suggestion(m.key, kLineKeys);
            if (!hint.empty()) {
                break;
            }
        }
        p.error(obj.column,
                "a line needs one of the keys \"event\", \"raw\", \"advance\", "
                "\"flush\", \"expect\", or \"case\" for the header" +
                    hint);
        return;
    }
    // In an expectation, "raw" is a field to compare, not an input record.
    for (const JsonMember* m : found) {
        if (m->key == "expect") {
            found = {m};
            break;
        }
    }
    if (found.size() > 1) {
        p.error(found[1]->key_column,
                "'" + found[0]->key + "' and '" + found[1]->key + "' cannot be on the same line");
        return;
    }
    const std::string& key = found[0]->key;
    if (key == "case") {
        parse_header(p, obj, ctx);
        return;
    }
    ctx.seen_content = true;
    if (key == "expect") {
        ctx.file.is_expectation.back() = true;
        parse_expectation(p, obj, number, ctx);
        return;
    }
    Step step;
    step.line = number;
    if (ctx.flush_line != 0) {
        p.error(found[0]->key_column, "nothing but expectations can follow the flush on line " +
                                          std::to_string(ctx.flush_line));
        return;
    }
    if (key == "event" || key == "raw") {
        parse_input(p, obj, line, ctx, step);
    } else if (key == "advance") {
        parse_advance(p, obj, ctx, step);
    } else {
        parse_flush(p, obj, step);
        ctx.flush_line = number;
    }
    if (p.ok()) {
        ctx.file.steps.push_back(std::move(step));
    }
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

std::string_view name_of(Category c) {
    switch (c) {
        case Category::result:
            return "result";
        case Category::late:
            return "late";
        case Category::dead_letter:
            return "dead_letter";
    }
    return "result";
}

const Json* Record::get(std::string_view path) const {
    for (const auto& f : fields) {
        if (f.path == path) {
            return &f.value;
        }
    }
    return nullptr;
}

bool is_time_path(std::string_view path) {
    return path == "window_start" || path == "window_end" || path == "event_time" ||
           path == "watermark";
}

std::string format_error(const CaseError& error) {
    if (error.line == 0) {
        return error.file + ": error: " + error.message;
    }
    return error.file + ":" + std::to_string(error.line) + ":" + std::to_string(error.column) +
           ": error: " + error.message;
}

CaseParse parse_case(std::string_view text, const std::string& path,
                     const pipeline::EngineSpec& spec) {
    CaseParse out;
    CaseFile file;
    file.path = path;
    file.name = file_stem(path);
    Context ctx{file, spec, std::nullopt, 0, false, 0};
    std::uint32_t number = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string line(text.substr(pos, end - pos));
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        ++number;
        file.lines.push_back(line);
        file.is_expectation.push_back(false);
        const std::size_t first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') {
            continue;
        }
        parse_line(line, number, ctx, out.errors);
    }
    std::stable_sort(out.errors.begin(), out.errors.end(),
                     [](const CaseError& a, const CaseError& b) {
                         return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                     });
    if (out.errors.empty() && file.steps.empty()) {
        out.errors.push_back({path, 0, 0,
                              "the case has no input: add \"event\", \"raw\", \"advance\" or "
                              "\"flush\" lines"});
    }
    if (out.errors.empty()) {
        out.file = std::move(file);
    }
    return out;
}

CaseParse load_case(const std::string& path, const pipeline::EngineSpec& spec) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        CaseParse out;
        out.errors.push_back({path, 0, 0, "cannot read the file"});
        return out;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_case(text.str(), path, spec);
}

std::string format_utc(std::int64_t epoch_ms) {
    std::int64_t days = epoch_ms / 86400000;
    std::int64_t ms = epoch_ms % 86400000;
    if (ms < 0) {
        ms += 86400000;
        --days;
    }
    // civil_from_days
    const std::int64_t z = days + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y0 = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t y = y0 + (m <= 2 ? 1 : 0);
    std::array<char, 48> buffer{};
    const auto secs = static_cast<int>(ms / 1000);
    const auto millis = static_cast<int>(ms % 1000);
    int n = 0;
    if (millis == 0) {
        n = std::snprintf(buffer.data(), buffer.size(), "%04lld-%02u-%02uT%02d:%02d:%02dZ",
                          static_cast<long long>(y), m, d, secs / 3600, secs / 60 % 60, secs % 60);
    } else {
        n = std::snprintf(buffer.data(), buffer.size(), "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                          static_cast<long long>(y), m, d, secs / 3600, secs / 60 % 60, secs % 60,
                          millis);
    }
    return std::string(buffer.data(), static_cast<std::size_t>(n));
}

std::optional<std::int64_t> parse_utc(std::string_view s) {
    auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
        if (at + n > s.size()) {
            return std::nullopt;
        }
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            if (s[i] < '0' || s[i] > '9') {
                return std::nullopt;
            }
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    const auto year = digits(0, 4);
    const auto month = digits(5, 2);
    const auto day = digits(8, 2);
    const auto hour = digits(11, 2);
    const auto minute = digits(14, 2);
    const auto second = digits(17, 2);
    if (!year || !month || !day || !hour || !minute || !second || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':') {
        return std::nullopt;
    }
    static constexpr std::array<int, 12> kDays = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
    if (*month < 1 || *month > 12 || *day < 1 || *day > kDays[*month - 1] ||
        (*month == 2 && *day == 29 && !leap) || *hour > 23 || *minute > 59 || *second > 59) {
        return std::nullopt;
    }
    std::size_t pos = 19;
    int millis = 0;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int count = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            if (count < 3) {
                millis = millis * 10 + (s[pos] - '0');
            }
            ++count;
            ++pos;
        }
        if (count == 0 || count > 9) {
            return std::nullopt;
        }
        for (int i = count; i < 3; ++i) {
            millis *= 10;
        }
    }
    std::int64_t offset_minutes = 0;
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
        ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        const auto oh = digits(pos + 1, 2);
        const auto om = digits(pos + 4, 2);
        if (!oh || !om || pos + 3 >= s.size() || s[pos + 3] != ':' || *oh > 23 || *om > 59) {
            return std::nullopt;
        }
        offset_minutes = static_cast<std::int64_t>(*oh * 60 + *om) * (s[pos] == '-' ? -1 : 1);
        pos += 6;
    } else {
        return std::nullopt;  // a time without a zone is ambiguous in a test
    }
    if (pos != s.size()) {
        return std::nullopt;
    }
    const std::int64_t days =
        days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
    return ((days * 24 + *hour) * 60 + *minute - offset_minutes) * 60000 +
           static_cast<std::int64_t>(*second) * 1000 + millis;
}

}  // namespace etld::daemon::testcase
