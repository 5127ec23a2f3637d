#include "etld/pipeline/compile.h"

#include <map>
#include <set>
#include <string>

#include "compiled.h"
#include "hash.h"

namespace etld::pipeline {

CompiledEngine::CompiledEngine(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {}
CompiledEngine::~CompiledEngine() = default;
const EngineSpec& CompiledEngine::spec() const {
    return impl_->spec;
}

namespace {

using detail::CompiledAggregate;
using detail::CompiledPipeline;

bool valid_name(std::string_view s) {
    if (s.empty() || s[0] < 'a' || s[0] > 'z') {
        return false;
    }
    for (char c : s) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return true;
}

class Checker {
  public:
    explicit Checker(const EngineSpec& spec) : spec_(spec) {}

    std::vector<SpecError> errors;

    void error(std::optional<std::size_t> p, std::optional<std::size_t> a, std::string attr,
               std::string msg, std::optional<std::size_t> pos = std::nullopt) {
        errors.push_back(SpecError{p, a, std::move(attr), pos, std::move(msg)});
    }

    void check_schema() {
        const EventSchema& s = spec_.schema;
        if (s.id_field.empty()) {
            error(std::nullopt, std::nullopt, "id_field", "the event id field must be named");
        }
        if (s.time_field.empty()) {
            error(std::nullopt, std::nullopt, "time_field", "the event time field must be named");
        }
        if (!s.id_field.empty() && s.id_field == s.time_field) {
            error(std::nullopt, std::nullopt, "time_field",
                  "the time field and the id field must differ");
        }
        std::set<std::string> seen;
        for (const auto& f : s.fields) {
            if (f.name.empty()) {
                error(std::nullopt, std::nullopt, "fields", "a schema field has an empty name");
            } else if (!seen.insert(f.name).second) {
                error(std::nullopt, std::nullopt, "fields",
                      "field '" + f.name + "' is declared twice");
            } else if (f.name == s.id_field || f.name == s.time_field) {
                error(std::nullopt, std::nullopt, "fields",
                      "field '" + f.name +
                          "' is the id or time field and cannot also be a typed field");
            }
            names_.push_back(f.name);
        }
        if (s.max_record_bytes == 0) {
            error(std::nullopt, std::nullopt, "max_record_bytes", "must be positive");
        }
        if (s.min_event_time > s.max_event_time) {
            error(std::nullopt, std::nullopt, "schema", "min_event_time is after max_event_time");
        }
        if (spec_.dedup_horizon.value < 0) {
            error(std::nullopt, std::nullopt, "dedup_horizon", "must not be negative");
        }
        if (spec_.max_out_of_orderness.value < 0) {
            error(std::nullopt, std::nullopt, "max_out_of_orderness", "must not be negative");
        }
        if (spec_.idle_timeout.value < 0) {
            error(std::nullopt, std::nullopt, "idle_timeout", "must not be negative");
        }
    }

    std::optional<std::uint32_t> field_index(std::string_view name) const {
        for (std::size_t i = 0; i < spec_.schema.fields.size(); ++i) {
            if (spec_.schema.fields[i].name == name) {
                return static_cast<std::uint32_t>(i);
            }
        }
        return std::nullopt;
    }

    std::string unknown_field(std::string_view name) const {
        std::string m = "unknown field '" + std::string(name) + "'";
        if (std::string s = detail::suggest(name, names_); !s.empty()) {
            m += "; did you mean '" + s + "'?";
        }
        return m;
    }

    void check_pipeline(std::size_t pi, CompiledPipeline& out) {
        const PipelineSpec& p = spec_.pipelines[pi];
        out.index = static_cast<std::uint32_t>(pi);
        out.spec = p;
        if (!valid_name(p.name)) {
            error(pi, std::nullopt, "name",
                  "pipeline name '" + p.name + "' must match [a-z][a-z0-9_]*");
        } else if (!pipeline_names_.insert(p.name).second) {
            error(pi, std::nullopt, "name", "pipeline name '" + p.name + "' is used twice");
        }
        const WindowSpec& w = p.window;
        switch (w.type) {
            case WindowType::tumbling:
                if (w.size.value <= 0) {
                    error(pi, std::nullopt, "window", "tumbling window size must be positive");
                }
                break;
            case WindowType::sliding:
                if (w.size.value <= 0 || w.slide.value <= 0) {
                    error(pi, std::nullopt, "window",
                          "sliding window size and slide must be positive");
                } else if (w.size.value % w.slide.value != 0) {
                    error(pi, std::nullopt, "window",
                          "sliding window size must be a multiple of its slide");
                } else if (w.size.value / w.slide.value > 1000) {
                    error(pi, std::nullopt, "window",
                          "sliding window size / slide must be at most 1000 (windows per event)");
                }
                break;
            case WindowType::session:
                if (w.gap.value <= 0) {
                    error(pi, std::nullopt, "window", "session gap must be positive");
                }
                break;
        }
        if (p.allowed_lateness.value < 0) {
            error(pi, std::nullopt, "allowed_lateness", "must not be negative");
        }
        std::set<std::string> groups;
        for (const auto& g : p.group_by) {
            auto idx = field_index(g);
            if (!idx) {
                error(pi, std::nullopt, "group_by", unknown_field(g));
                continue;
            }
            if (!groups.insert(g).second) {
                error(pi, std::nullopt, "group_by", "field '" + g + "' is listed twice");
                continue;
            }
            out.group_fields.push_back(*idx);
            out.group_types.push_back(spec_.schema.fields[*idx].type);
        }
        std::vector<std::string> agg_names;
        for (const auto& a : p.aggregates) {
            agg_names.push_back(a.name);
        }
        std::set<std::string> seen;
        for (std::size_t ai = 0; ai < p.aggregates.size(); ++ai) {
            const AggregateSpec& a = p.aggregates[ai];
            CompiledAggregate c;
            c.fn = a.fn;
            if (!valid_name(a.name)) {
                error(pi, ai, "name", "aggregate name '" + a.name + "' must match [a-z][a-z0-9_]*");
            } else if (!seen.insert(a.name).second) {
                error(pi, ai, "name",
                      "aggregate name '" + a.name + "' is used twice in this pipeline");
            }
            const bool numeric = a.fn == AggregateFn::sum || a.fn == AggregateFn::avg ||
                                 a.fn == AggregateFn::min || a.fn == AggregateFn::max;
            const bool by_field = a.fn == AggregateFn::count_distinct || a.fn == AggregateFn::top_k;
            const std::string fn(name_of(a.fn));
            auto unused = [&](std::string_view attr) {
                // Built with append: GCC 12 at -O3 warns falsely (-Wrestrict)
                // on the equivalent chain of operator+.
                std::string msg;
                msg.append("'").append(attr).append("' is not used by ").append(fn);
                error(pi, ai, std::string(attr), std::move(msg));
            };
            if (numeric) {
                if (a.expr.empty()) {
                    error(pi, ai, "expr", fn + " needs 'expr', a numeric expression");
                } else {
                    auto r = detail::compile_numeric(a.expr, spec_.schema);
                    if (auto* e = std::get_if<detail::ExprError>(&r)) {
                        error(pi, ai, "expr", e->message, e->position);
                    } else {
                        c.expr = std::get<detail::Expr>(std::move(r));
                    }
                }
            } else if (!a.expr.empty()) {
                unused("expr");
            }
            if (a.fn == AggregateFn::ratio) {
                if (!a.where.empty()) {
                    unused("where");
                }
            } else if (!a.where.empty()) {
                auto r = detail::compile_predicate(a.where, spec_.schema);
                if (auto* e = std::get_if<detail::ExprError>(&r)) {
                    error(pi, ai, "where", e->message, e->position);
                } else {
                    c.where = std::get<detail::Expr>(std::move(r));
                }
            }
            if (by_field) {
                if (a.field.empty()) {
                    error(pi, ai, "field", fn + " needs 'field'");
                } else if (auto idx = field_index(a.field)) {
                    c.field = *idx;
                    c.field_type = spec_.schema.fields[*idx].type;
                } else {
                    error(pi, ai, "field", unknown_field(a.field));
                }
            } else if (!a.field.empty()) {
                unused("field");
            }
            if (a.fn == AggregateFn::top_k) {
                if (a.k < 1 || a.k > 1000) {
                    error(pi, ai, "k", "top_k needs 1 <= k <= 1000");
                } else {
                    c.k = static_cast<std::uint32_t>(a.k);
                }
            } else if (a.k != 0) {
                unused("k");
            }
            if (a.fn == AggregateFn::ratio) {
                auto ref = [&](const std::string& name, std::string_view attr) -> std::uint32_t {
                    if (name.empty()) {
                        error(pi, ai, std::string(attr), "ratio needs '" + std::string(attr) + "'");
                        return 0;
                    }
                    for (std::size_t j = 0; j < p.aggregates.size(); ++j) {
                        if (p.aggregates[j].name != name) {
                            continue;
                        }
                        const AggregateFn f = p.aggregates[j].fn;
                        if (j == ai) {
                            error(pi, ai, std::string(attr), "a ratio cannot refer to itself");
                        } else if (f == AggregateFn::ratio || f == AggregateFn::top_k) {
                            error(pi, ai, std::string(attr),
                                  "'" + name + "' is a " + std::string(name_of(f)) +
                                      "; a ratio needs numeric aggregates");
                        }
                        return static_cast<std::uint32_t>(j);
                    }
                    std::string m =
                        "no aggregate named '" + name + "' in pipeline '" + p.name + "'";
                    if (std::string s = detail::suggest(name, agg_names); !s.empty()) {
                        m += "; did you mean '" + s + "'?";
                    }
                    error(pi, ai, std::string(attr), m);
                    return 0;
                };
                c.numerator = ref(a.numerator, "numerator");
                c.denominator = ref(a.denominator, "denominator");
            } else {
                if (!a.numerator.empty()) {
                    unused("numerator");
                }
                if (!a.denominator.empty()) {
                    unused("denominator");
                }
            }
            switch (a.fn) {
                case AggregateFn::count:
                case AggregateFn::sum:
                case AggregateFn::avg:
                case AggregateFn::min:
                case AggregateFn::max:
                    c.slot = out.cells++;
                    break;
                case AggregateFn::count_distinct:
                    c.slot = out.distinct_sets++;
                    break;
                case AggregateFn::top_k:
                    c.slot = out.topk_maps++;
                    break;
                case AggregateFn::ratio:
                    break;
            }
            out.aggregates.push_back(std::move(c));
        }
        out.fingerprint = fingerprint(p, out.distinct_sets + out.topk_maps > 0);
    }

    std::uint64_t fingerprint(const PipelineSpec& p, bool has_sets) const {
        std::string s;
        auto add = [&](std::string_view v) {
            s.append(std::to_string(v.size()));
            s.push_back(':');
            s.append(v);
        };
        add(p.name);
        add(name_of(p.window.type));
        add(std::to_string(p.window.size.value));
        add(std::to_string(p.window.slide.value));
        add(std::to_string(p.window.gap.value));
        add(name_of(p.emit));
        add(std::to_string(p.allowed_lateness.value));
        for (const auto& g : p.group_by) {
            add(g);
        }
        add("|");
        for (const auto& a : p.aggregates) {
            add(a.name);
            add(name_of(a.fn));
            add(a.expr);
            add(a.where);
            add(a.field);
            add(std::to_string(a.k));
            add(a.numerator);
            add(a.denominator);
        }
        add("|");
        for (const auto& f : spec_.schema.fields) {
            add(f.name);
            add(name_of(f.type));
        }
        if (p.window.type == WindowType::sliding && p.window.slide.value < p.window.size.value &&
            has_sets) {
            // The state layout: cells per window, sets per pane (windows.cpp).
            // Window records of the older layout held the sets too.
            add("panes");
        }
        return detail::hash128(s).lo;
    }

  private:
    const EngineSpec& spec_;
    std::vector<std::string> names_;
    std::set<std::string> pipeline_names_;
};

// Numbers every distinct predicate, expression, value field and group_by
// list once, so an event evaluates each once whatever uses it.
void share_features(CompiledEngine::Impl& impl) {
    detail::CompiledFeatures& f = impl.features;
    std::map<std::string, std::int32_t> predicates;
    std::map<std::string, std::int32_t> numbers;
    std::map<std::uint32_t, std::int32_t> values;
    std::map<std::vector<std::uint32_t>, std::uint32_t> groups;
    for (std::size_t pi = 0; pi < impl.pipelines.size(); ++pi) {
        CompiledPipeline& cp = impl.pipelines[pi];
        const PipelineSpec& ps = impl.spec.pipelines[pi];
        auto [git, gnew] =
            groups.try_emplace(cp.group_fields, static_cast<std::uint32_t>(f.groups.size()));
        if (gnew) {
            f.groups.push_back(detail::CompiledFeatures::Group{cp.group_fields, cp.group_types});
        }
        cp.group_feature = git->second;
        for (std::size_t ai = 0; ai < cp.aggregates.size(); ++ai) {
            CompiledAggregate& a = cp.aggregates[ai];
            const AggregateSpec& as = ps.aggregates[ai];
            if (a.where) {
                auto [it, fresh] = predicates.try_emplace(
                    as.where, static_cast<std::int32_t>(f.predicates.size()));
                if (fresh) {
                    f.predicates.push_back(*a.where);
                }
                a.where_feature = it->second;
            }
            if (a.expr) {
                auto [it, fresh] =
                    numbers.try_emplace(as.expr, static_cast<std::int32_t>(f.numbers.size()));
                if (fresh) {
                    f.numbers.push_back(*a.expr);
                }
                a.expr_feature = it->second;
            }
            if (a.fn == AggregateFn::count_distinct || a.fn == AggregateFn::top_k) {
                auto [it, fresh] =
                    values.try_emplace(a.field, static_cast<std::int32_t>(f.values.size()));
                if (fresh) {
                    f.values.push_back(detail::CompiledFeatures::Value{a.field, a.field_type});
                }
                a.value_feature = it->second;
            }
        }
    }
    // Alike aggregate lists: the same (function, features, slot, k) in order.
    std::map<std::vector<std::int64_t>, std::uint32_t> contributions;
    for (CompiledPipeline& cp : impl.pipelines) {
        std::vector<std::int64_t> shape;
        for (const CompiledAggregate& a : cp.aggregates) {
            shape.insert(shape.end(), {static_cast<std::int64_t>(a.fn), a.where_feature,
                                       a.expr_feature, a.value_feature, a.slot});
        }
        auto [it, fresh] = contributions.try_emplace(shape, f.contributions);
        if (fresh) {
            ++f.contributions;
        }
        cp.contribution = it->second;
    }
}

}  // namespace

CompileResult compile(const EngineSpec& spec) {
    Checker checker(spec);
    checker.check_schema();
    auto impl = std::make_unique<CompiledEngine::Impl>();
    impl->spec = spec;
    for (std::size_t i = 0; i < spec.pipelines.size(); ++i) {
        CompiledPipeline p;
        checker.check_pipeline(i, p);
        impl->pipelines.push_back(std::move(p));
    }
    CompileResult r;
    if (!checker.errors.empty()) {
        r.errors = std::move(checker.errors);
        return r;
    }
    share_features(*impl);
    r.engine = std::make_shared<const CompiledEngine>(std::move(impl));
    return r;
}

}  // namespace etld::pipeline
