#include <algorithm>
#include <set>
#include <tuple>

#include "codec.h"
#include "group_key.h"
#include "key_table.h"
#include "segment_log.h"
#include "windows.h"

namespace etld::pipeline::detail {

namespace {

constexpr std::uint8_t kSessionVersion = 1;

// Session windows per key: [first event, last event + gap). Sessions of a key
// are kept sorted and disjoint; an event that overlaps several merges them.
//
// Timers: each key with sessions has exactly one live entry in a min-heap,
// whose deadline is <= the key's earliest real deadline (deadlines mostly
// grow as sessions extend, so the entry is only replaced when one shrinks;
// the replaced entry turns stale and is skipped when popped).
class Sessions final : public PipelineState {
  public:
    explicit Sessions(const CompiledPipeline& p)
        : PipelineState(p),
          gap_(p.spec.window.gap.value),
          lateness_(p.spec.allowed_lateness.value),
          early_(p.spec.emit == EmitMode::early),
          prefix_(key_prefix('s')),
          keys_(pool_),
          log_(key_prefix('g'), p.fingerprint) {}

    void prefetch(const Event& /*e*/, EventFeatures& f, Prefetch stage) const override {
        const GroupRef& g = f.group(p_.group_feature);
        if (stage == Prefetch::kSlots) {
            keys_.prefetch_slot(g);
        } else {
            keys_.prefetch_node(g);
        }
    }

    void on_event(const Event& e, EventFeatures& f, std::string_view raw, const Watermark& wm,
                  Output& out, StepCounters& counters) override {
        const std::int64_t t = e.time.value;
        group_ = f.group(p_.group_feature);
        Keys::value_type* kit = keys_.find(group_);
        std::size_t i = 0;
        std::size_t j = 0;
        if (kit != nullptr) {
            auto& ss = kit->second.sessions;
            while (i < ss.size() && ss[i].last + gap_ <= t) {
                ++i;
            }
            j = i;
            while (j < ss.size() && ss[j].start < t + gap_) {
                ++j;
            }
        }
        if (i == j && wm.reached(t + gap_ + lateness_)) {
            late(e, raw, wm, out, counters);
            return;
        }
        if (kit == nullptr) {
            kit = keys_.insert(group_.bytes, group_.hash);
        }
        KeyState& ks = kit->second;
        auto& ss = ks.sessions;
        contrib_ = &agg_.contribution(f);
        if (wm.reached(t + gap_)) {
            ++counters.late_applied;
        }
        if (i == j) {
            Session s;
            s.start = t;
            s.last = t;
            agg_.init(s.agg);
            agg_.add(*contrib_, s.agg);
            auto at = ss.insert(ss.begin() + static_cast<std::ptrdiff_t>(i), std::move(s));
            ++open_;
            if (early_ && wm.reached(t + gap_)) {
                emit_first(*at, out);
            }
        } else {
            Session& first = ss[i];
            const std::int64_t new_start = std::min(first.start, t);
            const std::int64_t new_last = std::max(ss[j - 1].last, t);
            const bool same = j == i + 1 && new_start == first.start && new_last == first.last;
            if (same && early_ && first.emitted) {
                agg_.values(first.agg, before_);
                agg_.add(*contrib_, first.agg);
                agg_.values(first.agg, after_);
                if (before_ != after_) {
                    ++first.revision;
                    out.results.push_back(make_result(first.em_start, first.em_end, group_.bytes,
                                                      &first.agg, first.revision,
                                                      ResultKind::update));
                }
            } else if (same) {
                agg_.add(*contrib_, first.agg);
            } else {
                for (std::size_t k = i; k < j; ++k) {
                    if (ss[k].emitted) {
                        out.results.push_back(make_result(ss[k].em_start, ss[k].em_end,
                                                          group_.bytes, nullptr, ss[k].revision + 1,
                                                          ResultKind::retract));
                    }
                }
                for (std::size_t k = i + 1; k < j; ++k) {
                    agg_.merge(first.agg, ss[k].agg);
                }
                agg_.add(*contrib_, first.agg);
                first.start = new_start;
                first.last = new_last;
                first.emitted = false;
                first.revision = 0;
                ss.erase(ss.begin() + static_cast<std::ptrdiff_t>(i + 1),
                         ss.begin() + static_cast<std::ptrdiff_t>(j));
                open_ -= j - i - 1;
                if (early_ && wm.reached(new_last + gap_)) {
                    emit_first(ss[i], out);
                }
            }
        }
        mark_dirty(*kit);
        schedule(*kit);
    }

    void on_watermark(const Watermark& /*before*/, std::int64_t now, Output& out) override {
        due_.clear();
        maybe_erase_.clear();
        while (!heap_.empty() && heap_.front().deadline <= now) {
            std::pop_heap(heap_.begin(), heap_.end(), later);
            const HeapEntry e = heap_.back();
            heap_.pop_back();
            KeyState& ks = e.key->second;
            --ks.refs;
            if (e.gen != ks.gen) {
                maybe_erase_.push_back(e.key);
                continue;
            }
            ks.has_live = false;
            due_.push_back(e.key);
        }
        struct Emission {
            std::int64_t end;
            std::int64_t start;
            std::string_view key;
            Session* session;
        };
        std::vector<Emission> emissions;
        for (Keys::value_type* kv : due_) {
            for (Session& s : kv->second.sessions) {
                const std::int64_t end = s.last + gap_;
                if (early_ ? (!s.emitted && end <= now) : end + lateness_ <= now) {
                    emissions.push_back(Emission{end, s.start, kv->key(), &s});
                }
            }
        }
        std::sort(emissions.begin(), emissions.end(), [](const Emission& a, const Emission& b) {
            return std::tie(a.end, a.start, a.key) < std::tie(b.end, b.start, b.key);
        });
        for (const Emission& em : emissions) {
            Session& s = *em.session;
            if (early_) {
                s.emitted = true;
                s.revision = 0;
                s.em_start = s.start;
                s.em_end = em.end;
                out.results.push_back(
                    make_result(s.start, em.end, em.key, &s.agg, 0, ResultKind::update));
            } else {
                out.results.push_back(
                    make_result(s.start, em.end, em.key, &s.agg, 0, ResultKind::final));
            }
        }
        for (Keys::value_type* kv : due_) {
            auto& ss = kv->second.sessions;
            const std::size_t before = ss.size();
            ss.erase(
                std::remove_if(ss.begin(), ss.end(),
                               [&](const Session& s) { return s.last + gap_ + lateness_ <= now; }),
                ss.end());
            open_ -= before - ss.size();
            mark_dirty(*kv);
            if (ss.empty()) {
                maybe_erase_.push_back(kv);
            } else {
                schedule(*kv);
            }
        }
        for (Keys::value_type* kv : maybe_erase_) {
            KeyState& ks = kv->second;
            if (ks.sessions.empty() && ks.refs == 0 && !ks.erased) {
                ks.erased = true;
                erase_.push_back(kv);
            }
        }
        for (Keys::value_type* kv : erase_) {
            // No record: an older segment that brings the key back on
            // restore is settled there.
            log_.move(kv->second.seg, SegmentLog::kNone);
            drop_key(kv);
        }
        erase_.clear();
    }

    void take_changelog(std::vector<StateDelta>& out) override {
        std::uint64_t cut = 0;
        if (log_.cleaning_due(cut)) {
            keys_.for_each([&](Keys::value_type& kv) {
                if (kv.second.seg <= cut) {
                    mark_dirty(kv);
                }
            });
        }
        log_.begin(dirty_.size());
        // Each key reads its node, its sessions and their cells, three cache
        // misses in a row at 1e6 keys: prefetched in three steps ahead.
        const std::size_t n = dirty_.size();
        for (std::size_t i = 0; i < n; ++i) {
            if (i + 12 < n) {
                __builtin_prefetch(dirty_[i + 12]);
            }
            if (i + 8 < n) {
                __builtin_prefetch(dirty_[i + 8]->second.sessions.data());
            }
            if (i + 4 < n && !dirty_[i + 4]->second.sessions.empty()) {
                dirty_[i + 4]->second.sessions.front().agg.prefetch();
            }
            Keys::value_type* kv = dirty_[i];
            KeyState& ks = kv->second;
            if (ks.erased) {
                continue;  // gone since (its segment no longer counts it)
            }
            ks.dirty = false;
            if (ks.sessions.empty()) {
                log_.move(ks.seg, SegmentLog::kNone);
                continue;
            }
            log_.add('s', kv->key(), ks.seg, [&](Writer& w) { encode_sessions(ks.sessions, w); });
        }
        dirty_.clear();
        gone_.clear();
        log_.finish(out);
        for (const std::string& k : legacy_keys_) {
            out.push_back(StateDelta{k, std::nullopt});
        }
        legacy_keys_.clear();
    }

    std::optional<std::string> apply(char kind, std::string_view rest,
                                     std::optional<std::string_view> value) override {
        if (kind == 'g') {
            return apply_segment(rest, value);
        }
        // A record of the keyed format (all sessions of one key) that
        // earlier versions wrote: applied, rewritten into a segment at the
        // next flush, and then tombstoned.
        const std::string what = "session record of pipeline '" + p_.spec.name + "': ";
        Reader gr(rest);
        if (!decode_group(gr, p_, nullptr) || !gr.at_end()) {
            return what + "malformed key";
        }
        std::vector<Session> sessions;
        if (value) {
            Reader r(*value);
            if (r.u8() != kSessionVersion) {
                return what + "unknown version";
            }
            if (r.u64() != p_.fingerprint) {
                return std::nullopt;
            }
            if (auto err = decode_sessions(r, sessions)) {
                return what + *err;
            }
            legacy_keys_.insert(prefix_ + std::string(rest));
        } else {
            legacy_keys_.erase(prefix_ + std::string(rest));
        }
        if (Keys::value_type* kv = put_sessions(rest, std::move(sessions)); kv != nullptr) {
            log_.move(kv->second.seg, SegmentLog::kNone);
            mark_dirty(*kv);
        }
        return std::nullopt;
    }

    void settle(const Watermark& wm) override {
        if (!wm.has) {
            return;
        }
        // Sessions that an older segment brought back although the
        // watermark had closed them: dropped without a result.
        std::vector<Keys::value_type*> emptied;
        keys_.for_each([&](Keys::value_type& kv) {
            auto& ss = kv.second.sessions;
            const std::size_t before = ss.size();
            ss.erase(std::remove_if(
                         ss.begin(), ss.end(),
                         [&](const Session& x) { return x.last + gap_ + lateness_ <= wm.value; }),
                     ss.end());
            open_ -= before - ss.size();
            if (before != 0 && ss.empty()) {
                emptied.push_back(&kv);
            }
        });
        for (Keys::value_type* kv : emptied) {
            log_.move(kv->second.seg, SegmentLog::kNone);
            if (kv->second.refs == 0) {
                drop_key(kv);
            }
            // else: its timer entries pop at the next watermark and erase it.
        }
    }

    std::size_t open() const override { return open_; }

  private:
    struct Session {
        std::int64_t start = 0;
        std::int64_t last = 0;
        AggState agg;
        std::uint32_t revision = 0;
        bool emitted = false;
        // The bounds last emitted (early mode): its key, if it must be retracted.
        std::int64_t em_start = 0;
        std::int64_t em_end = 0;
    };
    struct KeyState {
        std::vector<Session> sessions;
        std::int64_t scheduled = 0;             // deadline of the live heap entry
        std::uint64_t gen = 0;                  // generation of the live heap entry
        std::uint32_t refs = 0;                 // heap entries (live or stale) pointing here
        std::uint64_t seg = SegmentLog::kNone;  // the segment with its latest value
        bool has_live = false;
        bool dirty = false;
        bool erased = false;
    };
    using Keys = KeyTable<KeyState>;
    struct HeapEntry {
        std::int64_t deadline;
        std::uint64_t gen;
        Keys::value_type* key;
    };
    static bool later(const HeapEntry& a, const HeapEntry& b) { return a.deadline > b.deadline; }

    std::int64_t deadline(const Session& s) const {
        const std::int64_t end = s.last + gap_;
        return early_ && !s.emitted ? end : end + lateness_;
    }

    void schedule(Keys::value_type& kv) {
        KeyState& ks = kv.second;
        if (ks.sessions.empty()) {
            return;
        }
        std::int64_t d = deadline(ks.sessions.front());
        for (const Session& s : ks.sessions) {
            d = std::min(d, deadline(s));
        }
        if (ks.has_live && ks.scheduled <= d) {
            return;
        }
        ks.has_live = true;
        ks.scheduled = d;
        ++ks.gen;
        ++ks.refs;
        heap_.push_back(HeapEntry{d, ks.gen, &kv});
        std::push_heap(heap_.begin(), heap_.end(), later);
    }

    void mark_dirty(Keys::value_type& kv) {
        if (!kv.second.dirty) {
            kv.second.dirty = true;
            dirty_.push_back(&kv);
        }
    }

    // Takes a key out of the table. A node still listed in dirty_ stays
    // allocated, marked erased, until the next flush has passed it.
    void drop_key(Keys::value_type* kv) {
        kv->second.erased = true;
        Keys::NodePtr node = keys_.detach(kv);
        if (node->second.dirty) {
            gone_.push_back(std::move(node));
        }
    }

    void encode_sessions(const std::vector<Session>& sessions, Writer& w) const {
        w.u32(static_cast<std::uint32_t>(sessions.size()));
        for (const Session& s : sessions) {
            w.i64(s.start);
            w.i64(s.last);
            w.u32(s.revision);
            w.u8(s.emitted ? 1 : 0);
            w.i64(s.em_start);
            w.i64(s.em_end);
            agg_.encode(s.agg, w);
        }
    }

    std::optional<std::string> decode_sessions(Reader& r, std::vector<Session>& sessions) const {
        const std::uint32_t n = r.u32();
        if (!r.ok() || r.remaining() / 37 < n) {
            return "corrupt value";
        }
        for (std::uint32_t k = 0; k < n; ++k) {
            Session s;
            s.start = r.i64();
            s.last = r.i64();
            s.revision = r.u32();
            const std::uint8_t emitted = r.u8();
            s.em_start = r.i64();
            s.em_end = r.i64();
            if (!r.ok() || emitted > 1 || s.last < s.start || !agg_.decode(r, s.agg) ||
                (!sessions.empty() && sessions.back().last + gap_ > s.start)) {
                return "corrupt value";
            }
            s.emitted = emitted == 1;
            sessions.push_back(std::move(s));
        }
        if (!r.at_end()) {
            return "trailing bytes";
        }
        return std::nullopt;
    }

    // Sets the sessions of key `group` (none: the key goes); returns its
    // node, or nullptr when the key has no sessions now.
    Keys::value_type* put_sessions(std::string_view group, std::vector<Session> sessions) {
        Keys::value_type* it = keys_.find(group);
        if (it == nullptr) {
            if (sessions.empty()) {
                return nullptr;
            }
            it = keys_.insert(group, group_hash(group));
        }
        open_ -= it->second.sessions.size();
        open_ += sessions.size();
        it->second.sessions = std::move(sessions);
        if (it->second.sessions.empty()) {
            log_.move(it->second.seg, SegmentLog::kNone);
            if (it->second.refs == 0) {
                drop_key(it);
            }
            return nullptr;
        }
        schedule(*it);
        return it;
    }

    std::optional<std::string> apply_segment(std::string_view rest,
                                             std::optional<std::string_view> value) {
        return log_.apply_record(
            rest, value, "segment record of pipeline '" + p_.spec.name + "': ",
            [&](const SegmentLog::Entry& e, std::uint64_t number) -> std::optional<std::string> {
                Reader gr(e.rest);
                if (e.kind != 's' || !decode_group(gr, p_, nullptr) || !gr.at_end()) {
                    return "malformed session entry";
                }
                std::vector<Session> sessions;
                Reader vr(e.value);
                if (auto err = decode_sessions(vr, sessions)) {
                    return err;
                }
                if (Keys::value_type* kv = put_sessions(e.rest, std::move(sessions))) {
                    log_.move(kv->second.seg, number);
                }
                return std::nullopt;
            });
    }

    void emit_first(Session& s, Output& out) {
        s.emitted = true;
        s.revision = 0;
        s.em_start = s.start;
        s.em_end = s.last + gap_;
        out.results.push_back(
            make_result(s.em_start, s.em_end, group_.bytes, &s.agg, 0, ResultKind::update));
    }

    const std::int64_t gap_;
    const std::int64_t lateness_;
    const bool early_;
    const std::string prefix_;
    Keys keys_;
    std::vector<HeapEntry> heap_;
    std::vector<Keys::value_type*> due_;
    std::vector<Keys::value_type*> maybe_erase_;
    std::vector<Keys::value_type*> erase_;
    std::vector<Keys::value_type*> dirty_;  // changed since the last flush
    std::vector<Keys::NodePtr> gone_;       // erased while listed in dirty_
    std::size_t open_ = 0;
    SegmentLog log_;
    std::set<std::string> legacy_keys_;  // keyed-format records to tombstone
};

}  // namespace

std::unique_ptr<PipelineState> make_session_state(const CompiledPipeline& p) {
    return std::make_unique<Sessions>(p);
}

}  // namespace etld::pipeline::detail
