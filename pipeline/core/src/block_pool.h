#pragma once

// Internal: the memory of one pipeline's window state, in blocks carved from
// large chunks and recycled through a free list per size.
//
// Each open window costs a table node with its key and an aggregate block:
// from malloc that was three allocations per window, and with a million keys
// the allocator's own bookkeeping (glibc merging freed chunks back together
// whenever a large request came by) cost the runner more than the windows'
// arithmetic. Blocks of one pipeline are few sizes, live and die together
// (a bucket of windows closes at once), and are used by one thread, so a
// free list per size is all they need: allocate and free are a pointer pop
// and push, and a block carries no header.
//
// A freed block is reused by the next block of its size, and chunks are
// returned only when the pool goes (with its pipeline state): after a burst
// of keys the pool keeps its high-water mark, as malloc's heap mostly would.
// Not thread-safe: one pool per pipeline state, used by the thread that runs
// the task.
//
// Under AddressSanitizer a free block is poisoned whole (its free list then
// lives beside it), so that a use after free of pooled state is reported as
// it would be for malloc's blocks.

#include <array>
#include <cstddef>
#include <memory>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ETLD_POOL_POISON 1
#endif

namespace etld::pipeline::detail {

class BlockPool {
  public:
    // Sizes are rounded up to this; blocks are aligned to it.
    static constexpr std::size_t kGrain = 16;
    // Larger blocks come from operator new (sets that grew, top-k tables).
    static constexpr std::size_t kLargest = 512;
    static constexpr std::size_t kChunkBytes = 64 * 1024;

    BlockPool() = default;
    ~BlockPool() {
#ifdef ETLD_POOL_POISON
        for (const auto& c : chunks_) {
            ASAN_UNPOISON_MEMORY_REGION(c->bytes, kChunkBytes);
        }
#endif
    }
    BlockPool(const BlockPool&) = delete;
    BlockPool& operator=(const BlockPool&) = delete;

    // A block of at least `bytes` (> 0) bytes, aligned to kGrain.
    void* allocate(std::size_t bytes) {
        if (bytes > kLargest) {
            return ::operator new (bytes, std::align_val_t{kGrain});
        }
        const std::size_t c = size_class(bytes);
#ifdef ETLD_POOL_POISON
        if (!poisoned_free_[c].empty()) {
            void* p = poisoned_free_[c].back();
            poisoned_free_[c].pop_back();
            ASAN_UNPOISON_MEMORY_REGION(p, (c + 1) * kGrain);
            return p;
        }
#else
        if (Free* f = free_[c]; f != nullptr) {
            free_[c] = f->next;
            return f;
        }
#endif
        return carve((c + 1) * kGrain);
    }

    // Gives back a block from allocate(`bytes`), with the same `bytes`.
    void deallocate(void* p, std::size_t bytes) noexcept {
        if (bytes > kLargest) {
            ::operator delete (p, std::align_val_t{kGrain});
            return;
        }
        const std::size_t c = size_class(bytes);
#ifdef ETLD_POOL_POISON
        poisoned_free_[c].push_back(p);
        ASAN_POISON_MEMORY_REGION(p, (c + 1) * kGrain);
#else
        free_[c] = ::new (p) Free{free_[c]};
#endif
    }

    // Bytes taken from operator new for chunks (for tests and figures).
    std::size_t chunk_bytes() const {
        return chunks_.size() * kChunkBytes;
    }

  private:
    struct Free {
        Free* next;
    };
    struct alignas(kGrain) Chunk {
        std::byte bytes[kChunkBytes];
    };

    static std::size_t size_class(std::size_t bytes) {
        return (bytes - 1) / kGrain;
    }

    void* carve(std::size_t size) {
        if (left_ < size) {
            // The rest of the old chunk (less than one block of this size)
            // is left unused.
            chunks_.push_back(std::make_unique_for_overwrite<Chunk>());
            next_ = chunks_.back()->bytes;
            left_ = kChunkBytes;
#ifdef ETLD_POOL_POISON
            ASAN_POISON_MEMORY_REGION(next_, left_);
#endif
        }
        void* p = next_;
#ifdef ETLD_POOL_POISON
        ASAN_UNPOISON_MEMORY_REGION(p, size);
#endif
        next_ += size;
        left_ -= size;
        return p;
    }

#ifdef ETLD_POOL_POISON
    std::array<std::vector<void*>, kLargest / kGrain> poisoned_free_;
#else
    std::array<Free*, kLargest / kGrain> free_{};
#endif
    std::vector<std::unique_ptr<Chunk>> chunks_;
    std::byte* next_ = nullptr;
    std::size_t left_ = 0;
};

}  // namespace etld::pipeline::detail
