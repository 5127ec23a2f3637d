#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "etld/pipeline/compile.h"
#include "etld/pipeline/event.h"
#include "etld/pipeline/result.h"
#include "etld/pipeline/types.h"

namespace etld::pipeline {

// One changelog record: a key and its new value, or a tombstone.
struct StateDelta {
    std::string key;
    std::optional<std::string> value;
};

struct TaskCounters {
    std::uint64_t processed = 0;       // events handed to process(), duplicates included
    std::uint64_t duplicates = 0;      // dropped by dedup
    std::uint64_t too_late = 0;        // (event, pipeline) pairs not applied: too late
    std::uint64_t late_applied = 0;    // (event, pipeline) pairs applied after a window end
    std::uint64_t open_windows = 0;    // tumbling/sliding (window, key) states held
    std::uint64_t open_sessions = 0;   // session states held
    std::uint64_t remembered_ids = 0;  // dedup entries held (some may be expired)
    std::optional<EventTimeMs> watermark;
    // (pipeline index, open window or session states) for each pipeline of the task.
    std::vector<std::pair<std::uint32_t, std::uint64_t>> open_by_pipeline;
};

// The engine's unit of state: one dedup set, one watermark and the window
// state of a subset of the engine's pipelines.
//
// Lifecycle: created empty or rebuilt from its changelog (apply_changelog for
// every record, then process). Single-threaded; the runner owns it. Memory is
// bounded by the dedup horizon (ids) and by the open windows, which are purged
// as soon as the watermark makes them immutable.
class Task {
  public:
    explicit Task(const std::shared_ptr<const CompiledEngine>& engine);
    // `pipelines` are indices into EngineSpec::pipelines handled by this task.
    Task(const std::shared_ptr<const CompiledEngine>& engine,
         const std::vector<std::uint32_t>& pipelines);
    ~Task();
    Task(Task&&) noexcept;
    Task& operator=(Task&&) noexcept;
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;

    // Handles one decoded event. `raw` is only copied into late records.
    void process(const Event& event, std::string_view raw, Output& out);

    // Optional hint: starts loading the memory process(event) will need
    // first (its slot in the dedup table, a likely cache miss once many ids
    // are remembered). Call it for the next event before processing the
    // current one. Has no effect on results.
    void prefetch(const Event& event) const;

    // Tells the task the processing time. When the task saw no input for at
    // least idle_timeout and the input is caught up, the watermark follows the
    // processing time so quiet windows still close.
    void advance_processing_time(ProcessingTimeMs now, bool input_caught_up, Output& out);

    // Appends the state changes since the previous call: each key once, the
    // latest value, std::nullopt for deleted keys.
    void take_changelog(std::vector<StateDelta>& out);

    // Rebuilds state from changelog records, applied in log order (last wins
    // per key). Records of pipelines this task does not own, or whose
    // definition changed, are ignored. Returns an error for a corrupt record
    // (the record is not applied).
    std::optional<std::string> apply_changelog(std::string_view key,
                                               std::optional<std::string_view> value);

    TaskCounters counters() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace etld::pipeline
