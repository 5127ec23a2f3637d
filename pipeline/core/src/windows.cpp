#include "windows.h"

#include <algorithm>

#include "codec.h"
#include "group_key.h"

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
class FixedWindows final : public PipelineState {
  public:
    explicit FixedWindows(const CompiledPipeline& p)
        : PipelineState(p),
          size_(p.spec.window.size.value),
          slide_(p.spec.window.type == WindowType::tumbling ? p.spec.window.size.value
                                                            : p.spec.window.slide.value),
          lateness_(p.spec.allowed_lateness.value),
          early_(p.spec.emit == EmitMode::early),
          prefix_(key_prefix('w')) {}

    void on_event(const Event& e, std::string_view raw, const Watermark& wm, Output& out,
                  StepCounters& counters) override {
        const std::int64_t t = e.time.value;
        const std::int64_t newest = floor_div(t, slide_) * slide_;
        const std::int64_t n = size_ / slide_;
        // Windows [s, s + size) with s = newest - k * slide contain t; the
        // oldest close first, so the open ones are a suffix of k.
        std::int64_t first_open = newest - (n - 1) * slide_;
        while (first_open <= newest && wm.reached(first_open + size_ + lateness_)) {
            first_open += slide_;
        }
        if (first_open > newest) {
            late(e, raw, wm, out, counters);
            return;
        }
        agg_.prepare(e, contrib_);
        encode_group(e, p_, group_);
        bool applied_late = false;
        for (std::int64_t s = first_open; s <= newest; s += slide_) {
            const std::int64_t end = s + size_;
            Bucket& b = bucket(s);
            auto it = b.find(std::string_view(group_));
            if (it == b.end()) {
                it = b.emplace(group_, Win{}).first;
                agg_.init(it->second.agg);
                ++open_;
            }
            Win& w = it->second;
            mark_dirty(s, group_, w);
            if (wm.reached(end)) {
                applied_late = true;
            }
            if (!early_ || !wm.reached(end)) {
                agg_.add(contrib_, w.agg);
                continue;
            }
            if (w.emitted) {
                agg_.values(w.agg, before_);
                agg_.add(contrib_, w.agg);
                agg_.values(w.agg, after_);
                if (before_ != after_) {
                    ++w.revision;
                    out.results.push_back(
                        make_result(s, end, group_, &w.agg, w.revision, ResultKind::update));
                }
            } else {
                agg_.add(contrib_, w.agg);
                w.emitted = true;
                out.results.push_back(make_result(s, end, group_, &w.agg, 0, ResultKind::update));
            }
        }
        if (applied_late) {
            ++counters.late_applied;
        }
    }

    void on_watermark(const Watermark& before, std::int64_t now, Output& out) override {
        if (early_) {
            // Windows whose end the watermark passed just now: revision 0.
            auto it = before.has ? buckets_.upper_bound(before.value - size_) : buckets_.begin();
            for (; it != buckets_.end() && it->first + size_ <= now; ++it) {
                for (auto* entry : sorted(it->second)) {
                    Win& w = entry->second;
                    if (!w.emitted) {
                        w.emitted = true;
                        mark_dirty(it->first, entry->first, w);
                        out.results.push_back(make_result(it->first, it->first + size_,
                                                          entry->first, &w.agg, 0,
                                                          ResultKind::update));
                    }
                }
            }
        }
        while (!buckets_.empty() && buckets_.begin()->first + size_ + lateness_ <= now) {
            auto it = buckets_.begin();
            const std::int64_t start = it->first;
            for (auto* entry : sorted(it->second)) {
                if (!early_) {
                    out.results.push_back(make_result(start, start + size_, entry->first,
                                                      &entry->second.agg, 0, ResultKind::final));
                }
                if (!entry->second.dirty) {
                    dirty_.push_back(DirtyKey{start, entry->first});
                }
            }
            open_ -= it->second.size();
            buckets_.erase(it);
            cache_ = nullptr;
        }
    }

    void take_changelog(std::vector<StateDelta>& out) override {
        std::sort(dirty_.begin(), dirty_.end());
        dirty_.erase(std::unique(dirty_.begin(), dirty_.end()), dirty_.end());
        for (const DirtyKey& d : dirty_) {
            StateDelta delta;
            delta.key = prefix_;
            Writer kw(delta.key);
            kw.i64(d.start);
            kw.raw(d.group);
            auto b = buckets_.find(d.start);
            if (b != buckets_.end()) {
                if (auto w = b->second.find(std::string_view(d.group)); w != b->second.end()) {
                    w->second.dirty = false;
                    std::string v;
                    Writer vw(v);
                    vw.u8(kWindowVersion);
                    vw.u64(p_.fingerprint);
                    vw.u32(w->second.revision);
                    vw.u8(w->second.emitted ? 1 : 0);
                    agg_.encode(w->second.agg, vw);
                    delta.value = std::move(v);
                }
            }
            out.push_back(std::move(delta));
        }
        dirty_.clear();
    }

    std::optional<std::string> apply(std::string_view rest,
                                     std::optional<std::string_view> value) override {
        Reader kr(rest);
        const std::int64_t start = kr.i64();
        const std::string_view group = rest.substr(std::min<std::size_t>(8, rest.size()));
        Reader gr(group);
        if (!kr.ok() || !decode_group(gr, p_, nullptr) || !gr.at_end()) {
            return "window record of pipeline '" + p_.spec.name + "': malformed key";
        }
        if (floor_div(start, slide_) * slide_ != start) {
            return "window record of pipeline '" + p_.spec.name + "': misaligned start";
        }
        if (!value) {
            auto b = buckets_.find(start);
            if (b != buckets_.end()) {
                if (auto w = b->second.find(group); w != b->second.end()) {
                    b->second.erase(w);
                    --open_;
                }
                if (b->second.empty()) {
                    buckets_.erase(b);
                }
            }
            cache_ = nullptr;
            return std::nullopt;
        }
        Reader r(*value);
        if (r.u8() != kWindowVersion) {
            return "window record of pipeline '" + p_.spec.name + "': unknown version";
        }
        if (r.u64() != p_.fingerprint) {
            return std::nullopt;  // state of an older definition: start fresh
        }
        Win w;
        w.revision = r.u32();
        const std::uint8_t emitted = r.u8();
        if (!r.ok() || emitted > 1 || !agg_.decode(r, w.agg) || !r.at_end()) {
            return "window record of pipeline '" + p_.spec.name + "': corrupt value";
        }
        w.emitted = emitted == 1;
        Bucket& b = buckets_[start];
        auto [it, inserted] = b.insert_or_assign(std::string(group), std::move(w));
        if (inserted) {
            ++open_;
        }
        cache_ = nullptr;
        return std::nullopt;
    }

    std::size_t open() const override { return open_; }

  private:
    struct Win {
        AggState agg;
        std::uint32_t revision = 0;
        bool emitted = false;
        bool dirty = false;
    };
    using Bucket = std::unordered_map<std::string, Win, StringHash, std::equal_to<>>;
    struct DirtyKey {
        std::int64_t start;
        std::string group;
        auto operator<=>(const DirtyKey&) const = default;  // NOLINT(modernize-use-nullptr)
    };

    Bucket& bucket(std::int64_t start) {
        if (cache_ != nullptr && cache_start_ == start) {
            return *cache_;
        }
        cache_ = &buckets_[start];
        cache_start_ = start;
        return *cache_;
    }

    void mark_dirty(std::int64_t start, std::string_view group, Win& w) {
        if (!w.dirty) {
            w.dirty = true;
            dirty_.push_back(DirtyKey{start, std::string(group)});
        }
    }

    static std::vector<Bucket::value_type*> sorted(Bucket& b) {
        std::vector<Bucket::value_type*> v;
        v.reserve(b.size());
        for (auto& e : b) {
            v.push_back(&e);
        }
        std::sort(v.begin(), v.end(), [](auto* x, auto* y) { return x->first < y->first; });
        return v;
    }

    const std::int64_t size_;
    const std::int64_t slide_;
    const std::int64_t lateness_;
    const bool early_;
    const std::string prefix_;
    std::map<std::int64_t, Bucket> buckets_;
    Bucket* cache_ = nullptr;
    std::int64_t cache_start_ = 0;
    std::size_t open_ = 0;
    std::vector<DirtyKey> dirty_;
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
