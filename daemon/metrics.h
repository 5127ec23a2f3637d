// What /metrics, /healthz and /readyz say, computed from the runner's and
// the materializer's counters. Pure functions of their inputs, so tests can
// check them without a broker.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/materialize.h"
#include "pipeline/kafka/runner.h"

namespace etld::daemon {

struct ReloadStatus {
    bool last_successful = true;
    std::int64_t last_success_unix_ms = 0;  // start-up counts as a successful load
    std::uint64_t succeeded = 0;
    std::uint64_t failed = 0;
};

struct StatusInput {
    const pipeline::kafka::RunnerStats* runner = nullptr;  // null while no runner exists
    const MaterializeStats* materializer = nullptr;
    ReloadStatus reload;
    std::string version;
    std::int64_t now_unix_ms = 0;
    // The materializer is lagging when it has not been close to the end of
    // the output topic for this long.
    std::chrono::milliseconds materializer_lag_limit{30'000};
};

struct Health {
    bool ok = true;
    std::vector<std::string> reasons;  // why not ok
};

Health evaluate_health(const StatusInput& in);

// Ready = partitions assigned and their state restored.
bool evaluate_ready(const StatusInput& in);

// Prometheus text exposition format 0.0.4.
std::string render_metrics(const StatusInput& in);

// Escapes a label value (backslash, double quote, newline).
std::string escape_label(std::string_view value);

}  // namespace etld::daemon
