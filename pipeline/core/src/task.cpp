#include "etld/pipeline/task.h"

#include <limits>

#include "codec.h"
#include "compiled.h"
#include "dedup.h"
#include "windows.h"

namespace etld::pipeline {

namespace {

constexpr std::uint8_t kMetaVersion = 1;
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

std::int64_t sat_sub(std::int64_t a, std::int64_t b) {
    std::int64_t r = 0;
    return __builtin_sub_overflow(a, b, &r) ? kMin : r;
}

std::int64_t sat_add(std::int64_t a, std::int64_t b) {
    std::int64_t r = 0;
    return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<std::int64_t>::max() : r;
}

}  // namespace

struct Task::Impl {
    std::shared_ptr<const CompiledEngine> engine;
    const EngineSpec& spec;
    std::vector<std::unique_ptr<detail::PipelineState>> pipelines;
    detail::DedupSet dedup;
    detail::Watermark wm;
    detail::EventFeatures features;

    // Processing-time bookkeeping for idle advancement.
    bool has_pt = false;
    std::int64_t last_pt = 0;
    bool has_active = false;
    std::int64_t active_pt = 0;  // processing time input was last observed
    std::int64_t anchor = 0;     // watermark at that time
    bool input_since_tick = false;

    std::uint64_t processed = 0;
    std::uint64_t duplicates = 0;
    detail::StepCounters step;
    bool meta_dirty = false;
    bool restored = false;  // changelog records applied since the last settle()

    // Once restoring is over: the pipelines drop what the restored
    // watermark has closed.
    void settle() {
        if (restored) {
            restored = false;
            for (auto& p : pipelines) {
                p->settle(wm);
            }
        }
    }

    Impl(std::shared_ptr<const CompiledEngine> e, const std::vector<std::uint32_t>& which)
        : engine(std::move(e)), spec(engine->spec()), features(engine->impl().features) {
        for (std::uint32_t i : which) {
            if (i >= engine->impl().pipelines.size()) {
                throw std::out_of_range("Task: no pipeline with index " + std::to_string(i));
            }
            pipelines.push_back(detail::make_pipeline_state(engine->impl().pipelines[i]));
        }
    }

    std::int64_t dedup_cutoff() const {
        return wm.has ? sat_sub(wm.value, spec.dedup_horizon.value) : kMin;
    }

    void advance_to(std::int64_t target, Output& out) {
        if (wm.has && target <= wm.value) {
            return;
        }
        const detail::Watermark before = wm;
        wm.has = true;
        wm.value = target;
        meta_dirty = true;
        for (auto& p : pipelines) {
            p->on_watermark(before, target, out);
        }
    }

    std::string encode_meta() const {
        std::string v;
        detail::Writer w(v);
        w.u8(kMetaVersion);
        w.u8(static_cast<std::uint8_t>((wm.has ? 1 : 0) | (has_pt ? 2 : 0) | (has_active ? 4 : 0) |
                                       (input_since_tick ? 8 : 0)));
        w.i64(wm.value);
        w.i64(last_pt);
        w.i64(active_pt);
        w.i64(anchor);
        w.u64(dedup.next_segment());
        w.u64(processed);
        w.u64(duplicates);
        w.u64(step.too_late);
        w.u64(step.late_applied);
        return v;
    }

    std::optional<std::string> apply_meta(std::optional<std::string_view> value) {
        if (!value) {
            wm = detail::Watermark{};
            has_pt = has_active = input_since_tick = false;
            return std::nullopt;
        }
        detail::Reader r(*value);
        if (r.u8() != kMetaVersion) {
            return "task meta record: unknown version";
        }
        const std::uint8_t flags = r.u8();
        const std::int64_t w = r.i64();
        const std::int64_t pt = r.i64();
        const std::int64_t act = r.i64();
        const std::int64_t anc = r.i64();
        const std::uint64_t seg = r.u64();
        const std::uint64_t proc = r.u64();
        const std::uint64_t dups = r.u64();
        const std::uint64_t late = r.u64();
        const std::uint64_t applied = r.u64();
        if (!r.ok() || !r.at_end() || flags > 15) {
            return "task meta record: corrupt value";
        }
        wm.has = (flags & 1) != 0;
        wm.value = wm.has ? w : kMin;
        has_pt = (flags & 2) != 0;
        has_active = (flags & 4) != 0;
        input_since_tick = (flags & 8) != 0;
        last_pt = pt;
        active_pt = act;
        anchor = anc;
        dedup.set_next_segment(seg);
        processed = proc;
        duplicates = dups;
        step.too_late = late;
        step.late_applied = applied;
        return std::nullopt;
    }
};

namespace {
std::vector<std::uint32_t> all_pipelines(const CompiledEngine& e) {
    std::vector<std::uint32_t> v;
    for (std::uint32_t i = 0; i < e.impl().pipelines.size(); ++i) {
        v.push_back(i);
    }
    return v;
}
}  // namespace

Task::Task(const std::shared_ptr<const CompiledEngine>& engine)
    : Task(engine, all_pipelines(*engine)) {}

Task::Task(const std::shared_ptr<const CompiledEngine>& engine,
           const std::vector<std::uint32_t>& pipelines)
    : impl_(std::make_unique<Impl>(engine, pipelines)) {}

Task::~Task() = default;
Task::Task(Task&&) noexcept = default;
Task& Task::operator=(Task&&) noexcept = default;

void Task::process(const Event& event, std::string_view raw, Output& out) {
    Impl& im = *impl_;
    im.settle();
    ++im.processed;
    im.input_since_tick = true;
    im.meta_dirty = true;
    // The slots of every pipeline's tables first, so that their cache
    // misses and the dedup check's overlap, then their nodes (a duplicate
    // wastes the hint).
    im.features.start(event);
    using Prefetch = detail::PipelineState::Prefetch;
    for (const auto& p : im.pipelines) {
        p->prefetch(event, im.features, Prefetch::kSlots);
    }
    const std::int64_t cutoff = im.dedup_cutoff();
    if (im.dedup.check_and_insert(event.id, event.time.value, cutoff)) {
        ++im.duplicates;
        return;
    }
    for (const auto& p : im.pipelines) {
        p->prefetch(event, im.features, Prefetch::kNodes);
    }
    for (auto& p : im.pipelines) {
        p->on_event(event, im.features, raw, im.wm, out, im.step);
    }
    // A too-late event has time < watermark, so it can never raise it.
    im.advance_to(sat_sub(event.time.value, im.spec.max_out_of_orderness.value), out);
}

void Task::prefetch(const Event& event) const {
    impl_->dedup.prefetch(event.id);
}

void Task::advance_processing_time(ProcessingTimeMs now, bool input_caught_up, Output& out) {
    Impl& im = *impl_;
    im.settle();
    std::int64_t n = now.value;
    if (im.has_pt && n < im.last_pt) {
        n = im.last_pt;  // the processing clock never goes back for us
    }
    if (!im.has_pt || n != im.last_pt) {
        im.meta_dirty = true;
    }
    im.has_pt = true;
    im.last_pt = n;
    if (im.input_since_tick) {
        im.input_since_tick = false;
        im.has_active = true;
        im.active_pt = n;
        im.anchor = im.wm.value;
        im.meta_dirty = true;
        return;
    }
    const std::int64_t idle = im.spec.idle_timeout.value;
    if (!input_caught_up || !im.has_active || !im.wm.has || idle <= 0) {
        return;
    }
    const std::int64_t quiet = n - im.active_pt;
    if (quiet >= idle) {
        im.advance_to(sat_add(im.anchor, quiet), out);
    }
}

void Task::take_changelog(std::vector<StateDelta>& out) {
    Impl& im = *impl_;
    im.settle();
    im.dedup.take_changelog(im.dedup_cutoff(), out);
    for (auto& p : im.pipelines) {
        p->take_changelog(out);
    }
    if (im.meta_dirty) {
        out.push_back(StateDelta{"m", im.encode_meta()});
        im.meta_dirty = false;
    }
}

std::optional<std::string> Task::apply_changelog(std::string_view key,
                                                 std::optional<std::string_view> value) {
    Impl& im = *impl_;
    if (key.empty()) {
        return "changelog record with an empty key";
    }
    im.restored = true;
    switch (key[0]) {
        case 'm':
            if (key.size() != 1) {
                return "malformed meta key";
            }
            return im.apply_meta(value);
        case 'd': {
            detail::Reader r(key.substr(1));
            const std::uint64_t seg = r.u64();
            if (!r.ok() || !r.at_end()) {
                return "malformed dedup segment key";
            }
            return im.dedup.apply(seg, value);
        }
        case 'g':
        case 'w':
        case 'p':
        case 's': {
            detail::Reader r(key.substr(1));
            const std::string_view name = r.bytes();
            if (!r.ok()) {
                return "malformed window key";
            }
            const std::string_view rest = key.substr(1 + 4 + name.size());
            for (auto& p : im.pipelines) {
                const auto& cp = p->pipeline();
                if (cp.spec.name != name) {
                    continue;
                }
                const bool session = cp.spec.window.type == WindowType::session;
                if (key[0] != 'g' && session != (key[0] == 's')) {
                    return std::nullopt;  // the pipeline changed its window type
                }
                return p->apply(key[0], rest, value);
            }
            return std::nullopt;  // not ours
        }
        default:
            return "changelog record with an unknown key type";
    }
}

TaskCounters Task::counters() const {
    impl_->settle();
    const Impl& im = *impl_;
    TaskCounters c;
    c.processed = im.processed;
    c.duplicates = im.duplicates;
    c.too_late = im.step.too_late;
    c.late_applied = im.step.late_applied;
    c.open_by_pipeline.reserve(im.pipelines.size());
    for (const auto& p : im.pipelines) {
        const std::uint64_t open = p->open();
        if (p->pipeline().spec.window.type == WindowType::session) {
            c.open_sessions += open;
        } else {
            c.open_windows += open;
        }
        c.open_by_pipeline.emplace_back(p->pipeline().index, open);
    }
    c.remembered_ids = im.dedup.size();
    if (im.wm.has) {
        c.watermark = EventTimeMs{im.wm.value};
    }
    return c;
}

}  // namespace etld::pipeline
