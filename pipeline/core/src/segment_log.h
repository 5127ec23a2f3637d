#pragma once

// Internal: the changelog of a pipeline's window or session state as a log
// of segments, each holding the entries that changed in one flush.
//
// One record per entry (per window and key) costs the runner one produced
// message per changed window per commit: with many keys that is several
// messages per event. A segment is one message per pipeline per flush,
// however many entries changed.
//
// A segment stays in the compacted topic while it holds the latest value of
// some open entry; once every entry in it was rewritten by a later segment
// or closed, it is tombstoned. Closed entries get no tombstone of their own:
// an older segment may still bring a closed entry back on restore, and the
// pipeline drops it there, because closing is decided by the watermark
// alone (settle()). So that few live entries cannot keep many dead ones on
// disk, a flush also rewrites the live entries of the oldest segments once
// the dead entries in kept segments outnumber the live ones (plus a slack):
// a restore then reads at most about twice the live state.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec.h"
#include "etld/pipeline/task.h"

namespace etld::pipeline::detail {

class SegmentLog {
  public:
    static constexpr std::uint64_t kNone = std::numeric_limits<std::uint64_t>::max();
    static constexpr std::uint8_t kVersion = 1;
    // A segment's value is closed at this size and the flush goes on in a
    // new one, so that a message stays far below the producer's 1 MB limit.
    static constexpr std::size_t kMaxSegmentBytes = 256 * 1024;
    // Dead entries allowed beyond the live count before old segments are
    // rewritten.
    static constexpr std::uint64_t kSlack = 1024;

    // `prefix` is the key prefix ('g' + bytes(pipeline name)).
    SegmentLog(std::string prefix, std::uint64_t fingerprint)
        : prefix_(std::move(prefix)), fingerprint_(fingerprint) {}

    // The latest value of an entry moved from segment `seg` to `to` (kNone:
    // it has none, being new or closed); `seg` becomes `to`.
    void move(std::uint64_t& seg, std::uint64_t to) {
        if (seg != kNone) {
            if (Segment* s = find(seg); s != nullptr && s->live > 0) {
                --s->live;
                --live_;
            }
        }
        if (to != kNone) {
            if (Segment* s = find(to); s != nullptr) {
                ++s->live;
                ++live_;
            }
        }
        seg = to;
    }

    // Whether dead entries outnumber live ones by more than the slack; if
    // so, `cut` is the newest segment to rewrite: rewriting every live entry
    // of segments up to it (for each entry of segment s <= cut, mark it
    // changed) frees at least half of the dead entries.
    bool cleaning_due(std::uint64_t& cut) const {
        const std::uint64_t dead = entries_ - live_;
        if (dead <= live_ + kSlack) {
            return false;
        }
        std::uint64_t freed = 0;
        for (const auto& [number, s] : segments_) {
            freed += s.entries - s.live;
            cut = number;
            if (2 * freed >= dead) {
                break;
            }
        }
        return true;
    }

    // Writing one flush: begin(), add() per changed entry, finish().
    // `expected` is about how many entries the flush adds: a segment's
    // buffer is sized from it (and the entry size seen so far) up front, so
    // that it is not grown and copied step by step.
    void begin(std::size_t expected = 0) {
        current_ = kNone;
        expected_ = expected;
    }
    // Appends an entry (kind byte, key rest, encoded value) for the entry
    // whose latest value was in segment `seg`; `seg` becomes the one written.
    template <typename Encode>
    void add(char kind, std::string_view rest, std::uint64_t& seg, Encode encode) {
        if (current_ == kNone || value_.size() >= kMaxSegmentBytes) {
            close_current();
            current_ = next_++;
            current_segment_ = &(segments_[current_] = Segment{});
            value_.clear();
            const std::size_t per_entry =
                written_entries_ > 0 ? written_bytes_ / written_entries_ + 1 : 64;
            value_.reserve(std::min(kMaxSegmentBytes + 4 * per_entry, 32 + expected_ * per_entry));
            Writer w(value_);
            w.u8(kVersion);
            w.u64(fingerprint_);
            count_at_ = value_.size();
            w.u32(0);  // patched by close_current()
            count_ = 0;
        }
        const std::size_t entry_at = value_.size();
        Writer w(value_);
        w.u8(static_cast<std::uint8_t>(kind));
        w.bytes(rest);
        const std::size_t len_at = value_.size();
        w.u32(0);
        encode(w);
        patch_u32(len_at, static_cast<std::uint32_t>(value_.size() - len_at - 4));
        written_bytes_ += value_.size() - entry_at;
        ++written_entries_;
        expected_ = expected_ > 0 ? expected_ - 1 : 0;
        ++count_;
        ++current_segment_->entries;
        ++entries_;
        move(seg, current_);
    }
    // Appends the segments written since begin() and tombstones for every
    // segment that holds no live entry any more (and for ignored ones).
    void finish(std::vector<StateDelta>& out) {
        close_current();
        for (auto& d : done_) {
            out.push_back(std::move(d));
        }
        done_.clear();
        for (auto it = segments_.begin(); it != segments_.end();) {
            if (it->second.live == 0) {
                out.push_back(StateDelta{key(it->first), std::nullopt});
                entries_ -= it->second.entries;
                it = segments_.erase(it);
            } else {
                ++it;
            }
        }
        for (std::uint64_t n : foreign_) {
            out.push_back(StateDelta{key(n), std::nullopt});
        }
        foreign_.clear();
    }

    struct Entry {
        char kind;
        std::string_view rest;
        std::string_view value;
    };
    // Restores one segment record (`rest`: its key after the prefix) by
    // calling apply(entry, number) for each entry; apply puts the entry's
    // value and calls move(its seg, number). Errors start with `what`.
    template <typename Apply>
    std::optional<std::string> apply_record(std::string_view rest,
                                            std::optional<std::string_view> value,
                                            const std::string& what, Apply apply) {
        Reader kr(rest);
        const std::uint64_t number = kr.u64();
        if (!kr.ok() || !kr.at_end()) {
            return what + "malformed key";
        }
        Reader r{std::string_view()};
        std::uint32_t n = 0;
        if (auto err = begin_apply(number, value, r, n)) {
            return what + *err;
        }
        for (std::uint32_t k = 0; k < n; ++k) {
            Entry e{};
            e.kind = static_cast<char>(r.u8());
            e.rest = r.bytes();
            e.value = r.bytes();
            if (!r.ok()) {
                return what + "corrupt entry";
            }
            if (auto err = apply(e, number)) {
                return what + *err;
            }
        }
        if (n > 0 && !r.at_end()) {
            return what + "trailing bytes";
        }
        return std::nullopt;
    }

  private:
    // The header of segment record `number`: `n` entries to apply (0 for a
    // tombstone or another definition's segment) and `r` at the first.
    std::optional<std::string> begin_apply(std::uint64_t number,
                                           std::optional<std::string_view> value, Reader& r,
                                           std::uint32_t& n) {
        n = 0;
        next_ = std::max(next_, number + 1);
        if (!value) {
            // Every entry of it was superseded by later records, which come
            // after this tombstone's segment in the log.
            if (auto it = segments_.find(number); it != segments_.end()) {
                live_ -= it->second.live;
                entries_ -= it->second.entries;
                segments_.erase(it);
            }
            return std::nullopt;
        }
        r = Reader(*value);
        if (r.u8() != kVersion) {
            return std::string("unknown segment version");
        }
        const std::uint64_t fp = r.u64();
        const std::uint32_t count = r.u32();
        if (!r.ok()) {
            return std::string("corrupt segment header");
        }
        if (fp != fingerprint_) {
            // Written by an earlier definition of the pipeline: starts
            // fresh, and the record goes at the next flush.
            foreign_.push_back(number);
            return std::nullopt;
        }
        if (segments_.count(number) != 0) {
            // The same number again (a reused number after compaction): the
            // older one's entries are all superseded.
            live_ -= segments_[number].live;
            entries_ -= segments_[number].entries;
        }
        n = count;
        segments_[number] = Segment{n, 0};
        entries_ += n;
        return std::nullopt;
    }
    std::string key(std::uint64_t number) const {
        std::string k = prefix_;
        Writer w(k);
        w.u64(number);
        return k;
    }

    struct Segment {
        std::uint64_t entries = 0;  // entries written in it
        std::uint64_t live = 0;     // of which still the latest of an open entry
    };
    void patch_u32(std::size_t at, std::uint32_t v) {
        for (int i = 0; i < 4; ++i) {
            value_[at + static_cast<std::size_t>(i)] =
                static_cast<char>((v >> (8 * (3 - i))) & 0xff);
        }
    }
    void close_current() {
        if (current_ == kNone) {
            return;
        }
        patch_u32(count_at_, count_);
        done_.push_back(StateDelta{key(current_), std::move(value_)});
        value_ = std::string();
        current_ = kNone;
        current_segment_ = nullptr;
    }
    // The segment `number`, or nullptr; the one being written without a
    // lookup (most moves go to it).
    Segment* find(std::uint64_t number) {
        if (number == current_) {
            return current_segment_;
        }
        auto it = segments_.find(number);
        return it == segments_.end() ? nullptr : &it->second;
    }

    const std::string prefix_;
    const std::uint64_t fingerprint_;
    std::map<std::uint64_t, Segment> segments_;
    std::uint64_t entries_ = 0;
    std::uint64_t live_ = 0;
    std::uint64_t next_ = 0;
    std::uint64_t current_ = kNone;
    Segment* current_segment_ = nullptr;  // segments_[current_] while writing
    std::size_t expected_ = 0;            // entries still expected in this flush
    std::uint64_t written_bytes_ = 0;     // over all entries written, for the
    std::uint64_t written_entries_ = 0;   // size of the next buffer
    std::string value_;
    std::size_t count_at_ = 0;
    std::uint32_t count_ = 0;
    std::vector<StateDelta> done_;
    std::vector<std::uint64_t> foreign_;
};

}  // namespace etld::pipeline::detail
