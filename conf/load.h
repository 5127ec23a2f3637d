// Loading and validating the configuration file.
//
// Guarantees: a successful load returns a Config that satisfies every rule in conf/README.md
// (types, ranges, names, cross references), with every default filled in. A failed load returns
// every error found in the file in one pass, ordered by position, so one `etld validate` run
// shows everything to fix. The one exception is a TOML syntax error: the parser stops there, so
// it is reported alone. Loading has no side effects: it reads no secret and touches no broker.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "conf/config.h"

namespace etld::conf {

struct ConfigError {
    std::string file;
    std::uint32_t line = 0;  // 0 when the error is about the file as a whole (cannot be read)
    std::uint32_t column = 0;
    std::string message;

    friend bool operator==(const ConfigError&, const ConfigError&) = default;
};

/// "file:line:column: error: message", or "file: error: message" when the line is unknown.
std::string format_error(const ConfigError& error);
/// One formatted error per line, each ending in '\n'.
std::string format_errors(const std::vector<ConfigError>& errors);

/// service.state_dir of `path` read leniently (the rest of the file may be invalid), or its
/// default. Used by `etld reload` to find the running daemon's control socket.
std::string peek_state_dir(const std::string& path);

/// Thrown by LoadResult::config() on a failed load; what() lists every error.
class InvalidConfig : public std::runtime_error {
  public:
    explicit InvalidConfig(std::vector<ConfigError> errors);
    const std::vector<ConfigError>& errors() const noexcept { return errors_; }

  private:
    std::vector<ConfigError> errors_;
};

/// Either a valid Config or a non-empty list of errors.
class LoadResult {
  public:
    explicit LoadResult(Config config) : value_(std::move(config)) {}
    /// `errors` must not be empty.
    explicit LoadResult(std::vector<ConfigError> errors);

    bool ok() const noexcept { return std::holds_alternative<Config>(value_); }
    /// The configuration; throws InvalidConfig when the load failed.
    const Config& config() const&;
    Config config() &&;
    /// Empty when the load succeeded.
    const std::vector<ConfigError>& errors() const noexcept;

  private:
    std::variant<Config, std::vector<ConfigError>> value_;
};

/// Reads and validates the file at `path`; errors name the file as `path`.
LoadResult load_config_file(const std::string& path);

/// Validates `text` as if it were the contents of a file called `name` (used in errors).
LoadResult load_config_string(std::string_view text, std::string_view name);

}  // namespace etld::conf
