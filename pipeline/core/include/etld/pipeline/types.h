#pragma once

#include <compare>
#include <cstdint>

namespace etld::pipeline {

// A thin strongly-typed integer: distinct quantities (event time, durations,
// offsets) cannot be mixed up by accident, yet stay as cheap as an int64_t.
template <typename Tag>
struct StrongInt {
    std::int64_t value = 0;

    constexpr StrongInt() = default;
    constexpr explicit StrongInt(std::int64_t v) : value(v) {}
    // clang-tidy 14 misreads defaulted comparisons as using 0 for null.
    constexpr auto operator<=>(const StrongInt&) const = default;  // NOLINT(modernize-use-nullptr)
};

struct EventTimeTag {};
struct DurationTag {};
struct ProcessingTimeTag {};
struct OffsetTag {};
struct PartitionTag {};

// Milliseconds since the Unix epoch, taken from the event itself.
using EventTimeMs = StrongInt<EventTimeTag>;
// A length of time in milliseconds (event time or processing time).
using DurationMs = StrongInt<DurationTag>;
// Milliseconds since the Unix epoch on the wall clock of the runner; the
// engine never reads a clock, it is told the time.
using ProcessingTimeMs = StrongInt<ProcessingTimeTag>;
// Kafka coordinates, for the layers around the engine.
using Offset = StrongInt<OffsetTag>;
using Partition = StrongInt<PartitionTag>;

constexpr EventTimeMs operator+(EventTimeMs t, DurationMs d) {
    return EventTimeMs{t.value + d.value};
}
constexpr EventTimeMs operator-(EventTimeMs t, DurationMs d) {
    return EventTimeMs{t.value - d.value};
}
constexpr DurationMs operator-(EventTimeMs a, EventTimeMs b) {
    return DurationMs{a.value - b.value};
}
constexpr DurationMs operator-(ProcessingTimeMs a, ProcessingTimeMs b) {
    return DurationMs{a.value - b.value};
}
constexpr DurationMs operator+(DurationMs a, DurationMs b) {
    return DurationMs{a.value + b.value};
}

}  // namespace etld::pipeline
