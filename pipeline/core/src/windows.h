#pragma once

// Internal: the window state of one pipeline inside a Task.

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "aggregate.h"
#include "block_pool.h"
#include "compiled.h"
#include "etld/pipeline/result.h"
#include "etld/pipeline/task.h"
#include "event_features.h"

namespace etld::pipeline::detail {

// The task's watermark as the pipelines see it: absent until the first event.
struct Watermark {
    bool has = false;
    std::int64_t value = std::numeric_limits<std::int64_t>::min();
    // Whether the watermark has reached `t` (W >= t).
    bool reached(std::int64_t t) const { return has && value >= t; }
};

struct StepCounters {
    std::uint64_t too_late = 0;
    std::uint64_t late_applied = 0;
};

// Lifecycle: created with the Task; holds only windows that can still change
// (purged once watermark >= end + allowed_lateness). Its changelog is a log
// of segments (segment_log.h), keyed 'g' + the pipeline name + the segment
// number; records keyed 'w', 'p' (fixed windows) or 's' (sessions) + the
// pipeline name + the window's key are the earlier format, still restored.
class PipelineState {
  public:
    explicit PipelineState(const CompiledPipeline& p) : p_(p), agg_(p, &pool_) {}
    virtual ~PipelineState() = default;
    PipelineState(const PipelineState&) = delete;
    PipelineState& operator=(const PipelineState&) = delete;

    // Applies one accepted event (`f` holds its shared features); `wm` is
    // the watermark before the event.
    virtual void on_event(const Event& e, EventFeatures& f, std::string_view raw,
                          const Watermark& wm, Output& out, StepCounters& counters) = 0;
    // Before on_event: starts loading the state the event will touch, in
    // two stages (kSlots for every pipeline of the task, then kNodes), so
    // that the cache misses of all pipelines overlap. Only a hint.
    enum class Prefetch : std::uint8_t { kSlots, kNodes };
    virtual void prefetch(const Event& e, EventFeatures& f, Prefetch stage) const = 0;
    // The watermark moved from `before` to `now`.
    virtual void on_watermark(const Watermark& before, std::int64_t now, Output& out) = 0;
    virtual void take_changelog(std::vector<StateDelta>& out) = 0;
    // `kind` is the key's first byte ('g', 'w', 'p' or 's'); `rest` is the
    // key after the pipeline-name prefix.
    virtual std::optional<std::string> apply(char kind, std::string_view rest,
                                             std::optional<std::string_view> value) = 0;
    virtual std::size_t open() const = 0;
    // After restoring: drops what the watermark `wm` has closed (an older
    // segment may bring such state back), without results.
    virtual void settle(const Watermark& wm) = 0;

    const CompiledPipeline& pipeline() const { return p_; }

  protected:
    Result make_result(std::int64_t start, std::int64_t end, std::string_view group,
                       const AggState* state, std::uint32_t revision, ResultKind kind) const;
    void late(const Event& e, std::string_view raw, const Watermark& wm, Output& out,
              StepCounters& counters) const;
    std::string key_prefix(char kind) const;

    const CompiledPipeline& p_;
    // The blocks of the state's nodes and aggregates; declared first so
    // that it goes last.
    BlockPool pool_;
    Aggregator agg_;
    const Contribution* contrib_ = nullptr;  // the current event's
    GroupRef group_;                         // the current event's group key
    std::vector<AggregateValue> before_;
    std::vector<AggregateValue> after_;
};

std::unique_ptr<PipelineState> make_pipeline_state(const CompiledPipeline& p);

}  // namespace etld::pipeline::detail
