#pragma once

// Internal: the per-window state of a pipeline's aggregates and the
// operations on it (add an event, merge two sessions, read the values,
// encode/decode for the changelog).

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "codec.h"
#include "compiled.h"
#include "etld/pipeline/result.h"
#include "hash.h"

namespace etld::pipeline::detail {

// Group keys and top-k values are short; the 128-bit id hash's low half is
// faster than std::hash for them and as well mixed.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const {
        return hash128(s, 0x2545f4914f6cdd1dULL).lo;
    }
};

// Exact set of 128-bit value hashes for count_distinct. Grows only: a window
// never forgets a value while it is open.
class DistinctSet {
  public:
    bool insert(IdHash h);
    std::size_t size() const { return size_; }
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& s : slots_) {
            if (s.lo != 0 || s.hi != 0) {
                f(s);
            }
        }
    }

  private:
    void grow();
    std::vector<IdHash> slots_;
    std::size_t size_ = 0;
};

// Counts per value for top_k: a flat open-addressing table keyed by the
// value's hash, computed once per event and reused for every window the
// event lands in. Grows only while its window is open.
class TopKCounts {
  public:
    static std::uint64_t hash(std::string_view key) {
        return hash128(key, 0x9fb21c651e98df25ULL).lo | 1;
    }
    void add(std::string_view key, std::uint64_t h, std::int64_t n);
    std::size_t size() const { return size_; }
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& s : slots_) {
            if (s.h != 0) {
                f(std::string_view(s.key), s.count);
            }
        }
    }

  private:
    struct Slot {
        std::uint64_t h = 0;  // 0 = empty; real hashes have the low bit set
        std::int64_t count = 0;
        std::string key;
    };
    void grow();
    std::vector<Slot> slots_;
    std::size_t size_ = 0;
};

// count: n; sum: x; avg: x and n; min/max: x, and n = 1 once a value was seen.
struct Cell {
    double x = 0;
    std::int64_t n = 0;
};

struct HeavyState {
    std::vector<DistinctSet> distinct;
    std::vector<TopKCounts> topk;
};

struct AggState {
    std::unique_ptr<Cell[]> cells;
    std::unique_ptr<HeavyState> heavy;  // only for pipelines with distinct/top-k
};

// What one event contributes to a pipeline's aggregates, computed once per
// event and then added to every window the event belongs to.
struct Contribution {
    std::vector<char> applies;      // per aggregate: where-predicate held
    std::vector<double> x;          // per aggregate: expression value
    std::vector<IdHash> hashes;     // per aggregate: distinct value hash
    std::vector<std::string> keys;  // per aggregate: top-k value bytes
};

class Aggregator {
  public:
    explicit Aggregator(const CompiledPipeline& p) : p_(p) {}

    void init(AggState& s) const;
    void prepare(const Event& e, Contribution& c) const;
    void add(const Contribution& c, AggState& s) const;
    // Adds `from` into `into` (session merge).
    void merge(AggState& into, const AggState& from) const;
    void values(const AggState& s, std::vector<AggregateValue>& out) const;
    void encode(const AggState& s, Writer& w) const;
    bool decode(Reader& r, AggState& s) const;
    std::size_t count() const { return p_.aggregates.size(); }

    // Canonical bytes of a field value (top-k keys, distinct hashing).
    static void value_bytes(const Event& e, std::uint32_t field, FieldType t, std::string& out);
    static FieldValue value_from_bytes(std::string_view b, FieldType t);

  private:
    const CompiledPipeline& p_;
};

}  // namespace etld::pipeline::detail
