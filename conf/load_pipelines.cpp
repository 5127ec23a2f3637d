// Reading [[pipeline]] and [[pipeline.aggregate]] tables: windows, group_by, aggregates and the
// references between them. Split from load.cpp, which reads the other tables.
#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "conf/duration.h"
#include "conf/load_internal.h"
#include "conf/rules_internal.h"
#include "conf/toml_reader_internal.h"

namespace etld::conf::detail {
namespace {

using namespace std::chrono_literals;

constexpr std::array<Choice<WindowType>, 3> kWindowTypes{{
    {"tumbling", WindowType::tumbling},
    {"sliding", WindowType::sliding},
    {"session", WindowType::session},
}};
constexpr std::array<Choice<Emit>, 2> kEmits{{{"final", Emit::final}, {"early", Emit::early}}};
constexpr std::array<Choice<LatePolicy>, 2> kLatePolicies{{
    {"topic", LatePolicy::topic},
    {"drop", LatePolicy::drop},
}};
constexpr std::array<Choice<AggregateFn>, 8> kAggregateFns{{
    {"count", AggregateFn::count},
    {"sum", AggregateFn::sum},
    {"avg", AggregateFn::avg},
    {"min", AggregateFn::min},
    {"max", AggregateFn::max},
    {"count_distinct", AggregateFn::count_distinct},
    {"ratio", AggregateFn::ratio},
    {"top_k", AggregateFn::top_k},
}};

constexpr Duration kMaxWindow = std::chrono::days{30};
// Each event of a sliding window updates size/slide windows; beyond this the cost per event is
// more likely a typo than a plan.
constexpr std::int64_t kMaxWindowsPerEvent = 1000;

// The keys an aggregate function takes besides name and fn.
struct FnKeys {
    bool expr = false;
    bool where = false;
    bool field = false;
    bool k = false;
    bool ratio = false;
};

FnKeys keys_of(AggregateFn fn) {
    switch (fn) {
        case AggregateFn::count:
            return FnKeys{.where = true};
        case AggregateFn::sum:
        case AggregateFn::avg:
        case AggregateFn::min:
        case AggregateFn::max:
            return FnKeys{.expr = true, .where = true};
        case AggregateFn::count_distinct:
            return FnKeys{.where = true, .field = true};
        case AggregateFn::top_k:
            return FnKeys{.where = true, .field = true, .k = true};
        case AggregateFn::ratio:
            return FnKeys{.ratio = true};
    }
    return FnKeys{};
}

// Why a key does not belong to an aggregate with another fn: completes "not allowed for fn X; ".
std::string_view key_usage(std::string_view key) {
    if (key == "expr") {
        return "expr is only for sum, avg, min and max";
    }
    if (key == "where") {
        return "filter the ratio's numerator and denominator instead";
    }
    if (key == "field") {
        return "field is only for count_distinct and top_k";
    }
    if (key == "k") {
        return "k is only for top_k";
    }
    return "numerator and denominator are only for ratio";
}

// Reads every pipeline of one file; reports to the root reader's Diagnostics.
class PipelineReader {
  public:
    PipelineReader(const TableReader& root, const FieldNames& fields)
        : diag_(&root.diagnostics()), source_(&root.source()), fields_(&fields) {}

    // An array of tables under `key`; nothing (and an error) when it is something else.
    const toml::array* table_array(const TableReader& parent, std::string_view key,
                                   std::string_view header) {
        const toml::node* n = parent.node(key);
        if (n == nullptr) {
            return nullptr;
        }
        const toml::array* a = n->as_array();
        if (a == nullptr) {
            parent.value_error(key, "expected an array of tables (" + std::string(header) +
                                        "), got " + std::string(type_name(*n)));
            return nullptr;
        }
        return a;
    }

    std::vector<PipelineConfig> read_all(const TableReader& root) {
        std::vector<PipelineConfig> out;
        if (!root.has("pipeline")) {
            root.error(root.header(),
                       "missing required [[pipeline]]: declare at least one pipeline");
            return out;
        }
        const toml::array* pipelines = table_array(root, "pipeline", "[[pipeline]]");
        if (pipelines == nullptr) {
            return out;
        }
        if (pipelines->empty()) {
            root.value_error("pipeline", "declare at least one pipeline");
            return out;
        }
        std::map<std::string, SourcePos, std::less<>> names;
        for (const toml::node& element : *pipelines) {
            const toml::table* table = element.as_table();
            if (table == nullptr) {
                diag_->error(to_pos(element.source().begin),
                             "pipeline: expected a table, got " + std::string(type_name(element)));
                continue;
            }
            const TableReader t(*diag_, *source_, *table, "pipeline", "[[pipeline]]",
                                {"name", "window", "group_by", "emit", "allowed_lateness",
                                 "late_policy", "aggregate"});
            out.push_back(read_pipeline(t, names));
        }
        return out;
    }

    PipelineConfig read_pipeline(const TableReader& t,
                                 std::map<std::string, SourcePos, std::less<>>& names) {
        PipelineConfig p;
        p.entry.pos = t.header();
        t.require("name");
        if (const auto v = t.text("name")) {
            std::optional<std::string> problem = name_problem(v->value);
            if (!problem && (v->value.starts_with("sqlite_") || v->value.starts_with("etld_"))) {
                problem =
                    "names starting with \"sqlite_\" or \"etld_\" are reserved for the "
                    "result database";
            }
            if (problem) {
                t.string_error("name", *v,
                               quoted(v->value) + " is not a valid pipeline name: " + *problem);
            } else if (const auto first = names.find(v->value); first != names.end()) {
                t.string_error("name", *v,
                               "duplicate pipeline name " + single_quoted(v->value) +
                                   " (first defined at line " + std::to_string(first->second.line) +
                                   ")");
            } else {
                names.emplace(v->value, v->pos);
            }
            p.name = *v;
        }
        if (t.require("window")) {
            p.window = read_window(t);
        }
        if (const auto group_by = t.string_array("group_by")) {
            for (const Located<std::string>& field : *group_by) {
                if (!fields_->contains(field.value)) {
                    t.string_error("group_by", field, fields_->not_a_field(field.value));
                } else if (std::find(p.group_by.begin(), p.group_by.end(), field) !=
                           p.group_by.end()) {
                    t.string_error("group_by", field, quoted(field.value) + " is listed twice");
                }
                p.group_by.push_back(field);
            }
        }
        if (const auto v = t.choice<Emit>("emit", kEmits)) {
            p.emit = *v;
        }
        if (const auto v = t.duration("allowed_lateness", 0ms, std::chrono::days{7})) {
            p.allowed_lateness = *v;
        }
        if (const auto v = t.choice<LatePolicy>("late_policy", kLatePolicies)) {
            p.late_policy = *v;
        }
        read_aggregates(t, p);
        t.report_unknown_keys();
        return p;
    }

    WindowConfig read_window(const TableReader& pipeline) {
        WindowConfig w;
        const auto t =
            pipeline.table("window", "[pipeline.window]", {"type", "size", "slide", "gap"});
        if (!t) {
            return w;
        }
        t->require("type");
        const auto type = t->choice<WindowType>("type", kWindowTypes);
        const auto size = t->duration("size", 1ms, kMaxWindow);
        const auto slide = t->duration("slide", 1ms, kMaxWindow);
        const auto gap = t->duration("gap", 1ms, kMaxWindow);
        t->report_unknown_keys();
        if (!type) {
            return w;
        }
        w.type = *type;
        const auto not_allowed = [&](std::string_view key, std::string_view takes) {
            if (t->has(key)) {
                t->error(t->key_pos(key), t->key_path(key) + ": not allowed for a " +
                                              std::string(to_string(*type)) + " window (" +
                                              std::string(takes) + ")");
            }
        };
        switch (*type) {
            case WindowType::tumbling:
                t->require("size", " (a tumbling window needs size)");
                not_allowed("slide", "it takes size only");
                not_allowed("gap", "it takes size only");
                w.size = size.value_or(Duration{0});
                break;
            case WindowType::sliding:
                t->require("size", " (a sliding window needs size and slide)");
                t->require("slide", " (a sliding window needs size and slide)");
                not_allowed("gap", "it takes size and slide");
                if (size && slide) {
                    if (size->count() % slide->count() != 0) {
                        t->value_error("size", format_duration(*size) +
                                                   " is not a multiple of slide " +
                                                   format_duration(*slide));
                    } else if (size->count() / slide->count() > kMaxWindowsPerEvent) {
                        t->value_error("slide",
                                       "a " + format_duration(*size) + " window sliding by " +
                                           format_duration(*slide) + " puts each event in " +
                                           std::to_string(size->count() / slide->count()) +
                                           " windows; at most " +
                                           std::to_string(kMaxWindowsPerEvent) + " are allowed");
                    }
                }
                w.size = size.value_or(Duration{0});
                w.slide = slide.value_or(Duration{0});
                break;
            case WindowType::session:
                t->require("gap", " (a session window needs gap)");
                not_allowed("size", "it takes gap only");
                not_allowed("slide", "it takes gap only");
                w.gap = gap.value_or(Duration{0});
                break;
        }
        return w;
    }

    void read_aggregates(const TableReader& pipeline, PipelineConfig& p) {
        const std::string pipeline_name =
            p.name.value.empty() ? std::string("(unnamed)") : p.name.value;
        if (!pipeline.has("aggregate")) {
            pipeline.error(pipeline.header(),
                           "pipeline " + single_quoted(pipeline_name) +
                               " has no [[pipeline.aggregate]]; declare at least one");
            return;
        }
        const toml::array* aggregates =
            table_array(pipeline, "aggregate", "[[pipeline.aggregate]]");
        if (aggregates == nullptr) {
            return;
        }
        if (aggregates->empty()) {
            pipeline.value_error("aggregate", "declare at least one aggregate");
            return;
        }
        std::map<std::string, SourcePos, std::less<>> names;
        for (const toml::node& element : *aggregates) {
            const toml::table* table = element.as_table();
            if (table == nullptr) {
                diag_->error(
                    to_pos(element.source().begin),
                    "pipeline.aggregate: expected a table, got " + std::string(type_name(element)));
                continue;
            }
            const TableReader t(
                *diag_, *source_, *table, "pipeline.aggregate", "[[pipeline.aggregate]]",
                {"name", "fn", "expr", "where", "field", "k", "numerator", "denominator"});
            p.aggregates.push_back(read_aggregate(t, p, names));
        }
        check_ratios(p);
    }

    AggregateConfig read_aggregate(const TableReader& t, const PipelineConfig& p,
                                   std::map<std::string, SourcePos, std::less<>>& names) {
        AggregateConfig a;
        a.entry.pos = t.header();
        t.require("name");
        if (const auto v = t.text("name")) {
            if (const auto problem = name_problem(v->value)) {
                t.string_error("name", *v,
                               quoted(v->value) + " is not a valid aggregate name: " + *problem);
            } else if (const auto first = names.find(v->value); first != names.end()) {
                t.string_error("name", *v,
                               "duplicate aggregate name " + single_quoted(v->value) +
                                   " in pipeline " + single_quoted(p.name.value) +
                                   " (first defined at line " + std::to_string(first->second.line) +
                                   ")");
            } else if (std::find(p.group_by.begin(), p.group_by.end(), *v) != p.group_by.end()) {
                t.string_error("name", *v,
                               single_quoted(v->value) +
                                   " is also a group_by field of the pipeline; both would be "
                                   "columns of its result table");
            } else {
                names.emplace(v->value, v->pos);
            }
            a.name = *v;
        }
        t.require("fn");
        const auto fn = t.choice<AggregateFn>("fn", kAggregateFns);
        if (fn) {
            a.fn = *fn;
            const FnKeys takes = keys_of(*fn);
            const std::string fn_name = quoted(to_string(*fn));
            const auto check = [&](std::string_view key, bool allowed) {
                if (t.has(key) && !allowed) {
                    t.error(t.key_pos(key), t.key_path(key) + ": not allowed for fn " + fn_name +
                                                "; " + std::string(key_usage(key)));
                }
            };
            check("expr", takes.expr);
            check("where", takes.where);
            check("field", takes.field);
            check("k", takes.k);
            check("numerator", takes.ratio);
            check("denominator", takes.ratio);
            const std::string why = " (fn " + fn_name + " needs it)";
            if (takes.expr) {
                t.require("expr", why);
            }
            if (takes.field) {
                t.require("field", why);
            }
            if (takes.k) {
                t.require("k", why);
            }
            if (takes.ratio) {
                t.require("numerator", why);
                t.require("denominator", why);
            }
        }
        if (const auto v = t.text("expr")) {
            a.expr = *v;
        }
        if (const auto v = t.text("where")) {
            a.where = *v;
        }
        if (const auto v = t.text("field")) {
            if (!fields_->contains(v->value)) {
                t.string_error("field", *v, fields_->not_a_field(v->value));
            }
            a.field = *v;
        }
        if (const auto v = t.integer("k", 1, 1000)) {
            a.k = *v;
        }
        if (const auto v = t.text("numerator")) {
            a.numerator = *v;
        }
        if (const auto v = t.text("denominator")) {
            a.denominator = *v;
        }
        // Values of keys the fn does not take were reported above; keep the model tidy.
        if (fn) {
            const FnKeys takes = keys_of(*fn);
            if (!takes.expr) {
                a.expr = {};
            }
            if (!takes.where) {
                a.where = {};
            }
            if (!takes.field) {
                a.field = {};
            }
            if (!takes.k) {
                a.k = 0;
            }
            if (!takes.ratio) {
                a.numerator = {};
                a.denominator = {};
            }
        }
        t.report_unknown_keys();
        return a;
    }

    // Ratios name other aggregates of the same pipeline: those must exist, be numeric, and not
    // lead back to the ratio itself.
    void check_ratios(const PipelineConfig& p) {
        const auto index_of = [&](std::string_view name) -> std::optional<std::size_t> {
            for (std::size_t i = 0; i < p.aggregates.size(); ++i) {
                if (p.aggregates[i].name.value == name) {
                    return i;
                }
            }
            return std::nullopt;
        };
        std::vector<std::string_view> all_names;
        for (const AggregateConfig& a : p.aggregates) {
            all_names.push_back(a.name.value);
        }
        // edges[i]: ratios that ratio i refers to (only those can form a cycle).
        std::vector<std::vector<std::size_t>> edges(p.aggregates.size());
        for (std::size_t i = 0; i < p.aggregates.size(); ++i) {
            const AggregateConfig& a = p.aggregates[i];
            if (a.fn != AggregateFn::ratio) {
                continue;
            }
            for (const auto* ref : {&a.numerator, &a.denominator}) {
                const std::string key = ref == &a.numerator ? "pipeline.aggregate.numerator"
                                                            : "pipeline.aggregate.denominator";
                if (ref->value.empty()) {
                    continue;
                }
                if (ref->value == a.name.value) {
                    diag_->error(ref->pos, key + ": a ratio cannot refer to itself");
                    continue;
                }
                const auto target = index_of(ref->value);
                if (!target) {
                    std::string message = key + ": no aggregate named " +
                                          single_quoted(ref->value) + " in pipeline " +
                                          single_quoted(p.name.value);
                    if (const auto guess = closest_match(ref->value, all_names)) {
                        message += "; did you mean " + single_quoted(*guess) + "?";
                    }
                    diag_->error(ref->pos, std::move(message));
                    continue;
                }
                const AggregateFn target_fn = p.aggregates[*target].fn;
                if (target_fn == AggregateFn::top_k) {
                    diag_->error(ref->pos, key + ": " + single_quoted(ref->value) +
                                               " is a top_k aggregate; a ratio needs a numeric "
                                               "one");
                    continue;
                }
                if (target_fn == AggregateFn::ratio) {
                    edges[i].push_back(*target);
                }
            }
        }
        // Depth-first search with an explicit stack (a long chain of ratios must not exhaust the
        // call stack); a grey node reached again closes a cycle.
        enum class Mark { white, grey, black };
        std::vector<Mark> mark(p.aggregates.size(), Mark::white);
        struct Frame {
            std::size_t node;
            std::size_t next_edge;
        };
        std::vector<Frame> stack;
        for (std::size_t start = 0; start < p.aggregates.size(); ++start) {
            if (mark[start] != Mark::white) {
                continue;
            }
            mark[start] = Mark::grey;
            stack.push_back(Frame{start, 0});
            while (!stack.empty()) {
                Frame& top = stack.back();
                if (top.next_edge == edges[top.node].size()) {
                    mark[top.node] = Mark::black;
                    stack.pop_back();
                    continue;
                }
                const std::size_t next = edges[top.node][top.next_edge++];
                if (mark[next] == Mark::white) {
                    mark[next] = Mark::grey;
                    stack.push_back(Frame{next, 0});  // invalidates `top`
                } else if (mark[next] == Mark::grey) {
                    report_cycle(p, stack, next);
                }
            }
        }
    }

    template <typename Frames>
    void report_cycle(const PipelineConfig& p, const Frames& stack, std::size_t back_to) {
        const auto from = std::find_if(stack.begin(), stack.end(),
                                       [&](const auto& f) { return f.node == back_to; });
        std::string path;
        for (auto it = from; it != stack.end(); ++it) {
            path += p.aggregates[it->node].name.value + " -> ";
        }
        path += p.aggregates[back_to].name.value;
        diag_->error(p.aggregates[back_to].entry.pos,
                     "pipeline.aggregate: ratio " +
                         single_quoted(p.aggregates[back_to].name.value) +
                         " depends on itself: " + path);
    }

  private:
    Diagnostics* diag_;
    const SourceText* source_;
    const FieldNames* fields_;
};

}  // namespace

std::vector<PipelineConfig> read_pipelines(const TableReader& root, const FieldNames& fields) {
    return PipelineReader(root, fields).read_all(root);
}

}  // namespace etld::conf::detail
