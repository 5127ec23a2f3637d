#include "daemon/testcase_compare.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <tuple>

namespace etld::daemon::testcase {

namespace {

bool matches(const Expectation& e, const Record& a) {
    if (e.record.category != a.category) {
        return false;
    }
    for (const Field& f : e.record.fields) {
        const Json* v = a.get(f.path);
        if (v == nullptr || !values_equal(f.value, *v, e.tolerance)) {
            return false;
        }
    }
    return true;
}

// Fields that say which window or which input record a record is about.
bool is_identity(std::string_view path) {
    return path == "window_start" || path == "window_end" || path.starts_with("group.") ||
           path == "event_id" || path == "raw";
}

// How alike an expectation and an actual record are, to pick the one to show
// next to a failed expectation; -1 when they cannot be about the same thing.
int likeness(const Expectation& e, const Record& a) {
    if (e.record.category != a.category) {
        return -1;
    }
    const Json* ep = e.record.get("pipeline");
    const Json* ap = a.get("pipeline");
    if (ep != nullptr && (ap == nullptr || !values_equal(*ep, *ap, 0))) {
        return -1;
    }
    int score = 0;
    for (const Field& f : e.record.fields) {
        const Json* v = a.get(f.path);
        if (v != nullptr && values_equal(f.value, *v, e.tolerance)) {
            score += is_identity(f.path) ? 100 : 1;
        }
    }
    return score;
}

std::string display(std::string_view path, const Json& v) {
    if (is_time_path(path) && v.is(Json::Kind::number) && v.integer) {
        return format_utc(*v.integer);
    }
    return to_json(v);
}

std::string shorten(const std::string& s, std::size_t max) {
    if (s.size() <= max) {
        return s;
    }
    return s.substr(0, max - 3) + "...";
}

std::string pad(const std::string& s, std::size_t width) {
    return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

// The side-by-side table of an expectation and an actual record.
std::string side_by_side(const Expectation& e, const Record& a) {
    struct Row {
        std::string path;
        std::string expected;
        std::string actual;
        bool differs = false;
    };
    std::vector<Row> rows;
    auto expected_of = [&](const std::string& path) -> const Field* {
        for (const Field& f : e.record.fields) {
            if (f.path == path) {
                return &f;
            }
        }
        return nullptr;
    };
    constexpr std::size_t kShort = 48;
    for (const Field& f : a.fields) {
        Row row{f.path, "-", display(f.path, f.value), false};
        if (const Field* ef = expected_of(f.path)) {
            row.expected = display(f.path, ef->value);
            row.differs = !values_equal(ef->value, f.value, e.tolerance);
        }
        rows.push_back(std::move(row));
    }
    for (const Field& f : e.record.fields) {
        if (a.get(f.path) == nullptr) {
            rows.push_back({f.path, display(f.path, f.value), "(absent)", true});
        }
    }
    std::size_t w_path = 5;
    std::size_t w_expected = 8;
    for (auto& row : rows) {
        if (!row.differs) {
            row.expected = shorten(row.expected, kShort);
            row.actual = shorten(row.actual, kShort);
        }
        w_path = std::max(w_path, row.path.size());
        w_expected = std::max(w_expected, std::min(row.expected.size(), kShort));
    }
    std::string out =
        "      " + pad("field", w_path) + "  " + pad("expected", w_expected) + "  actual\n";
    for (const auto& row : rows) {
        out += row.differs ? "    ! " : "      ";
        out += pad(row.path, w_path) + "  " + pad(row.expected, w_expected) + "  " + row.actual;
        out += '\n';
    }
    return out;
}

std::string expectation_text(const Expectation& e) {
    return expectation_line(e.record);
}

bool ignored(const CaseFile& file, const Record& a) {
    if (file.ignore_all_unexpected) {
        return true;
    }
    const auto& list = file.ignore_unexpected;
    if (std::find(list.begin(), list.end(), std::string(name_of(a.category))) != list.end()) {
        return true;
    }
    const Json* p = a.get("pipeline");
    return a.category == Category::result && p != nullptr &&
           std::find(list.begin(), list.end(), p->text) != list.end();
}

// Kuhn's augmenting paths; cases are small.
class Matcher {
  public:
    Matcher(const std::vector<Expectation>& expected, const std::vector<Record>& actual)
        : owner_(actual.size(), -1) {
        edges_.resize(expected.size());
        for (std::size_t i = 0; i < expected.size(); ++i) {
            for (std::size_t j = 0; j < actual.size(); ++j) {
                if (matches(expected[i], actual[j])) {
                    edges_[i].push_back(j);
                }
            }
        }
        for (std::size_t i = 0; i < expected.size(); ++i) {
            std::vector<bool> seen(actual.size(), false);
            augment(i, seen);
        }
    }

    // The expectation an actual record was paired with, or -1.
    const std::vector<long>& owners() const { return owner_; }

  private:
    std::vector<std::vector<std::size_t>> edges_;
    std::vector<long> owner_;

    bool augment(std::size_t i, std::vector<bool>& seen) {
        for (std::size_t j : edges_[i]) {
            if (seen[j]) {
                continue;
            }
            seen[j] = true;
            if (owner_[j] < 0 || augment(static_cast<std::size_t>(owner_[j]), seen)) {
                owner_[j] = static_cast<long>(i);
                return true;
            }
        }
        return false;
    }
};

}  // namespace

bool values_equal(const Json& expected, const Json& actual, double tolerance) {
    if (expected.kind != actual.kind) {
        return false;
    }
    switch (expected.kind) {
        case Json::Kind::null:
            return true;
        case Json::Kind::boolean:
            return expected.boolean == actual.boolean;
        case Json::Kind::string:
            return expected.text == actual.text;
        case Json::Kind::number:
            if (expected.integer && actual.integer) {
                return *expected.integer == *actual.integer;
            }
            return std::fabs(actual.number - expected.number) <=
                   tolerance * std::max(1.0, std::fabs(expected.number));
        case Json::Kind::array:
            if (expected.items.size() != actual.items.size()) {
                return false;
            }
            for (std::size_t i = 0; i < expected.items.size(); ++i) {
                if (!values_equal(expected.items[i], actual.items[i], tolerance)) {
                    return false;
                }
            }
            return true;
        case Json::Kind::object:
            if (expected.members.size() != actual.members.size()) {
                return false;
            }
            for (const auto& m : expected.members) {
                const Json* v = actual.find(m.key);
                if (v == nullptr || !values_equal(m.value, *v, tolerance)) {
                    return false;
                }
            }
            return true;
    }
    return false;
}

CaseOutcome compare(const CaseFile& file, const std::vector<Record>& actual) {
    const Matcher matcher(file.expectations, actual);
    std::vector<bool> met(file.expectations.size(), false);
    std::vector<bool> used(actual.size(), false);
    for (std::size_t j = 0; j < actual.size(); ++j) {
        if (matcher.owners()[j] >= 0) {
            met[static_cast<std::size_t>(matcher.owners()[j])] = true;
            used[j] = true;
        }
    }
    std::ostringstream report;
    for (std::size_t i = 0; i < file.expectations.size(); ++i) {
        if (met[i]) {
            continue;
        }
        const Expectation& e = file.expectations[i];
        const std::string what(name_of(e.record.category));
        int best_score = -1;
        std::size_t best = 0;
        for (std::size_t j = 0; j < actual.size(); ++j) {
            const int score = used[j] ? -1 : likeness(e, actual[j]);
            if (score > best_score) {
                best_score = score;
                best = j;
            }
        }
        report << "  " << file.path << ":" << e.record.line << ": expected " << what
               << " not produced";
        if (best_score < 0) {
            const Json* p = e.record.get("pipeline");
            report << "; no other " << what << " record"
                   << (p != nullptr ? " of pipeline '" + p->text + "'" : std::string())
                   << " was produced\n      expected: " << expectation_text(e) << "\n";
            continue;
        }
        used[best] = true;
        report << "; the closest actual " << what << " (caused by line " << actual[best].line
               << ") differs in the fields marked '!':\n"
               << side_by_side(e, actual[best]);
    }
    for (std::size_t j = 0; j < actual.size(); ++j) {
        if (used[j] || ignored(file, actual[j])) {
            continue;
        }
        used[j] = true;
        report << "  " << file.path << ": unexpected " << name_of(actual[j].category)
               << " (caused by line " << actual[j].line
               << "); expect it, or list it in \"ignore_unexpected\":\n      "
               << expectation_line(actual[j]) << "\n";
    }
    CaseOutcome outcome;
    outcome.report = report.str();
    outcome.passed = outcome.report.empty();
    return outcome;
}

std::string expectation_line(const Record& r) {
    Json obj;
    obj.kind = Json::Kind::object;
    obj.members.push_back({"expect", 0, Json::make_string(std::string(name_of(r.category)))});
    Json group;
    group.kind = Json::Kind::object;
    Json values;
    values.kind = Json::Kind::object;
    const bool has_event_id = r.get("event_id") != nullptr;
    std::optional<Json> emitted_at;
    for (const Field& f : r.fields) {
        Json v = f.value;
        if (is_time_path(f.path) && v.integer) {
            v = Json::make_string(format_utc(*v.integer));
        }
        if (f.path.starts_with("group.")) {
            group.members.push_back({f.path.substr(6), 0, std::move(v)});
        } else if (f.path.starts_with("values.")) {
            values.members.push_back({f.path.substr(7), 0, std::move(v)});
        } else if (f.path == "emitted_at") {
            emitted_at = std::move(v);
        } else if (f.path == "partition" || (f.path == "raw" && has_event_id)) {
            continue;  // the event id already says which record it was
        } else {
            if (f.path == "kind" && !group.members.empty()) {
                obj.members.push_back({"group", 0, group});
                group.members.clear();
            }
            obj.members.push_back({f.path, 0, std::move(v)});
        }
    }
    if (!group.members.empty()) {
        obj.members.push_back({"group", 0, group});
    }
    if (!values.members.empty()) {
        obj.members.push_back({"values", 0, values});
    }
    if (emitted_at) {
        obj.members.push_back({"emitted_at", 0, *emitted_at});
    }
    return to_json(obj);
}

std::string recorded_case(const CaseFile& file, const std::vector<Record>& actual,
                          const pipeline::EngineSpec& spec) {
    std::vector<const Record*> sorted;
    sorted.reserve(actual.size());
    for (const Record& r : actual) {
        sorted.push_back(&r);
    }
    auto pipeline_index = [&](const Record& r) {
        const Json* p = r.get("pipeline");
        for (std::size_t i = 0; p != nullptr && i < spec.pipelines.size(); ++i) {
            if (spec.pipelines[i].name == p->text) {
                return i;
            }
        }
        return spec.pipelines.size();
    };
    auto int_of = [](const Record& r, std::string_view path) {
        const Json* v = r.get(path);
        return v != nullptr && v->integer ? *v->integer : 0;
    };
    auto group_text = [](const Record& r) {
        std::string text;
        for (const Field& f : r.fields) {
            if (f.path.starts_with("group.")) {
                text += to_json(f.value) + ",";
            }
        }
        return text;
    };
    std::stable_sort(sorted.begin(), sorted.end(), [&](const Record* a, const Record* b) {
        return std::make_tuple(a->category, pipeline_index(*a), int_of(*a, "window_end"),
                               int_of(*a, "window_start"), group_text(*a), int_of(*a, "revision")) <
               std::make_tuple(b->category, pipeline_index(*b), int_of(*b, "window_end"),
                               int_of(*b, "window_start"), group_text(*b), int_of(*b, "revision"));
    });
    std::string out;
    for (std::size_t i = 0; i < file.lines.size(); ++i) {
        if (!file.is_expectation[i]) {
            out += file.lines[i] + "\n";
        }
    }
    while (out.size() >= 2 && out.ends_with("\n\n")) {
        out.pop_back();
    }
    out += "\n# Recorded by `etld test --record`: check every value before committing.\n";
    for (const Record* r : sorted) {
        out += expectation_line(*r) + "\n";
    }
    return out;
}

}  // namespace etld::daemon::testcase
