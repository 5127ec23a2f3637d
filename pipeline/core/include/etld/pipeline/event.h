#pragma once

#include <bit>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "etld/pipeline/spec.h"
#include "etld/pipeline/types.h"

namespace etld::pipeline {

// 128-bit hash of an event id. Dedup remembers these instead of the ids.
struct IdHash {
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    constexpr auto operator<=>(const IdHash&) const = default;
};

// A typed value of a schema field, as it appears in group-by keys and top-k
// results. Not used on the per-event hot path (see Event).
using FieldValue = std::variant<std::string, std::int64_t, double, bool>;

// One decoded event: the id hash, the event time and the typed schema fields,
// indexed like EventSchema::fields. Cheap to reuse: the decoder overwrites it
// in place without allocating once warmed up.
//
// String fields either live in an arena owned by the event (set_string), or
// refer to the bytes of the record the event was decoded from
// (set_string_in: the decoder's fast path, which copies nothing). In the
// second case the event is valid only while that record's bytes are: decode,
// then process, before the record is freed or reused. One event uses one of
// the two ways for all of its strings.
class Event {
  public:
    IdHash id;
    EventTimeMs time;

    std::int64_t int_at(std::size_t i) const { return slots_[i].i; }
    double double_at(std::size_t i) const { return std::bit_cast<double>(slots_[i].i); }
    bool bool_at(std::size_t i) const { return slots_[i].i != 0; }
    std::string_view string_at(std::size_t i) const {
        const char* base = record_ != nullptr ? record_ : arena_.data();
        return std::string_view(base + slots_[i].off, slots_[i].len);
    }
    std::size_t field_count() const { return slots_.size(); }

    void reset(std::size_t fields);
    void set_int(std::size_t i, std::int64_t v) { slots_[i].i = v; }
    void set_double(std::size_t i, double v) { slots_[i].i = std::bit_cast<std::int64_t>(v); }
    void set_bool(std::size_t i, bool v) { slots_[i].i = v ? 1 : 0; }
    // Copies `v` into the event's arena.
    void set_string(std::size_t i, std::string_view v);
    // `v` lies inside `record`, which outlives the event's use.
    void set_string_in(std::size_t i, std::string_view record, std::string_view v) {
        record_ = record.data();
        slots_[i].off = static_cast<std::uint32_t>(v.data() - record.data());
        slots_[i].len = static_cast<std::uint32_t>(v.size());
    }

  private:
    struct Slot {
        std::int64_t i = 0;  // int, bool, or the bits of a double
        std::uint32_t off = 0;
        std::uint32_t len = 0;
    };
    std::vector<Slot> slots_;
    std::string arena_;
    const char* record_ = nullptr;  // set_string_in's record, else the arena
};

// Why a record could not become an event. Each reason has a stable snake_case
// name (`name_of`) used as a metrics label and dead-letter header.
enum class RejectReason : std::uint8_t {
    too_large,               // over EventSchema::max_record_bytes
    invalid_utf8,            // the bytes are not valid UTF-8
    not_json,                // not one well-formed JSON document
    not_an_object,           // valid JSON, but not an object
    missing_field,           // a schema field (or id/time) is absent
    wrong_type,              // a field has the wrong JSON type or range
    duplicate_field,         // a schema field appears twice in the object
    empty_id,                // the event id is an empty string
    bad_timestamp,           // the time field cannot be parsed
    timestamp_out_of_range,  // parsed, but outside the configured bounds
};
inline constexpr std::size_t kRejectReasonCount = 10;

std::string_view name_of(RejectReason r);

struct Rejection {
    RejectReason reason;
    std::string detail;  // human-readable, names the field when there is one
};

// Hashes an id's text the way the decoder does (integer ids are hashed as
// their decimal text, so 42 and "42" are the same id).
IdHash hash_id(std::string_view id_text);

// Turns JSON records into Events by one schema.
//
// Lifecycle: one per thread (it owns a simdjson parser and scratch buffers
// that grow to the largest record seen and are reused). Never throws for bad
// input: every failure is a Rejection.
class Decoder {
  public:
    explicit Decoder(EventSchema schema);
    ~Decoder();
    Decoder(Decoder&&) noexcept;
    Decoder& operator=(Decoder&&) noexcept;
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    // Enables the max_future_skew check for the records decoded from now on.
    void set_processing_time(ProcessingTimeMs now) { now_ = now; }

    // Decodes into `out` (reused; its previous content is overwritten).
    // `out` may refer to `record`'s bytes (see Event): keep them alive.
    // Returns the rejection when the record is not a valid event.
    std::optional<Rejection> decode(std::string_view record, Event& out);

    const EventSchema& schema() const { return schema_; }

  private:
    struct Impl;
    EventSchema schema_;
    std::optional<ProcessingTimeMs> now_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace etld::pipeline
