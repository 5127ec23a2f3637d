#include "daemon/testcase_run.h"

#include <map>
#include <utility>

#include "conf/duration.h"
#include "etld/pipeline/event.h"
#include "etld/pipeline/result.h"
#include "etld/pipeline/task.h"
#include "pipeline/kafka/topology.h"

namespace etld::daemon::testcase {

namespace {

using pipeline::AggregateValue;
using pipeline::FieldValue;

Json to_json_value(const FieldValue& v) {
    if (const auto* s = std::get_if<std::string>(&v)) {
        return Json::make_string(*s);
    }
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        return Json::make_int(*i);
    }
    if (const auto* d = std::get_if<double>(&v)) {
        return Json::make_double(*d);
    }
    return Json::make_bool(std::get<bool>(v));
}

Json to_json_value(const AggregateValue& v) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        return Json::make_int(*i);
    }
    if (const auto* d = std::get_if<double>(&v)) {
        return Json::make_double(*d);
    }
    if (const auto* top = std::get_if<std::vector<pipeline::TopKEntry>>(&v)) {
        Json list;
        list.kind = Json::Kind::array;
        for (const auto& entry : *top) {
            Json pair;
            pair.kind = Json::Kind::array;
            pair.items.push_back(to_json_value(entry.value));
            pair.items.push_back(Json::make_int(entry.count));
            list.items.push_back(std::move(pair));
        }
        return list;
    }
    return Json::make_null();
}

// The event id as written in the record, when it is a JSON object with one.
std::optional<std::string> event_id_of(std::string_view raw, const std::string& id_field) {
    auto parsed = parse_json(raw);
    const Json* obj = std::get_if<Json>(&parsed);
    if (obj == nullptr || !obj->is(Json::Kind::object)) {
        return std::nullopt;
    }
    const Json* id = obj->find(id_field);
    if (id == nullptr) {
        return std::nullopt;
    }
    if (id->is(Json::Kind::string)) {
        return id->text;
    }
    if (id->is(Json::Kind::number) && id->integer) {
        return std::to_string(*id->integer);
    }
    return std::nullopt;
}

class Harness {
  public:
    Harness(const std::shared_ptr<const pipeline::CompiledEngine>& engine, const Routing& routing)
        : engine_(engine),
          spec_(engine->spec()),
          routing_(routing),
          decoder_(spec_.schema),
          topology_(pipeline::kafka::plan_topology(spec_, routing.input_topics,
                                                   routing.partitioned_by, routing.internal_prefix,
                                                   routing.group_id)) {}

    std::vector<Record> run(const CaseFile& file) {
        for (const Step& step : file.steps) {
            line_ = step.line;
            switch (step.kind) {
                case Step::Kind::event:
                    if (step.at) {
                        tick(*step.at, true);
                    }
                    event(step);
                    if (clock_) {
                        tick(*clock_, true);
                    }
                    break;
                case Step::Kind::advance:
                    tick(step.at.value_or(clock_.value_or(0)), step.caught_up);
                    break;
                case Step::Kind::flush: {
                    const std::int64_t now = clock_.value_or(0);
                    tick(now, true);  // tasks with fresh input start their quiet period now
                    flushing_ = true;
                    tick(now + kFlushMs, true);
                    break;
                }
            }
        }
        return std::move(records_);
    }

  private:
    using TaskId = std::pair<std::size_t, std::int32_t>;  // keyspace, partition

    std::shared_ptr<const pipeline::CompiledEngine> engine_;
    const pipeline::EngineSpec& spec_;
    Routing routing_;
    pipeline::Decoder decoder_;
    pipeline::kafka::Topology topology_;
    std::map<TaskId, pipeline::Task> tasks_;
    pipeline::Event event_;
    pipeline::Output output_;
    std::optional<std::int64_t> clock_;
    bool flushing_ = false;
    std::uint32_t line_ = 0;
    // Of the event being processed, for the late records it causes.
    std::optional<std::string> event_id_;
    std::int32_t partition_ = 0;
    std::vector<Record> records_;

    pipeline::Task& task(const TaskId& id) {
        auto it = tasks_.find(id);
        if (it == tasks_.end()) {
            it =
                tasks_.emplace(id, pipeline::Task(engine_, topology_.keyspaces[id.first].pipelines))
                    .first;
        }
        return it->second;
    }

    void event(const Step& step) {
        event_id_ = event_id_of(step.raw, spec_.schema.id_field);
        partition_ = step.partition;
        if (auto rejection = decoder_.decode(step.raw, event_)) {
            Record r;
            r.category = Category::dead_letter;
            r.line = line_;
            r.fields.push_back(
                {"reason", Json::make_string(std::string(pipeline::name_of(rejection->reason)))});
            r.fields.push_back({"detail", Json::make_string(rejection->detail)});
            if (event_id_) {
                r.fields.push_back({"event_id", Json::make_string(*event_id_)});
            }
            r.fields.push_back({"raw", Json::make_string(step.raw)});
            r.fields.push_back({"partition", Json::make_int(step.partition)});
            stamp(r);
            records_.push_back(std::move(r));
            return;
        }
        for (std::size_t k = 0; k < topology_.keyspaces.size(); ++k) {
            const pipeline::kafka::Keyspace& ks = topology_.keyspaces[k];
            std::int32_t partition = step.partition;
            if (!ks.direct) {
                const std::string key = pipeline::kafka::repartition_key(spec_.schema, ks, event_);
                partition = pipeline::kafka::repartition_partition(key, routing_.partitions);
            }
            task({k, partition}).process(event_, step.raw, output_);
            drain();
        }
        event_id_.reset();
    }

    void tick(std::int64_t now, bool caught_up) {
        clock_ = now;
        event_id_.reset();
        for (auto& [id, t] : tasks_) {
            t.advance_processing_time(pipeline::ProcessingTimeMs{now}, caught_up, output_);
            drain();
        }
    }

    // When the record came out, as the case can write it: the processing
    // time since the start of the case, or "flush". Absent before the case
    // first names a processing time.
    void stamp(Record& r) const {
        if (flushing_) {
            r.fields.push_back({"emitted_at", Json::make_string("flush")});
        } else if (clock_) {
            r.fields.push_back({"emitted_at", Json::make_string(conf::format_duration(
                                                  std::chrono::milliseconds(*clock_)))});
        }
    }

    void drain() {
        for (const pipeline::Result& result : output_.results) {
            Record r;
            r.category = Category::result;
            r.line = line_;
            r.fields.push_back({"pipeline", Json::make_string(result.pipeline_name)});
            r.fields.push_back({"window_start", Json::make_int(result.window_start.value)});
            r.fields.push_back({"window_end", Json::make_int(result.window_end.value)});
            const auto& group_by = spec_.pipelines[result.pipeline].group_by;
            for (std::size_t i = 0; i < result.group.size() && i < group_by.size(); ++i) {
                r.fields.push_back({"group." + group_by[i], to_json_value(result.group[i])});
            }
            r.fields.push_back(
                {"kind", Json::make_string(std::string(pipeline::name_of(result.kind)))});
            r.fields.push_back({"revision", Json::make_int(result.revision)});
            const auto& aggregates = spec_.pipelines[result.pipeline].aggregates;
            for (std::size_t i = 0; i < result.values.size() && i < aggregates.size(); ++i) {
                r.fields.push_back(
                    {"values." + aggregates[i].name, to_json_value(result.values[i])});
            }
            stamp(r);
            records_.push_back(std::move(r));
        }
        for (const pipeline::LateRecord& late : output_.late) {
            const pipeline::PipelineSpec& p = spec_.pipelines[late.pipeline];
            if (p.late_policy == pipeline::LatePolicy::drop) {
                continue;  // counted only, as in the daemon
            }
            Record r;
            r.category = Category::late;
            r.line = line_;
            r.fields.push_back({"pipeline", Json::make_string(p.name)});
            if (event_id_) {
                r.fields.push_back({"event_id", Json::make_string(*event_id_)});
            }
            r.fields.push_back({"raw", Json::make_string(late.raw)});
            r.fields.push_back({"reason", Json::make_string(late.reason)});
            r.fields.push_back({"event_time", Json::make_int(late.event_time.value)});
            r.fields.push_back({"watermark", Json::make_int(late.watermark.value)});
            r.fields.push_back({"partition", Json::make_int(partition_)});
            stamp(r);
            records_.push_back(std::move(r));
        }
        output_.clear();
    }
};

}  // namespace

std::vector<Record> run_case(const CaseFile& file,
                             const std::shared_ptr<const pipeline::CompiledEngine>& engine,
                             const Routing& routing) {
    return Harness(engine, routing).run(file);
}

}  // namespace etld::daemon::testcase
