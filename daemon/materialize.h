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
#include <string>
#include <utility>
#include <vector>

#include "etld/pipeline/spec.h"

namespace etld::daemon {

struct MaterializeConfig {
    std::string db_path;
    std::chrono::milliseconds busy_timeout{5000};
    std::string output_topic;
    std::vector<std::pair<std::string, std::string>> consumer;  // bootstrap, security
    std::size_t max_batch = 5000;
    pipeline::EngineSpec spec;
};

struct MaterializeStats {
    std::atomic<std::uint64_t> applied{0};
    std::atomic<std::uint64_t> skipped{0};
    std::atomic<std::uint64_t> batches{0};
    std::atomic<std::uint64_t> retries{0};
    std::atomic<std::int64_t> lag{0};  // records behind the end of the output topic
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

  private:
    MaterializeConfig config_;
    MaterializeStats stats_;
    std::atomic<bool> stop_{false};
};

}  // namespace etld::daemon
