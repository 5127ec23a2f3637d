#include "pipeline/kafka/topology.h"

namespace etld::pipeline::kafka {

std::string topic_safe(const std::string& text) {
    std::string out = text;
    for (char& c : out) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) {
            c = '_';
        }
    }
    return out;
}

Topology plan_topology(const EngineSpec& spec, const std::vector<std::string>& input_topics,
                       const std::string& partitioned_by, const std::string& internal_prefix,
                       const std::string& group_id) {
    Topology topology;
    for (std::uint32_t p = 0; p < spec.pipelines.size(); ++p) {
        const auto& group_by = spec.pipelines[p].group_by;
        Keyspace* found = nullptr;
        for (auto& ks : topology.keyspaces) {
            if (ks.group_by == group_by) {
                found = &ks;
            }
        }
        if (found == nullptr) {
            Keyspace ks;
            ks.group_by = group_by;
            if (group_by.empty()) {
                ks.id = "global";
            } else {
                for (size_t i = 0; i < group_by.size(); ++i) {
                    ks.id += (i ? "." : "") + group_by[i];
                }
            }
            for (const auto& field : group_by) {
                for (size_t f = 0; f < spec.schema.fields.size(); ++f) {
                    if (spec.schema.fields[f].name == field) {
                        ks.key_fields.push_back(f);
                    }
                }
            }
            ks.direct = input_topics.size() == 1 && group_by.size() == 1 &&
                        !partitioned_by.empty() && group_by[0] == partitioned_by;
            const std::string base = internal_prefix + "-" + group_id;
            ks.changelog_topic = topic_safe(base + "-changelog-" + ks.id);
            if (!ks.direct) {
                ks.repartition_topic = topic_safe(base + "-repartition-" + ks.id);
            }
            topology.keyspaces.push_back(std::move(ks));
            found = &topology.keyspaces.back();
        }
        found->pipelines.push_back(p);
    }
    return topology;
}

}  // namespace etld::pipeline::kafka
