#include "dedup.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <system_error>
#include <type_traits>

#include "codec.h"

namespace etld::pipeline::detail {

namespace {
constexpr std::uint8_t kSegmentVersion = 1;
// Load factor band, in percent. Linear-probe insertion cost grows like
// 1 / (1 - load)^2, so the table rebuilds at 76-80% full (see
// max_load_pct_); it rebuilds to 62% so that a slot (24 bytes) never costs
// more than 24 / 0.62 < 40 bytes per id.
constexpr std::size_t kMaxLoadPct = 80;
constexpr std::size_t kMaxLoadSpread = 5;
constexpr std::size_t kRebuildLoadPct = 62;
constexpr std::size_t kMinLoadPct = 30;
// A large table's successor is prepared from this load on.
constexpr std::size_t kPrepareLoadPct = 70;

std::atomic<std::size_t> instances{0};
std::size_t sized_for(std::size_t n) {
    return std::max<std::size_t>(16, n * 100 / kRebuildLoadPct + 1);
}
bool empty(const IdHash& h) {
    return h.lo == 0 && h.hi == 0;
}
// Tables at least this large are mapped on their own (and a table whose
// successor is, prepares it ahead); from kHugeTableBytes on they ask for
// transparent huge pages.
constexpr std::size_t kMappedTableBytes = std::size_t{1} << 20;
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kHugeTableBytes = 4 * kHugePage;
}  // namespace

DedupSet::DedupSet()
    : max_load_pct_(kMaxLoadPct -
                    instances.fetch_add(1, std::memory_order_relaxed) % kMaxLoadSpread) {}

DedupSet::DedupSet(bool prepare_growth, std::size_t max_load_pct)
    : prepare_growth_(prepare_growth),
      max_load_pct_(std::clamp(max_load_pct, kMaxLoadPct + 1 - kMaxLoadSpread, kMaxLoadPct)) {}

void DedupSet::Slots::reset(std::size_t n) {
    static_assert(std::is_trivially_copyable_v<Entry>);
    p_.reset();
    n_ = 0;
    const std::size_t bytes = n * sizeof(Entry);
    if (bytes >= kMappedTableBytes) {
        // A large table is mapped here: fresh zero pages that nothing
        // touches before the advice below, and no memset. (calloc maps
        // too, but only above glibc's mmap threshold, which rises up to
        // 32 MB as large blocks are freed; below it calloc clears the
        // table from the heap.)
        void* m =
            ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            throw std::bad_alloc();
        }
        if (bytes >= kHugeTableBytes) {
            advise_huge(m, bytes);
        }
        p_ = std::unique_ptr<Entry[], Free>(static_cast<Entry*>(m), Free{bytes});
        n_ = n;
        return;
    }
    auto* p = static_cast<Entry*>(std::calloc(n, sizeof(Entry)));
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    p_ = std::unique_ptr<Entry[], Free>(p, Free{0});
    n_ = n;
}

void DedupSet::Slots::Free::operator()(Entry* p) const {
    if (mapped > 0) {
        ::munmap(p, mapped);
    } else {
        std::free(p);
    }
}

void DedupSet::Slots::touch_pages() {
    // Zero is what the pages hold already; the write makes the kernel map
    // them (a read would only map the shared zero page).
    auto* bytes = reinterpret_cast<volatile unsigned char*>(p_.get());
    const std::size_t n = n_ * sizeof(Entry);
    for (std::size_t i = 0; i < n; i += 4096) {
        bytes[i] = 0;
    }
}

void DedupSet::Slots::advise_huge(void* p, std::size_t bytes) {
#ifdef MADV_HUGEPAGE
    // Only the 2 MiB-aligned interior can use huge pages. The advice must
    // come before the pages are first touched; failure (no THP) is harmless.
    const auto first = (reinterpret_cast<std::uintptr_t>(p) + kHugePage - 1) & ~(kHugePage - 1);
    const auto last = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(kHugePage - 1);
    if (last > first) {
        ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
    }
#else
    (void)p;
    (void)bytes;
#endif
}

bool DedupSet::contains(IdHash id, std::int64_t cutoff) const {
    if (size_ == 0) {
        return false;
    }
    std::size_t pos = home(id);
    for (std::size_t dist = 0;; ++dist) {
        const Entry& s = slots_[pos];
        if (empty(s.id) || distance(pos, s.id) < dist) {
            return false;
        }
        if (s.id == id) {
            return s.time >= cutoff;
        }
        if (++pos == slots_.size()) {
            pos = 0;
        }
    }
}

bool DedupSet::check_and_insert(IdHash id, std::int64_t time, std::int64_t cutoff) {
    if (size_ > 0) {
        std::size_t pos = home(id);
        for (std::size_t dist = 0;; ++dist) {
            Entry& s = slots_[pos];
            if (empty(s.id) || distance(pos, s.id) < dist) {
                if (!over(size_ + 1, slots_.size())) {
                    // Absent and no rebuild due: insert where the probe stopped.
                    place_from(pos, dist, Entry{id, time});
                    min_time_ = std::min(min_time_, time);
                    pending_.push_back(Entry{id, time});
                    if (size_ >= prepare_at_ && min_time_ >= cutoff) {
                        // Nothing expired to make room: the table will grow.
                        prepare_next();
                    }
                    return false;
                }
                break;
            }
            if (s.id == id) {
                if (s.time >= cutoff) {
                    return true;
                }
                // Expired: accepted again, remembered at the later time.
                s.time = std::max(s.time, time);
                pending_.push_back(Entry{id, time});
                return false;
            }
            if (++pos == slots_.size()) {
                pos = 0;
            }
        }
    }
    insert(id, time, cutoff);
    return false;
}

void DedupSet::place(Entry e) {
    place_from(home(e.id), 0, e);
}

void DedupSet::place_from(std::size_t pos, std::size_t dist, Entry e) {
    while (true) {
        Entry& s = slots_[pos];
        if (empty(s.id)) {
            s = e;
            ++size_;
            return;
        }
        if (s.id == e.id) {
            s.time = std::max(s.time, e.time);
            return;
        }
        const std::size_t d = distance(pos, s.id);
        if (d < dist) {
            // Robin Hood: the entry closer to its home gives way, which
            // keeps probe lengths short even at 90% load.
            std::swap(s, e);
            dist = d;
        }
        if (++pos == slots_.size()) {
            pos = 0;
        }
        ++dist;
    }
}

std::size_t DedupSet::first_unshifted(const Slots& t) {
    const std::size_t n = t.size();
    std::size_t i = 0;
    while (i < n && !empty(t[i].id) && home_in(t[i].id, n) != i) {
        ++i;
    }
    return i;
}

std::size_t DedupSet::grown_capacity() const {
    // insert() grows at the first size over the load: load * slots + 1.
    return sized_for(slots_.size() * max_load_pct_ / 100 + 1);
}

void DedupSet::arm_prepare() {
    const bool large = grown_capacity() * sizeof(Entry) >= kMappedTableBytes;
    prepare_at_ = large && prepare_growth_ ? slots_.size() * kPrepareLoadPct / 100
                                           : std::numeric_limits<std::size_t>::max();
}

void DedupSet::prepare_next() {
    prepare_at_ = std::numeric_limits<std::size_t>::max();
    const std::size_t n = grown_capacity();
    try {
        next_ = std::async(std::launch::async, [n] {
            Slots s;
            s.reset(n);
            s.touch_pages();
            return s;
        });
    } catch (const std::system_error&) {
        // No thread to spare: the growth maps its table itself.
    }
}

void DedupSet::rebuild(std::size_t capacity, std::int64_t cutoff) {
    capacity = std::max<std::size_t>(capacity, 16);
    Slots old;
    old.swap(slots_);
    if (next_.valid()) {
        // Waits if the pages are still being touched: no longer than
        // mapping them here would take.
        Slots ready = next_.get();
        if (ready.size() >= capacity && ready.size() - capacity <= capacity / 4) {
            slots_ = std::move(ready);
            ++prepared_growths_;
        }
    }
    if (slots_.size() == 0) {
        slots_.reset(capacity);
    }
    arm_prepare();
    size_ = 0;
    min_time_ = std::numeric_limits<std::int64_t>::max();
    const std::size_t n = old.size();
    if (n == 0) {
        return;
    }
    // A Robin Hood table holds its entries in order of home slot, and the
    // home slot (hi * size >> 64) keeps that order at any size. So walking
    // the old table from a slot where no probe run crosses, each live entry
    // goes to max(its new home, the slot after the previous one): the new
    // table is written front to back, with no probing and no swaps. Entries
    // that would run past the end are placed the ordinary way afterwards.
    const std::size_t begin = first_unshifted(old);
    std::size_t next = 0;       // the slot after the last one written
    std::size_t last_home = 0;  // the new home of the last entry written
    std::vector<Entry> spill;
    for (std::size_t k = 0; k < n; ++k) {
        const Entry& e = old[begin + k < n ? begin + k : begin + k - n];
        if (empty(e.id) || e.time < cutoff) {
            continue;
        }
        min_time_ = std::min(min_time_, e.time);
        const std::size_t h = home(e.id);
        const std::size_t pos = std::max(h, next);
        if (h < last_home || pos >= slots_.size()) {
            // Wrapped around the old table's end, or past the new one's.
            spill.push_back(e);
            continue;
        }
        slots_[pos] = e;
        ++size_;
        next = pos + 1;
        last_home = h;
    }
    for (const Entry& e : spill) {
        place(e);
    }
}

void DedupSet::compact(std::int64_t cutoff) {
    const std::size_t n = slots_.size();
    min_time_ = std::numeric_limits<std::int64_t>::max();
    if (size_ == 0 || n == 0) {
        return;
    }
    // As in rebuild(), but within the table: from a slot no probe run
    // crosses, positions counted from it (u) never wrap for any entry, and
    // each live entry moves to max(its home, the slot after the previous
    // live one). That is never after where it stood, so the walk only
    // writes slots it has already read.
    const std::size_t begin = first_unshifted(slots_);
    if (begin == n) {
        // Every slot full and none at home cannot happen below 100% load;
        // fall back to copying.
        rebuild(n, cutoff);
        return;
    }
    auto at = [&](std::size_t u) -> Entry& {
        return slots_[begin + u < n ? begin + u : begin + u - n];
    };
    std::size_t next = 0;  // unrolled position after the last entry kept
    std::size_t live = 0;
    for (std::size_t u = 0; u < n; ++u) {
        Entry& e = at(u);
        if (empty(e.id)) {
            continue;
        }
        if (e.time < cutoff) {
            e = Entry{};
            continue;
        }
        const std::size_t h = home(e.id);
        const std::size_t hu = h >= begin ? h - begin : h + n - begin;
        const std::size_t to = std::max(hu, next);
        if (to != u) {
            at(to) = e;
            e = Entry{};
        }
        min_time_ = std::min(min_time_, at(to).time);
        next = to + 1;
        ++live;
    }
    size_ = live;
}

void DedupSet::insert(IdHash id, std::int64_t time, std::int64_t cutoff) {
    if (over(size_ + 1, slots_.size())) {
        std::size_t live = size_;
        if (min_time_ < cutoff) {
            // Expired entries exist: drop them rather than grow.
            compact(cutoff);
            live = size_;
        }
        if (over(live + 1, slots_.size()) || live * 100 < slots_.size() * kMinLoadPct) {
            rebuild(sized_for(live + 1), cutoff);
        } else if (next_.valid()) {
            // Compaction made the room: a prepared table is not needed now.
            // (Dropping it waits for its thread if it is still touching
            // pages; that needs ids to expire between 70% and full.)
            next_ = std::future<Slots>();
            arm_prepare();
        }
    }
    place(Entry{id, time});
    min_time_ = std::min(min_time_, time);
    pending_.push_back(Entry{id, time});
}

std::string DedupSet::segment_key(std::uint64_t segment) {
    std::string k = "d";
    Writer w(k);
    w.u64(segment);
    return k;
}

void DedupSet::take_changelog(std::int64_t cutoff, std::vector<StateDelta>& out) {
    std::int64_t max_time = std::numeric_limits<std::int64_t>::min();
    for (const Entry& e : pending_) {
        max_time = std::max(max_time, e.time);
    }
    // A segment whose ids have all expired already is not worth writing.
    if (!pending_.empty() && max_time >= cutoff) {
        std::string v;
        v.reserve(5 + pending_.size() * 24);
        Writer w(v);
        w.u8(kSegmentVersion);
        w.u32(static_cast<std::uint32_t>(pending_.size()));
        for (const Entry& e : pending_) {
            w.u64(e.id.lo);
            w.u64(e.id.hi);
            w.i64(e.time);
        }
        out.push_back(StateDelta{segment_key(next_segment_), std::move(v)});
        segments_.push_back(Segment{next_segment_, max_time});
        ++next_segment_;
    }
    // Keep the buffer for the next flush unless a burst left it far larger
    // than this flush needed.
    if (pending_.capacity() > 4096 && pending_.size() * 4 < pending_.capacity()) {
        pending_ = std::vector<Entry>();
    } else {
        pending_.clear();
    }
    for (auto it = segments_.begin(); it != segments_.end();) {
        if (it->max_time < cutoff) {
            out.push_back(StateDelta{segment_key(it->number), std::nullopt});
            it = segments_.erase(it);
        } else {
            ++it;
        }
    }
}

std::optional<std::string> DedupSet::apply(std::uint64_t segment,
                                           std::optional<std::string_view> value) {
    auto existing = std::find_if(segments_.begin(), segments_.end(),
                                 [&](const Segment& s) { return s.number == segment; });
    if (!value) {
        if (existing != segments_.end()) {
            segments_.erase(existing);
        }
        return std::nullopt;
    }
    Reader r(*value);
    if (r.u8() != kSegmentVersion) {
        return "dedup segment: unknown version";
    }
    const std::uint32_t n = r.u32();
    if (!r.ok() || r.remaining() != static_cast<std::size_t>(n) * 24) {
        return "dedup segment: length does not match its id count";
    }
    std::int64_t max_time = std::numeric_limits<std::int64_t>::min();
    std::vector<Entry> entries(n);
    for (auto& e : entries) {
        e.id.lo = r.u64();
        e.id.hi = r.u64();
        e.time = r.i64();
        if (empty(e.id)) {
            return "dedup segment: zero id hash";
        }
        max_time = std::max(max_time, e.time);
    }
    for (const auto& e : entries) {
        if (over(size_ + 1, slots_.size())) {
            rebuild(std::max<std::size_t>(16, (size_ + 1) * 3 / 2 + 1),
                    std::numeric_limits<std::int64_t>::min());
        }
        place(e);
        min_time_ = std::min(min_time_, e.time);
    }
    if (existing != segments_.end()) {
        existing->max_time = std::max(existing->max_time, max_time);
    } else {
        segments_.push_back(Segment{segment, max_time});
    }
    next_segment_ = std::max(next_segment_, segment + 1);
    return std::nullopt;
}

}  // namespace etld::pipeline::detail
