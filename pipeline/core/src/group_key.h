#pragma once

// Internal: the canonical byte encoding of a group-by key. Equal keys have
// equal bytes; the bytes decode back to typed values.

#include <string>
#include <vector>

#include "codec.h"
#include "compiled.h"
#include "etld/pipeline/event.h"

namespace etld::pipeline::detail {

inline void encode_group(const Event& e, const std::vector<std::uint32_t>& fields,
                         const std::vector<FieldType>& types, std::string& out) {
    out.clear();
    Writer w(out);
    for (std::size_t i = 0; i < fields.size(); ++i) {
        const std::uint32_t f = fields[i];
        switch (types[i]) {
            case FieldType::string:
                w.bytes(e.string_at(f));
                break;
            case FieldType::int64:
                w.i64(e.int_at(f));
                break;
            case FieldType::float64: {
                const double d = e.double_at(f);
                w.f64(d == 0 ? 0.0 : d);
                break;
            }
            case FieldType::boolean:
                w.u8(e.bool_at(f) ? 1 : 0);
                break;
        }
    }
}

// Reads a whole group key; false if the bytes do not match the types.
inline bool decode_group(Reader& r, const CompiledPipeline& p, std::vector<FieldValue>* out) {
    for (FieldType t : p.group_types) {
        switch (t) {
            case FieldType::string: {
                std::string_view s = r.bytes();
                if (out != nullptr) {
                    out->emplace_back(std::string(s));
                }
                break;
            }
            case FieldType::int64: {
                const std::int64_t v = r.i64();
                if (out != nullptr) {
                    out->emplace_back(v);
                }
                break;
            }
            case FieldType::float64: {
                const double v = r.f64();
                if (out != nullptr) {
                    out->emplace_back(v);
                }
                break;
            }
            case FieldType::boolean: {
                const std::uint8_t v = r.u8();
                if (v > 1) {
                    r.fail();
                }
                if (out != nullptr) {
                    out->emplace_back(v == 1);
                }
                break;
            }
        }
    }
    return r.ok();
}

}  // namespace etld::pipeline::detail
