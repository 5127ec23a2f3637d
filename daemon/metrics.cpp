#include "daemon/metrics.h"

#include <array>
#include <charconv>
#include <sstream>

#include "etld/pipeline/event.h"

namespace etld::daemon {

namespace {

class Writer {
  public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
    }
    void sample(std::string_view name, std::string_view labels, double value) {
        out_ << name;
        if (!labels.empty()) {
            out_ << '{' << labels << '}';
        }
        out_ << ' ' << number(value) << '\n';
    }
    void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
        out_ << name;
        if (!labels.empty()) {
            out_ << '{' << labels << '}';
        }
        out_ << ' ' << value << '\n';
    }
    void single(std::string_view name, std::string_view type, std::string_view help,
                std::uint64_t value) {
        family(name, type, help);
        sample(name, "", value);
    }
    void single(std::string_view name, std::string_view type, std::string_view help, double value) {
        family(name, type, help);
        sample(name, "", value);
    }
    std::string str() const { return out_.str(); }

    // The shortest text that reads back as the same double.
    static std::string number(double v) {
        std::array<char, 64> buffer{};
        const auto r = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v);
        return std::string(buffer.data(), r.ptr);
    }

  private:
    std::ostringstream out_;
};

std::string label(std::string_view name, std::string_view value) {
    return std::string(name) + "=\"" + escape_label(value) + "\"";
}

std::uint64_t load(const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
}

}  // namespace

std::string escape_label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

Health evaluate_health(const StatusInput& in) {
    Health h;
    if (in.runner != nullptr) {
        if (in.runner->broker_down) {
            h.reasons.emplace_back("broker unreachable");
        }
        if (in.runner->degraded) {
            h.reasons.emplace_back("transactions failing");
        }
    }
    if (in.materializer != nullptr) {
        const MaterializeStats& m = *in.materializer;
        if (!m.healthy) {
            h.reasons.emplace_back("materializer failing to write SQLite");
        }
        const std::int64_t since = in.now_unix_ms - m.last_caught_up_unix_ms.load();
        if (m.lag > 0 && m.last_caught_up_unix_ms > 0 &&
            since > in.materializer_lag_limit.count()) {
            h.reasons.emplace_back("materializer lagging: " + std::to_string(m.lag.load()) +
                                   " records behind for " + std::to_string(since / 1000) + " s");
        }
    }
    h.ok = h.reasons.empty();
    return h;
}

bool evaluate_ready(const StatusInput& in) {
    return in.runner != nullptr && in.runner->ready;
}

std::string render_metrics(const StatusInput& in) {
    Writer w;
    w.family("etld_build_info", "gauge", "Build of the running etld; the value is always 1.");
    w.sample("etld_build_info", label("version", in.version), std::uint64_t{1});

    const Health health = evaluate_health(in);
    w.single("etld_healthy", "gauge", "1 when /healthz says ok, 0 when degraded.",
             std::uint64_t{health.ok ? 1U : 0U});
    w.single("etld_ready", "gauge", "1 when partitions are assigned and their state restored.",
             std::uint64_t{evaluate_ready(in) ? 1U : 0U});

    w.single("etld_config_last_reload_successful", "gauge",
             "1 when the last configuration reload was applied, 0 when it was rejected.",
             std::uint64_t{in.reload.last_successful ? 1U : 0U});
    w.single("etld_config_last_reload_success_timestamp_seconds", "gauge",
             "Unix time of the last successful configuration load.",
             static_cast<double>(in.reload.last_success_unix_ms) / 1000.0);
    w.family("etld_config_reloads_total", "counter", "Configuration reloads by result.");
    w.sample("etld_config_reloads_total", label("result", "success"), in.reload.succeeded);
    w.sample("etld_config_reloads_total", label("result", "failure"), in.reload.failed);

    if (in.runner != nullptr) {
        const pipeline::kafka::RunnerStats& r = *in.runner;
        w.single("etld_events_consumed_total", "counter",
                 "Records read from the input and repartition topics.", load(r.consumed));
        w.single("etld_duplicates_dropped_total", "counter",
                 "Events dropped because their id was seen within the dedup horizon.",
                 load(r.duplicates));
        w.family("etld_rejected_total", "counter",
                 "Input records sent to the dead-letter topic, by reason.");
        for (std::size_t i = 0; i < pipeline::kRejectReasonCount; ++i) {
            w.sample("etld_rejected_total",
                     label("reason", pipeline::name_of(static_cast<pipeline::RejectReason>(i))),
                     load(r.rejected_by_reason[i]));
        }
        w.single("etld_late_applied_total", "counter",
                 "(event, pipeline) pairs applied after their window's end, within lateness.",
                 load(r.late_applied));
        w.single("etld_too_late_total", "counter",
                 "(event, pipeline) pairs not applied: after window end + allowed lateness.",
                 load(r.too_late));
        w.single("etld_repartitioned_total", "counter", "Events written to repartition topics.",
                 load(r.repartitioned));
        w.single("etld_transactions_committed_total", "counter", "Kafka transactions committed.",
                 load(r.transactions_committed));
        w.single("etld_transactions_aborted_total", "counter", "Kafka transactions aborted.",
                 load(r.transactions_aborted));

        const auto hist = r.commit_seconds.snapshot();
        w.family("etld_commit_duration_seconds", "histogram",
                 "Time to send the offsets and commit one transaction.");
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < pipeline::kafka::DurationHistogram::kBounds.size(); ++i) {
            cumulative += hist.buckets[i];
            w.sample("etld_commit_duration_seconds_bucket",
                     label("le", Writer::number(pipeline::kafka::DurationHistogram::kBounds[i])),
                     cumulative);
        }
        cumulative += hist.buckets.back();
        w.sample("etld_commit_duration_seconds_bucket", label("le", "+Inf"), cumulative);
        w.sample("etld_commit_duration_seconds_sum", "", hist.sum_seconds);
        w.sample("etld_commit_duration_seconds_count", "", hist.count);
        w.single("etld_last_commit_timestamp_seconds", "gauge",
                 "Unix time of the last committed transaction.",
                 static_cast<double>(r.last_commit_unix_ms.load()) / 1000.0);

        w.single("etld_assigned_partitions", "gauge", "Partitions assigned to this instance.",
                 load(r.assigned_partitions));
        w.single("etld_restores_total", "counter", "State restores from the changelog.",
                 load(r.restores));
        w.single("etld_restore_seconds", "gauge", "Duration of the last state restore.",
                 static_cast<double>(r.last_restore_ms.load()) / 1000.0);
        w.single("etld_restore_seconds_total", "counter", "Time spent restoring state.",
                 static_cast<double>(r.restore_ms_total.load()) / 1000.0);
        w.single("etld_broker_unreachable", "gauge", "1 while no Kafka broker answers.",
                 std::uint64_t{r.broker_down ? 1U : 0U});

        const pipeline::kafka::RunnerDetail d = r.detail();
        w.family("etld_results_total", "counter", "Results written to the output topic.");
        for (const auto& [name, count] : d.results_by_pipeline) {
            w.sample("etld_results_total", label("pipeline", name), count);
        }
        w.family("etld_open_windows", "gauge", "Open window or session states held.");
        for (const auto& p : d.pipelines) {
            w.sample("etld_open_windows", label("pipeline", p.name), p.open);
        }
        w.family("etld_watermark_seconds", "gauge",
                 "Event-time watermark (Unix seconds) of the slowest owned task.");
        for (const auto& p : d.pipelines) {
            if (p.watermark_ms) {
                w.sample("etld_watermark_seconds", label("pipeline", p.name),
                         static_cast<double>(*p.watermark_ms) / 1000.0);
            }
        }
        w.family("etld_consumer_lag_records", "gauge",
                 "Records between the consumer's position and the end of each owned partition.");
        for (const auto& lag : d.lags) {
            w.sample(
                "etld_consumer_lag_records",
                label("topic", lag.topic) + "," + label("partition", std::to_string(lag.partition)),
                static_cast<std::uint64_t>(lag.lag));
        }
    }

    if (in.materializer != nullptr) {
        const MaterializeStats& m = *in.materializer;
        w.single("etld_sqlite_applied_total", "counter",
                 "Output records applied to SQLite (upserts and deletes).", load(m.applied));
        w.single("etld_sqlite_skipped_total", "counter",
                 "Output records SQLite could not use (unknown pipeline, unreadable).",
                 load(m.skipped));
        w.single("etld_sqlite_apply_retries_total", "counter",
                 "SQLite batches retried after a failure (locked, disk full).", load(m.retries));
        w.single("etld_sqlite_apply_lag_records", "gauge",
                 "Output topic records not yet applied to SQLite.",
                 static_cast<std::uint64_t>(std::max<std::int64_t>(0, m.lag.load())));
    }
    return w.str();
}

}  // namespace etld::daemon
