#include "conf/secrets.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

namespace etld::conf {
namespace {

// Larger than any password, key or token; a bigger file is a wrong path (a log, a device).
constexpr std::size_t kMaxSecretBytes = std::size_t{64} * 1024;

// On failure returns false and sets `why`; `why` never contains file contents.
bool read_secret_file(const std::string& path, std::string& value, std::string& why) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        why = std::strerror(errno);
        return false;
    }
    std::vector<char> buffer(kMaxSecretBytes + 1);
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.bad()) {
        why = "read failed";
        return false;
    }
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got > kMaxSecretBytes) {
        why = "larger than 64 KiB";
        return false;
    }
    value.assign(buffer.data(), got);
    // Editors and `echo` end files with a newline that is not part of the secret.
    if (value.ends_with("\r\n")) {
        value.resize(value.size() - 2);
    } else if (value.ends_with('\n')) {
        value.pop_back();
    }
    if (value.empty()) {
        why = "the file is empty";
        return false;
    }
    return true;
}

}  // namespace

std::map<std::string, std::string> resolve_secrets(const KafkaConfig& kafka) {
    std::map<std::string, std::string> values;
    std::string failures;
    for (const auto& [property, ref] : kafka.secrets) {
        std::string value;
        std::string why;
        bool ok = false;
        if (ref.kind == SecretKind::file) {
            ok = read_secret_file(ref.source, value, why);
        } else if (const char* env = std::getenv(ref.source.c_str()); env == nullptr) {
            why = "the variable is not set";
        } else if (*env == '\0') {
            why = "the variable is empty";
        } else {
            value = env;
            ok = true;
        }
        if (!ok) {
            failures.append("\n  '").append(property).append("' from ");
            failures.append(to_string(ref.kind)).append(" ").append(ref.source);
            failures.append(": ").append(why);
            continue;
        }
        values.emplace(property, std::move(value));
    }
    if (!failures.empty()) {
        throw SecretError("cannot read secrets:" + failures);
    }
    return values;
}

}  // namespace etld::conf
