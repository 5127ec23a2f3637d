// Feeds the result database from the output topic: reads it read_committed
// (no consumer group: every instance materializes every partition), resumes
// from the offsets stored in SQLite, and applies each batch through
// storage::ResultStore in one SQLite transaction. A failed apply (SQLITE_BUSY,
// a full disk) is retried with backoff; nothing is skipped or applied twice.
//
// Lifecycle: construct, run() on its own thread, stop() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "etld/pipeline/spec.h"

namespace etld::storage {
class ResultStore;
}

namespace etld::daemon {

struct MaterializeConfig {
    std::string db_path;
    std::chrono::milliseconds busy_timeout{5000};
    std::string output_topic;
    std::vector<std::pair<std::string, std::string>> consumer;  // bootstrap, security
    std::size_t max_batch = 200000;  // records per SQLite transaction at most
    pipeline::EngineSpec spec;
};

struct MaterializeStats {
    std::atomic<std::uint64_t> applied{0};
    std::atomic<std::uint64_t> skipped{0};
    std::atomic<std::uint64_t> batches{0};
    std::atomic<std::uint64_t> retries{0};
    std::atomic<std::int64_t> lag{0};  // records behind the end of the output topic
    // Last time the lag was at most one batch (Unix ms); 0 before the first check.
    std::atomic<std::int64_t> last_caught_up_unix_ms{0};
    std::atomic<bool> healthy{true};
};

class OutputMaterializer {
  public:
    explicit OutputMaterializer(MaterializeConfig config);
    // Opens the database, then applies batches until stop(). Start-up
    // failures throw.
    void run();
    void stop() { stop_ = true; }
    const MaterializeStats& stats() const { return stats_; }

    // Switches to new pipeline definitions between two batches: tables of new
    // pipelines are created, changed tables are migrated (storage/README.md).
    // Pipelines missing from `spec` keep their tables and stay known until
    // the process exits. The future is ready once the switch happened (or
    // failed, with the reason).
    std::future<std::optional<std::string>> update_spec(pipeline::EngineSpec spec);

  private:
    void apply_pending_spec(std::unique_ptr<storage::ResultStore>& store);
    void refuse_pending();

    MaterializeConfig config_;
    MaterializeStats stats_;
    std::atomic<bool> stop_{false};
    std::mutex spec_mutex_;
    std::optional<std::pair<pipeline::EngineSpec, std::promise<std::optional<std::string>>>>
        pending_spec_;
};

}  // namespace etld::daemon
