#include "conf/reload.h"

#include <algorithm>

namespace etld::conf {
namespace {

class Differ {
  public:
    explicit Differ(ReloadPlan& plan) : plan_(&plan) {}

    template <typename T>
    void restart(const char* key, const T& a, const T& b) {
        if (!(a == b)) {
            plan_->restart_required.emplace_back(key);
        }
    }
    template <typename T>
    void live(const std::string& key, const T& a, const T& b) {
        if (!(a == b)) {
            plan_->live.push_back(key);
        }
    }

  private:
    ReloadPlan* plan_;
};

}  // namespace

ReloadPlan plan_reload(const Config& running, const Config& next) {
    ReloadPlan plan;
    Differ d(plan);
    const Config& a = running;
    const Config& b = next;

    d.restart("service.name", a.service.name, b.service.name);
    d.live("service.log_level", a.service.log_level, b.service.log_level);
    d.restart("service.state_dir", a.service.state_dir, b.service.state_dir);
    d.restart("service.shutdown_timeout", a.service.shutdown_timeout, b.service.shutdown_timeout);

    d.restart("kafka.bootstrap_servers", a.kafka.bootstrap_servers, b.kafka.bootstrap_servers);
    d.restart("kafka.group_id", a.kafka.group_id, b.kafka.group_id);
    d.restart("kafka.transactional_id", a.kafka.transactional_id, b.kafka.transactional_id);
    d.live("kafka.commit_interval", a.kafka.commit_interval, b.kafka.commit_interval);
    d.live("kafka.max_batch_events", a.kafka.max_batch_events, b.kafka.max_batch_events);
    d.restart("kafka.consumer", a.kafka.consumer, b.kafka.consumer);
    d.restart("kafka.producer", a.kafka.producer, b.kafka.producer);
    d.restart("kafka.secrets", a.kafka.secrets, b.kafka.secrets);

    d.restart("input.topics", a.input.topics, b.input.topics);
    d.restart("input.partitioned_by", a.input.partitioned_by, b.input.partitioned_by);
    d.restart("input.max_record_bytes", a.input.max_record_bytes, b.input.max_record_bytes);

    d.restart("schema.id_field", a.schema.id_field, b.schema.id_field);
    d.restart("schema.time_field", a.schema.time_field, b.schema.time_field);
    d.restart("schema.time_format", a.schema.time_format, b.schema.time_format);
    d.restart("schema.fields", a.schema.fields, b.schema.fields);

    d.restart("dedup.horizon", a.dedup.horizon, b.dedup.horizon);
    d.restart("watermark.max_out_of_orderness", a.watermark.max_out_of_orderness,
              b.watermark.max_out_of_orderness);
    d.restart("watermark.idle_timeout", a.watermark.idle_timeout, b.watermark.idle_timeout);

    d.restart("topics.output", a.topics.output, b.topics.output);
    d.restart("topics.late", a.topics.late, b.topics.late);
    d.restart("topics.dead_letter", a.topics.dead_letter, b.topics.dead_letter);
    d.restart("topics.internal_prefix", a.topics.internal_prefix, b.topics.internal_prefix);
    d.restart("topics.partitions", a.topics.partitions, b.topics.partitions);
    d.restart("topics.replication_factor", a.topics.replication_factor,
              b.topics.replication_factor);
    d.restart("topics.retention", a.topics.retention, b.topics.retention);

    d.restart("storage.sqlite_path", a.storage.sqlite_path, b.storage.sqlite_path);
    d.restart("storage.busy_timeout", a.storage.busy_timeout, b.storage.busy_timeout);

    d.live("http.enabled", a.http.enabled, b.http.enabled);
    d.restart("http.listen", a.http.listen, b.http.listen);

    for (const PipelineConfig& old : a.pipelines) {
        const std::string& name = old.name.value;
        const PipelineConfig* now = b.find_pipeline(name);
        if (now == nullptr) {
            plan.removed_pipelines.push_back(name);
            continue;
        }
        d.live("pipeline." + name + ".late_policy", old.late_policy, now->late_policy);
        // late_policy only decides where too-late events go; it does not touch window state.
        PipelineConfig same_policy = *now;
        same_policy.late_policy = old.late_policy;
        if (!(same_policy == old)) {
            plan.changed_pipelines.push_back(name);
        }
    }
    for (const PipelineConfig& p : b.pipelines) {
        if (a.find_pipeline(p.name.value) == nullptr) {
            plan.added_pipelines.push_back(p.name.value);
        }
    }
    return plan;
}

}  // namespace etld::conf
