#pragma once

// Internal: the per-window state of a pipeline's aggregates and the
// operations on it (add an event, merge two sessions, read the values,
// encode/decode for the changelog).

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "block_pool.h"
#include "codec.h"
#include "compiled.h"
#include "etld/pipeline/result.h"
#include "event_features.h"
#include "hash.h"

namespace etld::pipeline::detail {

// Exact set of 128-bit value hashes for count_distinct. Grows only: a window
// never forgets a value while it is open. Up to one value lives inline (a
// session of one user, say), so small sets cost no allocation.
class DistinctSet {
  public:
    DistinctSet() = default;
    ~DistinctSet() {
        if (cap_ > 0) {
            delete[] slots_;
        }
    }
    DistinctSet(const DistinctSet&) = delete;
    DistinctSet& operator=(const DistinctSet&) = delete;

    bool insert(IdHash h);
    std::size_t size() const { return size_; }
    template <typename F>
    void for_each(F&& f) const {
        if (cap_ == 0) {
            if (size_ == 1) {
                f(one_);
            }
            return;
        }
        for (std::uint32_t i = 0; i < cap_; ++i) {
            if (slots_[i].lo != 0 || slots_[i].hi != 0) {
                f(slots_[i]);
            }
        }
    }

  private:
    void grow();
    union {
        IdHash one_{};   // cap_ == 0: the single value, if size_ == 1
        IdHash* slots_;  // cap_ > 0: open addressing, all-zero = empty
    };
    std::uint32_t cap_ = 0;
    std::uint32_t size_ = 0;
};

// Counts per value for top_k: a flat open-addressing table keyed by the
// value's hash, computed once per event and reused for every window the
// event lands in. Grows only while its window is open. A slot is 32 bytes
// and holds a value of up to 15 bytes itself (product names, user ids), so
// counting reads one line; longer values live in their own string.
class TopKCounts {
    struct Slot;

  public:
    // The first table, which the owner provides (AggState puts it in its
    // block, next to the cells, so a window's first updates follow no
    // further pointer).
    static constexpr std::size_t kFirstSlots = 8;
    static std::size_t first_table_bytes();

    // Starts with the zeroed table of first_table_bytes() at `storage`,
    // which must outlive this object and is not freed by it; the tables it
    // grows into are its own (so it owns its table iff cap_ > kFirstSlots).
    explicit TopKCounts(void* storage) : slots_(static_cast<Slot*>(storage)), cap_(kFirstSlots) {}
    ~TopKCounts();
    TopKCounts(const TopKCounts&) = delete;
    TopKCounts& operator=(const TopKCounts&) = delete;

    // As the event's features compute it (event_features.h).
    static std::uint64_t hash(std::string_view key) { return topk_hash(key); }
    void add(std::string_view key, std::uint64_t h, std::int64_t n);
    std::size_t size() const { return size_; }
    template <typename F>
    void for_each(F&& f) const {
        for (std::uint32_t i = 0; i < cap_; ++i) {
            if (slots_[i].h != 0) {
                f(slots_[i].key(), slots_[i].count);
            }
        }
    }

  private:
    static constexpr std::size_t kInline = 15;
    static constexpr std::uint8_t kFar = 0xff;
    struct Slot {
        std::uint64_t h;  // 0 = empty; real hashes have the low bit set
        std::int64_t count;
        char bytes[kInline];  // the value, or (len == kFar) a std::string*
        std::uint8_t len;
        std::string* far() const {
            std::string* s = nullptr;
            std::memcpy(&s, bytes, sizeof s);
            return s;
        }
        std::string_view key() const {
            return len == kFar ? std::string_view(*far()) : std::string_view(bytes, len);
        }
    };
    static_assert(sizeof(Slot) == 32);
    void grow();
    void place(const Slot& s);
    Slot* slots_ = nullptr;
    std::uint32_t cap_ = 0;
    std::uint32_t size_ = 0;
};

inline std::size_t TopKCounts::first_table_bytes() {
    return kFirstSlots * sizeof(Slot);
}

// count: n; sum: x; avg: x and n; min/max: x, and n = 1 once a value was seen.
struct Cell {
    double x = 0;
    std::int64_t n = 0;
};

// The aggregate state of one window: one block holding the numeric cells,
// then the distinct sets, then the top-k tables, so updating a window touches
// one block instead of following a pointer per aggregate kind. The block
// comes from the pipeline's BlockPool when the state was initialised with one
// (the pool must outlive the state), else from operator new.
class AggState {
  public:
    AggState() = default;
    ~AggState() { release(); }
    AggState(AggState&& o) noexcept
        : block_(std::exchange(o.block_, nullptr)),
          pool_(o.pool_),
          cells_(o.cells_),
          distinct_(o.distinct_),
          topk_(o.topk_) {}
    AggState& operator=(AggState&& o) noexcept {
        if (this != &o) {
            release();
            block_ = std::exchange(o.block_, nullptr);
            pool_ = o.pool_;
            cells_ = o.cells_;
            distinct_ = o.distinct_;
            topk_ = o.topk_;
        }
        return *this;
    }
    AggState(const AggState&) = delete;
    AggState& operator=(const AggState&) = delete;

    // Allocates zeroed cells and empty sets (dropping any previous state),
    // from `pool` if given.
    void reset(std::uint32_t cells, std::uint32_t distinct, std::uint32_t topk,
               BlockPool* pool = nullptr);

    Cell* cells() const { return reinterpret_cast<Cell*>(block_); }
    // Asks the CPU to start loading the block (a loop over many states
    // prefetches a few ahead, so that their cache misses overlap).
    void prefetch() const { __builtin_prefetch(block_); }
    DistinctSet& distinct(std::uint32_t i) const {
        return reinterpret_cast<DistinctSet*>(block_ + cells_ * sizeof(Cell))[i];
    }
    TopKCounts& topk(std::uint32_t i) const {
        return reinterpret_cast<TopKCounts*>(block_ + cells_ * sizeof(Cell) +
                                             distinct_ * sizeof(DistinctSet))[i];
    }

  private:
    void release() noexcept;
    std::size_t block_bytes() const;
    DistinctSet& distinct_at(std::uint32_t i) const { return distinct(i); }
    TopKCounts& topk_at(std::uint32_t i) const { return topk(i); }
    // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): freed in release()
    unsigned char* block_ = nullptr;
    BlockPool* pool_ = nullptr;
    std::uint32_t cells_ = 0;
    std::uint16_t distinct_ = 0;
    std::uint16_t topk_ = 0;
};

class Aggregator {
  public:
    // States initialised here take their blocks from `pool` if given.
    explicit Aggregator(const CompiledPipeline& p, BlockPool* pool = nullptr)
        : p_(p), pool_(pool) {}

    // Which parts of a state an operation covers: the numeric cells
    // (count, sum, avg, min, max), the sets and tables (count_distinct,
    // top_k), or both. Sliding windows keep the two apart (see windows.cpp).
    enum Parts : std::uint8_t { kCells = 1, kSets = 2, kAll = 3 };

    void init(AggState& s, Parts parts = kAll) const;
    // The event's contribution to this pipeline's aggregates, computed from
    // its shared features on first use (valid until the next event).
    const Contribution& contribution(EventFeatures& f) const;
    void add(const Contribution& c, AggState& s, Parts parts = kAll) const;
    // Adds `from` into `into` (session merge, sliding panes).
    void merge(AggState& into, const AggState& from, Parts parts = kAll) const;
    void values(const AggState& s, std::vector<AggregateValue>& out) const { values(s, s, out); }
    // The cells of `cells`, the sets of `sets`.
    void values(const AggState& cells, const AggState& sets,
                std::vector<AggregateValue>& out) const;
    void encode(const AggState& s, Writer& w, Parts parts = kAll) const;
    bool decode(Reader& r, AggState& s, Parts parts = kAll) const;
    bool has_sets() const { return p_.distinct_sets > 0 || p_.topk_maps > 0; }
    std::size_t count() const { return p_.aggregates.size(); }

    static FieldValue value_from_bytes(std::string_view b, FieldType t);

  private:
    static Parts part_of(AggregateFn fn) {
        return fn == AggregateFn::count_distinct || fn == AggregateFn::top_k ? kSets : kCells;
    }
    const CompiledPipeline& p_;
    BlockPool* pool_;
};

}  // namespace etld::pipeline::detail
