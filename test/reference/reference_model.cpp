#include "reference_model.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace etld::reference {

using pipeline::AggregateFn;
using pipeline::AggregateValue;
using pipeline::RejectReason;
using pipeline::Result;
using pipeline::ResultKind;
using pipeline::WindowType;

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

int num(const std::string& s, std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (i >= s.size() || !is_digit(s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool leap_year(int y) {
    return (y % 400 == 0) || (y % 4 == 0 && y % 100 != 0);
}

int month_days(int y, int m) {
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return kDays[m - 1] + (m == 2 && leap_year(y) ? 1 : 0);
}

// Days from 1970-01-01, counted one year and one month at a time.
std::int64_t day_number(int y, int m, int d) {
    std::int64_t days = 0;
    if (y >= 1970) {
        for (int yy = 1970; yy < y; ++yy) {
            days += leap_year(yy) ? 366 : 365;
        }
    } else {
        for (int yy = y; yy < 1970; ++yy) {
            days -= leap_year(yy) ? 366 : 365;
        }
    }
    for (int mm = 1; mm < m; ++mm) {
        days += month_days(y, mm);
    }
    return days + d - 1;  // d >= 1
}

}  // namespace

std::optional<std::int64_t> Model::parse_time(const std::string& s) {
    if (s.size() < 19) {
        return std::nullopt;
    }
    const int y = num(s, 0, 4);
    const int mo = num(s, 5, 2);
    const int d = num(s, 8, 2);
    const int h = num(s, 11, 2);
    const int mi = num(s, 14, 2);
    const int se = num(s, 17, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0 || s[4] != '-' || s[7] != '-' ||
        s[13] != ':' || s[16] != ':') {
        return std::nullopt;
    }
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') {
        return std::nullopt;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 || se > 59) {
        return std::nullopt;
    }
    std::string rest = s.substr(19);
    std::int64_t ms = 0;
    if (!rest.empty() && rest[0] == '.') {
        std::size_t n = 1;
        while (n < rest.size() && is_digit(rest[n])) {
            ++n;
        }
        const std::string frac = rest.substr(1, n - 1);
        if (frac.empty() || frac.size() > 9) {
            return std::nullopt;
        }
        const std::string three = (frac + "000").substr(0, 3);
        ms = std::stoi(three);
        rest = rest.substr(n);
    }
    std::int64_t offset_s = 0;
    if (rest == "Z" || rest == "z") {
        rest.clear();
    } else if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) {
        const int sign = rest[0] == '-' ? -1 : 1;
        int oh = -1;
        int om = 0;
        if (rest.size() == 3) {
            oh = num(rest, 1, 2);
        } else if (rest.size() == 6 && rest[3] == ':') {
            oh = num(rest, 1, 2);
            om = num(rest, 4, 2);
        } else if (rest.size() == 5) {
            oh = num(rest, 1, 2);
            om = num(rest, 3, 2);
        }
        if (oh < 0 || om < 0 || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset_s = std::int64_t{sign} * (std::int64_t{oh} * 3600 + std::int64_t{om} * 60);
        rest.clear();
    }
    if (!rest.empty()) {
        return std::nullopt;
    }
    const std::int64_t secs = day_number(y, mo, d) * 86400 + std::int64_t{h} * 3600 +
                              std::int64_t{mi} * 60 + se - offset_s;
    return secs * 1000 + ms;
}

// ---- expressions: parsed again on every evaluation, straight to a value ----

namespace {

class Evaluator {
  public:
    Evaluator(const std::string& src, const Model::Ev& e) : s_(src), e_(e) {}

    Model::Value run() {
        Model::Value v = disj();
        skip();
        if (at_ != s_.size()) {
            throw std::runtime_error("trailing input");
        }
        return v;
    }

  private:
    void skip() {
        while (at_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[at_])) != 0) {
            ++at_;
        }
    }
    bool word(const char* w) {
        skip();
        const std::size_t n = std::strlen(w);
        if (s_.compare(at_, n, w) != 0) {
            return false;
        }
        const std::size_t end = at_ + n;
        if (end < s_.size() &&
            (std::isalnum(static_cast<unsigned char>(s_[end])) != 0 || s_[end] == '_')) {
            return false;
        }
        at_ = end;
        return true;
    }
    bool sym(const char* w) {
        skip();
        const std::size_t n = std::strlen(w);
        if (s_.compare(at_, n, w) != 0) {
            return false;
        }
        at_ += n;
        return true;
    }
    static bool truth(const Model::Value& v) { return std::get<bool>(v); }
    static double number(const Model::Value& v) { return std::get<double>(v); }

    Model::Value disj() {
        Model::Value v = conj();
        while (word("or")) {
            Model::Value r = conj();
            v = truth(v) || truth(r);
        }
        return v;
    }
    Model::Value conj() {
        Model::Value v = neg();
        while (word("and")) {
            Model::Value r = neg();
            v = truth(v) && truth(r);
        }
        return v;
    }
    Model::Value neg() {
        if (word("not")) {
            return !truth(neg());
        }
        return cmp();
    }
    Model::Value cmp() {
        Model::Value a = sum();
        static constexpr const char* kOps[] = {"==", "!=", "<=", ">=", "<", ">"};
        for (const char* op : kOps) {
            if (sym(op)) {
                Model::Value b = sum();
                const std::string o = op;
                auto order = [&](auto x, auto y) {
                    if (o == "==") {
                        return x == y;
                    }
                    if (o == "!=") {
                        return x != y;
                    }
                    if (o == "<=") {
                        return x <= y;
                    }
                    if (o == ">=") {
                        return x >= y;
                    }
                    if (o == "<") {
                        return x < y;
                    }
                    return x > y;
                };
                if (std::holds_alternative<double>(a)) {
                    return order(number(a), number(b));
                }
                if (std::holds_alternative<std::string>(a)) {
                    return order(std::get<std::string>(a), std::get<std::string>(b));
                }
                return order(truth(a), truth(b));
            }
        }
        if (word("in")) {
            if (!sym("(")) {
                throw std::runtime_error("in needs (");
            }
            bool found = false;
            do {
                Model::Value item = unary();
                found = found || item == a;
            } while (sym(","));
            if (!sym(")")) {
                throw std::runtime_error("in needs )");
            }
            return found;
        }
        return a;
    }
    Model::Value sum() {
        Model::Value v = prod();
        while (true) {
            if (sym("+")) {
                v = number(v) + number(prod());
            } else if (sym("-")) {
                v = number(v) - number(prod());
            } else {
                return v;
            }
        }
    }
    Model::Value prod() {
        Model::Value v = unary();
        while (true) {
            if (sym("*")) {
                v = number(v) * number(unary());
            } else if (sym("/")) {
                v = number(v) / number(unary());
            } else {
                return v;
            }
        }
    }
    Model::Value unary() {
        if (sym("-")) {
            return -number(unary());
        }
        return atom();
    }
    Model::Value atom() {
        skip();
        if (sym("(")) {
            Model::Value v = disj();
            if (!sym(")")) {
                throw std::runtime_error("missing )");
            }
            return v;
        }
        if (at_ < s_.size() && s_[at_] == '\'') {
            std::string out;
            ++at_;
            while (at_ < s_.size() && s_[at_] != '\'') {
                if (s_[at_] == '\\' && at_ + 1 < s_.size()) {
                    ++at_;
                }
                out.push_back(s_[at_++]);
            }
            ++at_;
            return out;
        }
        if (at_ < s_.size() && (is_digit(s_[at_]) || s_[at_] == '.')) {
            char* end = nullptr;
            const double d = std::strtod(s_.c_str() + at_, &end);
            at_ = static_cast<std::size_t>(end - s_.c_str());
            return d;
        }
        if (word("true")) {
            return true;
        }
        if (word("false")) {
            return false;
        }
        std::size_t end = at_;
        while (end < s_.size() &&
               (std::isalnum(static_cast<unsigned char>(s_[end])) != 0 || s_[end] == '_')) {
            ++end;
        }
        const std::string name = s_.substr(at_, end - at_);
        at_ = end;
        auto it = e_.fields.find(name);
        if (it == e_.fields.end()) {
            throw std::runtime_error("unknown field " + name);
        }
        if (const auto* i = std::get_if<std::int64_t>(&it->second)) {
            return static_cast<double>(*i);
        }
        return it->second;
    }

    const std::string& s_;
    const Model::Ev& e_;
    std::size_t at_ = 0;
};

}  // namespace

Model::Value Model::eval(const std::string& expr, const Ev& e) {
    return Evaluator(expr, e).run();
}

// ---- decoding ----

Model::Model(pipeline::EngineSpec spec) : spec_(std::move(spec)), pipes_(spec_.pipelines.size()) {}

Model::Decoded Model::decode(const std::string& raw) const {
    using T = simdjson::dom::element_type;
    Decoded out;
    const auto& schema = spec_.schema;
    if (raw.size() > schema.max_record_bytes) {
        out.rejected = RejectReason::too_large;
        return out;
    }
    if (!simdjson::validate_utf8(raw)) {
        out.rejected = RejectReason::invalid_utf8;
        return out;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(raw).get(root) != simdjson::SUCCESS) {
        out.rejected = RejectReason::not_json;
        return out;
    }
    if (root.type() != T::OBJECT) {
        out.rejected = RejectReason::not_an_object;
        return out;
    }
    std::vector<std::string> names = {schema.id_field, schema.time_field};
    for (const auto& f : schema.fields) {
        names.push_back(f.name);
    }
    std::map<std::string, simdjson::dom::element> found;
    for (auto [key, value] : root.get_object()) {
        const std::string k(key);
        if (std::find(names.begin(), names.end(), k) == names.end()) {
            continue;
        }
        if (found.count(k) != 0) {
            out.rejected = RejectReason::duplicate_field;
            return out;
        }
        found[k] = value;
    }
    auto fail = [&](RejectReason r) {
        out.rejected = r;
        return out;
    };
    if (found.count(schema.id_field) == 0) {
        return fail(RejectReason::missing_field);
    }
    const auto id = found[schema.id_field];
    if (id.type() == T::STRING) {
        out.ev.id = std::string(std::string_view(id));
        if (out.ev.id.empty()) {
            return fail(RejectReason::empty_id);
        }
    } else if (id.type() == T::INT64) {
        out.ev.id = std::to_string(std::int64_t(id));
    } else if (id.type() == T::UINT64) {
        out.ev.id = std::to_string(std::uint64_t(id));
    } else {
        return fail(RejectReason::wrong_type);
    }
    if (found.count(schema.time_field) == 0) {
        return fail(RejectReason::missing_field);
    }
    const auto tv = found[schema.time_field];
    std::optional<std::int64_t> ms;
    bool out_of_range = false;
    if (schema.time_format == pipeline::TimeFormat::iso8601) {
        if (tv.type() != T::STRING) {
            return fail(RejectReason::wrong_type);
        }
        ms = parse_time(std::string(std::string_view(tv)));
        if (!ms) {
            return fail(RejectReason::bad_timestamp);
        }
    } else {
        const std::int64_t scale = schema.time_format == pipeline::TimeFormat::epoch_s ? 1000 : 1;
        if (tv.type() == T::INT64) {
            const std::int64_t v = std::int64_t(tv);
            if (std::abs(static_cast<double>(v) * static_cast<double>(scale)) > 9.0e18) {
                out_of_range = true;
            } else {
                ms = v * scale;
            }
        } else if (tv.type() == T::UINT64) {
            out_of_range = true;
        } else if (tv.type() == T::DOUBLE) {
            return fail(RejectReason::bad_timestamp);
        } else {
            return fail(RejectReason::wrong_type);
        }
    }
    if (out_of_range || *ms < schema.min_event_time.value || *ms > schema.max_event_time.value) {
        return fail(RejectReason::timestamp_out_of_range);
    }
    out.ev.time = *ms;
    for (const auto& f : schema.fields) {
        if (found.count(f.name) == 0) {
            return fail(RejectReason::missing_field);
        }
        const auto v = found[f.name];
        switch (f.type) {
            case pipeline::FieldType::string:
                if (v.type() != T::STRING) {
                    return fail(RejectReason::wrong_type);
                }
                out.ev.fields[f.name] = std::string(std::string_view(v));
                break;
            case pipeline::FieldType::int64:
                if (v.type() != T::INT64) {
                    return fail(RejectReason::wrong_type);
                }
                out.ev.fields[f.name] = std::int64_t(v);
                break;
            case pipeline::FieldType::float64:
                if (v.type() == T::DOUBLE) {
                    out.ev.fields[f.name] = double(v);
                } else if (v.type() == T::INT64) {
                    out.ev.fields[f.name] = static_cast<double>(std::int64_t(v));
                } else if (v.type() == T::UINT64) {
                    out.ev.fields[f.name] = static_cast<double>(std::uint64_t(v));
                } else {
                    return fail(RejectReason::wrong_type);
                }
                break;
            case pipeline::FieldType::boolean:
                if (v.type() != T::BOOL) {
                    return fail(RejectReason::wrong_type);
                }
                out.ev.fields[f.name] = bool(v);
                break;
        }
    }
    return out;
}

// ---- aggregates, recomputed from the event list every time ----

Model::Key Model::key_of(const pipeline::PipelineSpec& p, const Ev& e) const {
    Key k;
    for (const auto& g : p.group_by) {
        Value v = e.fields.at(g);
        if (auto* d = std::get_if<double>(&v); d != nullptr && *d == 0) {
            v = 0.0;
        }
        k.push_back(v);
    }
    return k;
}

std::vector<AggregateValue> Model::aggregate(std::uint32_t pi,
                                             const std::vector<std::size_t>& events) const {
    const auto& p = spec_.pipelines[pi];
    std::vector<AggregateValue> out(p.aggregates.size());
    for (std::size_t i = 0; i < p.aggregates.size(); ++i) {
        const auto& a = p.aggregates[i];
        // Expression values depend on the event only; they were computed
        // once when the event was accepted.
        std::vector<const Ev*> selected;
        std::vector<double> xs;
        for (std::size_t ev : events) {
            const auto& [holds, x] = evals_[ev][pi][i];
            if (holds) {
                selected.push_back(&accepted_[ev]);
                if (!a.expr.empty() && std::isfinite(x)) {
                    xs.push_back(x);
                }
            }
        }
        switch (a.fn) {
            case AggregateFn::count:
                out[i] = static_cast<std::int64_t>(selected.size());
                break;
            case AggregateFn::sum: {
                double s = 0;
                for (double x : xs) {
                    s += x;
                }
                out[i] = s;
                break;
            }
            case AggregateFn::avg:
                if (!xs.empty()) {
                    double s = 0;
                    for (double x : xs) {
                        s += x;
                    }
                    out[i] = s / static_cast<double>(xs.size());
                }
                break;
            case AggregateFn::min:
                if (!xs.empty()) {
                    out[i] = *std::min_element(xs.begin(), xs.end());
                }
                break;
            case AggregateFn::max:
                if (!xs.empty()) {
                    out[i] = *std::max_element(xs.begin(), xs.end());
                }
                break;
            case AggregateFn::count_distinct: {
                std::set<Value> seen;
                for (const Ev* e : selected) {
                    Value v = e->fields.at(a.field);
                    if (auto* d = std::get_if<double>(&v); d != nullptr && *d == 0) {
                        v = 0.0;
                    }
                    seen.insert(v);
                }
                out[i] = static_cast<std::int64_t>(seen.size());
                break;
            }
            case AggregateFn::top_k: {
                std::map<Value, std::int64_t> counts;
                for (const Ev* e : selected) {
                    Value v = e->fields.at(a.field);
                    if (auto* d = std::get_if<double>(&v); d != nullptr && *d == 0) {
                        v = 0.0;
                    }
                    ++counts[v];
                }
                std::vector<pipeline::TopKEntry> all;
                all.reserve(counts.size());
                for (const auto& [v, n] : counts) {
                    all.push_back(pipeline::TopKEntry{v, n});
                }
                std::stable_sort(all.begin(), all.end(),
                                 [](const auto& x, const auto& y) { return x.count > y.count; });
                if (all.size() > static_cast<std::size_t>(a.k)) {
                    all.resize(static_cast<std::size_t>(a.k));
                }
                out[i] = all;
                break;
            }
            case AggregateFn::ratio:
                break;
        }
    }
    for (std::size_t i = 0; i < p.aggregates.size(); ++i) {
        const auto& a = p.aggregates[i];
        if (a.fn != AggregateFn::ratio) {
            continue;
        }
        auto index = [&](const std::string& name) {
            for (std::size_t j = 0; j < p.aggregates.size(); ++j) {
                if (p.aggregates[j].name == name) {
                    return j;
                }
            }
            throw std::runtime_error("no aggregate " + name);
        };
        auto as_double = [](const AggregateValue& v) -> std::optional<double> {
            if (const auto* n = std::get_if<std::int64_t>(&v)) {
                return static_cast<double>(*n);
            }
            if (const auto* d = std::get_if<double>(&v)) {
                return *d;
            }
            return std::nullopt;
        };
        const auto num = as_double(out[index(a.numerator)]);
        const auto den = as_double(out[index(a.denominator)]);
        if (num && den && *den != 0) {
            out[i] = *num / *den;
        }
    }
    return out;
}

Result Model::result(std::uint32_t pi, std::int64_t start, std::int64_t end, const Key& k,
                     std::uint32_t revision, ResultKind kind,
                     std::vector<AggregateValue> values) const {
    Result r;
    r.pipeline = pi;
    r.pipeline_name = spec_.pipelines[pi].name;
    r.window_start = pipeline::EventTimeMs{start};
    r.window_end = pipeline::EventTimeMs{end};
    for (const auto& v : k) {
        r.group.push_back(v);
    }
    r.values = std::move(values);
    r.revision = revision;
    r.kind = kind;
    return r;
}

// Sessions of one key: the live events (applied, not in a closed session)
// sorted by time and split wherever two neighbours are >= gap apart.
std::vector<std::vector<std::size_t>> Model::clusters(std::uint32_t pi, int k,
                                                      std::optional<std::size_t> extra) const {
    const auto& p = spec_.pipelines[pi];
    const auto& st = pipes_[pi];
    std::vector<std::size_t> evs;
    for (std::size_t e : st.session_events) {
        if (st.dead.count(e) == 0 && keys_[e][pi] == k) {
            evs.push_back(e);
        }
    }
    if (extra) {
        evs.push_back(*extra);
    }
    std::stable_sort(evs.begin(), evs.end(), [&](std::size_t a, std::size_t b) {
        return accepted_[a].time < accepted_[b].time;
    });
    std::vector<std::vector<std::size_t>> out;
    for (std::size_t e : evs) {
        if (out.empty() ||
            accepted_[e].time - accepted_[out.back().back()].time >= p.window.gap.value) {
            out.emplace_back();
        }
        out.back().push_back(e);
    }
    return out;
}

void Model::reconcile(std::uint32_t pi, std::vector<Result>& out) {
    const auto& p = spec_.pipelines[pi];
    auto& st = pipes_[pi];
    const std::int64_t lateness = p.allowed_lateness.value;
    const bool early = p.emit == pipeline::EmitMode::early;
    auto reached = [&](std::int64_t t) { return wm_.has_value() && *wm_ >= t; };

    // Current windows: (start, end, key) -> events.
    std::map<std::tuple<std::int64_t, std::int64_t, int>, std::vector<std::size_t>> windows;
    if (p.window.type != WindowType::session) {
        for (const auto& [ev, starts] : st.applied) {
            for (std::int64_t s : starts) {
                const int k = keys_[ev][pi];
                if (st.closed.count({s, k}) == 0) {
                    windows[{s, s + p.window.size.value, k}].push_back(ev);
                }
            }
        }
    } else {
        std::set<int> keys;
        for (std::size_t e : st.session_events) {
            if (st.dead.count(e) == 0) {
                keys.insert(keys_[e][pi]);
            }
        }
        for (const int k : keys) {
            for (const auto& c : clusters(pi, k, std::nullopt)) {
                const std::int64_t start = accepted_[c.front()].time;
                const std::int64_t end = accepted_[c.back()].time + p.window.gap.value;
                windows[{start, end, k}] = c;
            }
        }
    }
    // Retract emitted windows that no longer exist (merged or extended sessions).
    for (auto it = st.emitted.begin(); it != st.emitted.end();) {
        if (windows.count(it->first) == 0) {
            const auto& [s, e, k] = it->first;
            out.push_back(result(pi, s, e, key_table_[static_cast<std::size_t>(k)],
                                 it->second.revision + 1, ResultKind::retract, {}));
            it = st.emitted.erase(it);
        } else {
            ++it;
        }
    }
    for (auto& [id, evs] : windows) {
        const auto& [s, e, key_id] = id;
        const Key& k = key_table_[static_cast<std::size_t>(key_id)];
        // Values are only needed for windows that may emit now.
        auto em = st.emitted.find(id);
        if (em == st.emitted.end() && !reached(early ? e : e + lateness)) {
            continue;
        }
        auto values = aggregate(pi, evs);
        if (early) {
            if (em != st.emitted.end()) {
                if (em->second.values != values) {
                    ++em->second.revision;
                    em->second.values = values;
                    out.push_back(
                        result(pi, s, e, k, em->second.revision, ResultKind::update, values));
                }
            } else {
                st.emitted[id] = Emitted{0, values};
                out.push_back(result(pi, s, e, k, 0, ResultKind::update, values));
            }
        } else {
            out.push_back(result(pi, s, e, k, 0, ResultKind::final, values));
        }
        if (reached(e + lateness)) {
            st.emitted.erase(id);
            if (p.window.type == WindowType::session) {
                st.dead.insert(evs.begin(), evs.end());
            } else {
                st.closed.insert({s, key_id});
            }
        }
    }
    // Forget events that can no longer matter: every window they were
    // applied to is closed (this only saves time, it changes no outcome).
    for (auto it = st.applied.begin(); it != st.applied.end();) {
        const int k = keys_[it->first][pi];
        const bool all_closed =
            std::all_of(it->second.begin(), it->second.end(), [&](std::int64_t s) {
                return st.closed.count({s, k}) != 0;
            });
        it = all_closed ? st.applied.erase(it) : std::next(it);
    }
    st.session_events.erase(std::remove_if(st.session_events.begin(), st.session_events.end(),
                                           [&](std::size_t e) { return st.dead.count(e) != 0; }),
                            st.session_events.end());
}

Outcome Model::step(const Input& in) {
    Outcome o;
    if (in.is_tick) {
        std::int64_t now = in.now;
        if (last_pt_ && now < *last_pt_) {
            now = *last_pt_;
        }
        last_pt_ = now;
        if (input_since_tick_) {
            input_since_tick_ = false;
            active_pt_ = now;
            anchor_ = wm_.value_or(0);
        } else if (in.caught_up && active_pt_ && wm_ && spec_.idle_timeout.value > 0 &&
                   now - *active_pt_ >= spec_.idle_timeout.value) {
            const std::int64_t target = anchor_ + (now - *active_pt_);
            if (target > *wm_) {
                wm_ = target;
                for (std::uint32_t pi = 0; pi < pipes_.size(); ++pi) {
                    reconcile(pi, o.results);
                }
            }
        }
        o.watermark = wm_;
        return o;
    }
    Decoded d = decode(in.raw);
    if (d.rejected) {
        o.rejected = d.rejected;
        o.watermark = wm_;
        return o;
    }
    input_since_tick_ = true;
    const Ev& ev = d.ev;
    for (const Ev& prior : accepted_) {
        if (prior.id == ev.id && (!wm_ || prior.time >= *wm_ - spec_.dedup_horizon.value)) {
            o.duplicate = true;
            o.watermark = wm_;
            return o;
        }
    }
    accepted_.push_back(ev);
    const std::size_t idx = accepted_.size() - 1;
    auto& keys = keys_.emplace_back();
    for (const auto& p : spec_.pipelines) {
        const Key k = key_of(p, ev);
        auto [it, fresh] = key_ids_.emplace(k, static_cast<int>(key_table_.size()));
        if (fresh) {
            key_table_.push_back(k);
        }
        keys.push_back(it->second);
    }
    auto& evals = evals_.emplace_back();
    for (const auto& p : spec_.pipelines) {
        auto& row = evals.emplace_back();
        for (const auto& a : p.aggregates) {
            const bool holds = a.where.empty() || std::get<bool>(eval(a.where, ev));
            const double x = a.expr.empty() ? 0.0 : std::get<double>(eval(a.expr, ev));
            row.emplace_back(holds, x);
        }
    }
    auto reached = [&](std::int64_t t) { return wm_.has_value() && *wm_ >= t; };
    for (std::uint32_t pi = 0; pi < pipes_.size(); ++pi) {
        const auto& p = spec_.pipelines[pi];
        auto& st = pipes_[pi];
        const std::int64_t lateness = p.allowed_lateness.value;
        if (p.window.type == WindowType::session) {
            const int k = keys_[idx][pi];
            for (const auto& c : clusters(pi, k, idx)) {
                if (std::find(c.begin(), c.end(), idx) == c.end()) {
                    continue;
                }
                const std::int64_t end = accepted_[c.back()].time + p.window.gap.value;
                if (reached(end + lateness)) {
                    o.late_pipelines.push_back(pi);
                } else {
                    st.session_events.push_back(idx);
                }
            }
        } else {
            const std::int64_t size = p.window.size.value;
            const std::int64_t slide =
                p.window.type == WindowType::tumbling ? size : p.window.slide.value;
            std::set<std::int64_t> starts;
            // Every aligned start s with s <= t < s + size, found by scanning.
            std::int64_t s = ev.time - size;
            s -= ((s % slide) + slide) % slide;
            for (; s <= ev.time; s += slide) {
                if (s <= ev.time && ev.time < s + size && !reached(s + size + lateness)) {
                    starts.insert(s);
                }
            }
            if (starts.empty()) {
                o.late_pipelines.push_back(pi);
            } else {
                st.applied[idx] = starts;
            }
        }
        reconcile(pi, o.results);
    }
    const std::int64_t candidate = ev.time - spec_.max_out_of_orderness.value;
    if (!wm_ || candidate > *wm_) {
        wm_ = candidate;
        for (std::uint32_t pi = 0; pi < pipes_.size(); ++pi) {
            reconcile(pi, o.results);
        }
    }
    o.watermark = wm_;
    return o;
}

}  // namespace etld::reference
