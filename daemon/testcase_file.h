// The case files of `etld test`: their model and their parser.
//
// A case file is JSON Lines: one JSON object per line; blank lines and lines
// starting with '#' are comments. The lines are, in any order after the
// optional header:
//
//   {"case": "name", "description": "...", "tolerance": 1e-9,
//    "ignore_unexpected": true | ["<pipeline>", "late", "dead_letter", ...]}
//   {"event": {...}, "partition": 0, "at": "10s"}     an input record (object)
//   {"raw": "text", "partition": 0, "at": "10s"}      an input record (any bytes)
//   {"advance": "45s", "caught_up": true}             processing time moves on
//   {"flush": true}                                   input ends, every window closes
//   {"expect": "result" | "late" | "dead_letter", ...}
//
// Steps run in file order; expectations are compared with what the steps
// produced, in any order. The format is documented in daemon/README.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/testcase_json.h"
#include "etld/pipeline/spec.h"

namespace etld::daemon::testcase {

// What kind of output a record is.
enum class Category : std::uint8_t { result, late, dead_letter };
std::string_view name_of(Category c);

// One field of an output record, by dotted path: "pipeline", "window_start",
// "group.user_id", "values.revenue", "reason", ... Times are integers (epoch ms).
struct Field {
    std::string path;
    Json value;
};

// An output record: an actual one (every field) or an expected one (only the
// fields the case checks).
struct Record {
    Category category = Category::result;
    std::vector<Field> fields;
    std::uint32_t line = 0;  // expected: its line; actual: the line of the step that caused it

    const Json* get(std::string_view path) const;
};

// True for the paths whose values are event times (shown as ISO-8601).
bool is_time_path(std::string_view path);

struct Step {
    enum class Kind : std::uint8_t { event, advance, flush };
    Kind kind = Kind::event;
    std::uint32_t line = 0;
    std::string raw;             // event: the bytes the decoder gets
    std::int32_t partition = 0;  // event: input partition
    // event: the processing time it arrives at; advance: the new processing
    // time. Milliseconds since the start of the case.
    std::optional<std::int64_t> at;
    bool caught_up = true;  // advance: the input has no lag
};

struct Expectation {
    Record record;
    double tolerance = 0;
};

struct CaseFile {
    std::string path;
    std::string name;  // "case" of the header, else the file name without extension
    std::string description;
    double tolerance = 1e-9;
    bool ignore_all_unexpected = false;
    std::vector<std::string> ignore_unexpected;  // pipeline names, "late", "dead_letter"
    std::vector<Step> steps;
    std::vector<Expectation> expectations;
    // The file's lines, and which of them are expectations (for --record).
    std::vector<std::string> lines;
    std::vector<bool> is_expectation;
};

struct CaseError {
    std::string file;
    std::uint32_t line = 0;
    std::uint32_t column = 0;
    std::string message;
};

// "file:line:column: error: message" ("file: error: message" without a line).
std::string format_error(const CaseError& error);

struct CaseParse {
    std::optional<CaseFile> file;  // set iff errors is empty
    std::vector<CaseError> errors;
};

// Parses a case file's text; `path` names it in errors. Expectations are
// checked against `spec` (pipeline, group and aggregate names, value types).
// Every error in the file is reported, in line order.
CaseParse parse_case(std::string_view text, const std::string& path,
                     const pipeline::EngineSpec& spec);

// Reads and parses the file at `path`.
CaseParse load_case(const std::string& path, const pipeline::EngineSpec& spec);

// "2026-01-15T10:00:00Z" / "...:00.250Z" (milliseconds only when not zero).
std::string format_utc(std::int64_t epoch_ms);
// YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm); digits beyond milliseconds are
// truncated. std::nullopt when the text is not such a time.
std::optional<std::int64_t> parse_utc(std::string_view text);

}  // namespace etld::daemon::testcase
