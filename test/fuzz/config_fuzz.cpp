// libFuzzer target for the configuration loader.
//
// Any input must either load or produce errors, never crash, hang or trip a sanitizer. A loaded
// config must also survive its own description: redacted() writes every value back as TOML, and
// loading that text must give an equal Config (the two would drift apart silently otherwise).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "conf/config.h"
#include "conf/load.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const etld::conf::LoadResult result = etld::conf::load_config_string(text, "fuzz.toml");
    if (!result.ok()) {
        // Formatting must cope with whatever ended up in a message.
        const std::string formatted = etld::conf::format_errors(result.errors());
        if (formatted.empty()) {
            __builtin_trap();
        }
        return 0;
    }
    const std::string description = etld::conf::redacted(result.config());
    const etld::conf::LoadResult again = etld::conf::load_config_string(description, "again.toml");
    if (!again.ok() || !(again.config() == result.config())) {
        __builtin_trap();
    }
    return 0;
}
