#pragma once

// Internal: the decoder's fast path for plainly written records.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "etld/pipeline/event.h"
#include "etld/pipeline/spec.h"
#include "etld/pipeline/types.h"

namespace etld::pipeline::detail {

// Decodes, in one pass and without building a DOM, records written in a
// plain subset of JSON: one flat object (no nested objects or arrays);
// strings without escapes or control characters; integers of at most 18
// digits (and not -0); other numbers that parse to a finite double. Every
// record outside that subset, and every record the schema would reject, is
// declined, and the full decoder (simdjson DOM) decides about it. So
// accepting here always means the full decoder would accept the record and
// produce the same event; only the work differs.
//
// Lifecycle: owned by a Decoder, used by one thread; no allocation once the
// event's buffers have grown.
class FastDecoder {
  public:
    explicit FastDecoder(const EventSchema& schema);

    // True iff `record` is in the subset, valid for the schema, and decoded
    // into `out`. False leaves `out` in an unspecified state.
    bool decode(std::string_view record, Event& out, std::optional<ProcessingTimeMs> now);

  private:
    enum class Kind : std::uint8_t { string, integer, number, true_lit, false_lit, null_lit };
    struct Token {
        Kind kind = Kind::null_lit;
        std::string_view text;  // string contents without quotes, or the number's text
        double number = 0;      // Kind::number: its value
    };

    // The slot of a key that lies in a record ending at `end`, or -1.
    int slot_of(std::string_view key, const char* end) const;

    EventSchema schema_;  // a copy: the owning Decoder may move
    // Slot 0 = id, 1 = time, 2.. = schema fields.
    std::vector<std::string> names_;
    std::vector<std::array<char, 16>> padded_;  // names_, zero-padded to 16 bytes
    std::vector<std::array<char, 16>> quoted_;  // names_ + '"', for predictable ones
    std::vector<bool> predictable_;             // see the constructor
    // The slot of the key at each member position of the last record (-1:
    // none), tried first for the next record.
    std::vector<int> predicted_;
    std::vector<Token> found_;
    std::vector<std::uint8_t> seen_;
    // Key lookup by (length, first, last byte), as in the full decoder.
    std::array<std::int8_t, 64> table_{};
};

}  // namespace etld::pipeline::detail
