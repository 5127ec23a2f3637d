#include "pipeline/kafka/topology.h"

#include <array>
#include <charconv>

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

void format_source(std::string& out, std::string_view topic, std::int32_t partition,
                   std::int64_t offset) {
    std::array<char, 24> digits{};
    out.assign(topic);
    out += ':';
    out.append(digits.data(),
               std::to_chars(digits.data(), digits.data() + digits.size(), partition).ptr);
    out += ':';
    out.append(digits.data(),
               std::to_chars(digits.data(), digits.data() + digits.size(), offset).ptr);
}

std::optional<SourceCoordinates> parse_source(std::string_view value) {
    auto all_digits = [](std::string_view s) {
        if (s.empty() || s.size() > 19) {
            return false;
        }
        for (const char c : s) {
            if (c < '0' || c > '9') {
                return false;
            }
        }
        return true;
    };
    const auto last = value.rfind(':');
    if (last == std::string_view::npos || last == 0) {
        return std::nullopt;
    }
    const auto middle = value.rfind(':', last - 1);
    if (middle == std::string_view::npos || middle == 0) {
        return std::nullopt;
    }
    SourceCoordinates c{value.substr(0, middle), value.substr(middle + 1, last - middle - 1),
                        value.substr(last + 1)};
    if (!all_digits(c.partition) || !all_digits(c.offset)) {
        return std::nullopt;
    }
    return c;
}

std::string repartition_key(const EventSchema& schema, const Keyspace& keyspace,
                            const Event& event) {
    std::string key;
    for (std::size_t i = 0; i < keyspace.key_fields.size(); ++i) {
        if (i > 0) {
            key += '\x1f';
        }
        const std::size_t f = keyspace.key_fields[i];
        switch (schema.fields[f].type) {
            case FieldType::string:
                key += event.string_at(f);
                break;
            case FieldType::int64:
                key += std::to_string(event.int_at(f));
                break;
            case FieldType::float64: {
                std::array<char, 32> buffer{};
                auto r =
                    std::to_chars(buffer.data(), buffer.data() + buffer.size(), event.double_at(f));
                key.append(buffer.data(), r.ptr);
                break;
            }
            case FieldType::boolean:
                key += event.bool_at(f) ? "true" : "false";
                break;
        }
    }
    return key;
}

std::int32_t repartition_partition(std::string_view key, int partitions) {
    // FNV-1a with the 64-bit FNV prime. The offset basis is the published one
    // (14695981039346656037) without its last digit; it stays, because another
    // one would move keys between the partitions of existing repartition and
    // changelog topics, away from the state restored for them.
    std::uint64_t hash = 1469598103934665603ULL;
    for (unsigned char c : key) {
        hash = (hash ^ c) * 1099511628211ULL;
    }
    return static_cast<std::int32_t>(hash % static_cast<std::uint64_t>(partitions));
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
