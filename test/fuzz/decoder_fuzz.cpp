// libFuzzer target for the event decoder: any byte string must decode into
// an event or a typed rejection, never crash, hang or trip a sanitizer; an
// accepted event must satisfy the schema's invariants.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "etld/pipeline/event.h"
#include "etld/pipeline/spec.h"

namespace {

using etld::pipeline::Decoder;
using etld::pipeline::Event;
using etld::pipeline::EventSchema;
using etld::pipeline::FieldType;
using etld::pipeline::kRejectReasonCount;
using etld::pipeline::TimeFormat;

EventSchema with_format(TimeFormat f) {
    EventSchema s = etld::pipeline::default_seed_schema();
    s.time_format = f;
    s.fields.push_back({"flag", FieldType::boolean});
    s.max_record_bytes = 4096;
    return s;
}

void check(Decoder& d, std::string_view input, Event& e) {
    auto rejection = d.decode(input, e);
    if (rejection) {
        if (static_cast<std::size_t>(rejection->reason) >= kRejectReasonCount ||
            name_of(rejection->reason).empty()) {
            std::abort();
        }
        return;
    }
    const EventSchema& s = d.schema();
    if (e.time < s.min_event_time || e.time > s.max_event_time ||
        e.field_count() != s.fields.size()) {
        std::abort();
    }
    for (std::size_t i = 0; i < s.fields.size(); ++i) {
        if (s.fields[i].type == FieldType::string) {
            // Must be readable and within the record.
            if (e.string_at(i).size() > input.size()) {
                std::abort();
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Decoder iso(with_format(TimeFormat::iso8601));
    static Decoder epoch_s(with_format(TimeFormat::epoch_s));
    static Decoder epoch_ms(with_format(TimeFormat::epoch_ms));
    static Event event;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    // The same decoders are reused across inputs, as in the daemon, so state
    // left behind by one record must not affect the next.
    check(iso, input, event);
    check(epoch_s, input, event);
    check(epoch_ms, input, event);
    return 0;
}
