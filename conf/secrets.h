// Reading the secrets that [kafka.secrets] refers to.
//
// The loader only records where a secret lives (SecretRef); values are read here, once, when the
// daemon builds its Kafka clients. Keep the returned map away from logs: nothing in etld::conf
// prints a secret value, and no error message here contains one.
#pragma once

#include <map>
#include <stdexcept>
#include <string>

#include "conf/config.h"

namespace etld::conf {

/// Thrown when one or more secrets cannot be read. The message names each failing property and
/// its source (file path or variable name) and the reason, never any content.
class SecretError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// librdkafka property -> secret value, for every entry of `kafka.secrets`, to be set on both
/// the consumer and the producer. A file's contents lose one trailing "\n" or "\r\n". An unset
/// or empty variable, an unreadable, empty or oversized (> 64 KiB) file is an error; all failing
/// entries are reported together.
std::map<std::string, std::string> resolve_secrets(const KafkaConfig& kafka);

}  // namespace etld::conf
