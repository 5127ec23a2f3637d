#pragma once

// Internal: the table from group keys to per-key state that windows and
// sessions keep.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "block_pool.h"
#include "event_features.h"
#include "hash.h"

namespace etld::pipeline::detail {

// An open-addressing index of (hash, node) slots over individually
// allocated nodes. A lookup with the event's precomputed GroupRef reads one
// slot of a small array (16 bytes per slot, at most 3/4 full) and then the
// node, where a node-based hash map divides by its bucket count and walks
// bucket, previous node and node. Nodes never move, so other structures may
// point at them until they are erased or detached.
//
// A node is one block of the pipeline's BlockPool: the value, then the key
// bytes, so that a new key costs one block instead of a node and a string.
//
// Not thread-safe; owned by one PipelineState.
template <typename V>
class KeyTable {
  public:
    class Node {
      public:
        V second;
        // The group key bytes.
        std::string_view key() const {
            return {reinterpret_cast<const char*>(this) + sizeof(Node), size_};
        }

      private:
        friend class KeyTable;
        explicit Node(std::uint32_t size) : size_(size) {}
        std::uint32_t size_;
    };
    static_assert(alignof(Node) <= BlockPool::kGrain);
    using value_type = Node;

    // Frees a detached node into its table's pool.
    class Deleter {
      public:
        Deleter() = default;
        explicit Deleter(BlockPool* pool) : pool_(pool) {}
        void operator()(Node* n) const noexcept { destroy(*pool_, n); }

      private:
        BlockPool* pool_ = nullptr;
    };
    using NodePtr = std::unique_ptr<Node, Deleter>;

    explicit KeyTable(BlockPool& pool) : pool_(&pool) {}
    ~KeyTable() {
        for (const Slot& s : slots_) {
            if (s.node != nullptr) {
                destroy(*pool_, s.node);
            }
        }
    }
    KeyTable(const KeyTable&) = delete;
    KeyTable& operator=(const KeyTable&) = delete;

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    Node* find(const GroupRef& g) const {
        if (size_ == 0) {
            return nullptr;
        }
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = g.hash & mask;; i = (i + 1) & mask) {
            const Slot& s = slots_[i];
            if (s.node == nullptr) {
                return nullptr;
            }
            if (s.hash == g.hash) {
                const std::string_view k = s.node->key();
                if (k.size() == g.bytes.size() && same_bytes(k.data(), g.bytes.data(), k.size())) {
                    return s.node;
                }
            }
        }
    }
    Node* find(std::string_view bytes) const { return find(GroupRef{bytes, group_hash(bytes)}); }

    // Before a find(g) or insert: prefetch_slot(g) starts loading the slot
    // where the probe begins; prefetch_node(g), later, reads that slot and
    // starts loading its node if it holds g's hash. An event's lookups in
    // several tables then wait for memory together instead of one by one.
    void prefetch_slot(const GroupRef& g) const {
        if (!slots_.empty()) {
            __builtin_prefetch(&slots_[g.hash & (slots_.size() - 1)]);
        }
    }
    void prefetch_node(const GroupRef& g) const {
        if (!slots_.empty()) {
            const Slot& s = slots_[g.hash & (slots_.size() - 1)];
            if (s.hash == g.hash) {
                __builtin_prefetch(s.node);
            }
        }
    }

    // Adds a key that is not present; `hash` is group_hash(key). The value
    // is default-constructed.
    Node* insert(std::string_view key, std::uint64_t hash) {
        if ((size_ + 1) * 4 > slots_.size() * 3) {
            grow();
        }
        void* block = pool_->allocate(sizeof(Node) + key.size());
        Node* node = ::new (block) Node(static_cast<std::uint32_t>(key.size()));
        if (!key.empty()) {
            std::memcpy(reinterpret_cast<char*>(node) + sizeof(Node), key.data(), key.size());
        }
        place(Slot{hash, node});
        ++size_;
        return node;
    }

    // Removes `n` from the index and hands it over (it stays valid).
    NodePtr detach(Node* n) {
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = group_hash(n->key()) & mask;
        while (slots_[i].node != n) {
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: pull later entries of the probe run into
        // the hole unless their home lies cyclically in (hole, entry].
        for (std::size_t j = i;;) {
            slots_[i] = Slot{};
            while (true) {
                j = (j + 1) & mask;
                if (slots_[j].node == nullptr) {
                    --size_;
                    return NodePtr(n, Deleter(pool_));
                }
                const std::size_t k = slots_[j].hash & mask;
                const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
                if (!stays) {
                    break;
                }
            }
            slots_[i] = slots_[j];
            i = j;
        }
    }
    void erase(Node* n) { detach(n); }

    // Every node, in no particular order (the order of the slots; the
    // nodes a few slots ahead are prefetched, since in a large table each
    // node is a cache miss).
    template <typename F>
    void for_each(F&& f) const {
        constexpr std::size_t kAhead = 8;
        const std::size_t n = slots_.size();
        for (std::size_t i = 0; i < n; ++i) {
            if (i + kAhead < n) {
                __builtin_prefetch(slots_[i + kAhead].node);
            }
            if (slots_[i].node != nullptr) {
                f(*slots_[i].node);
            }
        }
    }

    // Hands every node over to `out` and empties the table.
    void release_all(std::vector<NodePtr>& out) {
        for (Slot& s : slots_) {
            if (s.node != nullptr) {
                out.emplace_back(s.node, Deleter(pool_));
                s = Slot{};
            }
        }
        size_ = 0;
    }

  private:
    struct Slot {
        std::uint64_t hash = 0;
        Node* node = nullptr;  // nullptr: empty
    };
    void place(Slot s) {
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = s.hash & mask;
        while (slots_[i].node != nullptr) {
            i = (i + 1) & mask;
        }
        slots_[i] = s;
    }
    void grow() {
        std::vector<Slot> old(std::max<std::size_t>(16, slots_.size() * 2));
        old.swap(slots_);
        for (const Slot& s : old) {
            if (s.node != nullptr) {
                place(s);
            }
        }
    }
    static void destroy(BlockPool& pool, Node* n) noexcept {
        const std::size_t bytes = sizeof(Node) + n->size_;
        n->~Node();
        pool.deallocate(n, bytes);
    }

    BlockPool* pool_;
    std::vector<Slot> slots_;
    std::size_t size_ = 0;
};

}  // namespace etld::pipeline::detail
