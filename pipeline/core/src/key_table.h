#pragma once

// Internal: the table from group keys to per-key state that windows and
// sessions keep.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
// Not thread-safe; owned by one PipelineState.
template <typename V>
class KeyTable {
  public:
    struct Node {
        std::string first;  // the group key bytes
        V second;
    };
    using value_type = Node;

    KeyTable() = default;
    ~KeyTable() {
        for (const Slot& s : slots_) {
            delete s.node;
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
            if (s.hash == g.hash && s.node->first.size() == g.bytes.size() &&
                same_bytes(s.node->first.data(), g.bytes.data(), g.bytes.size())) {
                return s.node;
            }
        }
    }
    Node* find(std::string_view bytes) const { return find(GroupRef{bytes, group_hash(bytes)}); }

    // Adds a key that is not present; `hash` is group_hash(key).
    Node* insert(std::string key, std::uint64_t hash) {
        if ((size_ + 1) * 4 > slots_.size() * 3) {
            grow();
        }
        auto node = std::make_unique<Node>();
        node->first = std::move(key);
        place(Slot{hash, node.get()});
        ++size_;
        return node.release();
    }

    // Removes `n` from the index and hands it over (it stays valid).
    std::unique_ptr<Node> detach(Node* n) {
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = group_hash(n->first) & mask;
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
                    return std::unique_ptr<Node>(n);
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

    // Every node, in no particular order.
    template <typename F>
    void for_each(F&& f) const {
        for (const Slot& s : slots_) {
            if (s.node != nullptr) {
                f(*s.node);
            }
        }
    }

    // Hands every node over to `out` and empties the table.
    void release_all(std::vector<std::unique_ptr<Node>>& out) {
        for (Slot& s : slots_) {
            if (s.node != nullptr) {
                out.emplace_back(s.node);
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
    std::vector<Slot> slots_;
    std::size_t size_ = 0;
};

}  // namespace etld::pipeline::detail
