#include "aggregate.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <new>

#include "hash.h"

namespace etld::pipeline::detail {

bool DistinctSet::insert(IdHash h) {
    if (cap_ == 0) {
        if (size_ == 0) {
            one_ = h;
            size_ = 1;
            return true;
        }
        if (one_ == h) {
            return false;
        }
        grow();
    } else if ((size_ + 1) * 10 > cap_ * 7) {
        grow();
    }
    const std::size_t mask = cap_ - 1;
    for (std::size_t i = h.hi & mask;; i = (i + 1) & mask) {
        IdHash& s = slots_[i];
        if (s.lo == 0 && s.hi == 0) {
            s = h;
            ++size_;
            return true;
        }
        if (s == h) {
            return false;
        }
    }
}

void DistinctSet::grow() {
    IdHash* old = cap_ == 0 ? nullptr : slots_;
    const std::uint32_t old_cap = cap_;
    const IdHash single = cap_ == 0 && size_ == 1 ? one_ : IdHash{};
    const std::uint32_t cap = cap_ == 0 ? 8 : cap_ * 2;
    slots_ = new IdHash[cap]();
    cap_ = cap;
    size_ = 0;
    if (old == nullptr) {
        if (single.lo != 0 || single.hi != 0) {
            insert(single);
        }
        return;
    }
    for (std::uint32_t i = 0; i < old_cap; ++i) {
        if (old[i].lo != 0 || old[i].hi != 0) {
            insert(old[i]);
        }
    }
    delete[] old;
}

TopKCounts::~TopKCounts() {
    for (std::uint32_t i = 0; i < cap_; ++i) {
        if (slots_[i].h != 0 && slots_[i].len == kFar) {
            delete slots_[i].far();
        }
    }
    if (cap_ > kFirstSlots) {
        delete[] slots_;
    }
}

void TopKCounts::add(std::string_view key, std::uint64_t h, std::int64_t n) {
    if ((size_ + 1) * 10 > cap_ * 7) {
        grow();
    }
    const std::size_t mask = cap_ - 1;
    const bool inline_key = key.size() <= kInline;
    for (std::size_t i = (h >> 7) & mask;; i = (i + 1) & mask) {
        Slot& s = slots_[i];
        if (s.h == 0) {
            s.h = h;
            s.count = n;
            if (inline_key) {
                std::memcpy(s.bytes, key.data(), key.size());
                s.len = static_cast<std::uint8_t>(key.size());
            } else {
                auto* far = new std::string(key);
                std::memcpy(s.bytes, &far, sizeof far);
                s.len = kFar;
            }
            ++size_;
            return;
        }
        if (s.h == h &&
            (inline_key ? s.len == key.size() && same_bytes(s.bytes, key.data(), key.size())
                        : s.len == kFar && *s.far() == key)) {
            s.count += n;
            return;
        }
    }
}

void TopKCounts::place(const Slot& s) {
    const std::size_t mask = cap_ - 1;
    std::size_t i = (s.h >> 7) & mask;
    while (slots_[i].h != 0) {
        i = (i + 1) & mask;
    }
    slots_[i] = s;
}

void TopKCounts::grow() {
    Slot* old = slots_;
    const std::uint32_t old_cap = cap_;
    cap_ *= 2;
    slots_ = new Slot[cap_]();
    // Slots move as bytes: a far value's string keeps its owner's pointer.
    for (std::uint32_t i = 0; i < old_cap; ++i) {
        if (old[i].h != 0) {
            place(old[i]);
        }
    }
    if (old_cap > kFirstSlots) {
        delete[] old;
    }
}

std::size_t AggState::block_bytes() const {
    return cells_ * sizeof(Cell) + distinct_ * sizeof(DistinctSet) +
           topk_ * (sizeof(TopKCounts) + TopKCounts::first_table_bytes());
}

void AggState::reset(std::uint32_t cells, std::uint32_t distinct, std::uint32_t topk,
                     BlockPool* pool) {
    release();
    pool_ = pool;
    cells_ = cells;
    distinct_ = static_cast<std::uint16_t>(distinct);
    topk_ = static_cast<std::uint16_t>(topk);
    const std::size_t tables_at =
        cells * sizeof(Cell) + distinct * sizeof(DistinctSet) + topk * sizeof(TopKCounts);
    const std::size_t bytes = block_bytes();
    if (bytes == 0) {
        return;
    }
    block_ = static_cast<unsigned char*>(pool != nullptr ? pool->allocate(bytes)
                                                         : ::operator new(bytes));
    for (std::uint32_t i = 0; i < cells; ++i) {
        new (block_ + i * sizeof(Cell)) Cell{};
    }
    for (std::uint32_t i = 0; i < distinct; ++i) {
        new (&distinct_at(i)) DistinctSet();
    }
    if (topk > 0) {
        std::memset(block_ + tables_at, 0, topk * TopKCounts::first_table_bytes());
    }
    for (std::uint32_t i = 0; i < topk; ++i) {
        new (&topk_at(i)) TopKCounts(block_ + tables_at + i * TopKCounts::first_table_bytes());
    }
}

void AggState::release() noexcept {
    if (block_ == nullptr) {
        return;
    }
    for (std::uint32_t i = 0; i < distinct_; ++i) {
        distinct_at(i).~DistinctSet();
    }
    for (std::uint32_t i = 0; i < topk_; ++i) {
        topk_at(i).~TopKCounts();
    }
    if (pool_ != nullptr) {
        pool_->deallocate(block_, block_bytes());
    } else {
        ::operator delete(block_);
    }
    block_ = nullptr;
}

std::string_view EventFeatures::value_bytes(const Event& e, std::uint32_t field, FieldType t,
                                            std::string& scratch) {
    scratch.clear();
    switch (t) {
        case FieldType::string:
            return e.string_at(field);
        case FieldType::int64: {
            const auto v = static_cast<std::uint64_t>(e.int_at(field));
            scratch.append(reinterpret_cast<const char*>(&v), 8);
            break;
        }
        case FieldType::float64: {
            double d = e.double_at(field);
            if (d == 0) {
                d = 0;  // one key for -0.0 and 0.0
            }
            const auto v = std::bit_cast<std::uint64_t>(d);
            scratch.append(reinterpret_cast<const char*>(&v), 8);
            break;
        }
        case FieldType::boolean:
            scratch.push_back(e.bool_at(field) ? '\1' : '\0');
            break;
    }
    return scratch;
}

FieldValue Aggregator::value_from_bytes(std::string_view b, FieldType t) {
    std::uint64_t v = 0;
    switch (t) {
        case FieldType::string:
            return std::string(b);
        case FieldType::int64:
            std::memcpy(&v, b.data(), std::min<std::size_t>(8, b.size()));
            return static_cast<std::int64_t>(v);
        case FieldType::float64:
            std::memcpy(&v, b.data(), std::min<std::size_t>(8, b.size()));
            return std::bit_cast<double>(v);
        case FieldType::boolean:
            return !b.empty() && b[0] != 0;
    }
    return std::string();
}

void Aggregator::init(AggState& s, Parts parts) const {
    const bool cells = (parts & kCells) != 0;
    const bool sets = (parts & kSets) != 0;
    s.reset(cells ? p_.cells : 0, sets ? p_.distinct_sets : 0, sets ? p_.topk_maps : 0, pool_);
}

const Contribution& Aggregator::contribution(EventFeatures& f) const {
    bool fresh = false;
    Contribution& c = f.contribution(p_.contribution, fresh);
    if (!fresh) {
        return c;
    }
    c.adds.clear();
    c.extremes.clear();
    c.sets.clear();
    for (const CompiledAggregate& a : p_.aggregates) {
        if (a.fn == AggregateFn::ratio) {
            continue;  // read from other aggregates' values
        }
        if (a.where_feature >= 0 && !f.predicate(static_cast<std::uint32_t>(a.where_feature))) {
            continue;
        }
        switch (a.fn) {
            case AggregateFn::count:
                c.adds.push_back(Contribution::AddStep{a.slot, 1, 0.0});
                break;
            case AggregateFn::sum:
            case AggregateFn::avg:
            case AggregateFn::min:
            case AggregateFn::max: {
                const double x = f.number(static_cast<std::uint32_t>(a.expr_feature));
                // Division by zero and overflow leave the event out of this
                // aggregate, like a NULL in SQL.
                if (!std::isfinite(x)) {
                    break;
                }
                if (a.fn == AggregateFn::min || a.fn == AggregateFn::max) {
                    c.extremes.push_back(
                        Contribution::ExtremeStep{a.slot, a.fn == AggregateFn::min, x});
                } else {
                    c.adds.push_back(
                        Contribution::AddStep{a.slot, a.fn == AggregateFn::avg ? 1 : 0, x});
                }
                break;
            }
            case AggregateFn::count_distinct:
                c.sets.push_back(Contribution::SetStep{
                    a.slot,
                    false,
                    f.distinct_hash(static_cast<std::uint32_t>(a.value_feature)),
                    {}});
                break;
            case AggregateFn::top_k: {
                const auto v = static_cast<std::uint32_t>(a.value_feature);
                c.sets.push_back(Contribution::SetStep{a.slot, true, IdHash{f.topk_hash_of(v), 0},
                                                       f.value(v).bytes});
                break;
            }
            case AggregateFn::ratio:
                break;
        }
    }
    return c;
}

void Aggregator::add(const Contribution& c, AggState& s, Parts parts) const {
    if ((parts & kCells) != 0) {
        Cell* cells = s.cells();
        for (const Contribution::AddStep& step : c.adds) {
            cells[step.slot].x += step.v;
            cells[step.slot].n += step.inc;
        }
        for (const Contribution::ExtremeStep& step : c.extremes) {
            Cell& cell = cells[step.slot];
            if (cell.n == 0 || (step.is_min ? step.v < cell.x : step.v > cell.x)) {
                cell.x = step.v;
            }
            cell.n = 1;
        }
    }
    if ((parts & kSets) != 0) {
        for (const Contribution::SetStep& step : c.sets) {
            if (step.topk) {
                s.topk(step.slot).add(step.bytes, step.hash.lo, 1);
            } else {
                s.distinct(step.slot).insert(step.hash);
            }
        }
    }
}

void Aggregator::merge(AggState& into, const AggState& from, Parts parts) const {
    for (const CompiledAggregate& a : p_.aggregates) {
        if ((parts & part_of(a.fn)) == 0) {
            continue;
        }
        switch (a.fn) {
            case AggregateFn::count:
            case AggregateFn::sum:
            case AggregateFn::avg:
                into.cells()[a.slot].x += from.cells()[a.slot].x;
                into.cells()[a.slot].n += from.cells()[a.slot].n;
                break;
            case AggregateFn::min:
            case AggregateFn::max: {
                Cell& t = into.cells()[a.slot];
                const Cell& f = from.cells()[a.slot];
                if (f.n != 0 && (t.n == 0 || (a.fn == AggregateFn::min ? f.x < t.x : f.x > t.x))) {
                    t.x = f.x;
                }
                t.n = t.n | f.n;
                break;
            }
            case AggregateFn::count_distinct:
                from.distinct(a.slot).for_each(
                    [&](const IdHash& h) { into.distinct(a.slot).insert(h); });
                break;
            case AggregateFn::top_k:
                from.topk(a.slot).for_each([&](std::string_view k, std::int64_t n) {
                    into.topk(a.slot).add(k, TopKCounts::hash(k), n);
                });
                break;
            case AggregateFn::ratio:
                break;
        }
    }
}

namespace {

double as_double(const AggregateValue& v, bool& null) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        return static_cast<double>(*i);
    }
    if (const auto* d = std::get_if<double>(&v)) {
        return *d;
    }
    null = true;
    return 0;
}

bool value_less(const FieldValue& a, const FieldValue& b) {
    return a < b;
}

}  // namespace

void Aggregator::values(const AggState& s, const AggState& sets,
                        std::vector<AggregateValue>& out) const {
    out.clear();
    out.resize(p_.aggregates.size());
    for (std::size_t i = 0; i < p_.aggregates.size(); ++i) {
        const CompiledAggregate& a = p_.aggregates[i];
        switch (a.fn) {
            case AggregateFn::count:
                out[i] = s.cells()[a.slot].n;
                break;
            case AggregateFn::sum:
                out[i] = s.cells()[a.slot].x;
                break;
            case AggregateFn::avg:
                if (s.cells()[a.slot].n > 0) {
                    out[i] = s.cells()[a.slot].x / static_cast<double>(s.cells()[a.slot].n);
                }
                break;
            case AggregateFn::min:
            case AggregateFn::max:
                if (s.cells()[a.slot].n > 0) {
                    out[i] = s.cells()[a.slot].x;
                }
                break;
            case AggregateFn::count_distinct:
                out[i] = static_cast<std::int64_t>(sets.distinct(a.slot).size());
                break;
            case AggregateFn::top_k: {
                std::vector<TopKEntry> all;
                all.reserve(sets.topk(a.slot).size());
                sets.topk(a.slot).for_each([&](std::string_view k, std::int64_t n) {
                    all.push_back(TopKEntry{value_from_bytes(k, a.field_type), n});
                });
                auto better = [](const TopKEntry& x, const TopKEntry& y) {
                    if (x.count != y.count) {
                        return x.count > y.count;
                    }
                    return value_less(x.value, y.value);
                };
                const std::size_t k = std::min<std::size_t>(a.k, all.size());
                std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k),
                                  all.end(), better);
                all.resize(k);
                out[i] = std::move(all);
                break;
            }
            case AggregateFn::ratio:
                break;
        }
    }
    // Ratios last: they read the values computed above.
    for (std::size_t i = 0; i < p_.aggregates.size(); ++i) {
        const CompiledAggregate& a = p_.aggregates[i];
        if (a.fn != AggregateFn::ratio) {
            continue;
        }
        bool null = false;
        const double num = as_double(out[a.numerator], null);
        const double den = as_double(out[a.denominator], null);
        if (!null && den != 0) {
            out[i] = num / den;
        }
    }
}

void Aggregator::encode(const AggState& s, Writer& w, Parts parts) const {
    for (std::uint32_t i = 0; (parts & kCells) != 0 && i < p_.cells; ++i) {
        w.f64(s.cells()[i].x);
        w.i64(s.cells()[i].n);
    }
    if ((parts & kSets) == 0) {
        return;
    }
    for (std::uint32_t i = 0; i < p_.distinct_sets; ++i) {
        const DistinctSet& d = s.distinct(i);
        w.u32(static_cast<std::uint32_t>(d.size()));
        d.for_each([&](const IdHash& h) {
            w.u64(h.lo);
            w.u64(h.hi);
        });
    }
    for (std::uint32_t i = 0; i < p_.topk_maps; ++i) {
        const TopKCounts& m = s.topk(i);
        w.u32(static_cast<std::uint32_t>(m.size()));
        m.for_each([&](std::string_view k, std::int64_t n) {
            w.bytes(k);
            w.i64(n);
        });
    }
}

bool Aggregator::decode(Reader& r, AggState& s, Parts parts) const {
    init(s, parts);
    for (std::uint32_t i = 0; (parts & kCells) != 0 && i < p_.cells; ++i) {
        s.cells()[i].x = r.f64();
        s.cells()[i].n = r.i64();
    }
    if ((parts & kSets) == 0) {
        return r.ok();
    }
    for (std::uint32_t i = 0; i < p_.distinct_sets; ++i) {
        const std::uint32_t n = r.u32();
        if (!r.ok() || r.remaining() / 16 < n) {
            return false;
        }
        for (std::uint32_t j = 0; j < n; ++j) {
            IdHash h;
            h.lo = r.u64();
            h.hi = r.u64();
            if (h.lo == 0 && h.hi == 0) {
                return false;
            }
            s.distinct(i).insert(h);
        }
    }
    for (std::uint32_t i = 0; i < p_.topk_maps; ++i) {
        const std::uint32_t n = r.u32();
        if (!r.ok() || r.remaining() / 12 < n) {
            return false;
        }
        for (std::uint32_t j = 0; j < n && r.ok(); ++j) {
            std::string_view k = r.bytes();
            const std::int64_t c = r.i64();
            if (c <= 0) {
                return false;
            }
            s.topk(i).add(k, TopKCounts::hash(k), c);
        }
    }
    return r.ok();
}

}  // namespace etld::pipeline::detail
