#pragma once

// The reference model: given the engine spec and the whole ordered input
// (records and processing-time ticks), it recomputes every decision of the
// engine by brute force over the full history: decoding, dedup, watermark,
// lateness, window and session contents, emissions with revisions and
// retractions. It uses etld::pipeline only for the spec and value types; all
// logic (JSON field rules, timestamp parsing, expressions, aggregates) is
// written again here, as directly as possible and without regard to speed.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "etld/pipeline/result.h"
#include "etld/pipeline/spec.h"

namespace etld::reference {

struct Input {
    bool is_tick = false;
    std::string raw;       // record (when !is_tick)
    std::int64_t now = 0;  // processing time (when is_tick)
    bool caught_up = true;
};

struct Outcome {
    std::optional<pipeline::RejectReason> rejected;
    bool duplicate = false;
    std::vector<std::uint32_t> late_pipelines;  // pipelines the event was too late for
    std::vector<pipeline::Result> results;
    std::optional<std::int64_t> watermark;  // after the step
};

class Model {
  public:
    explicit Model(pipeline::EngineSpec spec);
    Outcome step(const Input& in);

    // Exposed for the model's own tests.
    static std::optional<std::int64_t> parse_time(const std::string& s);

    using Value = std::variant<std::string, std::int64_t, double, bool>;
    struct Ev {
        std::string id;
        std::int64_t time = 0;
        std::map<std::string, Value> fields;
    };
    // Evaluates an expression string on an event: a double, a string or a
    // bool. Throws std::runtime_error on a malformed expression.
    static Value eval(const std::string& expr, const Ev& e);

  private:
    struct Decoded {
        std::optional<pipeline::RejectReason> rejected;
        Ev ev;
    };
    Decoded decode(const std::string& raw) const;

    using Key = std::vector<Value>;
    struct Emitted {
        std::uint32_t revision = 0;
        std::vector<pipeline::AggregateValue> values;
    };
    struct PipeState {
        // Fixed windows: event index -> window starts it was applied to.
        std::map<std::size_t, std::set<std::int64_t>> applied;
        std::set<std::pair<std::int64_t, int>> closed;  // (start, key id) past end + lateness
        // Sessions: applied events, and those in sessions already closed.
        std::vector<std::size_t> session_events;
        std::set<std::size_t> dead;
        // Emitted and not yet closed: (start, end, key) -> last emission.
        std::map<std::tuple<std::int64_t, std::int64_t, int>, Emitted> emitted;
    };

    Key key_of(const pipeline::PipelineSpec& p, const Ev& e) const;
    std::vector<pipeline::AggregateValue> aggregate(std::uint32_t pi,
                                                    const std::vector<std::size_t>& events) const;
    // Brings emissions in line with the current contents and watermark.
    void reconcile(std::uint32_t pi, std::vector<pipeline::Result>& out);
    std::vector<std::vector<std::size_t>> clusters(std::uint32_t pi, int k,
                                                   std::optional<std::size_t> extra) const;
    pipeline::Result result(std::uint32_t pi, std::int64_t start, std::int64_t end, const Key& k,
                            std::uint32_t revision, pipeline::ResultKind kind,
                            std::vector<pipeline::AggregateValue> values) const;

    pipeline::EngineSpec spec_;
    std::vector<Ev> accepted_;  // every non-duplicate event, in arrival order
    // [event][pipeline]: group-by key, as an index into key_table_
    std::vector<std::vector<int>> keys_;
    std::vector<Key> key_table_;
    std::map<Key, int> key_ids_;
    // [event][pipeline][aggregate]: (where holds, expr value)
    std::vector<std::vector<std::vector<std::pair<bool, double>>>> evals_;
    std::vector<PipeState> pipes_;
    std::optional<std::int64_t> wm_;
    // Idle bookkeeping, as README "Watermark" defines it.
    std::optional<std::int64_t> last_pt_;
    std::optional<std::int64_t> active_pt_;
    std::int64_t anchor_ = 0;
    bool input_since_tick_ = false;
};

}  // namespace etld::reference
