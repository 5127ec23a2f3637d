#include "windows.h"

#include <algorithm>
#include <set>

#include "codec.h"
#include "group_key.h"
#include "key_table.h"
#include "segment_log.h"

namespace etld::pipeline::detail {

namespace {

constexpr std::uint8_t kWindowVersion = 1;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        --q;
    }
    return q;
}

}  // namespace

Result PipelineState::make_result(std::int64_t start, std::int64_t end, std::string_view group,
                                  const AggState* state, std::uint32_t revision,
                                  ResultKind kind) const {
    Result r;
    r.pipeline = p_.index;
    r.pipeline_name = p_.spec.name;
    r.window_start = EventTimeMs{start};
    r.window_end = EventTimeMs{end};
    Reader reader(group);
    decode_group(reader, p_, &r.group);
    if (state != nullptr) {
        agg_.values(*state, r.values);
    }
    r.revision = revision;
    r.kind = kind;
    return r;
}

void PipelineState::late(const Event& e, std::string_view raw, const Watermark& wm, Output& out,
                         StepCounters& counters) const {
    ++counters.too_late;
    if (p_.spec.late_policy == LatePolicy::drop) {
        return;
    }
    LateRecord l;
    l.pipeline = p_.index;
    l.raw.assign(raw);
    l.event_time = e.time;
    l.watermark = EventTimeMs{wm.value};
    l.reason = "too_late: pipeline '" + p_.spec.name + "' closed every window of event time " +
               std::to_string(e.time.value) + " (watermark " + std::to_string(wm.value) +
               ", allowed_lateness " + std::to_string(p_.spec.allowed_lateness.value) + " ms)";
    out.late.push_back(std::move(l));
}

std::string PipelineState::key_prefix(char kind) const {
    std::string k(1, kind);
    Writer w(k);
    w.bytes(p_.spec.name);
    return k;
}

namespace {

// Tumbling and sliding windows. Windows live in buckets by start time (all
// keys of one window share a bucket), so closing is a walk over the first
// buckets of an ordered map.
//
// Sliding panes: with size = n x slide, every event lands in n windows. The
// numeric cells (count, sum, avg, min, max) stay per window, because a sum
// must add its terms in arrival order to give the same double. The distinct
// sets and top-k tables, which combine exactly in any order, live once per
// pane (a slide-long slice [p, p + slide) of one key) and a window's sets are
// the union of its n panes, built when its values are read. An event then
// updates n small cell arrays and one pane instead of n sets of each kind.
// A pane lives until the window starting at it closes (no later window
// contains it).
class FixedWindows final : public PipelineState {
  public:
    explicit FixedWindows(const CompiledPipeline& p)
        : PipelineState(p),
          size_(p.spec.window.size.value),
          slide_(p.spec.window.type == WindowType::tumbling ? p.spec.window.size.value
                                                            : p.spec.window.slide.value),
          lateness_(p.spec.allowed_lateness.value),
          early_(p.spec.emit == EmitMode::early),
          paned_(uses_panes(p)),
          per_event_(size_ / slide_),
          prefix_(key_prefix('w')),
          pane_prefix_(key_prefix('p')),
          log_(key_prefix('g'), p.fingerprint) {}

    void on_event(const Event& e, EventFeatures& f, std::string_view raw, const Watermark& wm,
                  Output& out, StepCounters& counters) override {
        const std::int64_t t = e.time.value;
        // Window starts are multiples of the slide; a start's index is
        // start / slide (the bucket cache's key, without dividing again).
        const std::int64_t newest_index = floor_div(t, slide_);
        const std::int64_t newest = newest_index * slide_;
        // Windows [s, s + size) with s = newest - k * slide contain t; the
        // oldest close first, so the open ones are a suffix of k.
        std::int64_t first_index = newest_index - (per_event_ - 1);
        std::int64_t first_open = newest - (per_event_ - 1) * slide_;
        while (first_open <= newest && wm.reached(first_open + size_ + lateness_)) {
            first_open += slide_;
            ++first_index;
        }
        if (first_open > newest) {
            late(e, raw, wm, out, counters);
            return;
        }
        contrib_ = &agg_.contribution(f);
        group_ = f.group(p_.group_feature);
        // The oldest applied window ends first.
        if (wm.reached(first_open + size_)) {
            ++counters.late_applied;
        }
        const auto cell_parts = paned_ ? Aggregator::kCells : Aggregator::kAll;
        if (!early_ || !wm.reached(first_open + size_)) {
            // Nothing to emit now: the common case.
            for (std::int64_t s = first_open, i = first_index; s <= newest; s += slide_, ++i) {
                Win& w = window(s, i);
                agg_.add(*contrib_, w.agg, cell_parts);
            }
            if (paned_) {
                agg_.add(*contrib_, pane(newest), Aggregator::kSets);
            }
            return;
        }
        // Early mode, some windows past their end: compare each emitted
        // window's values before and after the event.
        touched_.clear();
        for (std::int64_t s = first_open, i = first_index; s <= newest; s += slide_, ++i) {
            Win& w = window(s, i);
            touched_.push_back(&w);
        }
        if (befores_.size() < touched_.size()) {
            befores_.resize(touched_.size());
        }
        for (std::size_t k = 0; k < touched_.size(); ++k) {
            const std::int64_t s = first_open + static_cast<std::int64_t>(k) * slide_;
            if (wm.reached(s + size_) && touched_[k]->emitted) {
                window_values(s, group_, *touched_[k], befores_[k]);
            }
        }
        for (Win* w : touched_) {
            agg_.add(*contrib_, w->agg, cell_parts);
        }
        if (paned_) {
            agg_.add(*contrib_, pane(newest), Aggregator::kSets);
        }
        for (std::size_t k = 0; k < touched_.size(); ++k) {
            const std::int64_t s = first_open + static_cast<std::int64_t>(k) * slide_;
            Win& w = *touched_[k];
            if (!wm.reached(s + size_)) {
                continue;
            }
            if (w.emitted) {
                window_values(s, group_, w, after_);
                if (befores_[k] != after_) {
                    ++w.revision;
                    out.results.push_back(
                        result(s, group_.bytes, std::move(after_), w.revision, ResultKind::update));
                }
            } else {
                w.emitted = true;
                window_values(s, group_, w, after_);
                out.results.push_back(
                    result(s, group_.bytes, std::move(after_), 0, ResultKind::update));
            }
        }
    }

    void prefetch(const Event& e, EventFeatures& f, Prefetch stage) const override {
        const GroupRef& g = f.group(p_.group_feature);
        const std::int64_t newest_index = floor_div(e.time.value, slide_);
        // The event's windows whose buckets are cached (the others are new
        // or long unused; the lookup finds them).
        for (std::int64_t k = 0; k < per_event_; ++k) {
            const std::int64_t index = newest_index - k;
            const CachedBucket& c = cache_[static_cast<std::size_t>(index) & (kCache - 1)];
            if (c.bucket == nullptr || c.start != index * slide_) {
                continue;
            }
            if (stage == Prefetch::kSlots) {
                c.bucket->prefetch_slot(g);
            } else {
                c.bucket->prefetch_node(g);
            }
        }
    }

    void on_watermark(const Watermark& before, std::int64_t now, Output& out) override {
        if (early_) {
            // Windows whose end the watermark passed just now: revision 0.
            auto it = before.has ? buckets_.upper_bound(before.value - size_) : buckets_.begin();
            for (; it != buckets_.end() && it->first + size_ <= now; ++it) {
                for (Node* node : sorted(it->second)) {
                    Win& w = node->second;
                    if (!w.emitted) {
                        w.emitted = true;
                        mark_dirty(it->first, node);
                        std::vector<AggregateValue> v;
                        window_values(it->first, ref_of(*node), w, v);
                        out.results.push_back(
                            result(it->first, node->key(), std::move(v), 0, ResultKind::update));
                    }
                }
            }
        }
        while (!buckets_.empty() && buckets_.begin()->first + size_ + lateness_ <= now) {
            auto it = buckets_.begin();
            const std::int64_t start = it->first;
            const std::vector<Node*> nodes = sorted(it->second);
            for (std::size_t i = 0; i < nodes.size(); ++i) {
                Node* node = nodes[i];
                // As in flush(): the node ahead, then its cells.
                if (i + kAhead < nodes.size()) {
                    __builtin_prefetch(nodes[i + kAhead]);
                }
                if (i + kAhead / 2 < nodes.size()) {
                    nodes[i + kAhead / 2]->second.agg.prefetch();
                }
                if (!early_) {
                    std::vector<AggregateValue> v;
                    window_values(start, ref_of(*node), node->second, v);
                    out.results.push_back(
                        result(start, node->key(), std::move(v), 0, ResultKind::final));
                }
                mark_dirty(start, node);
                node->second.closed = true;
            }
            // Closed windows stay allocated until the next changelog flush,
            // which takes them out of their segments' live counts.
            open_ -= it->second.size();
            it->second.release_all(closed_);
            forget_bucket(start);
            buckets_.erase(it);
        }
        // A pane is part of the windows starting at or before it; once the
        // one starting at it closed, no open window contains it.
        while (!panes_.empty() && panes_.begin()->first + size_ + lateness_ <= now) {
            auto it = panes_.begin();
            it->second.for_each([&](PaneNode& pane) {
                mark_pane_dirty(it->first, &pane);
                pane.second.closed = true;
            });
            it->second.release_all(closed_panes_);
            panes_.erase(it);
            pane_cache_ = nullptr;
        }
    }

    void take_changelog(std::vector<StateDelta>& out) override {
        std::uint64_t cut = 0;
        if (log_.cleaning_due(cut)) {
            // Rewrite the live entries of the oldest segments so that those
            // can go.
            for (auto& [start, b] : buckets_) {
                const std::int64_t st = start;
                b.for_each([&](Node& n) {
                    if (n.second.seg <= cut) {
                        mark_dirty(st, &n);
                    }
                });
            }
            for (auto& [start, b] : panes_) {
                const std::int64_t st = start;
                b.for_each([&](PaneNode& n) {
                    if (n.second.seg <= cut) {
                        mark_pane_dirty(st, &n);
                    }
                });
            }
        }
        log_.begin(dirty_.size() + dirty_panes_.size());
        flush(dirty_, closed_, 'w', [&](const Win& w, Writer& vw) { encode_window(w, vw); });
        flush(dirty_panes_, closed_panes_, 'p',
              [&](const Pane& pn, Writer& vw) { agg_.encode(pn.sets, vw, Aggregator::kSets); });
        log_.finish(out);
        for (const std::string& k : legacy_keys_) {
            out.push_back(StateDelta{k, std::nullopt});
        }
        legacy_keys_.clear();
    }

    void settle(const Watermark& wm) override {
        if (!wm.has) {
            return;
        }
        // Entries that an older segment brought back although the watermark
        // had closed them: dropped without a result (they had theirs).
        while (!buckets_.empty() && buckets_.begin()->first + size_ + lateness_ <= wm.value) {
            auto it = buckets_.begin();
            it->second.for_each([&](Node& n) {
                log_.move(n.second.seg, SegmentLog::kNone);
                n.second.closed = true;
            });
            open_ -= it->second.size();
            it->second.release_all(closed_);
            forget_bucket(it->first);
            buckets_.erase(it);
        }
        while (!panes_.empty() && panes_.begin()->first + size_ + lateness_ <= wm.value) {
            auto it = panes_.begin();
            it->second.for_each([&](PaneNode& n) {
                log_.move(n.second.seg, SegmentLog::kNone);
                n.second.closed = true;
            });
            it->second.release_all(closed_panes_);
            panes_.erase(it);
            pane_cache_ = nullptr;
        }
    }

    std::optional<std::string> apply(char kind, std::string_view rest,
                                     std::optional<std::string_view> value) override {
        if (kind == 'g') {
            return apply_segment(rest, value);
        }
        // A record of the keyed format (one record per window and key)
        // that earlier versions wrote: applied, rewritten into a segment at
        // the next flush, and then tombstoned.
        const char* what =
            kind == 'p' ? "pane record of pipeline '" : "window record of pipeline '";
        std::int64_t start = 0;
        std::string_view group;
        if (auto err = parse_key(rest, what, start, group)) {
            return err;
        }
        const std::string key = (kind == 'p' ? pane_prefix_ : prefix_) + std::string(rest);
        if (!value) {
            legacy_keys_.erase(key);
            if (kind == 'p') {
                remove_pane(start, group);
            } else {
                remove_window(start, group);
            }
            return std::nullopt;
        }
        Reader r(*value);
        if (r.u8() != kWindowVersion) {
            return what + p_.spec.name + "': unknown version";
        }
        if (r.u64() != p_.fingerprint) {
            return std::nullopt;  // state of an older definition: start fresh
        }
        if (kind == 'p') {
            PaneNode* node = nullptr;
            if (auto err = put_pane(start, group, r, node)) {
                return err;
            }
            if (node != nullptr) {
                log_.move(node->second.seg, SegmentLog::kNone);
                mark_pane_dirty(start, node);
            }
        } else {
            Node* node = nullptr;
            if (auto err = put_window(start, group, r, node)) {
                return err;
            }
            log_.move(node->second.seg, SegmentLog::kNone);
            mark_dirty(start, node);
        }
        legacy_keys_.insert(key);
        return std::nullopt;
    }

    std::size_t open() const override { return open_; }

  private:
    struct Win {
        AggState agg;                           // cells only when paned_, else everything
        std::uint64_t seg = SegmentLog::kNone;  // the segment with its latest value
        std::uint32_t revision = 0;
        bool emitted = false;
        bool dirty = false;   // listed in dirty_ since the last flush
        bool closed = false;  // out of its bucket, freed at the next flush
    };
    struct Pane {
        AggState sets;
        std::uint64_t seg = SegmentLog::kNone;
        bool dirty = false;
        bool closed = false;
    };
    // One table of keys per window start (and per pane start).
    using Bucket = KeyTable<Win>;
    using Node = Bucket::Node;
    using PaneBucket = KeyTable<Pane>;
    using PaneNode = PaneBucket::Node;
    // A (start, key) whose changelog record is due at the next flush.
    template <typename N>
    struct Dirty {
        std::int64_t start;
        N* node;
    };

    static bool uses_panes(const CompiledPipeline& p) {
        return p.spec.window.type == WindowType::sliding &&
               p.spec.window.slide.value < p.spec.window.size.value &&
               (p.distinct_sets > 0 || p.topk_maps > 0);
    }

    static const AggState& agg_of(const Win& w) { return w.agg; }
    static const AggState& agg_of(const Pane& p) { return p.sets; }

    // The node's key as a GroupRef; its hash serves only pane lookups.
    GroupRef ref_of(const Node& n) const {
        return GroupRef{n.key(), paned_ ? group_hash(n.key()) : 0};
    }

    // The window (start, group_); created and counted if new, and marked
    // dirty.
    Win& window(std::int64_t start, std::int64_t index) {
        Bucket& b = bucket(start, index);
        Node* node = b.find(group_);
        if (node == nullptr) {
            node = b.insert(group_.bytes, group_.hash);
            agg_.init(node->second.agg, paned_ ? Aggregator::kCells : Aggregator::kAll);
            ++open_;
        }
        mark_dirty(start, node);
        return node->second;
    }

    // The sets of pane (start, group_), created if new, marked dirty.
    AggState& pane(std::int64_t start) {
        if (pane_cache_ == nullptr || pane_cache_start_ != start) {
            pane_cache_ = &panes_.try_emplace(start, pool_).first->second;
            pane_cache_start_ = start;
        }
        PaneNode* node = pane_cache_->find(group_);
        if (node == nullptr) {
            node = pane_cache_->insert(group_.bytes, group_.hash);
            agg_.init(node->second.sets, Aggregator::kSets);
        }
        mark_pane_dirty(start, node);
        return node->second.sets;
    }

    // The values of window (start, group): its cells, and its sets or the
    // union of its panes' sets.
    void window_values(std::int64_t start, const GroupRef& group, const Win& w,
                       std::vector<AggregateValue>& out) {
        if (!paned_) {
            agg_.values(w.agg, out);
            return;
        }
        const AggState* only = nullptr;
        bool merged = false;
        for (auto it = panes_.lower_bound(start); it != panes_.end() && it->first < start + size_;
             ++it) {
            const PaneNode* pn = it->second.find(group);
            if (pn == nullptr) {
                continue;
            }
            if (only == nullptr && !merged) {
                only = &pn->second.sets;
                continue;
            }
            if (!merged) {
                agg_.init(union_, Aggregator::kSets);
                agg_.merge(union_, *only, Aggregator::kSets);
                merged = true;
            }
            agg_.merge(union_, pn->second.sets, Aggregator::kSets);
        }
        if (merged) {
            agg_.values(w.agg, union_, out);
        } else if (only != nullptr) {
            agg_.values(w.agg, *only, out);
        } else {
            // Restored cells without panes cannot happen for a consistent
            // log; report empty sets rather than read missing state.
            agg_.init(union_, Aggregator::kSets);
            agg_.values(w.agg, union_, out);
        }
    }

    Result result(std::int64_t start, std::string_view group, std::vector<AggregateValue>&& values,
                  std::uint32_t revision, ResultKind kind) const {
        Result r = make_result(start, start + size_, group, nullptr, revision, kind);
        r.values = std::move(values);
        return r;
    }

    std::optional<std::string> parse_key(std::string_view rest, const char* what,
                                         std::int64_t& start, std::string_view& group) const {
        Reader kr(rest);
        start = kr.i64();
        group = rest.substr(std::min<std::size_t>(8, rest.size()));
        Reader gr(group);
        if (!kr.ok() || !decode_group(gr, p_, nullptr) || !gr.at_end()) {
            return what + p_.spec.name + "': malformed key";
        }
        if (floor_div(start, slide_) * slide_ != start) {
            return what + p_.spec.name + "': misaligned start";
        }
        return std::nullopt;
    }

    // Restores window (start, group) from `r` (revision, emitted, cells);
    // `node` is its node, which keeps its dirty mark and segment.
    std::optional<std::string> put_window(std::int64_t start, std::string_view group, Reader& r,
                                          Node*& node) {
        Win w;
        w.revision = r.u32();
        const std::uint8_t emitted = r.u8();
        if (!r.ok() || emitted > 1 ||
            !agg_.decode(r, w.agg, paned_ ? Aggregator::kCells : Aggregator::kAll) || !r.at_end()) {
            return "window record of pipeline '" + p_.spec.name + "': corrupt value";
        }
        w.emitted = emitted == 1;
        Bucket& b = bucket(start, floor_div(start, slide_));
        node = b.find(group);
        if (node == nullptr) {
            node = b.insert(group, group_hash(group));
            ++open_;
        } else {
            w.dirty = node->second.dirty;
            w.seg = node->second.seg;
        }
        node->second = std::move(w);
        return std::nullopt;
    }

    // Restores pane (start, group) from `r`; `node` stays nullptr when the
    // pipeline keeps no panes (any more).
    std::optional<std::string> put_pane(std::int64_t start, std::string_view group, Reader& r,
                                        PaneNode*& node) {
        pane_cache_ = nullptr;
        if (!paned_) {
            return std::nullopt;
        }
        Pane pn;
        if (!agg_.decode(r, pn.sets, Aggregator::kSets) || !r.at_end()) {
            return "pane record of pipeline '" + p_.spec.name + "': corrupt value";
        }
        PaneBucket& b = panes_.try_emplace(start, pool_).first->second;
        node = b.find(group);
        if (node == nullptr) {
            node = b.insert(group, group_hash(group));
        } else {
            pn.dirty = node->second.dirty;
            pn.seg = node->second.seg;
        }
        node->second = std::move(pn);
        return std::nullopt;
    }

    void remove_window(std::int64_t start, std::string_view group) {
        auto b = buckets_.find(start);
        if (b == buckets_.end()) {
            return;
        }
        if (Node* node = b->second.find(group); node != nullptr) {
            log_.move(node->second.seg, SegmentLog::kNone);
            drop(b->second.detach(node), closed_);
            --open_;
        }
        if (b->second.empty()) {
            forget_bucket(start);
            buckets_.erase(b);
        }
    }

    void remove_pane(std::int64_t start, std::string_view group) {
        pane_cache_ = nullptr;
        auto b = panes_.find(start);
        if (b == panes_.end()) {
            return;
        }
        if (PaneNode* pn = b->second.find(group); pn != nullptr) {
            log_.move(pn->second.seg, SegmentLog::kNone);
            drop(b->second.detach(pn), closed_panes_);
        }
        if (b->second.empty()) {
            panes_.erase(b);
        }
    }

    // A segment record: every entry in it is the latest value of its
    // window or pane so far.
    std::optional<std::string> apply_segment(std::string_view rest,
                                             std::optional<std::string_view> value) {
        return log_.apply_record(
            rest, value, "segment record of pipeline '" + p_.spec.name + "': ",
            [&](const SegmentLog::Entry& e, std::uint64_t number) -> std::optional<std::string> {
                if (e.kind != 'w' && e.kind != 'p') {
                    return "entry of unknown kind";
                }
                const char* what =
                    e.kind == 'p' ? "pane entry of pipeline '" : "window entry of pipeline '";
                std::int64_t start = 0;
                std::string_view group;
                if (auto err = parse_key(e.rest, what, start, group)) {
                    return err;
                }
                Reader vr(e.value);
                if (e.kind == 'p') {
                    PaneNode* node = nullptr;
                    auto err = put_pane(start, group, vr, node);
                    if (!err && node != nullptr) {
                        log_.move(node->second.seg, number);
                    }
                    return err;
                }
                Node* node = nullptr;
                auto err = put_window(start, group, vr, node);
                if (!err) {
                    log_.move(node->second.seg, number);
                }
                return err;
            });
    }

    void encode_window(const Win& w, Writer& vw) const {
        vw.u32(w.revision);
        vw.u8(w.emitted ? 1 : 0);
        agg_.encode(w.agg, vw, paned_ ? Aggregator::kCells : Aggregator::kAll);
    }

    // Every dirty (start, key) into the segment being written: its state,
    // or, once closed, nothing (its earlier segment loses a live entry);
    // then the closed nodes are freed. The order of entries in a segment
    // does not matter (each key is in it once: mark() lists a node only
    // while it is not dirty), so they go in the order they changed.
    template <typename N, typename Ptr, typename Encode>
    void flush(std::vector<Dirty<N>>& dirty, std::vector<Ptr>& closed, char kind, Encode encode) {
        // Each entry reads its node and its cells, two cache misses apart
        // (at 1e6 keys neither is cached any more): the node is prefetched
        // kAhead entries ahead, its cells half as far, once the node is in.
        const std::size_t n = dirty.size();
        for (std::size_t i = 0; i < n; ++i) {
            if (i + kAhead < n) {
                __builtin_prefetch(dirty[i + kAhead].node);
            }
            if (i + kAhead / 2 < n) {
                agg_of(dirty[i + kAhead / 2].node->second).prefetch();
            }
            const Dirty<N>& d = dirty[i];
            auto& state = d.node->second;
            state.dirty = false;
            if (state.closed) {
                log_.move(state.seg, SegmentLog::kNone);
                continue;
            }
            rest_.clear();
            Writer kw(rest_);
            kw.i64(d.start);
            kw.raw(d.node->key());
            log_.add(kind, rest_, state.seg, [&](Writer& vw) { encode(state, vw); });
        }
        dirty.clear();
        closed.clear();
    }

    // A node taken out of its table: kept until the next flush if a dirty
    // list still points at it, else freed now.
    template <typename Ptr>
    static void drop(Ptr node, std::vector<Ptr>& closed) {
        if (node->second.dirty) {
            node->second.closed = true;
            closed.push_back(std::move(node));
        }
    }

    // The bucket of windows starting at `start`, created if new. The last
    // few buckets used are cached by start: a sliding event reads size /
    // slide consecutive ones, and std::map nodes never move.
    Bucket& bucket(std::int64_t start, std::int64_t index) {
        CachedBucket& c = cache_[static_cast<std::size_t>(index) & (kCache - 1)];
        if (c.bucket == nullptr || c.start != start) {
            c.bucket = &buckets_.try_emplace(start, pool_).first->second;
            c.start = start;
        }
        return *c.bucket;
    }
    void forget_bucket(std::int64_t start) {
        CachedBucket& c = cache_[static_cast<std::size_t>(floor_div(start, slide_)) & (kCache - 1)];
        if (c.start == start) {
            c.bucket = nullptr;
        }
    }

    template <typename N>
    static void mark(std::vector<Dirty<N>>& dirty, std::int64_t start, N* node) {
        if (!node->second.dirty) {
            node->second.dirty = true;
            dirty.push_back(Dirty<N>{start, node});
        }
    }
    void mark_dirty(std::int64_t start, Node* node) { mark(dirty_, start, node); }
    void mark_pane_dirty(std::int64_t start, PaneNode* node) { mark(dirty_panes_, start, node); }

    // A bucket's nodes in key order, so emission order is deterministic.
    // Each key is read once, into its first 16 bytes (zero-padded, as two
    // big-endian words, which order like the bytes) next to its node; a
    // comparison follows the node pointers only when those tie. Comparing
    // the keys themselves read two nodes per comparison, each a cache miss
    // in a bucket of many keys.
    static std::vector<Node*> sorted(const Bucket& b) {
        struct Entry {
            std::uint64_t hi;
            std::uint64_t lo;
            Node* node;
        };
        std::vector<Entry> entries;
        entries.reserve(b.size());
        b.for_each([&](Node& n) {
            const std::string_view k = n.key();
            unsigned char head[16] = {};
            std::memcpy(head, k.data(), std::min<std::size_t>(k.size(), sizeof head));
            entries.push_back(Entry{big_endian(head), big_endian(head + 8), &n});
        });
        std::sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) {
            if (x.hi != y.hi) {
                return x.hi < y.hi;
            }
            if (x.lo != y.lo) {
                return x.lo < y.lo;
            }
            return x.node->key() < y.node->key();
        });
        std::vector<Node*> v;
        v.reserve(entries.size());
        for (const Entry& e : entries) {
            v.push_back(e.node);
        }
        return v;
    }
    static std::uint64_t big_endian(const unsigned char* p) {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) {
            v = (v << 8) | p[i];
        }
        return v;
    }

    struct CachedBucket {
        std::int64_t start = 0;
        Bucket* bucket = nullptr;
    };
    static constexpr std::size_t kCache = 8;
    // How far ahead loops over many nodes prefetch.
    static constexpr std::size_t kAhead = 16;

    const std::int64_t size_;
    const std::int64_t slide_;
    const std::int64_t lateness_;
    const bool early_;
    const bool paned_;
    const std::int64_t per_event_;  // windows per event: size / slide
    const std::string prefix_;
    const std::string pane_prefix_;
    std::map<std::int64_t, Bucket> buckets_;
    CachedBucket cache_[kCache];
    std::map<std::int64_t, PaneBucket> panes_;
    PaneBucket* pane_cache_ = nullptr;
    std::int64_t pane_cache_start_ = 0;
    AggState union_;
    std::vector<Win*> touched_;
    std::vector<std::vector<AggregateValue>> befores_;
    std::size_t open_ = 0;
    std::vector<Dirty<Node>> dirty_;
    std::vector<Dirty<PaneNode>> dirty_panes_;
    std::vector<Bucket::NodePtr> closed_;
    std::vector<PaneBucket::NodePtr> closed_panes_;
    SegmentLog log_;
    std::set<std::string> legacy_keys_;  // keyed-format records to tombstone
    std::string rest_;
};

}  // namespace

std::unique_ptr<PipelineState> make_session_state(const CompiledPipeline& p);

std::unique_ptr<PipelineState> make_pipeline_state(const CompiledPipeline& p) {
    if (p.spec.window.type == WindowType::session) {
        return make_session_state(p);
    }
    return std::make_unique<FixedWindows>(p);
}

}  // namespace etld::pipeline::detail
