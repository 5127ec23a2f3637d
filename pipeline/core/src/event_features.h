#pragma once

// Internal: the per-event values that aggregates and window tables use,
// computed once per event however many pipelines of a task use them.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "compiled.h"
#include "etld/pipeline/event.h"
#include "group_key.h"
#include "hash.h"

namespace etld::pipeline::detail {

// The hash of a group key's canonical bytes (group_key.h), as the window
// and session tables use it.
inline std::uint64_t group_hash(std::string_view bytes) {
    return hash64(bytes, 0x2545f4914f6cdd1dULL);
}

// The hash of a top-k value's bytes in a TopKCounts table (never 0).
inline std::uint64_t topk_hash(std::string_view bytes) {
    return hash64(bytes, 0x5bd1e995u) | 1;
}

// A group key of the current event: its bytes and their group_hash.
struct GroupRef {
    std::string_view bytes;
    std::uint64_t hash = 0;
};

// Hash and equality for tables keyed by group-key bytes that are looked up
// with a GroupRef, so the event's key is hashed once, not once per table.
struct GroupHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return group_hash(s); }
    std::size_t operator()(const GroupRef& g) const { return g.hash; }
};
struct GroupEq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
    bool operator()(const GroupRef& a, std::string_view b) const { return a.bytes == b; }
    bool operator()(std::string_view a, const GroupRef& b) const { return a == b.bytes; }
};

// A count_distinct / top_k field value of the current event: its canonical
// bytes (Aggregator::value_bytes).
struct ValueRef {
    std::string_view bytes;
};

// The 128-bit hash of a value's bytes that a distinct set stores (and the
// changelog keeps), so it must not change.
inline IdHash value_hash(std::string_view bytes) {
    return hash128(bytes, 0x5bd1e995u);
}

// What one event contributes to the aggregates of a pipeline, as the steps
// that apply (aggregates whose where-predicate failed, or whose expression is
// not finite, have none). Computed once per event and then added to every
// window the event lands in; pipelines whose aggregates are defined alike
// share one (CompiledPipeline::contribution).
struct Contribution {
    // count, sum, avg: x += v, n += inc (a count adds 0.0, so its x stays 0).
    struct AddStep {
        std::uint32_t slot;
        std::int64_t inc;
        double v;
    };
    // min, max: keep the smaller / larger v; n = 1.
    struct ExtremeStep {
        std::uint32_t slot;
        bool is_min;
        double v;
    };
    struct SetStep {
        std::uint32_t slot;
        bool topk;               // else count_distinct
        IdHash hash;             // count_distinct: value_hash; top-k: topk_hash in lo
        std::string_view bytes;  // top-k: the value's bytes
    };
    std::vector<AddStep> adds;
    std::vector<ExtremeStep> extremes;
    std::vector<SetStep> sets;
};

// Lazily evaluated features of one event. start() begins an event; each
// feature is computed on first use and reused until the next start().
// Views stay valid until then (they point into the event or this object).
class EventFeatures {
  public:
    explicit EventFeatures(const CompiledFeatures& f)
        : f_(f),
          pred_stamp_(f.predicates.size(), 0),
          pred_(f.predicates.size(), 0),
          num_stamp_(f.numbers.size(), 0),
          num_(f.numbers.size(), 0),
          value_stamp_(f.values.size(), 0),
          values_(f.values.size()),
          value_scratch_(f.values.size()),
          distinct_stamp_(f.values.size(), 0),
          distinct_hashes_(f.values.size()),
          topk_stamp_(f.values.size(), 0),
          topk_hashes_(f.values.size(), 0),
          group_stamp_(f.groups.size(), 0),
          groups_(f.groups.size()),
          group_bytes_(f.groups.size()),
          contrib_stamp_(f.contributions, 0),
          contribs_(f.contributions) {}

    void start(const Event& e) {
        e_ = &e;
        if (++stamp_ == 0) {
            // Wrapped after 2^32 events: forget every old stamp.
            std::fill(pred_stamp_.begin(), pred_stamp_.end(), 0);
            std::fill(num_stamp_.begin(), num_stamp_.end(), 0);
            std::fill(value_stamp_.begin(), value_stamp_.end(), 0);
            std::fill(distinct_stamp_.begin(), distinct_stamp_.end(), 0);
            std::fill(topk_stamp_.begin(), topk_stamp_.end(), 0);
            std::fill(group_stamp_.begin(), group_stamp_.end(), 0);
            std::fill(contrib_stamp_.begin(), contrib_stamp_.end(), 0);
            stamp_ = 1;
        }
    }

    const Event& event() const { return *e_; }

    bool predicate(std::uint32_t i) {
        if (pred_stamp_[i] != stamp_) {
            pred_stamp_[i] = stamp_;
            pred_[i] = f_.predicates[i].predicate(*e_) ? 1 : 0;
        }
        return pred_[i] != 0;
    }

    double number(std::uint32_t i) {
        if (num_stamp_[i] != stamp_) {
            num_stamp_[i] = stamp_;
            num_[i] = f_.numbers[i].number(*e_);
        }
        return num_[i];
    }

    const ValueRef& value(std::uint32_t i) {
        if (value_stamp_[i] != stamp_) {
            value_stamp_[i] = stamp_;
            const CompiledFeatures::Value& v = f_.values[i];
            values_[i].bytes = value_bytes(*e_, v.field, v.type, value_scratch_[i]);
        }
        return values_[i];
    }
    // value_hash / topk_hash of value i, each computed once per event.
    const IdHash& distinct_hash(std::uint32_t i) {
        if (distinct_stamp_[i] != stamp_) {
            distinct_stamp_[i] = stamp_;
            distinct_hashes_[i] = value_hash(value(i).bytes);
        }
        return distinct_hashes_[i];
    }
    std::uint64_t topk_hash_of(std::uint32_t i) {
        if (topk_stamp_[i] != stamp_) {
            topk_stamp_[i] = stamp_;
            topk_hashes_[i] = topk_hash(value(i).bytes);
        }
        return topk_hashes_[i];
    }

    const GroupRef& group(std::uint32_t i) {
        if (group_stamp_[i] != stamp_) {
            group_stamp_[i] = stamp_;
            const CompiledFeatures::Group& g = f_.groups[i];
            encode_group(*e_, g.fields, g.types, group_bytes_[i]);
            groups_[i].bytes = group_bytes_[i];
            groups_[i].hash = group_hash(group_bytes_[i]);
        }
        return groups_[i];
    }

    // Contribution `i` of this event; `fresh` says the caller must fill it
    // (Aggregator::contribution does).
    Contribution& contribution(std::uint32_t i, bool& fresh) {
        fresh = contrib_stamp_[i] != stamp_;
        contrib_stamp_[i] = stamp_;
        return contribs_[i];
    }

    // Canonical bytes of a field value (top-k keys, distinct hashing):
    // a string field's own bytes, or `scratch` holding a number's bytes.
    static std::string_view value_bytes(const Event& e, std::uint32_t field, FieldType t,
                                        std::string& scratch);

  private:
    const CompiledFeatures& f_;
    const Event* e_ = nullptr;
    std::uint32_t stamp_ = 0;
    std::vector<std::uint32_t> pred_stamp_;
    std::vector<char> pred_;
    std::vector<std::uint32_t> num_stamp_;
    std::vector<double> num_;
    std::vector<std::uint32_t> value_stamp_;
    std::vector<ValueRef> values_;
    std::vector<std::string> value_scratch_;
    std::vector<std::uint32_t> distinct_stamp_;
    std::vector<IdHash> distinct_hashes_;
    std::vector<std::uint32_t> topk_stamp_;
    std::vector<std::uint64_t> topk_hashes_;
    std::vector<std::uint32_t> group_stamp_;
    std::vector<GroupRef> groups_;
    std::vector<std::string> group_bytes_;
    std::vector<std::uint32_t> contrib_stamp_;
    std::vector<Contribution> contribs_;
};

}  // namespace etld::pipeline::detail
