#pragma once

// Internal: the remembered event ids of one task.

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <future>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "etld/pipeline/event.h"
#include "etld/pipeline/task.h"
#include "hash.h"

namespace etld::pipeline::detail {

// The set of ids seen within the dedup horizon, each with the latest event
// time at which it was accepted.
//
// Layout: one flat Robin Hood table of 24-byte slots (128-bit hash + event
// time), kept between 62% and 80% full, so a remembered id costs
// 24 / load = 30..39 bytes. Expired ids (time < watermark - horizon) are
// ignored by lookups and dropped when the table is rebuilt, which happens
// instead of growing whenever expired entries exist. Every event probes one
// random slot, so a large table asks for transparent huge pages: with 4 KiB
// pages, a table of millions of ids misses the TLB on nearly every event.
// A table whose successor would take 1 MiB or more, when it fills up with
// nothing expired, gets that successor mapped and touched on another
// thread from 70% full on, so that the growth is a copy into memory that
// is already there: the first touch of fresh pages, not the copy, is most
// of a growth's time, and it stalls every task behind it. What remains is
// the copy (about 10 ms per million ids), and tasks fed alike would make
// theirs in the same moment, one after another on the runner's thread:
// each table grows at a load of its own between 76% and 80%, so that their
// copies fall apart in time.
//
// Changelog: the ids added between two flushes form one segment record keyed
// by a growing segment number; a segment is tombstoned once all of its ids
// have expired. Restoring inserts every segment's ids (keeping the latest
// time per id), so the order of segments does not matter.
class DedupSet {
  public:
    struct Entry {
        IdHash id;
        std::int64_t time = 0;
    };

    DedupSet();
    // For benchmarks: whether a large table prepares its successor, and its
    // maximum load in percent (76..80) instead of one picked by instance.
    DedupSet(bool prepare_growth, std::size_t max_load_pct);

    // Whether `id` was accepted with an event time >= `cutoff`.
    bool contains(IdHash id, std::int64_t cutoff) const;
    // Remembers `id` at `time` (keeps the later time if already present).
    void insert(IdHash id, std::int64_t time, std::int64_t cutoff);
    // contains() and, when false, insert() with a single probe of the table.
    bool check_and_insert(IdHash id, std::int64_t time, std::int64_t cutoff);

    std::size_t size() const { return size_; }
    void prefetch(const IdHash& id) const {
        if (slots_.size() != 0) {
            __builtin_prefetch(&slots_[home(id)]);
        }
    }
    std::size_t capacity() const { return slots_.size(); }
    // How many growths found their table prepared (see above).
    std::size_t prepared_growths() const { return prepared_growths_; }

    // Appends the segment of ids added since the last call, and tombstones of
    // segments whose ids all have times < cutoff.
    void take_changelog(std::int64_t cutoff, std::vector<StateDelta>& out);
    // Applies one segment record (key suffix = segment number).
    std::optional<std::string> apply(std::uint64_t segment, std::optional<std::string_view> value);

    std::uint64_t next_segment() const { return next_segment_; }
    void set_next_segment(std::uint64_t s) { next_segment_ = std::max(next_segment_, s); }

    static std::string segment_key(std::uint64_t segment);

  private:
    // The home slot in a table of n slots: monotone in h.hi for every n.
    static std::size_t home_in(const IdHash& h, std::size_t n) {
        return static_cast<std::size_t>((static_cast<Uint128>(h.hi) * n) >> 64);
    }
    std::size_t home(const IdHash& h) const { return home_in(h, slots_.size()); }
    std::size_t distance(std::size_t pos, const IdHash& h) const {
        const std::size_t hm = home(h);
        return pos >= hm ? pos - hm : pos + slots_.size() - hm;
    }
    // Robin Hood insertion of an id known to be absent, continuing a probe
    // that reached `pos` at probe distance `dist`.
    void place_from(std::size_t pos, std::size_t dist, Entry e);
    void place(Entry e);
    // Whether n ids would fill a table of cap slots past its maximum load.
    bool over(std::size_t n, std::size_t cap) const { return n * 100 > cap * max_load_pct_; }
    void rebuild(std::size_t capacity, std::int64_t cutoff);
    // The capacity the next growth of this table asks for.
    std::size_t grown_capacity() const;
    // Starts making that table, off this thread.
    void prepare_next();
    // Sets prepare_at_ for the current table.
    void arm_prepare();
    // Drops the entries with time < cutoff without a new table.
    void compact(std::int64_t cutoff);

    // A zero-filled array of slots (all-zero = empty).
    class Slots {
      public:
        Slots() = default;
        Slots(Slots&& o) noexcept : p_(std::move(o.p_)), n_(o.n_) { o.n_ = 0; }
        Slots& operator=(Slots&& o) noexcept {
            Slots moved(std::move(o));
            swap(moved);
            return *this;
        }
        void reset(std::size_t n);
        // Writes to every page, so that later writes find them mapped.
        void touch_pages();
        void swap(Slots& o) noexcept {
            std::swap(p_, o.p_);
            std::swap(n_, o.n_);
        }
        std::size_t size() const { return n_; }
        Entry& operator[](std::size_t i) { return p_[i]; }
        const Entry& operator[](std::size_t i) const { return p_[i]; }
        const Entry* begin() const { return p_.get(); }
        const Entry* end() const { return p_.get() + n_; }

      private:
        // Frees what reset() took: a mapping of `mapped` bytes, or calloc's.
        struct Free {
            std::size_t mapped;  // value-initialised (0) in an empty Slots
            void operator()(Entry* p) const;
        };
        static void advise_huge(void* p, std::size_t bytes);
        std::unique_ptr<Entry[], Free> p_;
        std::size_t n_ = 0;
    };
    // The first slot of `t` that no probe run crosses (empty, or holding an
    // entry at its home): a walk from it meets the entries in home order.
    static std::size_t first_unshifted(const Slots& t);

    bool prepare_growth_ = true;
    std::size_t max_load_pct_;
    Slots slots_;
    std::size_t size_ = 0;
    // The size at which prepare_next() is due (never, for small tables).
    std::size_t prepare_at_ = std::numeric_limits<std::size_t>::max();
    std::future<Slots> next_;
    std::size_t prepared_growths_ = 0;
    std::int64_t min_time_ = std::numeric_limits<std::int64_t>::max();
    std::vector<Entry> pending_;
    struct Segment {
        std::uint64_t number;
        std::int64_t max_time;
    };
    std::deque<Segment> segments_;
    std::uint64_t next_segment_ = 0;
};

}  // namespace etld::pipeline::detail
