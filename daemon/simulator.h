// The e-commerce event simulator behind `etld simulate`: a pure generator of
// the seed's events (view / add_to_cart / purchase / remove_from_cart by
// user_1..user_100 on five products) plus the faults a stream processor must
// survive: out-of-order event time, duplicates, late events, malformed records.
//
// No I/O and no clock: wall time enters only as the `elapsed` argument of
// next(), and only when event time is scaled from wall time. With a fixed
// event_time_step the sequence depends on the options and the seed alone, so
// the same seed gives byte-identical records on every run and every machine
// (the generator uses its own PRNG and integer arithmetic, not <random>'s
// implementation-defined distributions).
//
// Lifecycle: one EventSimulator per run; not thread-safe; memory is bounded
// (the last kDuplicateWindow valid events are kept as duplicate candidates).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace etld::daemon {

// Event time: milliseconds since the Unix epoch, UTC.
using SimTime = std::chrono::sys_time<std::chrono::milliseconds>;

enum class EventType : std::uint8_t { view, add_to_cart, purchase, remove_from_cart };
inline constexpr std::size_t kEventTypeCount = 4;

enum class KeyMode : std::uint8_t { user_id, event_id, none };

enum class RecordKind : std::uint8_t { normal, duplicate, late, malformed };

// Each kind breaks a record in one way a decoder must notice.
enum class MalformedKind : std::uint8_t {
    broken_json,    // not JSON: a valid event cut short
    missing_field,  // valid JSON, one of the seven fields absent
    wrong_type,     // valid JSON, one field of the wrong JSON type
    bad_timestamp,  // valid JSON, timestamp not a valid ISO-8601 instant
};
inline constexpr std::size_t kMalformedKindCount = 4;

std::string_view to_string(EventType type);
std::string_view to_string(KeyMode mode);
std::string_view to_string(RecordKind kind);
std::string_view to_string(MalformedKind kind);
std::optional<KeyMode> parse_key_mode(std::string_view text);
std::optional<EventType> parse_event_type(std::string_view text);

// How many of the most recent valid events a duplicate may copy: a duplicate
// is a re-send shortly after the original, as a producer retry or an
// at-least-once upstream would cause.
inline constexpr std::size_t kDuplicateWindow = 256;

struct SimulatorOptions {
    std::uint64_t seed = 1;
    SimTime event_time_start{};
    // Set: event time advances by this much per record, whatever the wall
    // clock does (deterministic). Unset: event time = start + elapsed wall
    // time × time_scale.
    std::optional<std::chrono::milliseconds> event_time_step;
    double time_scale = 1.0;
    // Each fresh event's time is jittered back by up to this much.
    std::chrono::milliseconds disorder{0};
    // Rates are fractions of all records produced; their sum must be <= 1.
    double duplicate_rate = 0.0;
    double late_rate = 0.0;
    double malformed_rate = 0.0;
    // Share of duplicates sent to a partition other than the original's
    // (needs partitions >= 2).
    double duplicate_other_partition = 0.25;
    // A late event is this far (plus up to `disorder`) behind the highest
    // event time produced so far.
    std::chrono::milliseconds late_by{std::chrono::minutes(10)};
    KeyMode key = KeyMode::user_id;
    // Partitions of the target topic; 0 when unknown, and then every record
    // may go to any partition. Partition choices use their own random stream,
    // so record bytes do not depend on this number.
    int partitions = 0;
    // Relative weights of view, add_to_cart, purchase, remove_from_cart. The
    // seed draws the four uniformly, hence the default.
    std::array<double, kEventTypeCount> type_weights{1.0, 1.0, 1.0, 1.0};
};

// Empty when the options are usable, else why not (reads well after "etld simulate: ").
std::string validate(const SimulatorOptions& options);

struct SimulatedRecord {
    std::uint64_t sequence = 0;  // position in the stream, from 0
    RecordKind kind = RecordKind::normal;
    std::optional<MalformedKind> malformed;  // set iff kind == malformed
    std::optional<std::string> key;          // nullopt: no key (KeyMode::none)
    std::string value;
    // nullopt: any partition (the producer's partitioner decides).
    std::optional<int> partition;
    // Duplicates only: the sequence number of the original and whether this
    // copy was deliberately sent to a partition other than the original's.
    std::optional<std::uint64_t> original_sequence;
    bool other_partition = false;
    // Valid events (normal, late, duplicate): the event's timestamp.
    std::optional<SimTime> event_time;
    std::optional<EventType> event_type;
};

struct SimulatorTally {
    std::uint64_t records = 0;   // every record produced
    std::uint64_t distinct = 0;  // fresh valid events: normal + late
    std::uint64_t duplicates = 0;
    std::uint64_t duplicates_other_partition = 0;
    std::uint64_t late = 0;  // also counted in distinct
    std::array<std::uint64_t, kMalformedKindCount> malformed{};
    std::array<std::uint64_t, kEventTypeCount> distinct_by_type{};
    std::optional<SimTime> min_event_time;
    std::optional<SimTime> max_event_time;

    std::uint64_t malformed_total() const noexcept;
};

class EventSimulator {
  public:
    // Throws std::invalid_argument when validate(options) finds a problem.
    explicit EventSimulator(SimulatorOptions options);

    // The next record. `elapsed` is the wall time since the run began; it is
    // read only when no event_time_step is set, and must not go backwards
    // (a smaller value than before is treated as the previous one).
    SimulatedRecord next(std::chrono::nanoseconds elapsed = {});

    const SimulatorTally& tally() const noexcept { return tally_; }
    const SimulatorOptions& options() const noexcept { return options_; }

    // A small, fast, well-mixed generator with a fixed algorithm
    // (xoshiro256**), seeded through splitmix64.
    class Random {
      public:
        explicit Random(std::uint64_t seed);
        std::uint64_t next_u64();
        // Uniform in [0, bound), bound > 0, without modulo bias.
        std::uint64_t below(std::uint64_t bound);
        // Uniform in [0, 1) with 53 random bits.
        double unit();

      private:
        std::array<std::uint64_t, 4> state_{};
    };

  private:
    struct Remembered {
        std::uint64_t sequence = 0;
        std::optional<std::string> key;
        std::string value;
        std::optional<int> partition;
        SimTime event_time{};
        EventType event_type = EventType::view;
    };

    SimTime stream_time(std::chrono::nanoseconds elapsed);
    SimulatedRecord fresh_event(SimTime event_time, RecordKind kind);
    SimulatedRecord malformed_record(SimTime event_time);
    SimulatedRecord duplicate_record();
    std::optional<int> partition_for(const std::optional<std::string>& key);
    void note_event_time(SimTime t);

    SimulatorOptions options_;
    Random content_random_;
    Random partition_random_;
    SimulatorTally tally_;
    std::uint64_t sequence_ = 0;
    std::uint64_t next_id_ = 0;
    std::chrono::nanoseconds last_elapsed_{0};
    std::optional<SimTime> max_fresh_time_;
    std::array<Remembered, kDuplicateWindow> recent_{};
    std::size_t recent_count_ = 0;
    std::size_t recent_next_ = 0;
    std::array<double, kEventTypeCount> type_cumulative_{};
};

// "2026-11-25T10:30:00.123Z": UTC, millisecond precision.
std::string format_timestamp(SimTime t);

// The event id of the n-th fresh record of a run: "<seed, 16 hex digits>-<n,
// 12 decimal digits>". Unique within a run by construction and across runs
// whose seeds differ; never reused for a different event.
std::string event_id(std::uint64_t seed, std::uint64_t n);

// Kafka's default (Java client) partition of a key: murmur2 of the key bytes,
// made positive, modulo the partition count. Keyed records land where a Java
// producer, Kafka Streams or librdkafka's murmur2_random would put them.
int murmur2_partition(std::string_view key, int partitions);

}  // namespace etld::daemon
